/**
 * Gathering both sides of one patient's record for reconciliation: the practice's local resources
 * (with what the outbox knows of ours) and the EHR's, one search per type by patient, and the
 * drift report the rules (./rules.ts) make of them.
 */
import type { Resource } from 'fhir/r4';
import type { PatientLink } from '../domain/model.js';
import { EhrError, type EhrGateway } from '../ehr/gateway.js';
import { identifierSystem } from '../fhir/codes.js';
import { referencesIn } from '../fhir/ids.js';
import { keeps } from '../intake.js';
import type { Outbox, OutboxMessage } from '../outbox/outbox.js';
import { DEFAULT_PATIENT_LINK, type PatientLinkPolicy } from '../patient-link.js';
import { practiceView } from '../record.js';
import type { Store, StoredResource } from '../store/store.js';
import {
  type Comparison,
  compareRecords,
  key,
  knownAs,
  type LocalResource,
  ourIdentifier,
  RECONCILED_TYPES,
  WRITTEN_TYPES,
} from './rules.js';

export interface ReconcileDeps {
  store: Store;
  /** When a practice sees an EHR Patient's data; the EHR's confirmation by default. */
  patientLink?: PatientLinkPolicy;
  ehr: EhrGateway;
  outbox: Outbox;
  now?: () => Date;
  pageSize?: number;
}

export interface PatientReport extends Comparison {
  patient: string;
  ehrPatient?: string;
  checkedAt: string;
  /** Set when the patient cannot be reconciled (not linked to an EHR Patient yet). */
  skipped?: string;
}

export interface Gathered {
  link: PatientLink & { ehrPatient: string };
  local: LocalResource[];
  ehr: Resource[];
  aliases: Map<string, string>;
  /** The last queued message per `Type/id` of the practice's own resources: what is sent again. */
  latest: Map<string, OutboxMessage>;
  /** The EHR's resources another practice wrote, of the kept types: this practice's EHR data. */
  others: Set<string>;
}

/** The search that finds a type's resources about the patient (R4 AdverseEvent has `subject` only). */
const searchParam = (type: string, patientRef: string): Record<string, string> =>
  type === 'Patient'
    ? { _id: patientRef.slice('Patient/'.length) }
    : type === 'Group'
      ? { member: patientRef }
      : // R4 AdverseEvent has no patient search parameter.
        type === 'AdverseEvent'
        ? { subject: patientRef }
        : { patient: patientRef };

async function readIfThere(ehr: EhrGateway, ref: string): Promise<Resource | undefined> {
  const [type, id] = ref.split('/');
  try {
    return await ehr.read<Resource>(type as never, id!);
  } catch (e) {
    if (e instanceof EhrError && (e.kind === 'gone' || e.kind === 'not-found')) return undefined;
    throw e;
  }
}

/** The outbox queues a patient's changes travel in: their own, and a couples course's (its first partner's). */
async function queuesOf(
  deps: ReconcileDeps,
  link: PatientLink & { ehrPatient: string },
  tenant: string,
): Promise<string[]> {
  const queues = new Set([link.ehrPatient]);
  for (const episode of await deps.store.episodesOf(link.id, tenant)) {
    const first = episode.patients[0] ? await deps.store.getPatient(episode.patients[0], tenant) : undefined;
    if (first?.ehrPatient) queues.add(first.ehrPatient);
  }
  return [...queues];
}

