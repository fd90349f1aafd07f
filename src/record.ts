/**
 * The aligned record of one patient, read from the store into the domain: what readiness and the
 * medication status are computed from. Stored resources are FHIR as received or written; the
 * mapping modules read them, and whatever they cannot read is left out, never guessed.
 */
import type {
  AdverseEvent,
  AllergyIntolerance,
  ClinicalImpression,
  Condition,
  Consent,
  Encounter,
  Medication,
  MedicationAdministration,
  MedicationDispense,
  MedicationRequest,
  Observation,
  Resource,
} from 'fhir/r4';
import { LRUCache } from 'lru-cache';
import type { ObservationKind, PatientLink, Prescription, SourceKind } from './domain/model.js';
import { emptyRecord, type PatientRecord } from './domain/readiness.js';
import { referenceTo } from './fhir/ids.js';
import type { Issue } from './fhir/outcome.js';
import { identityContext, type MappingContext, type Read, sourceOf } from './fhir/reference-context.js';
import { administrationFromFhir } from './mapping/administration.js';
import { adverseEventFromFhir } from './mapping/adverse-event.js';
import { clearanceFromFhir, isClearanceObservation } from './mapping/clearance.js';
import { consentFromFhir } from './mapping/consent.js';
import { findingFromFhir } from './mapping/finding.js';
import { dispenseFromFhir } from './mapping/medication-dispense.js';
import { prescriptionFromFhir } from './mapping/medication-request.js';
import { kindOf, observationFromFhir } from './mapping/observation.js';
import { reviewFromFhir } from './mapping/review.js';
import { sessionFromFhir } from './mapping/session.js';
import { DEFAULT_PATIENT_LINK, ehrConfirmsCare, type PatientLinkPolicy } from './patient-link.js';
import { type RecordHead, type Store, type StoredResource, StoreTx } from './store/store.js';
import { checkKapRules } from './validation/kap-rules.js';

/** What readiness relies on in each kind of Observation it reads, when the Observation cannot be read. */
const SAFETY_KIND: Partial<Record<ObservationKind, SourceKind>> = {
  phq9: 'safety-finding',
  'phq9-item9': 'safety-finding',
  cssrs: 'safety-finding',
  'blood-pressure': 'blood-pressure',
};

type Lists = Omit<PatientRecord, 'patientId' | 'link' | 'episodes' | 'unreadable'>;

/** One resource read into the domain: the record's list it belongs in, and what readiness relies on in it. */
interface ReadoutInto<K extends keyof Lists> {
  into: K;
  read: Read<Lists[K][number]>;
  /** Set when readiness relies on it: an unreadable one is then a reason, never dropped. */
  kind?: SourceKind;
  /** When it says it happened, as sent. */
  at?: string;
}

/** A readout of any list, told apart by `into`. */
export type Readout = { [K in keyof Lists]: ReadoutInto<K> }[keyof Lists];

const readout = <K extends keyof Lists>(
  into: K,
  read: Read<Lists[K][number]>,
  kind?: SourceKind,
  at?: unknown,
): Readout =>
  ({
    into,
    read,
    ...(kind === undefined ? {} : { kind }),
    ...(typeof at === 'string' ? { at } : {}),
  }) as Readout;

/**
 * The one dispatch from a FHIR resource to the domain, shared by the record, intake's warnings and
 * the episode timeline (src/api/timeline.ts), each with its own mapping context.
 */
