/**
 * Reconciliation: the local aligned record of a patient against what the EHR holds, resource by
 * resource. `compareRecords` is the rule book, a pure function of the two sides; the rest gathers
 * the two sides (one search per type, by patient) and heals what the rules allow: the EHR's own
 * resources are pulled through intake, ours are sent again through the outbox, and what both
 * sides changed is left for a person.
 */
import type { Resource } from 'fhir/r4';
import type { PatientLink } from './domain/model.js';
import { EhrError, type EhrGateway } from './ehr/gateway.js';
import { identifierSystem } from './fhir/codes.js';
import { contentOf } from './fhir/content.js';
import { type Answered, answered, notFound, OperationOutcomeError, unavailable } from './fhir/outcome.js';
import { checkInbound, KEPT_TYPES, keep, keeps, PRESCRIBER_OWNED, type ResourceValidator } from './intake.js';
import { enqueue, forgetEhrCopy, Outbox, type OutboxMessage } from './outbox/outbox.js';
import { DEFAULT_PATIENT_LINK, type PatientLinkPolicy } from './patient-link.js';
import { practiceView } from './record.js';
import { type Store, type StoredResource, versionRank } from './store/store.js';

/** What kap-bridge writes to the EHR (src/api): matched by business identifier. */
export const WRITTEN_TYPES = [
  'EpisodeOfCare',
  'CarePlan',
  'Goal',
  'Group',
  'Encounter',
  'Consent',
  'MedicationAdministration',
  'Observation',
  'ServiceRequest',
  'Task',
  'MedicationRequest',
  'MedicationDispense',
] as const;

/** Practitioner and Medication are not any one patient's: they have no patient search. */
export const RECONCILED_TYPES: readonly string[] = [
  ...new Set<string>(
    [...KEPT_TYPES, ...WRITTEN_TYPES].filter((t) => t !== 'Practitioner' && t !== 'Medication'),
  ),
];

export type DriftKind = 'missing-here' | 'missing-there' | 'different-content' | 'conflicting-versions';
/** What heals it: take the EHR's version in, send ours again, or a person decides. */
export type Remedy = 'pull' | 'resend' | 'person';

export interface Drift {
  kind: DriftKind;
  resourceType: string;
  /** kap-bridge's copy, `Type/id/_history/version`. */
  here?: string;
  /** The EHR's copy, `Type/id/_history/version`. */
  there?: string;
  remedy: Remedy;
  detail: string;
}

/** One resource of the local record, with what the outbox knows of it when it is ours. */
export interface LocalResource {
  resource: Resource;
  ours: boolean;
  /** Ours only: a change is queued and not delivered yet (pending or being delivered). */
  pending?: boolean;
  /** Ours only: where the EHR kept the last delivered change, `Type/id/_history/version`. */
  delivered?: string;
}

export interface Comparison {
  here: number;
  there: number;
  matched: number;
  drift: Drift[];
}

const at = (r: Resource): string =>
  r.meta?.versionId ? `${r.resourceType}/${r.id}/_history/${r.meta.versionId}` : `${r.resourceType}/${r.id}`;
const key = (r: Resource): string => `${r.resourceType}/${r.id}`;
/** How the EHR knows a resource of ours: `Type/<our identifier's value>`. */
const knownAs = (r: Resource): string => `${r.resourceType}/${ourIdentifier(r) ?? r.id}`;
const versionOf = (ref: string | undefined): number | undefined => {
  const v = ref?.split('/_history/')[1];
  return v === undefined ? undefined : Number(v);
};

/** Our business identifier's value on a resource: the practice and its id (see ehrIdentifierValue), or the bare id of what was written before. */
export function ourIdentifier(resource: Resource): string | undefined {
  const system = identifierSystem(resource.resourceType);
  const ids = (resource as { identifier?: { system?: string; value?: string }[] }).identifier;
  return Array.isArray(ids) ? ids.find((i) => i?.system === system)?.value : undefined;
}

/**
 * The drift between the local record and the EHR's resources for one patient. Ours are matched to
 * the EHR's copies by business identifier (or the outbox's record of where it delivered them);
 * the EHR's own by type and id. EHR resources kap-bridge does not keep are not KAP's and are left
 * out, and so are resources of types outside RECONCILED_TYPES (the Provenances of our writes). `aliases` adds EHR -> local references for resources outside both sets.
 */
