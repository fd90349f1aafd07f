/**
 * How the therapist API records a course: each change becomes the FHIR resources our mapping
 * writes, checked against their profiles, kept in the local record (so readiness sees it at once)
 * and queued for the EHR in the same store transaction, so both happen or neither does.
 *
 * Locally a resource keeps kap-bridge's id (its business identifier value); the EHR assigns its
 * own on conditional create. References to patients are the EHR Patients, so the local record and
 * the EHR's copies sit under the same `patient_ref`.
 */
import type { Bundle, Resource } from 'fhir/r4';
import type { Finding } from '../domain/medicine-session.js';
import type { BusinessIdentifier, Episode, PatientLink } from '../domain/model.js';
import type { Reason } from '../domain/readiness.js';
import { identifierSystem } from '../fhir/codes.js';
import { ehrIdentifierValue, ID, parseReference, RESOURCE_TYPE, referencesIn } from '../fhir/ids.js';
import { businessRule, hasErrors, issue, OperationOutcomeError, unknownReference } from '../fhir/outcome.js';
import { identityContext, type MappingContext } from '../fhir/reference-context.js';
import { patientRefOf, type ResourceValidator } from '../intake.js';
import type { OutboxChange } from '../outbox/outbox.js';
import type { StoredResource, StoreTx } from '../store/store.js';
import type { PatientsDeps } from './patients.js';

/** What the API needs of the outbox (src/outbox): queue a change in the caller's transaction. */
export interface CourseOutbox {
  enqueue(tx: StoreTx, change: OutboxChange): Promise<unknown>;
  /** The EHR's `Type/id/_history/v` of the last delivered change with this identifier. */
  ehrRefOf(resourceType: string, identifier: BusinessIdentifier): Promise<string | undefined>;
}

export interface RecordingDeps extends PatientsDeps {
  outbox: CourseOutbox;
  validator: ResourceValidator;
}

/**
 * Readiness reasons and day-of findings as one 422: an issue per reason, its code in `details`,
 * the record it rests on in the sentence, the field it concerns in `expression`.
 */
export function refusal(
  reasons: readonly ((Reason | Finding) & { patientId?: string })[],
  patientId?: string,
): OperationOutcomeError {
  const error = new OperationOutcomeError(
    businessRule(
      reasons.map((r) =>
        issue(
          'error',
          'business-rule',
          `Patient ${r.patientId ?? patientId}: ${r.message}${r.source ? ` (${r.source})` : ''}`,
          'expression' in r && r.expression ? r.expression : 'patient',
        ),
      ),
    ),
  );
  error.outcome.issue.forEach((i, n) => {
    i.details = { text: reasons[n]!.code };
  });
  return error;
}

export const unprocessable = (message: string, expression?: string) =>
  new OperationOutcomeError(businessRule(message, expression));

/**
 * For a patient, episode or session a body names: not finding it is the body's fault, said as an
 * unknown reference (422, the field named), never as a missing path (404). Other errors pass.
 */
export const namedIn =
  (what: 'patient' | 'episode' | 'session', id: string, expression: string) =>
  (e: unknown): never => {
    if (e instanceof OperationOutcomeError && e.kind === 'not-found')
      throw new OperationOutcomeError(unknownReference(what, id, expression));
    throw e;
  };

/** The practice's patient linked to its EHR Patient: only those can have a course recorded and sent. */
export async function linkedPatient(
  tx: Pick<StoreTx, 'getPatient'>,
  id: string,
  tenant: string,
  expression: string,
): Promise<PatientLink & { ehrPatient: string }> {
  const link = await tx.getPatient(id, tenant);
  if (!link) throw new OperationOutcomeError(unknownReference('patient', id, expression));
  if (!link.ehrPatient) {
    throw unprocessable(
      `Patient ${id} is not linked to a Patient in the prescriber's EHR yet: register the EHR Patient (ehrPatient) or an identifier it carries first.`,
      expression,
    );
  }
  return link as PatientLink & { ehrPatient: string };
}

export const linksOf = (tx: Pick<StoreTx, 'getPatient'>, episode: Episode, tenant: string) =>
  Promise.all(episode.patients.map((p, i) => linkedPatient(tx, p, tenant, `patients[${i}]`)));

/**
 * Domain ids to references and back for a course: patients are their EHR Patients, everything
 * else kap-bridge's own resources under kap-bridge's ids.
 */
export function courseContext(
  links: readonly PatientLink[],
  resolve?: MappingContext['resolve'],
): MappingContext {
  return {
    ref: (type, id) =>
      type === 'Patient' ? (links.find((l) => l.id === id)?.ehrPatient ?? `Patient/${id}`) : `${type}/${id}`,
    idOf: (type, reference) => {
      const parsed = parseReference(reference);
      if (type !== 'Patient' || parsed?.type !== 'Patient') return identityContext.idOf(type, reference);
      return links.find((l) => l.ehrPatient === `Patient/${parsed.id}`)?.id;
    },
    ...(resolve ? { resolve } : {}),
  };
}

/** One resource to record, and the patient queue it travels to the EHR in. */
export interface Write {
  resource: Resource;
  /**
   * The EHR Patient whose outbox queue carries it. A couples course is one queue (its first
   * partner's), so the couple Group and joint session reach the EHR before what refers to them.
   */
  queue: string;
  /** Delivered ahead of the rest of the queue (an alert the prescriber must see at once). */
  priority?: boolean;
}

