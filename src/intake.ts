/**
 * Taking in what the prescriber's EHR sends, whichever way it comes (a push to /fhir, a
 * subscription notification, a catch-up page): validate, keep what KAP needs, link it to its
 * patient. One path, so that the three ways cannot disagree.
 */
import type {
  ClinicalImpression,
  MedicationRequest,
  Observation,
  Patient,
  Reference,
  Resource,
} from 'fhir/r4';
import { identifierSystem } from './fhir/codes.js';
import { parseReference } from './fhir/ids.js';
import { badRequest, businessRule, hasErrors, type Issue, OperationOutcomeError } from './fhir/outcome.js';
import { identityContext } from './fhir/reference-context.js';
import { isClearanceObservation } from './mapping/clearance.js';
import { prescriptionFromFhir } from './mapping/medication-request.js';
import { kindOf } from './mapping/observation.js';
import { matchPatient } from './mapping/patient.js';
import { isSafetyReview } from './mapping/review.js';
import { DEFAULT_TENANT, type PutOutcome, type StoreTx } from './store/store.js';

/** The resource types kap-bridge keeps from the EHR; anything else is acknowledged and not stored. */
export const KEPT_TYPES = [
  'MedicationRequest',
  'MedicationDispense',
  // Doses the EHR holds count against the order, whichever practice (or the prescriber) gave them.
  'MedicationAdministration',
  'Observation',
  'Condition',
  'AllergyIntolerance',
  'Patient',
  'Practitioner',
  'Task',
  'ServiceRequest',
  'Medication',
  'ClinicalImpression',
  'AdverseEvent',
  // The EHR's word that a practice cares for the patient (src/patient-link.ts).
  'CareTeam',
] as const;

export type KeptType = (typeof KEPT_TYPES)[number];
export const isKeptType = (type: string): type is KeptType =>
  (KEPT_TYPES as readonly string[]).includes(type);

/**
 * Whether kap-bridge keeps this resource: a kept type; of ClinicalImpressions, the prescriber's safety
 * reviews; of Observations, one KAP reads (a
 * clearance decision, a score, a vital sign, a mental status, a session effect). An EHR export's
 * other Observations (labs, social history) are acknowledged and neither checked nor stored.
 */
export function keeps(resource: unknown): boolean {
  const type = (resource as { resourceType?: unknown } | null)?.resourceType;
  if (typeof type !== 'string' || !isKeptType(type)) return false;
  if (type !== 'Observation' && type !== 'ClinicalImpression') return true;
  try {
    // Of clinical impressions, the prescriber's safety reviews only.
    if (type === 'ClinicalImpression') return isSafetyReview(resource as ClinicalImpression);
    const o = resource as Observation;
    return isClearanceObservation(o) || kindOf(o) !== undefined;
  } catch {
    // Too malformed to classify: keep it in view, so validation says what is wrong.
    return true;
  }
}

export interface ResourceValidator {
  validate(resource: unknown, options?: { profile?: string; asKapPrescription?: boolean }): Issue[];
}

/** The EHR Patient a resource is about, `Patient/<id>`, from the element each type uses. */
export function patientRefOf(resource: Resource): string | undefined {
  if (resource.resourceType === 'Patient') return resource.id ? `Patient/${resource.id}` : undefined;
  const r = resource as { subject?: Reference; patient?: Reference; for?: Reference };
  const ref = (r.subject ?? r.patient ?? r.for)?.reference;
  const named = parseReference(ref);
  return named?.type === 'Patient' ? `Patient/${named.id}` : undefined;
}

/**
 * Whether the KAP prescription rules apply. It runs before the structure check, on whatever the EHR
 * sent: a MedicationRequest too malformed to be read (an array element that is not an array, a
 * null reference) is held to the rules too, and the validator reports what is wrong with it.
 */
const isKetamineRequest = (resource: Resource): boolean => {
  if (resource.resourceType !== 'MedicationRequest') return false;
  try {
    return (
      prescriptionFromFhir(resource as MedicationRequest, identityContext).value?.medication.isKetamine ===
      true
    );
  } catch {
    return true;
  }
};

/**
 * Checks a resource as the EHR sent it; throws an OperationOutcomeError when it is rejected: a bad
 * request when it is not well-formed R4, against a business rule when it is but breaks one of our
 * profiles or a KAP rule, except a ketamine order, which is kept (see below).
 */
export function checkInbound(resource: unknown, validator: ResourceValidator): Resource {
  const r = resource as Resource;
  const isObject = typeof resource === 'object' && resource !== null && !Array.isArray(resource);
  const ketamine = isObject && isKetamineRequest(r);
  const issues = validator.validate(resource, { asKapPrescription: ketamine });
  if (!hasErrors(issues)) return r;
  // Which kind of failure: the same resource judged as plain R4, without profiles or KAP rules.
  const { profile: _, ...meta } = (isObject && r.meta) || {};
  const plain = isObject ? { ...r, meta: Object.keys(meta).length > 0 ? meta : undefined } : resource;
  const wellFormed = !hasErrors(validator.validate(plain));
  // A ketamine order that is R4 but breaks a KAP rule is the prescriber's word all the same (a stop
  // order without a dosage, a dose above the bound): refusing it would leave an older order
  // speaking for them. It is kept; the record never lets it authorise, and intake says why.
  if (wellFormed && ketamine) return r;
  throw new OperationOutcomeError(wellFormed ? businessRule(issues) : badRequest(issues));
}