export function compareRecords(
  local: readonly LocalResource[],
  everything: readonly Resource[],
  aliases: ReadonlyMap<string, string> = new Map(),
  /** EHR resources another practice wrote through kap-bridge: the EHR's data to this one. */
  others: ReadonlySet<string> = new Set(),
): Comparison {
  // The Provenances kap-bridge writes with each change are the EHR's audit trail of our writes,
  // not part of the aligned record: there is no local copy to compare them with.
  const ehr = everything.filter((r) => RECONCILED_TYPES.includes(r.resourceType));
  const ours = new Map<string, LocalResource>();
  const theirs = new Map<string, LocalResource>();
  const byDelivery = new Map<string, LocalResource>();
  for (const l of local) {
    if (l.ours) ours.set(knownAs(l.resource), l);
    else theirs.set(key(l.resource), l);
    if (l.ours && l.delivered) byDelivery.set(l.delivered.split('/_history/')[0]!, l);
  }
  const pairs: [LocalResource, Resource][] = [];
  const unmatchedThere: Resource[] = [];
  const seen = new Set<LocalResource>();
  for (const r of ehr) {
    const value = ourIdentifier(r);
    const mine = (value && ours.get(`${r.resourceType}/${value}`)) || byDelivery.get(key(r));
    const match = mine ?? theirs.get(key(r));
    if (match && !seen.has(match)) {
      seen.add(match);
      pairs.push([match, r]);
    } else {
      unmatchedThere.push(r);
    }
  }
  const names = new Map(aliases);
  for (const [l, r] of pairs) if (l.ours) names.set(key(r), key(l.resource));

  const drift: Drift[] = [];
  for (const r of unmatchedThere) {
    if (ourIdentifier(r) !== undefined && !others.has(key(r))) {
      drift.push({
        kind: 'missing-here',
        resourceType: r.resourceType,
        there: at(r),
        remedy: 'person',
        detail: `The EHR holds a ${r.resourceType} with kap-bridge's identifier ${ourIdentifier(r)} that this store does not know: written by another kap-bridge store, or lost here.`,
      });
    } else if (keeps(r)) {
      drift.push({
        kind: 'missing-here',
        resourceType: r.resourceType,
        there: at(r),
        remedy: 'pull',
        detail: `The EHR holds ${key(r)}; the local record does not.`,
      });
    }
  }
  for (const l of local) {
    if (seen.has(l)) continue;
    const r = l.resource;
    if (l.ours && l.pending) continue; // on its way
    drift.push(
      l.ours
        ? {
            kind: 'missing-there',
            resourceType: r.resourceType,
            here: at(r),
            ...(l.delivered ? { there: l.delivered } : {}),
            remedy: 'resend',
            detail: l.delivered
              ? `Delivered as ${l.delivered}, but the EHR no longer holds it.`
              : 'Recorded here, never delivered and not queued.',
          }
        : {
            kind: 'missing-there',
            resourceType: r.resourceType,
            here: at(r),
            remedy: 'person',
            detail: `The EHR sent ${key(r)} and no longer holds it; kap-bridge does not delete what the EHR sent.`,
          },
    );
  }
  for (const [l, r] of pairs) {
    if (contentOf(l.resource, names) === contentOf(r, names)) continue;
    const here = at(l.resource);
    const there = at(r);
    if (!l.ours) {
      const newer = versionRank(r) > versionRank(l.resource);
      drift.push({
        kind: 'different-content',
        resourceType: r.resourceType,
        here,
        there,
        remedy: newer ? 'pull' : 'person',
        detail: newer
          ? `The EHR's version is newer than the one held here.`
          : `Same or older version in the EHR with other content: the EHR's history was rewritten.`,
      });
      continue;
    }
    const deliveredVersion = versionOf(l.delivered);
    const moved = deliveredVersion === undefined || Number(r.meta?.versionId) > deliveredVersion;
    if (l.pending && !moved) continue; // our change is on its way to the version we last saw
    if (moved && !l.pending && onlyPrescriberChanged(l.resource, r, names)) {
      drift.push({
        kind: 'different-content',
        resourceType: r.resourceType,
        here,
        there,
        remedy: 'pull',
        detail: `The prescriber worked on our ${r.resourceType} in the EHR (${PRESCRIBER_OWNED[r.resourceType]!.join(', ')}); taken in when the EHR's copy arrives.`,
      });
      continue;
    }
    drift.push(
      l.pending
        ? {
            kind: 'conflicting-versions',
            resourceType: r.resourceType,
            here,
            there,
            remedy: 'person',
            detail: `An update of ours is queued on ${l.delivered ?? 'no delivered version'}, and the EHR moved on to ${there}: decide which content stands.`,
          }
        : {
            kind: 'different-content',
            resourceType: r.resourceType,
            here,
            there,
            remedy: 'resend',
            detail: moved
              ? `The EHR changed our ${r.resourceType} after ${l.delivered}; kap-bridge's record is the therapist's and is sent again.`
              : `The EHR's copy differs from what was delivered.`,
          },
    );
  }
  return { here: local.length, there: ehr.length, matched: pairs.length, drift };
}

