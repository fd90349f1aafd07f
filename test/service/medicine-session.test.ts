/**
 * The medicine session through /api/v1, over real HTTP with a real SQLite file and no EHR: the
 * day-of checks and booster limits at the dose, the monitoring answer, discharge, adverse events
 * and the session report. What is refused names every reason and writes nothing.
 */
import type { MedicationDispense, MedicationRequest, Observation, OperationOutcome } from 'fhir/r4';
import type { Service } from '../../src/service.js';
import { kapFetch } from '../support/auth.js';
import { careTeam } from '../support/care.js';
import { fixture } from '../support/fixtures.js';
import { startTestService } from '../support/service.js';

const SECRET = 'test-shared-secret';
let service: Service;

beforeAll(async () => {
  service = await startTestService({ KAP_SUBSCRIPTION_SECRET: SECRET, KAP_EHR_FRESHNESS_HOURS: '2160' });
});
afterAll(() => service.close());

interface Answer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: tests read answers field by field, as a client would
  body: any;
}

async function call(method: string, path: string, body?: unknown): Promise<Answer> {
  const fhir = path.startsWith('/fhir');
  const res = await kapFetch(`${service.url}${path}`, {
    method,
    headers: {
      ...(body === undefined ? {} : { 'content-type': fhir ? 'application/fhir+json' : 'application/json' }),
      ...(fhir ? { 'x-kap-subscription-secret': SECRET } : {}),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}
const post = (path: string, body: unknown = {}) => call('POST', `/api/v1${path}`, body);
const get = (path: string) => call('GET', `/api/v1${path}`);
async function ok(path: string, body: unknown = {}, status = 201) {
  const a = await post(path, body);
  if (a.status !== status) throw new Error(`POST ${path}: ${a.status} ${JSON.stringify(a.body)}`);
  return a.body;
}
const codes = (a: Answer): string[] =>
  (a.body as OperationOutcome).issue.map((i) => i.details?.text ?? '').filter(Boolean);
const expressions = (a: Answer): string[] =>
  (a.body as OperationOutcome).issue.flatMap((i) => i.expression ?? []);

const DAY = '2026-06-04';
const at = (hhmm: string) => `${DAY}T${hhmm}:00Z`;

/** A patient the prescriber cleared, with ketamine (150 mg per session, 3 sessions) dispensed. */
async function clearedPatient(id: string): Promise<void> {
  const ehr = `ehr-${id}`;
  await ok('/patients', {
    id,
    identifiers: [{ system: 'urn:therapist:client', value: id }],
    ehrPatient: `Patient/${ehr}`,
  });
  const put = async (type: string, rid: string, body: object) =>
    expect((await call('PUT', `/fhir/${type}/${rid}`, { ...body, id: rid })).status).toBe(201);
  await put('CareTeam', `care-${id}`, careTeam(ehr));
  const subject = { reference: `Patient/${ehr}` };
  await put('Observation', `clr-${ehr}`, {
    ...fixture<Observation>('prescriber/clearance-cleared.fhir.json'),
    subject,
  });
  const rx = fixture<MedicationRequest>('prescriber/prescription-ketamine-troche.fhir.json');
  rx.identifier = [{ system: 'https://ehr.example/identifier/order', value: `ORD-${ehr}` }];
  await put('MedicationRequest', `rx-${ehr}`, { ...rx, subject });
  const { performer: _p, ...dispense } = fixture<MedicationDispense>('prescriber/dispense-troches.fhir.json');
  await put('MedicationDispense', `disp-${ehr}`, {
    ...dispense,
    identifier: [{ system: 'https://pharmacy.example/identifier/dispense', value: `D-${ehr}` }],
    subject,
    authorizingPrescription: [{ reference: `MedicationRequest/rx-${ehr}` }],
  });
}

/** A course ready but for the day of the session: consent, preparation done; the medicine session started. */
async function medicineSession(patients: string[], id: string, extra: object = {}): Promise<Answer['body']> {
  const episode = `ep-${id}`;
  await ok('/episodes', { id: episode, type: patients.length === 2 ? 'couples' : 'individual', patients });
  for (const p of patients) {
    await ok(`/episodes/${episode}/consents`, {
      patient: p,
      signedAt: '2026-06-01T09:00:00Z',
      document: { url: 'https://therapist.example/agreements/kap.pdf', contentType: 'application/pdf' },
    });
  }
  const prep = await ok(`/episodes/${episode}/sessions`, {
    phase: 'preparation',
    start: '2026-06-02T10:00:00Z',
  });
  await ok(`/sessions/${prep.id}/start`, { time: '2026-06-02T10:00:00Z' }, 200);
  await ok(`/sessions/${prep.id}/complete`, { time: '2026-06-02T11:00:00Z' }, 200);
  const session = await ok(`/episodes/${episode}/sessions`, {
    id,
    phase: 'medicine',
    start: at('10:00'),
    ...extra,
  });
  await ok(`/sessions/${id}/start`, { time: at('10:00') }, 200);
  return session;
}

const reading = (patient: string, session: string, value: object, hhmm: string, id?: string) =>
  ok(`/patients/${patient}/observations`, { ...(id ? { id } : {}), value, effective: at(hhmm), session });
const bp = (systolic: number, diastolic: number) => ({ kind: 'blood-pressure', systolic, diastolic });
const dose = (patient: string, hhmm: string, mg = 100, id?: string) => ({
  ...(id ? { id } : {}),
  patient,
  dose: { value: mg, unit: 'mg' },
  time: at(hhmm),
});

describe('day-of checks at the dose', () => {
  beforeAll(() => clearedPatient('mira'));

  test('a dose without a pre-dose blood pressure in the session is refused with the reason, and nothing is written', async () => {
    await medicineSession(['mira'], 'med-mira-1');
    // A reading that morning outside the session does not count for it.
    await ok('/patients/mira/observations', { value: bp(120, 78), effective: at('08:00') });
    const refused = await post('/sessions/med-mira-1/doses', dose('mira', '10:20', 100, 'dose-mira-early'));
    expect(refused.status).toBe(422);
    expect(codes(refused)).toEqual(['predose-missing']);
    expect(await service.store.getResource('MedicationAdministration', 'dose-mira-early')).toBeUndefined();
    const queued = await service.outbox.list({ patientRef: 'Patient/ehr-mira' });
    expect(queued.filter((m) => m.resourceType === 'MedicationAdministration')).toEqual([]);
  });

  test('a reading older than the pre-dose window does not count; one within it does', async () => {
    await reading('mira', 'med-mira-1', bp(122, 80), '10:05');
    const late = await post('/sessions/med-mira-1/doses', dose('mira', '11:10'));
    expect(codes(late)).toEqual(['predose-missing']);
    const given = await ok('/sessions/med-mira-1/doses', dose('mira', '10:20', 100, 'dose-mira-1'));
    expect(given).toMatchObject({ id: 'dose-mira-1', sessionId: 'med-mira-1', status: 'completed' });
  });

  test('a booster: within the dose per session and the time allowed; refused with every reason otherwise', async () => {
    const both = await post('/sessions/med-mira-1/doses', dose('mira', '11:30', 60, 'dose-mira-too-much'));
    expect(both.status).toBe(422);
    expect(codes(both)).toEqual(['booster-too-late', 'booster-above-dose']);
    expect(expressions(both)).toEqual(['time', 'dose.value']);
    expect(await service.store.getResource('MedicationAdministration', 'dose-mira-too-much')).toBeUndefined();
    const earlier = await post('/sessions/med-mira-1/doses', dose('mira', '10:15', 50));
    expect(codes(earlier)).toEqual(['booster-out-of-order']);
    await ok('/sessions/med-mira-1/doses', dose('mira', '10:50', 50, 'dose-mira-booster'));
    // The booster is part of the session: one session is taken of the three the order supplies.
    const status = await get(`/patients/mira/medication-status?date=${DAY}`);
    expect(status.body.status.prescription).toMatchObject({ dosesAdministered: 1, dosesRemaining: 2 });
  });
});

describe('day-of checks the practice configures', () => {
  let strict: Service;
  beforeAll(async () => {
    strict = await startTestService({
      KAP_SUBSCRIPTION_SECRET: SECRET,
      KAP_EHR_FRESHNESS_HOURS: '2160',
      KAP_PREDOSE_CHECKS: 'blood-pressure,heart-rate,spo2',
    });
  });
  afterAll(() => strict.close());

  test('heart rate and SpO2 where the practice requires them: each missing one is a reason', async () => {
    const main = service;
    service = strict;
    try {
      await clearedPatient('noor');
      await medicineSession(['noor'], 'med-noor-1');
      await reading('noor', 'med-noor-1', bp(118, 76), '10:05');
      await reading('noor', 'med-noor-1', { kind: 'spo2', percent: 88 }, '10:06');
      const refused = await post('/sessions/med-noor-1/doses', dose('noor', '10:20'));
      expect(refused.status).toBe(422);
      expect(codes(refused)).toEqual(['predose-missing', 'predose-out-of-range']);
      expect(refused.body.issue[0].diagnostics).toMatch(/heart rate/);
      expect(refused.body.issue[1].diagnostics).toMatch(/SpO2 88% is below 92%/);
    } finally {
      service = main;
    }
  });
});
