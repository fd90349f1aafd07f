/**
 * The aligned record of one patient, read from the store into the domain: what readiness and the
 * medication status are computed from. Stored resources are FHIR as received or written; the
 * mapping modules read them, and whatever they cannot read is left out, never guessed.
 */
import type {
  Consent,
  Encounter,
  Medication,
  MedicationAdministration,
  MedicationDispense,
  MedicationRequest,
  Observation,
  Resource,
} from 'fhir/r4';
import type { ObservationKind, PatientLink, SourceKind } from './domain/model.js';
import { emptyRecord, type PatientRecord } from './domain/readiness.js';
import { administrationFromFhir } from './mapping/administration.js';
import { clearanceFromFhir, isClearanceObservation } from './mapping/clearance.js';
import { consentFromFhir } from './mapping/consent.js';
import { identityContext, type MappingContext, type Read, sourceOf } from './mapping/context.js';
import { dispenseFromFhir } from './mapping/medication-dispense.js';
import { prescriptionFromFhir } from './mapping/medication-request.js';
import { kindOf, observationFromFhir } from './mapping/observation.js';
import { sessionFromFhir } from './mapping/session.js';
import type { RecordHead, Store } from './store/store.js';

/** What readiness relies on in each kind of Observation it reads, when the Observation cannot be read. */
const SAFETY_KIND: Partial<Record<ObservationKind, SourceKind>> = {
  phq9: 'safety-finding',
  'phq9-item9': 'safety-finding',
  cssrs: 'safety-finding',
  'blood-pressure': 'blood-pressure',
};

/**
 * Adds each resource the mapping can read to the record. A resource readiness relies on that
 * cannot be read is recorded as unreadable, with the first error the mapping gave: never dropped.
 */
export function recordFrom(
  patientId: string,
  resources: readonly Resource[],
  ctx: MappingContext,
): PatientRecord {
  const record = emptyRecord(patientId);
  const add = <T>(list: T[], read: Read<T>, kind?: SourceKind, at?: unknown) => {
    if (read.value !== undefined) list.push(read.value);
    else if (kind !== undefined && currentSource !== undefined) {
      const problem = read.issues.find((i) => i.severity === 'error' || i.severity === 'fatal');
      record.unreadable.push({
        kind,
        source: currentSource,
        ...(typeof at === 'string' ? { at } : {}),
        problem:
          problem === undefined
            ? 'it could not be read.'
            : `${problem.message} (${problem.expression ?? 'no element named'})`,
      });
    }
  };
  let currentSource: string | undefined;
  for (const r of resources) {
    currentSource = sourceOf(r);
    switch (r.resourceType) {
      case 'Observation': {
        const o = r as Observation;
        const at = o.effectiveDateTime ?? o.effectivePeriod?.start ?? o.effectiveInstant;
        if (isClearanceObservation(o)) add(record.clearances, clearanceFromFhir(o, ctx), 'clearance', at);
        else {
          const kind = kindOf(o);
          if (kind !== undefined)
            add(record.observations, observationFromFhir(o, ctx), SAFETY_KIND[kind], at);
        }
        break;
      }
      case 'MedicationRequest': {
        const m = r as MedicationRequest;
        add(record.prescriptions, prescriptionFromFhir(m, ctx), 'prescription', m.authoredOn);
        break;
      }
      case 'MedicationDispense':
        add(record.dispenses, dispenseFromFhir(r as MedicationDispense, ctx));
        break;
      case 'Consent':
        add(record.consents, consentFromFhir(r as Consent, ctx));
        break;
      case 'Encounter':
        add(record.sessions, sessionFromFhir(r as Encounter, ctx));
        break;
      case 'MedicationAdministration':
        add(record.administrations, administrationFromFhir(r as MedicationAdministration, ctx));
        break;
    }
  }
  return record;
}

/**
 * The record of a linked patient, with the courses they take part in; empty, its link pending,
 * while the EHR Patient is not known yet. Built anew on every call.
 */
export async function loadRecord(
  store: Pick<Store, 'resourcesFor' | 'getResource' | 'episodesOf'>,
  link: PatientLink,
): Promise<PatientRecord> {
  if (!link.ehrPatient) return { ...emptyRecord(link.id), link: 'pending' };
  const resources = (await store.resourcesFor(link.ehrPatient)).map((s) => s.resource);
  // Referenced Medications are looked up once, so the mapping can tell whether they are ketamine.
  const medications = new Map<string, Medication>();
  for (const r of resources) {
    const ref = (r as MedicationRequest).medicationReference?.reference;
    const id = ref && /^Medication\/([A-Za-z0-9\-.]{1,64})$/.exec(ref)?.[1];
    if (id && !medications.has(ref)) {
      const found = await store.getResource('Medication', id);
      if (found) medications.set(ref, found.resource as Medication);
    }
  }
  const record = recordFrom(link.id, resources, {
    ...identityContext,
    resolve: (ref) => medications.get(ref),
  });
  record.episodes = await store.episodesOf(link.id);
  return record;
}

/**
 * How many patients' records each store keeps mapped in memory, least recently read dropped first.
 * A mapped record of a patient in a course takes a few kB.
 */
const RECORD_CACHE_SIZE = 20_000;

interface CachedRecord {
  ehrPatient: string | null;
  mark: string;
  record: PatientRecord;
}

/** Per store (never shared across databases): patient id -> the record and the head it was read at. */
const caches = new WeakMap<object, Map<string, CachedRecord>>();

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
 * The record of a registered patient (undefined when not registered), as `loadRecord` builds it,
 * kept mapped between reads. Every read asks the database for the record's head (EHR link and
 * change mark) in one round trip, so a write by any instance sharing the database is seen by the
 * next read; only when the head changed are the resources read and mapped again.
 */
export async function currentRecord(
  store: Pick<Store, 'recordHead' | 'resourcesFor' | 'getResource' | 'episodesOf'>,
  patientId: string,
  checkpoint: string,
): Promise<CurrentRecord | undefined> {
  // Medications are the only resources about no patient that a record reads (see loadRecord).
  const head: RecordHead | undefined = await store.recordHead(patientId, {
    shared: 'Medication',
    checkpoint,
  });
  if (!head) return undefined;
  const withCheckpoint = (record: PatientRecord): CurrentRecord =>
    head.checkpoint === undefined ? { record } : { record, checkpoint: head.checkpoint };
  let cache = caches.get(store);
  if (!cache) {
    cache = new Map();
    caches.set(store, cache);
  }
  const cached = cache.get(patientId);
  if (cached && cached.ehrPatient === head.ehrPatient && cached.mark === head.mark) {
    // Map order is the recency order: a hit moves to the end.
    cache.delete(patientId);
    cache.set(patientId, cached);
    return withCheckpoint(cached.record);
  }
  // The head was read before the rows: rows newer than the mark only make this entry miss sooner.
  const record = deepFreeze(
    await loadRecord(store, {
      id: patientId,
      identifiers: [],
      ...(head.ehrPatient === null ? {} : { ehrPatient: head.ehrPatient }),
    }),
  );
  cache.delete(patientId);
  cache.set(patientId, { ehrPatient: head.ehrPatient, mark: head.mark, record });
  if (cache.size > RECORD_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
  return withCheckpoint(record);
}