/** True when the two differ only in elements the prescriber owns (intake takes those in). */
function onlyPrescriberChanged(
  ours: Resource,
  theirs: Resource,
  names: ReadonlyMap<string, string>,
): boolean {
  const owned = PRESCRIBER_OWNED[ours.resourceType];
  if (!owned) return false;
  const without = (r: Resource) =>
    Object.fromEntries(Object.entries(r).filter(([k]) => !owned.includes(k))) as unknown as Resource;
  return contentOf(without(ours), names) === contentOf(without(theirs), names);
}

// ---- I/O: gathering both sides, and healing ----

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

/** What `--fix` did about one drift. */
export interface Repair {
  drift: Drift;
  outcome: 'pulled' | 'queued' | 'left for a person' | 'failed';
  detail?: string;
}

interface Gathered {
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
    for (const [, type, id] of JSON.stringify(r).matchAll(
      /"reference":"([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})"/g,
    )) {
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
  if (!link.ehrPatient) {
    return {
      report: {
        patient: link.id,
        checkedAt,
        here: 0,
        there: 0,
        matched: 0,
        drift: [],
        skipped: 'not linked to an EHR Patient yet',
      },
    };
  }
  const { confirmed } = await practiceView(
    deps.store,
    link.ehrPatient,
    tenant,
    deps.patientLink ?? DEFAULT_PATIENT_LINK,
  );
  if (!confirmed) {
    // Until the EHR confirms the practice's care, nothing of the EHR's record is shown to it, nor counted.
    return {
      report: {
        patient: link.id,
        checkedAt,
        here: 0,
        there: 0,
        matched: 0,
        drift: [],
        skipped: "the prescriber's EHR has not confirmed this practice's care of the patient yet",
      },
    };
  }
  const gathered = await gather(link as PatientLink & { ehrPatient: string }, tenant, deps);
  const comparison = compareRecords(gathered.local, gathered.ehr, gathered.aliases, gathered.others);
  return {
    report: { patient: link.id, ehrPatient: link.ehrPatient, checkedAt, ...comparison },
    gathered,
  };
}

/** Heals what the rules allow; conflicts and what cannot be healed are left for a person. */
export async function heal(
  report: PatientReport,
  gathered: Gathered,
  deps: ReconcileDeps & { validator: ResourceValidator },
): Promise<Repair[]> {
  const repairs: Repair[] = [];
  for (const drift of report.drift) {
    if (drift.remedy === 'person') {
      repairs.push({ drift, outcome: 'left for a person' });
      continue;
    }
    try {
      if (drift.remedy === 'pull') {
        const ref = drift.there!.split('/_history/')[0];
        const theirs = gathered.ehr.find((r) => key(r) === ref)!;
        const checked = checkInbound(theirs, deps.validator);
        const receivedAt = (deps.now?.() ?? new Date()).toISOString();
        const outcome = await deps.store.transaction((tx) => keep(checked, tx, receivedAt));
        repairs.push({ drift, outcome: 'pulled', detail: outcome });
        continue;
      }
      const ref = drift.here!.split('/_history/')[0]!;
      const message = gathered.latest.get(ref);
      if (!message) {
        repairs.push({ drift, outcome: 'failed', detail: 'No queued change to send again.' });
        continue;
      }
      await deps.store.transaction(async (tx) => {
        if (drift.kind === 'missing-there' && drift.there)
          await forgetEhrCopy(tx, message.resourceType, message.identifier);
        await enqueue(tx, {
          patientRef: message.patientRef,
          resource: message.resource,
          identifier: message.identifier,
        });
      });
      repairs.push({ drift, outcome: 'queued', detail: `in the outbox of ${message.patientRef}` });
    } catch (e) {
      if (!(e instanceof OperationOutcomeError)) throw e;
      const why = e.outcome.issue.map((i) => i.diagnostics).join('; ');
      repairs.push({ drift, outcome: 'failed', detail: `refused by intake: ${why}` });
    }
  }
  return repairs;
}

/** The therapist API's report for one patient (GET, so report only); transport-free, src/http translates. */
export async function reconciliation(
  patientId: string,
  deps: { store: Store; ehr?: EhrGateway; now?: () => Date; patientLink?: PatientLinkPolicy },
  tenant: string,
): Promise<Answered<PatientReport>> {
  if (!deps.ehr) {
    throw new OperationOutcomeError(
      unavailable(
        'No EHR is configured (KAP_EHR_BASE_URL): there is nothing to reconcile with.',
        undefined,
        'not-supported',
      ),
    );
  }
  try {
    const { report } = await reconcilePatient(patientId, tenant, {
      store: deps.store,
      ehr: deps.ehr,
      outbox: new Outbox(deps.store),
      ...(deps.now ? { now: deps.now } : {}),
      ...(deps.patientLink ? { patientLink: deps.patientLink } : {}),
    });
    return answered(report);
  } catch (e) {
    if (e instanceof UnknownPatientError) throw new OperationOutcomeError(notFound(e.message));
    throw e;
  }
}
