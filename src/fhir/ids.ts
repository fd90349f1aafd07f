/**
 * FHIR ids and references: the one place their patterns are written. An id is the R4 `id`
 * datatype (1-64 letters, digits, "-" and "."); a reference names a resource type and an id,
 * relative (`Patient/p1`) or absolute, optionally at a version (`.../_history/2`).
 */
import { createHash } from 'node:crypto';
import type { Reference } from 'fhir/r4';

/** The characters and length of a FHIR id, for building patterns. */
export const ID = '[A-Za-z0-9\\-.]{1,64}';
/** A resource type's name, for building patterns. */
export const RESOURCE_TYPE = '[A-Z][A-Za-z]+';

/** A whole FHIR id (for JSON schemas). */
export const ID_PATTERN = `^${ID}$`;
export const FHIR_ID = new RegExp(ID_PATTERN);

/**
 * An id as it may stand in a URL path: "." and ".." fit the datatype but would move the URL instead
 * of naming a resource, so they are no id anywhere kap-bridge puts one in a path or reads one from it.
 */
export const PATH_ID_PATTERN = `^(?!\\.{1,2}$)${ID}$`;
export const PATH_ID = new RegExp(PATH_ID_PATTERN);

/** A relative reference `Type/id` to a resource of `type` (any type when not given), for JSON schemas. */
export const referencePattern = (type: string = RESOURCE_TYPE): string => `^${type}/${ID}$`;

/** A relative reference `Type/id` to a resource of `type`, its id captured. */
export const referenceTo = (type: string): RegExp => new RegExp(`^${type}/(${ID})$`);

/** A reference at the end of a URL or relative, optionally at a version: type, id and version captured. */
const REFERENCE = new RegExp(`(?:^|/)(${RESOURCE_TYPE})/(${ID})(?:/_history/(${ID}))?$`);

/** The type and id a reference names (relative or absolute, at a version or not); undefined when it names none. */
export function parseReference(
  reference: Reference | string | undefined,
): { type: string; id: string; version?: string } | undefined {
  const text = typeof reference === 'string' ? reference : reference?.reference;
  if (text === undefined) return undefined;
  const match = REFERENCE.exec(text);
  if (match === null) return undefined;
  return match[3] === undefined
    ? { type: match[1]!, id: match[2]! }
    : { type: match[1]!, id: match[2]!, version: match[3] };
}

/** Every relative reference in a resource's JSON text, `"reference":"Type/id"`: type and id captured. */
export const referencesIn = (json: string): IterableIterator<RegExpMatchArray> =>
  json.matchAll(new RegExp(`"reference":"(${RESOURCE_TYPE})/(${ID})"`, 'g'));

/**
 * The value of kap-bridge's business identifier a practice's resource is sent to the EHR with:
 * `<practice>/<id>`, unique across practices (an id has no "/"), so two practices' resources with
 * the same id are two resources in the EHR, and a conditional create never finds another
 * practice's. A resource sent before ids were per practice keeps the bare id it was sent with.
 */
export const ehrIdentifierValue = (practice: string, id: string): string => `${practice}/${id}`;

/**
 * The EHR id of a resource created by a PUT on kap-bridge's identifier (a type R4 cannot search
 * by identifier): the bare id as it is, a `<practice>/<id>` value, which is no FHIR id, as the
 * SHA-256 of the value in hex (64 characters), the same on every retry and apart across practices.
 */
export const ehrIdForIdentifier = (value: string): string =>
  FHIR_ID.test(value) ? value : createHash('sha256').update(value).digest('hex');

/** The practice that wrote a resource, from its identifier value; undefined for a bare id. */
export function practiceOfIdentifier(value: string): string | undefined {
  const slash = value.lastIndexOf('/');
  return slash > 0 ? value.slice(0, slash) : undefined;
}
