/**
 * What the end-to-end suites share when they play a course against the HAPI sandbox: the therapist
 * API as a client calls it, a prescriber's cleared patient, a whole course recorded, and waiting
 * for the outbox.
 */
import type { MedicationDispense, MedicationRequest, Observation, Patient, Resource } from 'fhir/r4';
import type { EhrGateway } from '../../src/ehr/gateway.js';
import type { Logger } from '../../src/log.js';
import type { OutboxStatus } from '../../src/outbox/outbox.js';
import type { Service } from '../../src/service.js';
import { CALLERS, kapFetch } from './auth.js';
import { careTeam } from './care.js';
import { fixture } from './fixtures.js';
import { eventually, sandboxBaseUrl, sandboxGateway, subscriptionsActive, uniqueId } from './sandbox.js';
import { serviceEnv, startTestService, type TestService } from './service.js';
import { SUBSCRIPTION_SECRET } from './therapist-api.js';

// biome-ignore lint/suspicious/noExplicitAny: tests read answers field by field, as a client would
export type Json = any;

/** A call on the therapist API as its client makes it; a 3xx-5xx answer fails with its OperationOutcome. */
async function call(service: Service, method: 'GET' | 'POST', path: string, body?: unknown): Promise<Json> {
  const res = await kapFetch(`${service.url}/api/v1${path}`, {
    method,
    ...(body === undefined
      ? {}
      : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  const answer = await res.json();
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(answer)}`);
  return answer;
}

/** POST to the therapist API; a 3xx-5xx answer fails the test with its OperationOutcome. */
export const post = (service: Service, path: string, body: unknown = {}): Promise<Json> =>
  call(service, 'POST', path, body);

/** GET from the therapist API; a 3xx-5xx answer fails the test with its OperationOutcome. */
export const get = (service: Service, path: string): Promise<Json> => call(service, 'GET', path);

/**
 * An EHR Patient whom the prescriber cleared and prescribed ketamine for (written into the EHR),
 * and the therapist's patient linked to it. `beforeRegister` runs between the two (e.g. a catch-up).
 */
export async function clearedPatient(
  deps: {
    ehr: EhrGateway;
    service: Service;
    prescriber: string;
    beforeRegister?: () => Promise<unknown>;
    /** The practices the EHR's care team names; practice A's by default. */
    careOf?: readonly string[];
    /**
     * The day the clearance is decided (and the order written two days after it, the troches handed
     * over four days after it), each valid for 180 days from it; the fixtures' own dates by default.
     */
    clearedOn?: string;
  },
  name: string,
): Promise<string> {
  const { ehr, service, prescriber, clearedOn } = deps;
  const day = (n: number) =>
    new Date(Date.parse(`${clearedOn}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);
  const id = uniqueId(`e2e-${name}`);
  await ehr.update<Patient & { id: string }>({
    resourceType: 'Patient',
    id,
    identifier: [{ system: 'urn:e2e:mrn', value: id }],
  });
  // The EHR's word that the practice cares for the patient: without it, no EHR data is shown to it.
  for (const practice of deps.careOf ?? [CALLERS.therapist.tenant]) await ehr.update(careTeam(id, practice));
  const { meta: _c, ...clearance } = fixture<Observation>('prescriber/clearance-cleared.fhir.json');
  await ehr.create({
    ...clearance,
    id: undefined,
    identifier: [{ system: 'urn:ehr:clearance', value: uniqueId('clr') }],
    subject: { reference: `Patient/${id}` },
    performer: [{ reference: `Practitioner/${prescriber}` }],
    ...(clearedOn ? { effectivePeriod: { start: clearedOn, end: day(180) } } : {}),
  } as Observation);
  const { meta: _r, ...rx } = fixture<MedicationRequest>('prescriber/prescription-ketamine-troche.fhir.json');
  const order = await ehr.create({
    ...rx,
    id: undefined,
    identifier: [{ system: 'urn:ehr:rx', value: uniqueId('rx') }],
    subject: { reference: `Patient/${id}` },
    requester: { reference: `Practitioner/${prescriber}` },
    ...(clearedOn
      ? {
          authoredOn: `${day(2)}T10:30:00Z`,
          dispenseRequest: { ...rx.dispenseRequest, validityPeriod: { start: day(2), end: day(180) } },
        }
      : {}),
  } as MedicationRequest);
  // The pharmacy hands the troches over: the patient brings them to the medicine session.
  const {
    meta: _d,
    performer: _p,
    ...dispense
  } = fixture<MedicationDispense>('prescriber/dispense-troches.fhir.json');
  await ehr.create({
    ...dispense,
    id: undefined,
    identifier: [{ system: 'urn:ehr:dispense', value: uniqueId('disp') }],
    subject: { reference: `Patient/${id}` },
    authorizingPrescription: [{ reference: `MedicationRequest/${order.id}` }],
    ...(clearedOn ? { whenHandedOver: `${day(4)}T12:15:00Z` } : {}),
  } as MedicationDispense);
  await deps.beforeRegister?.();
  await post(service, '/patients', {
    id,
    identifiers: [{ system: 'urn:e2e:mrn', value: id }],
    ehrPatient: `Patient/${id}`,
  });
  return id;
}

/** Waits until the outbox has delivered everything; fails with the first dead message. How many are in each status. */
export async function outboxDelivered(service: Service): Promise<Record<OutboxStatus, number>> {
  return eventually(
    'the outbox to deliver',
    async () => {
      const { byStatus } = await service.outbox.depth();
      if (byStatus.dead > 0) {
        const [dead] = await service.outbox.list({ status: 'dead', limit: 1 });
        throw new Error(`Not delivered: ${JSON.stringify(dead)}`);
      }
      return byStatus.pending + byStatus.delivering === 0 ? byStatus : undefined;
    },
    120_000,
  );
}

const signed = (patient: string) => ({
  patient,
  signedAt: '2026-03-01T09:00:00Z',
  document: { url: 'https://therapist.example/agreements/kap.pdf', contentType: 'application/pdf' },
});

/** A session of `phase` in the course, begun at 10:00 on `day`. */
export async function holdSession(
  service: Service,
  episode: string,
  phase: string,
  day: string,
): Promise<Json> {
  const s = await post(service, `/episodes/${episode}/sessions`, { phase, start: `${day}T10:00:00Z` });
  await post(service, `/sessions/${s.id}/start`, { time: `${day}T10:00:00Z` });
  return s;
}
const complete = (service: Service, s: Json, day: string, end = '11:00') =>
  post(service, `/sessions/${s.id}/complete`, { time: `${day}T${end}:00Z` });

/** A vital signs reading in three parts: blood pressure, heart rate, SpO2. */
export const VITALS = [
  { kind: 'blood-pressure', systolic: 124, diastolic: 80 },
  { kind: 'heart-rate', perMinute: 74 },
  { kind: 'spo2', percent: 97 },
] as const;

/**
 * The monitoring of a dose taken at 10:20 on `day` (Spravato REMS): vitals, CADSS and MOAA/S about
 * 40 minutes after it, and vitals and a fully alert MOAA/S before discharge at 12:15.
 */
export async function monitored(
  service: Service,
  patient: string,
  session: string,
  day: string,
): Promise<void> {
  const readings: [string, object][] = [
    ...VITALS.map((v) => ['11:00', v] as [string, object]),
    ['11:00', { kind: 'dissociation', cadss: 20 }],
    ['11:00', { kind: 'sedation', moaas: 4 }],
    ...VITALS.map((v) => ['12:15', v] as [string, object]),
    ['12:15', { kind: 'sedation', moaas: 5 }],
  ];
  for (const [time, value] of readings) {
    await post(service, `/patients/${patient}/observations`, {
      value,
      effective: `${day}T${time}:00Z`,
      session,
    });
  }
}

/**
 * A course made ready through the therapist API on `day` for one patient, or a couple: the course,
 * the signed consents, a preparation session done the day before and each one's pre-dose blood
 * pressure that morning. Returns the episode id.
 */
export async function preparedCourse(
  service: Service,
  patient: string | readonly string[],
  day: string,
): Promise<string> {
  const patients = typeof patient === 'string' ? [patient] : patient;
  const daysBefore = (n: number) =>
    new Date(Date.parse(`${day}T00:00:00Z`) - n * 86_400_000).toISOString().slice(0, 10);
  const episode = uniqueId('e2e-ep');
  await post(service, '/episodes', {
    id: episode,
    type: patients.length === 2 ? 'couples' : 'individual',
    patients,
    start: daysBefore(14),
  });
  for (const p of patients) {
    await post(service, `/episodes/${episode}/consents`, {
      ...signed(p),
      signedAt: `${daysBefore(10)}T09:00:00Z`,
    });
  }
  await complete(service, await holdSession(service, episode, 'preparation', daysBefore(1)), daysBefore(1));
  for (const p of patients) {
    await post(service, `/patients/${p}/observations`, {
      value: { kind: 'blood-pressure', systolic: 122, diastolic: 78 },
      effective: `${day}T08:30:00Z`,
    });
  }
  return episode;
}

/**
 * Records a whole course through the therapist API for the patients (one, or a couple with joint
 * sessions): referral, consent and a PHQ-9 each, then preparation, a medicine session with vitals,
 * a dose and its effects, and integration with scores. Returns the episode id.
 */
export async function recordCourse(
  service: Service,
  { therapist, prescriber }: { therapist: string; prescriber: string },
  patients: string[],
): Promise<string> {
  const episode = uniqueId('e2e-ep');
  await post(service, '/episodes', {
    id: episode,
    type: patients.length === 2 ? 'couples' : 'individual',
    patients,
    intention: 'To meet the grief with less fear.',
    start: '2026-03-01',
  });
  for (const p of patients) {
    await post(service, `/patients/${p}/referrals`, {
      episode,
      requester: `Practitioner/${therapist}`,
      performer: `Practitioner/${prescriber}`,
      reason: 'KAP course planned',
    });
    await post(service, `/episodes/${episode}/consents`, signed(p));
    await post(service, `/patients/${p}/observations`, {
      value: { kind: 'phq9', total: 11, items: [2, 2, 1, 2, 1, 1, 1, 1, 0] },
      effective: '2026-03-02T09:00:00Z',
    });
  }
  await complete(service, await holdSession(service, episode, 'preparation', '2026-03-02'), '2026-03-02');
  const medicine = await holdSession(service, episode, 'medicine', '2026-03-05');
  // The pre-dose checks of both partners come before either dose: a couple doses together.
  for (const p of patients) {
    for (const value of [
      { kind: 'blood-pressure', systolic: 122, diastolic: 78 },
      { kind: 'heart-rate', perMinute: 70 },
      { kind: 'spo2', percent: 98 },
      { kind: 'mental-status', findings: 'Calm, oriented' },
      { kind: 'cssrs', risk: 'low' },
    ]) {
      await post(service, `/patients/${p}/observations`, {
        value,
        effective: '2026-03-05T10:05:00Z',
        session: medicine.id,
      });
    }
  }
  for (const p of patients) {
    await post(service, `/sessions/${medicine.id}/doses`, {
      patient: p,
      dose: { value: 150, unit: 'mg' },
      time: '2026-03-05T10:20:00Z',
    });
    await monitored(service, p, medicine.id, '2026-03-05');
  }
  await post(service, `/sessions/${medicine.id}/complete`, {
    time: '2026-03-05T12:30:00Z',
    transport: 'Driven home by a friend',
  });
  const integration = await holdSession(service, episode, 'integration', '2026-03-07');
  for (const p of patients) {
    for (const value of [
      { kind: 'phq9', total: 5, items: [1, 1, 1, 1, 0, 0, 1, 0, 0] },
      { kind: 'gad7', total: 6 },
      { kind: 'pcl5', total: 22 },
    ]) {
      await post(service, `/patients/${p}/observations`, {
        value,
        effective: '2026-03-07T10:30:00Z',
        session: integration.id,
      });
    }
  }
  await complete(service, integration, '2026-03-07');
  return episode;
}

/** What a kap-bridge playing courses against the HAPI sandbox adds: no subscriptions, no periodic catch-up, a quick outbox. */
export const courseSettings = (): Record<string, string> => ({
  KAP_SUBSCRIBE_ON_START: 'false',
  KAP_EHR_BASE_URL: sandboxBaseUrl(),
  KAP_SYNC_INTERVAL_SECONDS: '0',
  KAP_SYNC_OVERLAP_SECONDS: '5',
  KAP_OUTBOX_POLL_MS: '200',
});

/** The whole environment of a course's kap-bridge keeping its store in `dir` (for a command run in-process). */
export const courseEnv = (dir: string): Record<string, string> => serviceEnv(dir, courseSettings());

/** HAPI ready for a course: the practitioners referred to in place (it holds our profiles from the FHIR package it installed). */
export async function prepareEhr(ehr: EhrGateway, practitioners: readonly string[]): Promise<void> {
  for (const id of practitioners) {
    await ehr.update({ resourceType: 'Practitioner', id, name: [{ family: id }] } as Resource & {
      id: string;
    });
  }
}

/**
 * kap-bridge on `courseEnv(service.dir)` with the EHR prepared for `practitioners`, its start-up
 * catch-up over before the prescriber writes. `subscribed`: it also registers its REST-hook
 * Subscriptions in HAPI (with SUBSCRIPTION_SECRET), active before it is returned; `subscriptionsOff`
 * after closing it. `dir` and `log` as for `startTestService`.
 */
export async function startCourseService(
  practitioners: readonly string[],
  options: { subscribed?: boolean; dir?: string; log?: Logger } = {},
): Promise<TestService> {
  const { subscribed = false, ...where } = options;
  const ehr = sandboxGateway();
  await prepareEhr(ehr, practitioners);
  const service = await startTestService(
    {
      ...courseSettings(),
      ...(subscribed ? { KAP_SUBSCRIBE_ON_START: 'true', KAP_SUBSCRIPTION_SECRET: SUBSCRIPTION_SECRET } : {}),
    },
    where,
  );
  try {
    if (subscribed) await subscriptionsActive(ehr, `${service.url}/fhir`);
    await service.syncNow();
  } catch (e) {
    await service.close();
    throw e;
  }
  return service;
}
