/**
 * The therapist API's patients: registration linked to the EHR by identifiers, and the
 * medication status with readiness for a date. Transport-free; src/http translates.
 */
import { randomUUID } from 'node:crypto';
import type { Patient } from 'fhir/r4';
import { DEFAULT_MEDICINE_POLICY, type MedicinePolicy } from '../domain/medicine-session.js';
import type { Episode, PatientLink } from '../domain/model.js';
import {
  episodeReadiness,
  inCourse,
  type PatientRecord,
  patientReadiness,
  type Readiness,
  type ReadinessPolicy,
  type ReadinessQuery,
} from '../domain/readiness.js';
import { dayOf, spanOf } from '../domain/time.js';
import type { EhrGateway } from '../ehr/gateway.js';
import {
  type Answered,
  answered,
  badRequest,
  conflict,
  created,
  notRegistered,
  OperationOutcomeError,
} from '../fhir/outcome.js';
import { keep } from '../intake.js';
import type { PatientLinkPolicy } from '../patient-link.js';
import { currentRecord } from '../record.js';
import { IdentifierTakenError, type Store } from '../store/store.js';
import type { Answer, PatientRegistration } from './schemas.js';

export interface PatientsDeps {
  store: Store;
  ehr?: EhrGateway;
  policy: ReadinessPolicy;
  /** The medicine session's checks and monitoring; the REMS defaults with readiness's blood pressure limits when absent. */
  medicine?: MedicinePolicy;
  /** When a practice sees an EHR Patient's data; the EHR's confirmation by default. */
  patientLink?: PatientLinkPolicy;
  now?: () => Date;
}

/** The practice's medicine session policy; the blood pressure limits are readiness's. */
export const medicinePolicyOf = (deps: Pick<PatientsDeps, 'policy' | 'medicine'>): MedicinePolicy => ({
  ...(deps.medicine ?? DEFAULT_MEDICINE_POLICY),
  systolicMax: deps.policy.systolicMax,
  diastolicMax: deps.policy.diastolicMax,
});

const unknownPatient = (id: string) => new OperationOutcomeError(notRegistered('patient', id));

/** The EHR Patient to link: given, known locally by identifier, or found in the EHR by identifier. */
async function findEhrPatient(input: PatientRegistration, deps: PatientsDeps): Promise<string | undefined> {
  if (input.ehrPatient) return input.ehrPatient;
  const local = new Set<string>();
  for (const i of input.identifiers) for (const ref of await deps.store.findEhrPatients(i)) local.add(ref);
  if (local.size === 1) return [...local][0];
  if (local.size > 1 || !deps.ehr) return undefined;
  const found = new Map<string, Patient>();
  for (const i of input.identifiers) {
    for await (const p of deps.ehr.search<Patient>('Patient', { identifier: `${i.system}|${i.value}` })) {
      if (p.id) found.set(p.id, p);
    }
  }
  if (found.size !== 1) return undefined;
  const patient = [...found.values()][0]!;
  await deps.store.transaction((tx) => keep(patient, tx, (deps.now?.() ?? new Date()).toISOString()));
  return `Patient/${patient.id}`;
}

/** Registers a patient of `tenant`'s practice; the same identifiers again answer the same patient. */
export async function registerPatient(
  input: PatientRegistration,
  deps: PatientsDeps,
  tenant: string,
): Promise<Answered<Answer<'Patient'> & PatientLink>> {
  for (const i of input.identifiers) {
    const existing = await deps.store.findPatient(i, tenant);
    if (existing && (input.id === undefined || input.id === existing.id)) {
      const sameSet = input.identifiers.every((j) =>
        existing.identifiers.some((e) => e.system === j.system && e.value === j.value),
      );
      if (sameSet) return answered(existing);
    }
  }
  const link: PatientLink = { id: input.id ?? randomUUID(), identifiers: input.identifiers };
  const ehrPatient = await findEhrPatient(input, deps);
  if (ehrPatient) link.ehrPatient = ehrPatient;
  try {
    await deps.store.transaction(async (tx) => {
      if (await tx.getPatient(link.id, tenant)) {
        throw new OperationOutcomeError(
          conflict(`A patient ${link.id} is already registered.`, 'id', 'duplicate'),
        );
      }
      await tx.savePatient(link, tenant);
    });
  } catch (e) {
    if (e instanceof IdentifierTakenError) {
      throw new OperationOutcomeError(
        conflict('One of these identifiers already belongs to another patient.', 'identifiers', 'duplicate'),
      );
    }
    throw e;
  }
  return answered(link, created());
}

