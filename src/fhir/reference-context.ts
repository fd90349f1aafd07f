/**
 * How mapping turns kap-bridge ids into FHIR references and back. The domain holds kap-bridge's
 * ids; the EHR has its own. Mapping never guesses one from the other: the caller passes a
 * context that knows the link (the store, or the default below where both ids are the same).
 */
import type { Reference, Resource } from 'fhir/r4';
import { PATH_ID, parseReference } from './ids.js';
import type { Issue } from './outcome.js';

/** A FHIR resource type that domain values point at. */
export type ReferencedType =
  | 'Patient'
  | 'Practitioner'
  | 'PractitionerRole'
  | 'Organization'
  | 'Group'
  | 'EpisodeOfCare'
  | 'CarePlan'
  | 'Goal'
  | 'Encounter'
  | 'Consent'
  | 'Observation'
  | 'MedicationRequest'
  | 'MedicationDispense'
  | 'MedicationAdministration'
  | 'ServiceRequest'
  | 'Task'
  | 'DocumentReference'
  | 'Condition'
  | 'AllergyIntolerance'
  | 'ClinicalImpression'
  | 'AdverseEvent';

export interface MappingContext {
  /** The reference string for a domain id, e.g. `ref('Patient', 'p-1')` -> `Patient/ehr-991`. */
  ref(type: ReferencedType, domainId: string): string;
  /**
   * The domain id a reference points at, or undefined when it is not of that type or not known.
   * Accepts relative (`Patient/x`), versioned (`Patient/x/_history/2`) and absolute references.
   */
  idOf(type: ReferencedType, reference: Reference | string | undefined): string | undefined;
  /** Resolves a reference that is neither contained nor in the resource (e.g. `Medication/77`). */
  resolve?(reference: string): Resource | undefined;
}

/**
 * What a reader returns: the domain value when the resource could be read, and every issue met on
 * the way (warnings for what was guessed or dropped, errors for why there is no value). Readers
 * never throw on odd input.
 */
export interface Read<T> {
  value: T | undefined;
  issues: Issue[];
}

/** `Type/id/_history/version` of a resource as received, or `Type/id` without a version. */
export function sourceOf(resource: Resource): string | undefined {
  if (resource.id === undefined) return undefined;
  const base = `${resource.resourceType}/${resource.id}`;
  return resource.meta?.versionId === undefined ? base : `${base}/_history/${resource.meta.versionId}`;
}

/**
 * The domain id of a resource: kap-bridge's business identifier when it is an id, else the
 * resource's own id via the context. A practice's identifier value (`<practice>/<id>`) is not an
 * id: its resource's id is the practice's, and the EHR's copy is the EHR's data under the EHR's id.
 */
export function domainIdOf(
  ctx: MappingContext,
  resource: Resource & { identifier?: { system?: string; value?: string }[] },
  type: ReferencedType,
  system: string,
): string | undefined {
  const ours = resource.identifier?.find((i) => i.system === system && i.value !== undefined)?.value;
  if (ours !== undefined && PATH_ID.test(ours)) return ours;
  if (resource.id === undefined) return undefined;
  return ctx.idOf(type, `${type}/${resource.id}`);
}

/** The resource id to write for a domain id: the id part of `ctx.ref`, when it is a `Type/id` reference. */
export function resourceIdFor(
  ctx: MappingContext,
  type: ReferencedType,
  domainId: string,
): string | undefined {
  const parsed = parseReference(ctx.ref(type, domainId));
  return parsed?.type === type ? parsed.id : undefined;
}

/** The context where the EHR id and kap-bridge's id are the same (tests, a single shared server). */
export const identityContext: MappingContext = {
  ref: (type, domainId) => `${type}/${domainId}`,
  idOf: (type, reference) => {
    const parsed = parseReference(reference);
    return parsed?.type === type ? parsed.id : undefined;
  },
};

/** A reference object from a context, as FHIR writes it. */
export const referenceTo = (ctx: MappingContext, type: ReferencedType, domainId: string): Reference => ({
  reference: ctx.ref(type, domainId),
});
