/**
 * JSON as a sender may really send it. The types say `CodeableConcept`, but a resource arrives as
 * parsed JSON: an element can be null, a number, an object where a list belongs. Readers take
 * every element they use through these, so odd input becomes "absent", never a thrown error.
 */
import type { CodeableConcept, Coding, Reference, Resource } from 'fhir/r4';
import { spanOf } from '../domain/time.js';

type Fields = Record<string, unknown>;

/** The value as an object of fields, or undefined when it is not a (non-list) object. */
export const fieldsOf = (value: unknown): Fields | undefined =>
  value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Fields) : undefined;

/** A non-empty string, or undefined. */
export const textOf = (value: unknown): string | undefined =>
  typeof value === 'string' && value.trim() !== '' ? value : undefined;

/** The objects of a list (anything else in it dropped); a single object as a list of one. */
export const listOf = (value: unknown): Fields[] =>
  (Array.isArray(value) ? value : [value]).flatMap((v) => {
    const f = fieldsOf(v);
    return f === undefined ? [] : [f];
  });

/** A FHIR date, dateTime or instant (as `src/domain/time.ts` reads them), or undefined. */
export const dateTimeOf = (value: unknown): string | undefined => {
  const text = textOf(value);
  return text !== undefined && spanOf(text, 'UTC') !== undefined ? text : undefined;
};

/** A CodeableConcept keeping only its well-formed parts; undefined when nothing of it is. */
export function conceptOf(value: unknown): CodeableConcept | undefined {
  const fields = fieldsOf(value);
  if (fields === undefined) return undefined;
  const coding = listOf(fields.coding).flatMap((c): Coding[] => {
    const [system, code, display] = [textOf(c.system), textOf(c.code), textOf(c.display)];
    if (code === undefined && display === undefined) return [];
    return [
      {
        ...(system === undefined ? {} : { system }),
        ...(code === undefined ? {} : { code }),
        ...(display === undefined ? {} : { display }),
      },
    ];
  });
  const text = textOf(fields.text);
  if (coding.length === 0 && text === undefined) return undefined;
  return { ...(coding.length === 0 ? {} : { coding }), ...(text === undefined ? {} : { text }) };
}

/** A Reference with a string `reference`, or undefined. */
export function referenceOf(value: unknown): Reference | undefined {
  const reference = textOf(fieldsOf(value)?.reference);
  return reference === undefined ? undefined : { reference };
}

/** The resource's id, business identifiers and version, well-formed, for `domainIdOf` and `sourceOf`. */
export function shellOf<T extends Resource['resourceType']>(
  resource: unknown,
  resourceType: T,
): {
  resourceType: T;
  id?: string;
  meta?: { versionId: string };
  identifier: { system?: string; value: string }[];
} {
  const fields = fieldsOf(resource) ?? {};
  const id = textOf(fields.id);
  const versionId = textOf(fieldsOf(fields.meta)?.versionId);
  const identifier = listOf(fields.identifier).flatMap((i) => {
    const [system, value] = [textOf(i.system), textOf(i.value)];
    return value === undefined ? [] : [system === undefined ? { value } : { system, value }];
  });
  return {
    resourceType,
    ...(id === undefined ? {} : { id }),
    ...(versionId === undefined ? {} : { meta: { versionId } }),
    identifier,
  };
}