async function gather(
  link: PatientLink & { ehrPatient: string },
  tenant: string,
  deps: ReconcileDeps,
): Promise<Gathered> {
  const patientRef = link.ehrPatient;
  // The practice's own record against the EHR: another practice's changes share the EHR Patient's
  // queue, and are not this practice's to compare, count or send again.
  const latest = new Map<string, OutboxMessage>();
  const queued = new Map<string, StoredResource>();
  for (const queue of await queuesOf(deps, link, tenant)) {
    for (const m of await deps.outbox.list({ patientRef: queue, limit: 1_000_000 })) {
      const own = await deps.store.ownByEhrIdentifier(m.resourceType, m.identifier.value);
      if (own?.tenant !== tenant) continue;
      const k = key(own.resource);
      queued.set(k, own);
      const held = latest.get(k);
      if (!held || m.seq > held.seq) latest.set(k, m);
    }
  }
  const stored = await deps.store.resourcesFor(patientRef, tenant);
  // Ours without a patient of their own travel in a couple's queue (its first partner's): the
  // couple's Group, which names both partners, and the joint sessions, which name the Group. Each
  // partner's record holds them, as the EHR's searches find them for each partner.
  const patientless: StoredResource[] = [];
  for (const [k, held] of queued) {
    if (stored.some((s) => s.ours && key(s.resource) === k)) continue;
    if (!held.patientRef) patientless.push(held);
  }
  const refersTo = (s: StoredResource, ref: string) => JSON.stringify(s.resource).includes(`"${ref}"`);
  const couples = patientless.filter((s) => s.resource.resourceType === 'Group' && refersTo(s, patientRef));
  for (const s of patientless) {
    if (couples.includes(s) || couples.some((g) => refersTo(s, `Group/${g.resource.id}`))) stored.push(s);
  }
  const local: LocalResource[] = [];
  for (const s of stored) {
    if (!RECONCILED_TYPES.includes(s.resource.resourceType)) continue;
    if (!s.ours) {
      local.push({ resource: s.resource, ours: false });
      continue;
    }
    const identifier = {
      system: identifierSystem(s.resource.resourceType),
      value: s.ehrIdentifier ?? s.resource.id!,
    };
    const m = latest.get(key(s.resource));
    const delivered = await deps.outbox.ehrRefOf(s.resource.resourceType, identifier);
    local.push({
      resource: s.resource,
      ours: true,
      pending: m?.status === 'pending' || m?.status === 'delivering',
      ...(delivered ? { delivered } : {}),
    });
  }

  const ehr = new Map<string, Resource>();
  for (const type of RECONCILED_TYPES) {
    for await (const r of deps.ehr.search<Resource>(type, {
      ...searchParam(type, patientRef),
      _count: deps.pageSize ?? 200,
    })) {
      ehr.set(key(r), r);
    }
  }
  // Ours the patient search cannot find (a joint session's subject is the couple's Group): by where they were delivered.
  const found = new Set([...ehr.values()].map((r) => `${r.resourceType}/${ourIdentifier(r)}`));
  for (const l of local) {
    if (!l.ours || !l.delivered || found.has(knownAs(l.resource))) continue;
    const ref = l.delivered.split('/_history/')[0]!;
    if (ehr.has(ref)) continue;
    const r = await readIfThere(deps.ehr, ref);
    if (r) ehr.set(key(r), r);
  }
  // What another practice wrote is the EHR's data to this one: of the kept types it is taken in
  // like any EHR resource; the others are never part of this practice's record.
  const others = new Set<string>();
  for (const r of [...ehr.values()]) {
    const value = ourIdentifier(r);
    const writer =
      value === undefined ? undefined : await deps.store.ownByEhrIdentifier(r.resourceType, value);
    if (!writer || writer.tenant === tenant) continue;
    if (keeps(r)) others.add(key(r));
    else ehr.delete(key(r));
  }
  // References from the EHR's copies to ours outside this patient's set (a partner's joint session).
  const aliases = new Map<string, string>();
  const written = new Set<string>(WRITTEN_TYPES);
  for (const r of ehr.values()) {
    for (const [, type, id] of referencesIn(JSON.stringify(r))) {
      const ref = `${type}/${id}`;
      if (!written.has(type!) || ehr.has(ref) || aliases.has(ref)) continue;
      const target = await readIfThere(deps.ehr, ref);
      const value = target && ourIdentifier(target);
      const own = value === undefined ? undefined : await deps.store.ownByEhrIdentifier(type!, value);
      aliases.set(ref, own?.tenant === tenant ? key(own.resource) : ref);
    }
  }
  return { link, local, ehr: [...ehr.values()], aliases, latest, others };
}

/** A patient id that is not registered. */
export class UnknownPatientError extends Error {
  override name = 'UnknownPatientError';
}

/** The drift report of one patient, and what healing needs. */
export async function reconcilePatient(
  patientId: string,
  tenant: string,
  deps: ReconcileDeps,
): Promise<{ report: PatientReport; gathered?: Gathered }> {
  const link = await deps.store.getPatient(patientId, tenant);
  if (!link) throw new UnknownPatientError(`No patient ${patientId} is registered.`);
  const checkedAt = (deps.now?.() ?? new Date()).toISOString();
  /** A patient not compared, and why: nothing counted on either side. */
  const skipped = (why: string) => ({
    report: { patient: link.id, checkedAt, here: 0, there: 0, matched: 0, drift: [], skipped: why },
  });
  if (!link.ehrPatient) return skipped('not linked to an EHR Patient yet');
  const { confirmed } = await practiceView(
    deps.store,
    link.ehrPatient,
    tenant,
    deps.patientLink ?? DEFAULT_PATIENT_LINK,
  );
  if (!confirmed) {
    // Until the EHR confirms the practice's care, nothing of the EHR's record is shown to it, nor counted.
    return skipped("the prescriber's EHR has not confirmed this practice's care of the patient yet");
  }
  const gathered = await gather(link as PatientLink & { ehrPatient: string }, tenant, deps);
  const comparison = compareRecords(gathered.local, gathered.ehr, gathered.aliases, gathered.others);
  return {
    report: { patient: link.id, ehrPatient: link.ehrPatient, checkedAt, ...comparison },
    gathered,
  };
}