export async function getPatient(
  id: string,
  deps: PatientsDeps,
  tenant: string,
): Promise<Answered<Answer<'Patient'> & PatientLink>> {
  const link = await deps.store.getPatient(id, tenant);
  if (!link) throw unknownPatient(id);
  return answered(link);
}

/**
 * The question readiness answers: a session on `date` (today in the practice's time zone when
 * absent), or starting at the instant `at`, which must fall on that day.
 */
export function readinessQuery(
  question: { date?: string; at?: string },
  deps: Pick<PatientsDeps, 'now' | 'policy'>,
  ehrLastHeardAt: string | undefined,
): ReadinessQuery {
  const now = deps.now?.() ?? new Date();
  const { timeZone } = deps.policy;
  const atSpan = question.at === undefined ? undefined : spanOf(question.at, timeZone);
  if (question.at !== undefined && (atSpan === undefined || atSpan.end - atSpan.start !== 1)) {
    throw new OperationOutcomeError(
      badRequest(
        'The session start is not an instant with its offset (2026-12-03T10:00:00-08:00).',
        'at',
        'value',
      ),
    );
  }
  const atDay = atSpan === undefined ? undefined : dayOf(atSpan.start, timeZone);
  if (question.date !== undefined && atDay !== undefined && atDay !== question.date) {
    throw new OperationOutcomeError(
      badRequest(
        `The session start ${question.at} is not on ${question.date} in ${timeZone}.`,
        'at',
        'value',
      ),
    );
  }
  return {
    date: question.date ?? atDay ?? dayOf(now.getTime(), timeZone),
    ...(question.at === undefined ? {} : { at: question.at }),
    now: now.toISOString(),
    ...(ehrLastHeardAt === undefined ? {} : { ehrLastHeardAt }),
  };
}

/**
 * A partner's answer in a couples course: the joint medicine session needs both partners, so what
 * stops the other stops this one (`inCourse`). The other partner's record is read as every answer
 * reads it; `own` is this partner's, already read; `asOf` adjusts each record before the rules
 * read it (the dose route leaves out the doses of the joint session being recorded).
 */
export async function withPartner(
  reader: Parameters<typeof currentRecord>[0],
  readiness: Readiness,
  episode: Episode,
  own: PatientRecord,
  query: ReadinessQuery,
  deps: PatientsDeps,
  tenant: string,
  asOf: (r: PatientRecord) => PatientRecord = (r) => r,
): Promise<Readiness> {
  const others = await Promise.all(
    episode.patients
      .filter((p) => p !== own.patientId)
      .map((p) => currentRecord(reader, p, tenant, 'ehr:last-heard', deps.patientLink)),
  );
  const records = [own, ...others.flatMap((o) => (o ? [o.record] : []))].map(asOf);
  return inCourse(readiness, episodeReadiness(episode, records, query, deps.policy));
}

export async function medicationStatus(
  id: string,
  question: { date?: string; at?: string },
  deps: PatientsDeps,
  tenant: string,
): Promise<Answered<Answer<'MedicationStatus'> & Readiness>> {
  // The hot path of the therapist's main question: one round trip while the record is unchanged.
  const current = await currentRecord(deps.store, id, tenant, 'ehr:last-heard', deps.patientLink);
  if (!current) throw unknownPatient(id);
  const { record, checkpoint: ehrLastHeardAt } = current;
  const query = readinessQuery(question, deps, ehrLastHeardAt);
  let readiness = patientReadiness(record, query, deps.policy);
  const episode = record.episodes.find((e) => e.id === readiness.episodeId);
  if (episode?.type === 'couples')
    readiness = await withPartner(deps.store, readiness, episode, record, query, deps, tenant);
  return answered({ ...readiness, ...(ehrLastHeardAt ? { ehrLastHeardAt } : {}) });
}