export type IntakeOutcome = PutOutcome | 'acknowledged';

/**
 * Keeps one checked resource in the store (inside the caller's transaction): deduped by version,
 * an older version never over a newer, and an EHR Patient linked to the kap-bridge patient that
 * shares an identifier with it. A resource for a patient not linked yet is kept all the same.
 */
export async function keep(resource: Resource, tx: StoreTx, receivedAt: string): Promise<IntakeOutcome> {
  const own = await attachOwnCopy(resource, tx, receivedAt);
  if (own) {
    await tx.setCheckpoint('ehr:last-heard', receivedAt);
    return own;
  }
  if (!keeps(resource)) return 'acknowledged';
  if (!resource.id) {
    throw new OperationOutcomeError(
      badRequest(
        'The resource needs an id: kap-bridge mirrors EHR resources under their own ids.',
        `${resource.resourceType}.id`,
        'required',
      ),
    );
  }
  const patientRef = patientRefOf(resource);
  const outcome = await tx.putResource({ resource, receivedAt, ...(patientRef ? { patientRef } : {}) });
  if (outcome === 'stored' && resource.resourceType === 'Patient')
    await linkEhrPatient(resource as Patient, tx);
  await tx.setCheckpoint('ehr:last-heard', receivedAt);
  return outcome;
}

/**
 * The elements of a resource kap-bridge writes that the prescriber works on in the EHR: the Task
 * tracking a clearance request is the prescriber's to accept, reject or complete, with a business
 * status, the decision as output and notes. A newer EHR version that changes them is taken into
 * the local copy; the other elements stay the therapist's (reconcile sends them again).
 */
export const PRESCRIBER_OWNED: Readonly<Record<string, readonly string[]>> = {
  Task: ['status', 'statusReason', 'businessStatus', 'output', 'note', 'lastModified', 'executionPeriod'],
};

/**
 * The EHR's copy of a resource kap-bridge wrote (it carries our business identifier) is not a
 * second record: the EHR id and version are attached to the local one, and what the prescriber
 * changed in elements of theirs (PRESCRIBER_OWNED) is taken in as a new local version. Undefined
 * when the resource was not ours.
 */
async function attachOwnCopy(
  resource: Resource,
  tx: StoreTx,
  receivedAt: string,
): Promise<'stored' | 'duplicate' | undefined> {
  if (!resource.id || resource.resourceType === 'Patient') return undefined;
  const system = identifierSystem(resource.resourceType);
  const identifiers = (resource as { identifier?: { system?: string; value?: string }[] }).identifier;
  const value = Array.isArray(identifiers) ? identifiers.find((i) => i?.system === system)?.value : undefined;
  if (typeof value !== 'string') return undefined;
  // The identifier value names the practice and its id (see ehrIdentifierValue).
  const local = await tx.ownByEhrIdentifier(resource.resourceType, value);
  if (!local) return undefined;
  const tenant = local.tenant ?? DEFAULT_TENANT;
  const owned = PRESCRIBER_OWNED[resource.resourceType] ?? [];
  const held = Number(local.ehrSource?.split('/_history/')[1] ?? 0);
  const offered = Number(resource.meta?.versionId);
  let outcome: 'stored' | 'duplicate' = 'duplicate';
  // Only a newer EHR version speaks for the prescriber: a late, older one changes nothing.
  if (owned.length && !(offered <= held)) {
    const merged = { ...local.resource } as Record<string, unknown>;
    for (const element of owned) {
      const theirs = (resource as unknown as Record<string, unknown>)[element];
      if (theirs === undefined) delete merged[element];
      else merged[element] = theirs;
    }
    const before = owned.map((e) =>
      JSON.stringify((local.resource as unknown as Record<string, unknown>)[e]),
    );
    if (owned.some((e, i) => JSON.stringify(merged[e]) !== before[i])) {
      const versionId = String(Number(local.resource.meta?.versionId ?? 0) + 1);
      await tx.putResource({
        resource: {
          ...(merged as unknown as Resource),
          meta: { ...local.resource.meta, versionId, lastUpdated: receivedAt },
        },
        receivedAt,
        ours: true,
        // Still the recording practice's own.
        tenant,
        ...(local.patientRef ? { patientRef: local.patientRef } : {}),
      });
      outcome = 'stored';
    }
  }
  const ehrRef = `${resource.resourceType}/${resource.id}`;
  await tx.attachEhrCopy(
    resource.resourceType,
    { id: local.resource.id!, tenant },
    ehrRef,
    resource.meta?.versionId,
  );
  // The EHR's copy is also kept as the EHR's data, under the EHR's id and marked with the practice
  // that wrote it: other practices caring for the patient see it as such, while to the writer its
  // own row stands for it (Store.resourcesFor).
  const patientRef = patientRefOf(resource);
  await tx.putResource({ resource, receivedAt, writtenBy: tenant, ...(patientRef ? { patientRef } : {}) });
  return outcome;
}

async function linkEhrPatient(patient: Patient, tx: StoreTx): Promise<void> {
  const ref = `Patient/${patient.id}`;
  for (const i of patient.identifier ?? []) {
    await tx.indexEhrIdentifier(ref, i.system, i.value);
    if (!i.system || !i.value) continue;
    for (const { tenant, link } of await tx.findPatients({ system: i.system, value: i.value })) {
      if (!link.ehrPatient && matchPatient([link], patient).length === 1) {
        await tx.savePatient({ ...link, ehrPatient: ref }, tenant);
      }
    }
  }
}