export function readResource(r: Resource, ctx: MappingContext): Readout | undefined {
  switch (r.resourceType) {
    case 'Observation': {
      const o = r as Observation;
      const at = o.effectiveDateTime ?? o.effectivePeriod?.start ?? o.effectiveInstant;
      if (isClearanceObservation(o)) return readout('clearances', clearanceFromFhir(o, ctx), 'clearance', at);
      const kind = kindOf(o);
      return kind === undefined
        ? undefined
        : readout('observations', observationFromFhir(o, ctx), SAFETY_KIND[kind], at);
    }
    case 'MedicationRequest': {
      const m = r as MedicationRequest;
      const read = prescriptionFromFhir(m, ctx);
      // A ketamine order that would authorise but breaks a KAP rule (no dose or route, a dose above
      // the bound) is kept, never refused, and never authorises: it cannot be read as an order.
      const rx = read.value;
      if (rx?.medication.isKetamine && AUTHORISING.has(rx.status)) {
        const broken = checkKapRules(m, { asKapPrescription: true }).filter((i) => i.severity === 'error');
        if (broken.length > 0) {
          return readout('prescriptions', { value: undefined, issues: broken }, 'prescription', m.authoredOn);
        }
      }
      return readout('prescriptions', read, 'prescription', m.authoredOn);
    }
    case 'MedicationDispense':
      return readout('dispenses', dispenseFromFhir(r as MedicationDispense, ctx));
    case 'Consent':
      return readout('consents', consentFromFhir(r as Consent, ctx));
    case 'Encounter':
      return readout('sessions', sessionFromFhir(r as Encounter, ctx));
    case 'MedicationAdministration': {
      // A dose that may have been taken counts against its order: one that cannot be read leaves the
      // sessions left unknown. One the EHR says was not taken (or never happened) counts for nothing.
      const a = r as MedicationAdministration;
      const taken = !NOT_TAKEN.has(String(a.status));
      return readout(
        'administrations',
        administrationFromFhir(a, ctx),
        taken ? 'administration' : undefined,
        a.effectiveDateTime ?? a.effectivePeriod?.start,
      );
    }
    case 'Condition':
    case 'AllergyIntolerance':
      return readout(
        'findings',
        findingFromFhir(r as Condition | AllergyIntolerance, ctx),
        'safety-finding',
        (r as Condition).recordedDate,
      );
    case 'AdverseEvent': {
      const e = r as AdverseEvent;
      return readout('adverseEvents', adverseEventFromFhir(e, ctx), 'safety-finding', e.date ?? e.detected);
    }
    case 'ClinicalImpression':
      // A review that cannot be read reviews nothing: the flags it would close stay open.
      return readout('reviews', reviewFromFhir(r as ClinicalImpression, ctx));
    default:
      return undefined;
  }
}

const MEDICATION_REFERENCE = referenceTo('Medication');

/** Administration statuses that say no dose was taken: such a record never counts against an order. */
const NOT_TAKEN = new Set(['not-done', 'entered-in-error', 'in-progress', 'on-hold', 'stopped']);

/** Statuses in which an order could authorise a dose, now or once released. */
const AUTHORISING = new Set(['active', 'on-hold', 'draft', 'unknown']);

const firstError = (issues: readonly Issue[]): Issue | undefined =>
  issues.find((i) => i.severity === 'error' || i.severity === 'fatal');

/**
 * Adds each resource the mapping can read to the record. A resource readiness relies on that
 * cannot be read is recorded as unreadable, with the first error the mapping gave: never dropped.
 */
export function recordFrom(
  patientId: string,
  resources: readonly Resource[],
  ctx: MappingContext | ((r: Resource) => MappingContext),
): PatientRecord {
  const record = emptyRecord(patientId);
  for (const r of resources) {
    const out = readResource(r, typeof ctx === 'function' ? ctx(r) : ctx);
    if (out === undefined) continue;
    const problem = firstError(out.read.issues);
    if (out.read.value !== undefined) (record[out.into] as unknown[]).push(out.read.value);
    else if (out.kind !== undefined && problem !== undefined) {
      // No value and no error: it says nothing readiness needs (an inactive finding, a potential event).
      record.unreadable.push({
        kind: out.kind,
        source: sourceOf(r) ?? r.resourceType,
        ...(out.at === undefined ? {} : { at: out.at }),
        problem: `${problem.message} (${problem.expression ?? 'no element named'})`,
      });
    }
  }
  return record;
}

/**
 * What intake says back, as warnings, about a resource it keeps that readiness relies on: why it
 * cannot be read (readiness will refuse on it), or what it leaves unknown (a PHQ-9 without item 9).
 */
export function readingWarnings(resource: Resource): Issue[] {
  const out = readResource(resource, identityContext);
  if (out?.kind === undefined) return [];
  const { value, issues } = out.read;
  // Of orders, only a ketamine one that could authorise says anything readiness needs.
  const rx = value as Prescription | undefined;
  if (
    out.into === 'prescriptions' &&
    rx !== undefined &&
    !(rx.medication.isKetamine && AUTHORISING.has(rx.status))
  )
    return [];
  if (value === undefined) {
    return issues
      .filter((i) => i.severity === 'error' || i.severity === 'fatal')
      .map((i) => ({
        ...i,
        severity: 'warning' as const,
        message: `Kept, but readiness cannot read it, so it stops any medicine session until it is corrected: ${i.message}`,
      }));
  }
  return issues.filter((i) => i.severity === 'warning' && i.code === 'incomplete');
}