/**
 * Keeps each resource locally as a new version of `tenant`'s practice and queues it for the EHR,
 * inside `tx`. A resource that fails its profile is refused (422) and, the transaction rolling
 * back, nothing is kept.
 */
export async function record(
  tx: StoreTx,
  writes: readonly Write[],
  deps: RecordingDeps,
  tenant: string,
): Promise<void> {
  const at = (deps.now?.() ?? new Date()).toISOString();
  for (const { resource, queue, priority } of writes) {
    const issues = deps.validator.validate(resource);
    if (hasErrors(issues)) throw new OperationOutcomeError(businessRule(issues));
    const held = await tx.getOwn(resource.resourceType, resource.id!, tenant);
    const versionId = String(Number(held?.resource.meta?.versionId ?? 0) + 1);
    const ehrIdentifier = held?.ehrIdentifier ?? ehrIdentifierValue(tenant, resource.id!);
    const known = knownBy(resource, ehrIdentifier);
    const local = { ...known, meta: { ...resource.meta, versionId, lastUpdated: at } };
    const patientRef = patientRefOf(resource);
    await tx.putResource({
      resource: local,
      receivedAt: at,
      ours: true,
      tenant,
      ehrIdentifier,
      ...(patientRef ? { patientRef } : {}),
    });
    await deps.outbox.enqueue(tx, {
      patientRef: queue,
      resource: await forEhr(tx, known, tenant),
      ...(priority ? { priority } : {}),
    });
  }
}

/**
 * The resource with kap-bridge's identifier carrying the value the EHR knows it by (unique across
 * practices; see ehrIdentifierValue) in place of the practice's id, which stays the resource's id.
 */
function knownBy(resource: Resource, ehrIdentifier: string): Resource {
  const system = identifierSystem(resource.resourceType);
  const identifiers = (resource as { identifier?: { system?: string; value?: string }[] }).identifier;
  if (!Array.isArray(identifiers)) return resource;
  return {
    ...resource,
    identifier: identifiers.map((i) =>
      i.system === system && i.value === resource.id ? { ...i, value: ehrIdentifier } : i,
    ),
  } as Resource;
}

/**
 * The resource as the EHR should get it: no id (the EHR assigns its own), and references to the
 * practice's own resources as conditional references on their identifiers, which the EHR resolves
 * to its ids when it takes the change (inside a Bundle, the outbox resolves them before sending it:
 * src/outbox/worker.ts). Patients and the EHR's resources keep their ids, and a Bundle's references
 * to its own entries stay as they are, resolving inside it.
 */
async function forEhr(tx: StoreTx, resource: Resource, tenant: string): Promise<Resource> {
  const { id: _local, ...body } = resource;
  const ours = new Map<string, string>();
  const text = JSON.stringify(body);
  const inside = new Set(
    resource.resourceType === 'Bundle'
      ? ((resource as Bundle).entry ?? []).map((e) => `${e.resource?.resourceType}/${e.resource?.id}`)
      : [],
  );
  for (const [, type, id] of referencesIn(text)) {
    if (inside.has(`${type}/${id}`)) continue;
    const held = type === 'Patient' ? undefined : await tx.getOwn(type!, id!, tenant);
    if (held?.ehrIdentifier !== undefined) {
      ours.set(
        `${type}/${id}`,
        `${type}?identifier=${encodeURIComponent(identifierSystem(type!))}|${encodeURIComponent(held.ehrIdentifier)}`,
      );
    }
  }
  // Logical references to the practice's own resources (by kap-bridge's identifier) name them as the EHR knows them.
  const logical = new Map<string, string>();
  for (const [, type, id] of text.matchAll(LOGICAL)) {
    const held = await tx.getOwn(type!, id!, tenant);
    if (held?.ehrIdentifier !== undefined)
      logical.set(`${identifierSystem(type!)}|${id}`, held.ehrIdentifier);
  }
  return JSON.parse(text, (key, value) => {
    if (key === 'reference' && typeof value === 'string') return ours.get(value) ?? value;
    const known = key === 'identifier' && logical.get(`${value?.system}|${value?.value}`);
    return known ? { ...value, value: known } : value;
  }) as Resource;
}

/** A logical reference's identifier under kap-bridge's system for a type: the type and the id. */
const LOGICAL = new RegExp(
  `"identifier":\\{"system":"${identifierSystem('').replace(/[.]/g, '\\.')}(${RESOURCE_TYPE})","value":"(${ID})"\\}`,
  'g',
);

/**
 * Where a recorded resource can be found: the EHR's `Type/id/_history/version` once delivered (as
 * the outbox or the EHR's own copy says), else kap-bridge's local `Type/id`.
 */
export async function sourceOf(
  stored: StoredResource,
  deps: { outbox: Pick<CourseOutbox, 'ehrRefOf'> },
): Promise<string> {
  const { resourceType, id } = stored.resource;
  if (stored.ehrSource) return stored.ehrSource;
  const delivered = await deps.outbox.ehrRefOf(resourceType, {
    system: identifierSystem(resourceType),
    value: stored.ehrIdentifier ?? id!,
  });
  return delivered ?? `${resourceType}/${id}`;
}
