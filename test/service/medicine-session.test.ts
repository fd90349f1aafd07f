/**
 * The medicine session through /api/v1, over real HTTP with a real SQLite file and no EHR: the
 * day-of checks and booster limits at the dose, the monitoring answer, discharge, adverse events
 * and the session report. What is refused names every reason and writes nothing.
 */
import { readFileSync } from 'node:fs';
import type { MedicationDispense, MedicationRequest, Observation } from 'fhir/r4';
import { ADVERSE_EVENTS } from '../../src/api/schemas.js';
import { ehrIdentifierValue } from '../../src/fhir/ids.js';
import type { Service } from '../../src/service.js';
import { CALLERS } from '../support/auth.js';
import { careTeam } from '../support/care.js';
import { fixture } from '../support/fixtures.js';
import { startTestService } from '../support/service.js';
import {
  type Answer,
  codes,
  expressions,
  SUBSCRIPTION_SECRET as SECRET,
  therapistApi,
} from '../support/therapist-api.js';

let service: Service;

beforeAll(async () => {
  service = await startTestService({ KAP_SUBSCRIPTION_SECRET: SECRET, KAP_EHR_FRESHNESS_HOURS: '2160' });
});
afterAll(() => service.close());

const { call, post, get, ok } = therapistApi(() => service.url);

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
    expect(
      await service.store.getOwn('MedicationAdministration', 'dose-mira-early', CALLERS.therapist.tenant),
    ).toBeUndefined();
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
    expect(
      await service.store.getOwn('MedicationAdministration', 'dose-mira-too-much', CALLERS.therapist.tenant),
    ).toBeUndefined();
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