/**
 * The session an EHR resource names, told apart from the practice's own sessions: the EHR's
 * Encounter ids and the practice's session ids are separate id spaces that may hold the same
 * value, and a dose or reading the EHR holds under its Encounter 12 is not one taken in the
 * practice's session 12 (that would merge two sessions into one when counting those taken, or
 * take the EHR's reading as the session's pre-dose check). A colon is never in a FHIR id.
 */
const PRACTICE_SPACES: ReadonlySet<string> = new Set(['Encounter', 'EpisodeOfCare']);
/** `ctx` for reading the EHR's resources: ids in the practice's id spaces told apart by `ehr:`. */
export const ehrContextOf = (ctx: MappingContext): MappingContext => ({
  ...ctx,
  idOf: (type, reference) => {
    const id = ctx.idOf(type, reference);
    return PRACTICE_SPACES.has(type) && id !== undefined ? `ehr:${id}` : id;
  },
});

/**
 * The record of a linked patient as their practice (`tenant`) sees it: what the practice recorded
 * and what the EHR holds, never another practice's own rows; with the courses they take part in.
 * Empty, its link pending, while the EHR Patient is not known yet. Built anew on every call.
 * `fromEhr`: resources the EHR gave with the question (a CDS client's prefetch), newer than or
 * missing from the store's copies, taken once the EHR has confirmed the practice's care.
 */
export async function loadRecord(
  store: Pick<Store, 'resourcesFor' | 'getResource' | 'episodesOf'>,
  link: PatientLink,
  tenant: string,
  linkPolicy: PatientLinkPolicy = DEFAULT_PATIENT_LINK,
  fromEhr: readonly Resource[] = [],
): Promise<PatientRecord> {
  if (!link.ehrPatient) return { ...emptyRecord(link.id), link: 'pending' };
  const view = await practiceView(store, link.ehrPatient, tenant, linkPolicy);
  const { confirmed } = view;
  const ours = new Set(view.stored.filter((s) => s.ours).map((s) => s.resource));
  const resources = confirmed ? withNewer(view.resources, fromEhr, ours) : view.resources;
  // Referenced Medications are looked up once, so the mapping can tell whether they are ketamine.
  const medications = new Map<string, Medication>();
  for (const r of resources) {
    const ref = (r as MedicationRequest).medicationReference?.reference;
    const id = ref && MEDICATION_REFERENCE.exec(ref)?.[1];
    if (id && !medications.has(ref)) {
      const found = await store.getResource('Medication', id);
      if (found) medications.set(ref, found.resource as Medication);
    }
  }
  const own: MappingContext = { ...identityContext, resolve: (ref) => medications.get(ref) };
  const ehr = ehrContextOf(own);
  const record = recordFrom(link.id, resources, (r) => (ours.has(r) ? own : ehr));
  record.episodes = await store.episodesOf(link.id, tenant);
  if (!confirmed) record.link = 'pending';
  return record;
}

const versionOf = (r: Resource): number => Number(r.meta?.versionId ?? 0) || 0;

/**
 * The stored resources with the EHR's own copies given alongside (what a CDS client prefetched): a
 * given copy takes the place of the stored one of the same type and id unless that one is newer.
 * Nothing stored is dropped for being absent from what was given: a search page may be partial.
 */
function withNewer(
  stored: readonly Resource[],
  given: readonly Resource[],
  ours: ReadonlySet<Resource>,
): Resource[] {
  if (given.length === 0) return [...stored];
  // A practice's own resources are known by the practice's ids, which the EHR's may equal: they are
  // never replaced by what the EHR gives.
  const keyOf = (r: Resource) => `${ours.has(r) ? 'own:' : ''}${r.resourceType}/${r.id}`;
  const byKey = new Map(stored.map((r) => [keyOf(r), r]));
  for (const r of given) {
    const key = `${r.resourceType}/${r.id}`;
    const held = byKey.get(key);
    if (held === undefined || versionOf(r) >= versionOf(held)) byKey.set(key, r);
  }
  return [...byKey.values()];
}

/**
 * What `tenant` may see of an EHR Patient: its own records, and the EHR's data only once the EHR
 * confirms the practice's care of the patient (src/patient-link.ts). The EHR's copies of another
 * practice's records count only once the EHR confirms that practice's care of the patient too: a
 * practice whose link is pending does not write into anyone's record.
 */
