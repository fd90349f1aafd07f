/**
 * Codings as kap-bridge writes them and finds them: writing names one system and code; reading
 * looks for a system and code anywhere in a concept's codings, whatever else the sender added.
 */
import type { CodeableConcept, Coding, Identifier } from 'fhir/r4';
import { identifierSystem, profileUrl } from '../fhir/codes.js';
import { type Issue, issue } from '../fhir/outcome.js';
import { type MappingContext, type ReferencedType, resourceIdFor } from '../fhir/reference-context.js';

export const coding = (system: string, code: string, display?: string): Coding =>
  display === undefined ? { system, code } : { system, code, display };

export const concept = (system: string, code: string, display?: string): CodeableConcept => ({
  coding: [coding(system, code, display)],
});

type Concepts = CodeableConcept | readonly CodeableConcept[] | undefined;

const codingsOf = (concepts: Concepts): Coding[] =>
  concepts === undefined
    ? []
    : (Array.isArray(concepts) ? concepts : [concepts as CodeableConcept]).flatMap((c) => c.coding ?? []);

/** Every code of `system` in the concepts, in order. */
export const codesIn = (concepts: Concepts, system: string): string[] =>
  codingsOf(concepts)
    .filter((c) => c.system === system && c.code !== undefined)
    .map((c) => c.code!);

/** True when some coding of the concepts is `system|code`. */
/** The one meaning a value's codings agree on; undefined when they give none or disagree. */
export const agreed = <T>(meanings: readonly T[]): T | undefined =>
  new Set(meanings).size === 1 ? meanings[0] : undefined;

export const hasCode = (concepts: Concepts, system: string, code: string): boolean =>
  codingsOf(concepts).some((c) => c.system === system && c.code === code);

/** kap-bridge's business identifier for a resource it writes. */
export const businessIdentifier = (resourceType: string, domainId: string): Identifier => ({
  system: identifierSystem(resourceType),
  value: domainId,
});

/**
 * How every resource kap-bridge writes opens: its type, its id where the context gives one (the
 * EHR's, once known), its profile when it has one, and kap-bridge's business identifier.
 */
export function ownOpening<T extends ReferencedType>(
  ctx: MappingContext,
  resourceType: T,
  domainId: string,
  profile: string | undefined,
): { resourceType: T; id?: string; meta?: { profile: string[] }; identifier: Identifier[] } {
  const id = resourceIdFor(ctx, resourceType, domainId);
  return {
    resourceType,
    ...(id === undefined ? {} : { id }),
    ...(profile === undefined ? {} : { meta: { profile: [profileUrl(profile)] } }),
    identifier: [businessIdentifier(resourceType, domainId)],
  };
}

/**
 * A status read into the domain's words: a known one as it is, one the domain has no word for as
 * its nearest with a warning, anything else an error and no value.
 */
export function readStatus<T extends string>(
  status: string | undefined,
  words: { known: readonly T[]; nearest: Readonly<Record<string, T>>; what: string; expression: string },
  issues: Issue[],
): T | undefined {
  const known = words.known.find((s) => s === status);
  if (known !== undefined) return known;
  const nearest = status === undefined ? undefined : words.nearest[status];
  if (nearest !== undefined) {
    issues.push(
      issue('warning', 'value', `The ${words.what} "${status}" was read as "${nearest}".`, words.expression),
    );
    return nearest;
  }
  issues.push(
    issue('error', 'code-invalid', `The ${words.what} "${status}" cannot be used.`, words.expression),
  );
  return undefined;
}