describe('monitoring, adverse events and discharge', () => {
  beforeAll(() => clearedPatient('ines'));

  test('the monitoring answer says what is due, overdue and out of range, with times; readings of the wrong session or time are refused', async () => {
    await medicineSession(['ines'], 'med-ines-1', { mode: 'remote', chaperone: 'Her sister Ana' });
    await reading('ines', 'med-ines-1', bp(124, 80), '10:05');
    await ok('/sessions/med-ines-1/doses', dose('ines', '10:20', 150, 'dose-ines-1'));
    await reading('ines', 'med-ines-1', { kind: 'check-in', note: 'Resting' }, '10:33');
    await reading('ines', 'med-ines-1', { kind: 'spo2', percent: 89 }, '10:45', 'spo2-ines-low');
    const m = await get(`/sessions/med-ines-1/monitoring?at=${encodeURIComponent(at('10:55'))}`);
    expect(m.status).toBe(200);
    const [ines] = m.body.patients;
    expect(ines).toMatchObject({
      mode: 'remote',
      chaperone: 'Her sister Ana',
      firstDoseAt: '2026-06-04T10:20:00.000Z',
    });
    // The plan's pre-dose heart rate and SpO2 were never taken; the chaperone's second check-in is late.
    expect(
      ines.overdue.map((p: { id: string; kind: string; dueBy: string }) => [p.id, p.kind, p.dueBy]),
    ).toEqual([
      ['pre-dose', 'heart-rate', '2026-06-04T10:20:00.000Z'],
      ['pre-dose', 'spo2', '2026-06-04T10:20:00.000Z'],
      ['check-in-2', 'check-in', '2026-06-04T10:48:00.000Z'],
    ]);
    expect(ines.due.map((p: { id: string; kind: string }) => `${p.id}:${p.kind}`)).toEqual(
      expect.arrayContaining(['post-dose-40:blood-pressure', 'post-dose-40:sedation']),
    );
    expect(ines.outOfRange).toEqual([
      expect.objectContaining({
        kind: 'spo2',
        at: at('10:45'),
        source: expect.stringMatching(/^Observation\/spo2-ines-low/),
      }),
    ]);
    // The out-of-range reading during monitoring reached the prescriber's queue ahead of the rest.
    const alerts = (await service.outbox.list({ patientRef: 'Patient/ehr-ines' })).filter(
      (x) => x.resourceType === 'Communication',
    );
    expect(
      alerts.map(
        (a) =>
          (a.resource as unknown as { category: { coding: { code: string }[] }[] }).category[0]!.coding[0]!
            .code,
      ),
    ).toEqual(['vital-out-of-range']);

    // Bad input: each a 4xx naming the field, nothing written.
    const before = (await service.outbox.list({ patientRef: 'Patient/ehr-ines' })).length;
    const early = await post('/patients/ines/observations', {
      value: bp(120, 80),
      effective: '2026-06-04T09:40:00Z',
      session: 'med-ines-1',
    });
    expect([early.status, expressions(early)]).toEqual([422, ['effective']]);
    const prepCheckIn = await post('/patients/ines/observations', {
      value: { kind: 'check-in' },
      effective: '2026-06-02T10:30:00Z',
      session: (await get('/episodes/ep-med-ines-1')).body.phases[0].sessions[0].id,
    });
    expect([prepCheckIn.status, expressions(prepCheckIn)]).toEqual([422, ['session']]);
    const tooHigh = await post('/patients/ines/observations', {
      value: { kind: 'heart-rate', perMinute: 400 },
      effective: at('10:50'),
      session: 'med-ines-1',
    });
    expect(tooHigh.status).toBe(400);
    expect(expressions(tooHigh)[0]).toMatch(/^value/);
    const notMedicine = await get(
      `/sessions/${(await get('/episodes/ep-med-ines-1')).body.phases[0].sessions[0].id}/monitoring`,
    );
    expect(notMedicine.status).toBe(422);
    expect((await service.outbox.list({ patientRef: 'Patient/ehr-ines' })).length).toBe(before);
  });

  test('a mild adverse event is kept on its profile with the session doses as suspects, and does not alert', async () => {
    const mild = await ok('/sessions/med-ines-1/adverse-events', {
      id: 'ae-ines-nausea',
      patient: 'ines',
      event: 'nausea',
      description: 'Nausea 30 minutes after the dose',
      severity: 'mild',
      serious: false,
      onset: at('10:50'),
      actionTaken: 'Ginger tea, reassurance',
      outcome: 'resolved',
    });
    expect(mild).toMatchObject({
      id: 'ae-ines-nausea',
      serious: false,
      source: 'AdverseEvent/ae-ines-nausea',
    });
    const kept = (await service.store.getOwn('AdverseEvent', 'ae-ines-nausea', CALLERS.therapist.tenant))!
      .resource;
    expect(kept).toMatchObject({
      meta: { profile: ['https://fhir.kap-bridge.org/StructureDefinition/kap-adverse-event'] },
      suspectEntity: [{ instance: { reference: 'MedicationAdministration/dose-ines-1' } }],
    });
    expect(
      await service.store.getOwn('Communication', 'ae-ae-ines-nausea', CALLERS.therapist.tenant),
    ).toBeUndefined();
    const bad = await post('/sessions/med-ines-1/adverse-events', {
      patient: 'ines',
      event: 'nausea',
      severity: 'mild',
      serious: false,
      onset: '2026-06-04T09:00:00Z',
      outcome: 'resolved',
    });
    expect([bad.status, expressions(bad)]).toEqual([422, ['onset']]);
    const stranger = await post('/sessions/med-ines-1/adverse-events', {
      patient: 'mira',
      event: 'nausea',
      severity: 'mild',
      serious: false,
      onset: at('10:50'),
      outcome: 'resolved',
    });
    expect([stranger.status, expressions(stranger)]).toEqual([422, ['patient']]);
  });

  test('discharge is refused with every unmet criterion; when they hold it completes', async () => {
    const refused = await post('/sessions/med-ines-1/complete', { time: at('12:00') });
    expect(refused.status).toBe(422);
    expect(codes(refused)).toEqual(
      expect.arrayContaining([
        'monitoring-time',
        'discharge-vitals-missing',
        'not-alert',
        'transport-not-confirmed',
        'monitoring-overdue',
      ]),
    );
    expect((await get('/sessions/med-ines-1/monitoring')).body.patients[0].firstDoseAt).toBeDefined();
    const stillOpen = await service.store.getOwn('Encounter', 'med-ines-1', CALLERS.therapist.tenant);
    expect((stillOpen!.resource as unknown as { status: string }).status).toBe('in-progress');
  });

  test('a serious adverse event reaches the prescriber ahead of the queue and stops the next dose until reviewed', async () => {
    const serious = await ok('/sessions/med-ines-1/adverse-events', {
      id: 'ae-ines-bp',
      patient: 'ines',
      event: 'hypertension',
      severity: 'severe',
      serious: true,
      onset: at('11:05'),
      actionTaken: 'Prescriber called; monitored lying down',
      outcome: 'recovering',
    });
    expect(serious.serious).toBe(true);
    const queued = await service.outbox.list({ patientRef: 'Patient/ehr-ines' });
    const alert = queued.find(
      (m) =>
        m.resourceType === 'Communication' &&
        m.identifier.value === ehrIdentifierValue(CALLERS.therapist.tenant, 'ae-ae-ines-bp'),
    )!;
    expect(alert.resource).toMatchObject({
      priority: 'urgent',
      recipient: [{ reference: expect.stringMatching(/^Practitioner\//) }],
      about: [
        {
          type: 'AdverseEvent',
          identifier: { value: ehrIdentifierValue(CALLERS.therapist.tenant, 'ae-ines-bp') },
        },
      ],
    });
    // Claimed first, although queued after the course's other changes.
    const claim = await service.outbox.claim('test-claim', { batchSize: 1, leaseMs: 1000 });
    expect(claim?.messages.map((m) => m.identifier.value)).toEqual([
      queued.filter((m) => m.resourceType === 'Communication')[0]!.identifier.value,
    ]);
    await service.outbox.release(claim!.patientRef, 'test-claim');
    const status = await get(`/patients/ines/medication-status?date=2026-06-11`);
    expect(status.body.reasons.map((r: { code: string }) => r.code)).toContain('safety-adverse-event');
  });
});

describe('the session report', () => {
  beforeAll(async () => {
    await clearedPatient('lena');
    await clearedPatient('kai');
    await clearedPatient('noor');
  });

  test('refused before completion; on completion each patient has a FHIR document that summarises the session and is queued for the EHR', async () => {
    await medicineSession(['lena'], 'med-lena-1');
    const vitals = async (hhmm: string, systolic: number, suffix: string) => {
      await reading('lena', 'med-lena-1', bp(systolic, 80), hhmm, `bp-lena-${suffix}`);
      await reading('lena', 'med-lena-1', { kind: 'heart-rate', perMinute: 76 }, hhmm, `hr-lena-${suffix}`);
      await reading('lena', 'med-lena-1', { kind: 'spo2', percent: 98 }, hhmm, `spo2-lena-${suffix}`);
    };
    await vitals('10:05', 124, 'pre');
    // A lot number that is not a label's short code is refused, naming it, and nothing is written.
    for (const lotNumber of ['', ' KT-1', 'KT-1\n', 'KT<1>', 'K'.repeat(41)]) {
      const bad = await post('/sessions/med-lena-1/doses', {
        ...dose('lena', '10:20', 100, 'dose-lena-bad-lot'),
        lotNumber,
      });
      expect([bad.status, [...new Set(expressions(bad))]]).toEqual([400, ['lotNumber']]);
    }
    expect(
      await service.store.getOwn('MedicationAdministration', 'dose-lena-bad-lot', CALLERS.therapist.tenant),
    ).toBeUndefined();
    const given = await ok('/sessions/med-lena-1/doses', {
      ...dose('lena', '10:20', 100, 'dose-lena-1'),
      lotNumber: 'KT-2026/0412',
    });
    expect(given.lotNumber).toBe('KT-2026/0412');
    await vitals('11:00', 138, '40');
    await reading('lena', 'med-lena-1', { kind: 'sedation', moaas: 4 }, '11:00', 'moaas-lena-40');
    await reading('lena', 'med-lena-1', { kind: 'dissociation', cadss: 18 }, '11:00', 'cadss-lena-40');
    await ok('/sessions/med-lena-1/adverse-events', {
      id: 'ae-lena-nausea',
      patient: 'lena',
      event: 'nausea',
      severity: 'mild',
      serious: false,
      onset: at('10:50'),
      outcome: 'resolved',
    });
    await vitals('12:10', 126, 'end');
    await reading('lena', 'med-lena-1', { kind: 'sedation', moaas: 5 }, '12:10', 'moaas-lena-end');

    const early = await get('/sessions/med-lena-1/report');
    expect([early.status, expressions(early)]).toEqual([422, ['session']]);

    await ok(
      '/sessions/med-lena-1/complete',
      { time: at('12:25'), transport: 'Picked up by her husband', note: 'Grief work; <calm> at the end' },
      200,
    );
    const report = await get('/sessions/med-lena-1/report');
    expect(report.status).toBe(200);
    expect(report.body).toMatchObject({ resourceType: 'Bundle', type: 'document', timestamp: at('12:25') });
    const composition = report.body.entry[0].resource;
    expect(composition).toMatchObject({
      resourceType: 'Composition',
      meta: { profile: ['https://fhir.kap-bridge.org/StructureDefinition/kap-session-report'] },
      subject: { identifier: { system: 'urn:therapist:client', value: 'lena' } },
      encounter: { identifier: { value: 'med-lena-1' } },
    });
    expect(composition.text.div).toContain('Grief work; &lt;calm&gt; at the end');
    expect(composition.text.div).toContain('125 minutes from the first dose to discharge');
    expect(composition.text.div).toContain('Picked up by her husband');
    expect(composition.text.div).toContain('100 mg, sublingual; lot KT-2026/0412');
    // The dose names the ordered medicine by a contained Medication carrying the lot.
    const administration = report.body.entry.find(
      (e: { resource: { id: string } }) => e.resource.id === 'dose-lena-1',
    ).resource;
    expect(administration.medicationReference).toEqual({ reference: '#med' });
    expect(administration.contained).toEqual([
      expect.objectContaining({
        resourceType: 'Medication',
        code: { text: 'Ketamine HCl 50 mg sublingual troche (compounded)' },
        batch: { lotNumber: 'KT-2026/0412' },
      }),
    ]);
    const summarised = report.body.entry
      .slice(1)
      .map(
        (e: { resource: { resourceType: string; id: string } }) =>
          `${e.resource.resourceType}/${e.resource.id}`,
      );
    expect(summarised).toEqual(
      expect.arrayContaining([
        'MedicationAdministration/dose-lena-1',
        'AdverseEvent/ae-lena-nausea',
        'Observation/bp-lena-40',
        'Observation/moaas-lena-end',
        'Observation/cadss-lena-40',
      ]),
    );
    const queued = (await service.outbox.list({ patientRef: 'Patient/ehr-lena' })).filter(
      (m) => m.resourceType === 'Bundle',
    );
    expect(queued.map((m) => m.identifier.value)).toEqual([
      ehrIdentifierValue(CALLERS.therapist.tenant, 'report-med-lena-1'),
    ]);
  });

  test("in a couple's session each partner has their own report, asked for by patient", async () => {
    await medicineSession(['kai', 'noor'], 'med-kai-noor');
    await ok('/sessions/med-kai-noor/complete', { time: at('12:00'), transport: 'Taxi' }, 200);
    const unnamed = await get('/sessions/med-kai-noor/report');
    expect([unnamed.status, expressions(unnamed)]).toEqual([422, ['patient']]);
    const stranger = await get('/sessions/med-kai-noor/report?patient=lena');
    expect([stranger.status, expressions(stranger)]).toEqual([422, ['patient']]);
    const subjects = [];
    for (const p of ['kai', 'noor']) {
      const own = await get(`/sessions/med-kai-noor/report?patient=${p}`);
      expect(own.status).toBe(200);
      subjects.push(own.body.entry[0].resource.subject.identifier.value);
    }
    expect(subjects).toEqual(['kai', 'noor']);
  });

  test('a note is said only when completing a medicine session', async () => {
    const prep = await ok('/episodes/ep-med-lena-1/sessions', {
      phase: 'preparation',
      start: '2026-06-08T10:00:00Z',
    });
    const refused = await post(`/sessions/${prep.id}/start`, { note: 'not here' });
    expect([refused.status, expressions(refused)]).toEqual([422, ['note']]);
  });
});

describe('the episode timeline', () => {
  beforeAll(async () => {
    await clearedPatient('yara');
    await clearedPatient('oto');
  });

  test("shows each partner's monitoring points, adverse events and report, each with its source", async () => {
    await medicineSession(['yara', 'oto'], 'med-yara-oto');
    const vitals = async (patient: string, hhmm: string, suffix: string) => {
      await reading(patient, 'med-yara-oto', bp(126, 80), hhmm, `bp-${patient}-${suffix}`);
      await reading(
        patient,
        'med-yara-oto',
        { kind: 'heart-rate', perMinute: 74 },
        hhmm,
        `hr-${patient}-${suffix}`,
      );
      await reading(
        patient,
        'med-yara-oto',
        { kind: 'spo2', percent: 98 },
        hhmm,
        `spo2-${patient}-${suffix}`,
      );
    };
    await vitals('yara', '10:05', 'pre');
    await vitals('oto', '10:05', 'pre');
    await ok('/sessions/med-yara-oto/doses', dose('yara', '10:20', 100, 'dose-yara-1'));
    await vitals('yara', '11:00', '40');
    await reading('yara', 'med-yara-oto', { kind: 'sedation', moaas: 4 }, '11:00', 'moaas-yara-40');
    await reading('yara', 'med-yara-oto', { kind: 'dissociation', cadss: 12 }, '11:00', 'cadss-yara-40');
    // Above the limits: an out-of-range reading of the monitoring.
    await reading('yara', 'med-yara-oto', bp(150, 88), '11:30', 'bp-yara-high');
    await ok('/sessions/med-yara-oto/adverse-events', {
      id: 'ae-yara-dizzy',
      patient: 'yara',
      event: 'dizziness',
      severity: 'mild',
      serious: false,
      onset: at('10:45'),
      outcome: 'resolved',
    });
    await vitals('yara', '12:10', 'end');
    await reading('yara', 'med-yara-oto', { kind: 'sedation', moaas: 5 }, '12:10', 'moaas-yara-end');
    await ok(
      '/sessions/med-yara-oto/complete',
      { time: at('12:25'), transport: 'Walked home with Oto' },
      200,
    );

    const timeline = await get('/episodes/ep-med-yara-oto');
    expect(timeline.status).toBe(200);
    const partners = timeline.body.phases[1].sessions[0].partners as { id: string; patientId: string }[];
    const own = new Map(partners.map((p) => [p.patientId, p.id]));

    // Both partners' monitoring, where it stood at discharge, on their own sessions.
    const monitoring = timeline.body.monitoring as Answer['body'][];
    expect(monitoring.map((m) => [m.patientId, m.sessionId, m.at])).toEqual([
      ['yara', own.get('yara'), at('12:25')],
      ['oto', own.get('oto'), at('12:25')],
    ]);
    const [yara, oto] = monitoring;
    expect(yara.firstDoseAt).toBe(at('10:20').replace('Z', '.000Z'));
    const point = (id: string, kind: string) =>
      yara.points.find((p: { id: string; kind: string }) => p.id === id && p.kind === kind);
    expect(point('post-dose-40', 'blood-pressure')).toMatchObject({
      status: 'done',
      takenAt: at('11:00'),
      source: 'Observation/bp-yara-40',
    });
    expect(point('post-dose-40', 'dissociation')).toMatchObject({
      status: 'done',
      source: 'Observation/cadss-yara-40',
    });
    expect(point('pre-discharge', 'sedation')).toMatchObject({
      status: 'done',
      source: 'Observation/moaas-yara-end',
    });
    expect(yara.outOfRange).toEqual([
      expect.objectContaining({
        kind: 'blood-pressure',
        at: at('11:30'),
        source: 'Observation/bp-yara-high',
      }),
    ]);
    // Oto took no dose: nothing after a dose was due of him, and nothing of his was out of range.
    expect(oto.firstDoseAt).toBeUndefined();
    const afterDose = oto.points.filter((p: { id: string }) => p.id !== 'pre-dose');
    expect(afterDose.length).toBeGreaterThan(0);
    expect(new Set(afterDose.map((p: { status: string }) => p.status))).toEqual(new Set(['upcoming']));
    expect(oto.outOfRange).toEqual([]);

    expect(timeline.body.adverseEvents).toEqual([
      expect.objectContaining({
        id: 'ae-yara-dizzy',
        patientId: 'yara',
        sessionId: own.get('yara'),
        event: 'dizziness',
        source: 'AdverseEvent/ae-yara-dizzy',
      }),
    ]);
    // Each partner's report, as GET /sessions/{id}/report?patient= returns it; no EHR here, so kap-bridge's source.
    expect(timeline.body.reports).toEqual(
      ['yara', 'oto'].map((p) => ({
        id: `report-${own.get(p)}`,
        sessionId: own.get(p),
        jointSessionId: 'med-yara-oto',
        patientId: p,
        issuedAt: at('12:25'),
        source: `Bundle/report-${own.get(p)}`,
      })),
    );
    for (const p of ['yara', 'oto']) {
      const report = await get(`/sessions/med-yara-oto/report?patient=${p}`);
      expect(report.body.id).toBe(`report-${own.get(p)}`);
    }
  });

  test('a medicine session under way shows its monitoring as it stands now, and no report yet', async () => {
    await clearedPatient('ravi');
    await medicineSession(['ravi'], 'med-ravi-1');
    await reading('ravi', 'med-ravi-1', bp(120, 76), '10:05', 'bp-ravi-pre');
    const timeline = await get('/episodes/ep-med-ravi-1');
    expect(timeline.body.monitoring).toHaveLength(1);
    expect(timeline.body.monitoring[0]).toMatchObject({ sessionId: 'med-ravi-1', patientId: 'ravi' });
    expect(Date.parse(timeline.body.monitoring[0].at)).toBeGreaterThan(Date.parse(at('10:05')));
    expect(timeline.body.reports).toEqual([]);
    expect(timeline.body.adverseEvents).toEqual([]);
  });
});

test('the adverse events the API takes are the codes of the kap-adverse-event CodeSystem', () => {
  const cs = JSON.parse(
    readFileSync(new URL('../../profiles/CodeSystem-kap-adverse-event.json', import.meta.url), 'utf8'),
  ) as { concept: { code: string }[] };
  expect([...ADVERSE_EVENTS]).toEqual(cs.concept.map((c) => c.code));
});