export async function practiceView(
  store: Pick<Store, 'resourcesFor'>,
  ehrPatient: string,
  tenant: string,
  linkPolicy: PatientLinkPolicy,
): Promise<{ resources: Resource[]; stored: StoredResource[]; confirmed: boolean }> {
  const all = await store.resourcesFor(ehrPatient, tenant);
  const confirmed = ehrConfirmsCare(all, ehrPatient, tenant, linkPolicy);
  if (!confirmed) {
    const stored = all.filter((s) => s.ours);
    return { resources: stored.map((s) => s.resource), stored, confirmed };
  }
  const writers = new Set(all.flatMap((s) => (!s.ours && s.writtenBy !== undefined ? [s.writtenBy] : [])));
  const unconfirmed = new Set<string>();
  for (const writer of writers) {
    const theirs = await store.resourcesFor(ehrPatient, writer);
    if (!ehrConfirmsCare(theirs, ehrPatient, writer, linkPolicy)) unconfirmed.add(writer);
  }
  const stored = all.filter((s) => s.ours || s.writtenBy === undefined || !unconfirmed.has(s.writtenBy));
  return { resources: stored.map((s) => s.resource), stored, confirmed };
}

/**
 * How many patients' records each store keeps mapped in memory, least recently read dropped first.
 * A mapped record of a patient in a course takes a few kB.
 */
const RECORD_CACHE_SIZE = 20_000;

interface CachedRecord {
  ehrPatient: string | null;
  tenant: string;
  mark: string;
  record: PatientRecord;
}

/**
 * Per store (never shared across databases): practice and patient id -> the record and the head it
 * was read at. The practice is part of the key and of the check: a record is one practice's view.
 */
const caches = new WeakMap<object, LRUCache<string, CachedRecord>>();

/**
 * The cache of a store's records; none inside a transaction, whose reads must see its own writes
 * (a dose checks readiness in the transaction that records it): it reads afresh.
 */
function cacheOf(store: object): LRUCache<string, CachedRecord> | undefined {
  if (store instanceof StoreTx) return undefined;
  let cache = caches.get(store);
  if (!cache) {
    cache = new LRUCache({ max: RECORD_CACHE_SIZE });
    caches.set(store, cache);
  }
  return cache;
}

/** Cached records are shared by every answer: freezing them turns an accidental change into an error. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

export interface CurrentRecord {
  /** Frozen: shared with other readers. */
  record: PatientRecord;
  /** The value of the checkpoint asked for, read in the same round trip. */
  checkpoint?: string;
}

/**
 * The record of a practice's registered patient (undefined when not registered), as `loadRecord` builds it,
 * kept mapped between reads. Every read asks the database for the record's head (EHR link and
 * change mark) in one round trip, so a write by any instance sharing the database is seen by the
 * next read; only when the head changed are the resources read and mapped again.
 */
export async function currentRecord(
  store: Pick<StoreTx, 'recordHead' | 'resourcesFor' | 'getResource' | 'episodesOf'>,
  patientId: string,
  tenant: string,
  checkpoint: string,
  linkPolicy: PatientLinkPolicy = DEFAULT_PATIENT_LINK,
): Promise<CurrentRecord | undefined> {
  // Medications are the only resources about no patient that a record reads (see loadRecord).
  const head: RecordHead | undefined = await store.recordHead(patientId, tenant, {
    shared: 'Medication',
    checkpoint,
  });
  if (!head) return undefined;
  const withCheckpoint = (record: PatientRecord): CurrentRecord =>
    head.checkpoint === undefined ? { record } : { record, checkpoint: head.checkpoint };
  const cache = cacheOf(store);
  const key = JSON.stringify([head.tenant, patientId, linkPolicy.mode, linkPolicy.practiceSystem]);
  const cached = cache?.get(key);
  if (
    cached &&
    cached.tenant === head.tenant &&
    cached.ehrPatient === head.ehrPatient &&
    cached.mark === head.mark
  ) {
    return withCheckpoint(cached.record);
  }
  // The head was read before the rows: rows newer than the mark only make this entry miss sooner.
  const record = deepFreeze(
    await loadRecord(
      store,
      {
        id: patientId,
        identifiers: [],
        ...(head.ehrPatient === null ? {} : { ehrPatient: head.ehrPatient }),
      },
      head.tenant,
      linkPolicy,
    ),
  );
  cache?.set(key, { ehrPatient: head.ehrPatient, tenant: head.tenant, mark: head.mark, record });
  return withCheckpoint(record);
}
