/**
 * The therapist records a course through /api/v1, over real HTTP with a real SQLite file and no
 * EHR: referral, consent, sessions by phase, vitals, scores and doses, each kept locally as the
 * FHIR resource our mapping writes and queued for the EHR in the same transaction; readiness
 * moves as the course goes; bad input changes nothing.
 */
import fc from 'fast-check';
import type {
  Bundle,
  Encounter,
  MedicationDispense,
  MedicationRequest,
  Observation,
  OperationOutcome,
} from 'fhir/r4';
import { API_BASE, type ApiRoute, OPERATIONS } from '../../src/http/openapi.js';
import { ROUTES } from '../../src/http/routes.js';
import type { Service } from '../../src/service.js';
import { createValidator } from '../../src/validation/validator.js';
import { CALLERS } from '../support/auth.js';
import { careTeam } from '../support/care.js';
import { statusOfApiBody } from '../support/expected-status.js';
import { fixture } from '../support/fixtures.js';
import { startTestService } from '../support/service.js';
import { codes, expressions, SUBSCRIPTION_SECRET as SECRET, therapistApi } from '../support/therapist-api.js';

/** The practice the therapist's token acts for. */
const PRACTICE = CALLERS.therapist.tenant;

let service: Service;

beforeAll(async () => {
  service = await startTestService({ KAP_SUBSCRIPTION_SECRET: SECRET });
});
afterAll(() => service.close());

const { call, post, get, ok } = therapistApi(() => service.url);

/** The prescriber's EHR clears the patient and prescribes 150 mg sublingual troches, 3 sessions. */
async function prescriberClears(ehrPatient: string): Promise<void> {
  const clearance = fixture<Observation>('prescriber/clearance-cleared.fhir.json');
  const rx = fixture<MedicationRequest>('prescriber/prescription-ketamine-troche.fhir.json');
  const subject = { reference: `Patient/${ehrPatient}` };
  // As an EHR writes it: under its own order number.
  rx.identifier = [
    { system: 'https://ehr.lakeshore-psychiatry.example/identifier/order', value: `ORD-${ehrPatient}` },
  ];
  expect(
    (
      await call('PUT', `/fhir/Observation/clr-${ehrPatient}`, {
        ...clearance,
        id: `clr-${ehrPatient}`,
        subject,
      })
    ).status,
  ).toBe(201);
  expect(
    (
      await call('PUT', `/fhir/MedicationRequest/rx-${ehrPatient}`, {
        ...rx,
        id: `rx-${ehrPatient}`,
        subject,
      })
    ).status,
  ).toBe(201);
  // The pharmacy hands the troches over.
  const { performer: _p, ...dispense } = fixture<MedicationDispense>('prescriber/dispense-troches.fhir.json');
  expect(
    (
      await call('PUT', `/fhir/MedicationDispense/disp-${ehrPatient}`, {
        ...dispense,
        id: `disp-${ehrPatient}`,
        identifier: [{ system: 'https://pharmacy.example/identifier/dispense', value: `D-${ehrPatient}` }],
        subject,
        authorizingPrescription: [{ reference: `MedicationRequest/rx-${ehrPatient}` }],
      })
    ).status,
  ).toBe(201);
}

/** Registers the practice's patient and has the EHR confirm the practice's care of them. */
async function registerPatient(id: string): Promise<void> {
  await ok('/patients', {
    id,
    identifiers: [{ system: 'urn:therapist:client', value: id }],
    ehrPatient: `Patient/ehr-${id}`,
  });
  expect(
    (await call('PUT', `/fhir/CareTeam/care-${id}`, { ...careTeam(`ehr-${id}`), id: `care-${id}` })).status,
  ).toBe(201);
}

/** Schedules, starts and completes a session; the joint (or individual) session. */
async function holdSession(episode: string, phase: string, day: string, hours = 1) {
  const s = await ok(`/episodes/${episode}/sessions`, { phase, start: `${day}T10:00:00Z` });
  await ok(`/sessions/${s.id}/start`, { time: `${day}T10:00:00Z` }, 200);
  return ok(`/sessions/${s.id}/complete`, { time: `${day}T${10 + hours}:00:00Z` }, 200);
}

const PHQ9_BEFORE = { kind: 'phq9', total: 11, items: [2, 2, 1, 2, 1, 1, 1, 1, 0] };
const PHQ9_AFTER = { kind: 'phq9', total: 5, items: [1, 1, 1, 1, 0, 0, 1, 0, 0] };
const signed = (patient: string, day: string) => ({
  patient,
  signedAt: `${day}T09:00:00Z`,
  document: {
    url: 'https://therapist.example/agreements/kap.pdf',
    contentType: 'application/pdf',
    title: 'KAP informed consent',
  },
});

/** Every resource the outbox holds for the EHR is also kept locally and passes its profile with no error. */
async function expectAllWrittenValid(patientRef: string): Promise<number> {
  const validator = createValidator();
  const messages = await service.outbox.list({ patientRef });
  for (const m of messages) {
    const local = await service.store.ownByEhrIdentifier(m.resourceType, m.identifier.value);
    expect(local).toBeDefined();
    expect(m.identifier.system).toBe(`https://fhir.kap-bridge.org/identifier/${m.resourceType}`);
    // A document (the session report) claims its profile on its Composition, the first entry.
    const claimant =
      local!.resource.resourceType === 'Bundle'
        ? (local!.resource as Bundle).entry?.[0]?.resource
        : local!.resource;
    const profile = (claimant?.meta?.profile ?? [])[0];
    expect(profile).toMatch(/^https:\/\/fhir\.kap-bridge\.org\/StructureDefinition\/kap-/);
    const errors = validator
      .validate(local!.resource)
      .filter((i) => i.severity === 'error' || i.severity === 'fatal');
    expect({ resource: `${m.resourceType}/${m.identifier.value}`, errors }).toEqual({
      resource: `${m.resourceType}/${m.identifier.value}`,
      errors: [],
    });
  }
  return messages.length;
}

describe('a full individual course', () => {
  test('referral, preparation, consent, medicine session with vitals and doses, integration with PHQ-9; readiness moves; the timeline shows it all', async () => {
    await registerPatient('lena');
    await ok('/episodes', {
      id: 'ep-lena',
      type: 'individual',
      patients: ['lena'],
      intention: 'To feel less stuck in grief.',
      start: '2026-03-01',
    });
    const referral = await ok('/patients/lena/referrals', {
      id: 'ref-lena',
      episode: 'ep-lena',
      reason: 'Treatment-resistant depression; KAP course planned',
      requester: 'Practitioner/therapist-1',
      performer: 'Practitioner/prescriber-1',
      authoredOn: '2026-03-01T09:00:00Z',
    });
    expect(referral.taskStatus).toBe('requested');
    expect(referral.sources).toEqual({ serviceRequest: 'ServiceRequest/ref-lena', task: 'Task/ref-lena' });

    await ok('/patients/lena/observations', { value: PHQ9_BEFORE, effective: '2026-03-02T09:30:00Z' });
    const prep = await holdSession('ep-lena', 'preparation', '2026-03-02');
    expect(prep).toMatchObject({ status: 'finished', phase: 'preparation', patientId: 'lena' });
    await ok('/patients/lena/observations', {
      value: { kind: 'mental-status', findings: 'Alert, oriented, euthymic; no psychotic features' },
      effective: '2026-03-02T10:40:00Z',
      session: prep.id,
    });

    const medicine = await ok('/episodes/ep-lena/sessions', {
      id: 'med-lena-1',
      phase: 'medicine',
      start: '2026-03-05T10:00:00Z',
    });
    expect(medicine).toMatchObject({ status: 'planned', source: 'Encounter/med-lena-1' });
    await ok('/sessions/med-lena-1/start', { time: '2026-03-05T10:00:00Z' }, 200);
    const dose = { patient: 'lena', dose: { value: 150, unit: 'mg' }, time: '2026-03-05T10:20:00Z' };

    // Not ready: no consent, no clearance, no prescription. Nothing is kept.
    const refused = await post('/sessions/med-lena-1/doses', { ...dose, id: 'dose-early' });
    expect(refused.status).toBe(422);
    expect(codes(refused)).toEqual(expect.arrayContaining(['no-consent', 'no-clearance', 'no-prescription']));
    expect(await service.store.getOwn('MedicationAdministration', 'dose-early', PRACTICE)).toBeUndefined();

    const consent = await ok('/episodes/ep-lena/consents', {
      id: 'cons-lena',
      ...signed('lena', '2026-03-01'),
    });
    expect(consent).toMatchObject({ status: 'active', episodeId: 'ep-lena', source: 'Consent/cons-lena' });
    const afterConsent = await post('/sessions/med-lena-1/doses', dose);
    expect(codes(afterConsent)).not.toContain('no-consent');
    expect(codes(afterConsent)).toContain('no-clearance');

    await prescriberClears('ehr-lena');
    // A blood pressure above 140/90 before dosing is a safety flag.
    await ok('/patients/lena/observations', {
      id: 'bp-lena-high',
      value: { kind: 'blood-pressure', systolic: 152, diastolic: 96 },
      effective: '2026-03-05T10:05:00Z',
      session: 'med-lena-1',
    });
    const highBp = await post('/sessions/med-lena-1/doses', dose);
    expect(highBp.status).toBe(422);
    expect(codes(highBp)).toEqual(['safety-blood-pressure']);
    expect(highBp.body.issue[0].diagnostics).toContain('Observation/bp-lena-high');

    for (const [minute, value] of [
      [15, { kind: 'blood-pressure', systolic: 124, diastolic: 78 }],
      [16, { kind: 'heart-rate', perMinute: 72 }],
      [17, { kind: 'spo2', percent: 98 }],
    ] as const) {
      await ok('/patients/lena/observations', {
        value,
        effective: `2026-03-05T10:${minute}:00Z`,
        session: 'med-lena-1',
      });
    }
    const given = await ok('/sessions/med-lena-1/doses', { ...dose, id: 'dose-lena-1' });
    expect(given).toMatchObject({
      sessionId: 'med-lena-1',
      route: 'sublingual',
      status: 'completed',
      prescriptionId: 'rx-ehr-lena',
      source: 'MedicationAdministration/dose-lena-1',
    });
    expect(given.medication.isKetamine).toBe(true);
    await ok('/patients/lena/observations', {
      value: { kind: 'dissociation', cadss: 18 },
      effective: '2026-03-05T11:00:00Z',
      session: 'med-lena-1',
    });
    await ok('/patients/lena/observations', {
      value: { kind: 'sedation', moaas: 4 },
      effective: '2026-03-05T11:01:00Z',
      session: 'med-lena-1',
    });
    // Not all the discharge criteria hold (no vitals after the dose, MOAA/S 4): refused, each named.
    const early = await post('/sessions/med-lena-1/complete', { time: '2026-03-05T12:30:00Z' });
    expect(early.status).toBe(422);
    expect(codes(early)).toEqual(
      expect.arrayContaining(['discharge-vitals-missing', 'not-alert', 'transport-not-confirmed']),
    );
    // Completed anyway, with the reason: the prescriber is told.
    await ok(
      '/sessions/med-lena-1/complete',
      { time: '2026-03-05T12:30:00Z', override: 'Her partner collected her; she was alert and talking.' },
      200,
    );
    const alert = (await service.store.getOwn('Communication', 'discharge-med-lena-1', PRACTICE))!.resource;
    expect(alert).toMatchObject({ category: [{ coding: [{ code: 'discharge-override' }] }] });
    // The session is over: no more doses in it.
    expect((await post('/sessions/med-lena-1/doses', dose)).status).toBe(422);

    const integration = await holdSession('ep-lena', 'integration', '2026-03-07');
    await ok('/patients/lena/observations', {
      value: PHQ9_AFTER,
      effective: '2026-03-07T11:05:00Z',
      session: integration.id,
    });

    // On the day of the next session, everything holds but its pre-dose blood pressure.
    const status = await get('/patients/lena/medication-status?date=2026-03-12');
    expect(status.body).toMatchObject({ ready: false, verdict: 'pending-day-of-checks' });
    expect(status.body.reasons.map((r: { code: string }) => r.code)).toEqual(['predose-blood-pressure']);
    expect(status.body.status.prescription).toMatchObject({ dosesAdministered: 1, dosesRemaining: 2 });

    const timeline = await get('/episodes/ep-lena?date=2026-03-12');
    expect(timeline.status).toBe(200);
    const t = timeline.body;
    expect(t).toMatchObject({
      id: 'ep-lena',
      intention: 'To feel less stuck in grief.',
      source: 'EpisodeOfCare/ep-lena',
    });
    expect(
      t.phases.map((p: { phase: string; planned: number; sessions: unknown[] }) => [
        p.phase,
        p.planned,
        p.sessions.length,
      ]),
    ).toEqual([
      ['preparation', 2, 1],
      ['medicine', 1, 1],
      ['integration', 1, 1],
    ]);
    expect(t.phases[1].sessions[0]).toMatchObject({
      id: 'med-lena-1',
      status: 'finished',
      end: '2026-03-05T12:30:00Z',
      source: 'Encounter/med-lena-1',
    });
    expect(t.consents.map((c: { source: string }) => c.source)).toEqual(['Consent/cons-lena']);
    expect(t.doses.map((d: { id: string; source: string }) => [d.id, d.source])).toEqual([
      ['dose-lena-1', 'MedicationAdministration/dose-lena-1'],
    ]);
    expect(t.observations.map((o: { value: { kind: string } }) => o.value.kind)).toEqual([
      'phq9',
      'mental-status',
      'blood-pressure',
      'blood-pressure',
      'heart-rate',
      'spo2',
      'dissociation',
      'sedation',
      'phq9',
    ]);
    for (const o of t.observations) expect(o.source).toMatch(/^Observation\/[A-Za-z0-9\-.]+$/);
    expect(t.readiness).toMatchObject({
      episodeId: 'ep-lena',
      date: '2026-03-12',
      verdict: 'pending-day-of-checks',
    });

    // Everything went locally and into the EHR queue, in the order written, each valid on its profile.
    const queued = await service.outbox.list({ patientRef: 'Patient/ehr-lena' });
    expect(queued.slice(0, 5).map((m) => m.resourceType)).toEqual([
      'EpisodeOfCare',
      'Goal',
      'CarePlan',
      'ServiceRequest',
      'Task',
    ]);
    expect(queued.every((m) => m.resource.id === undefined)).toBe(true);
    const encounter = queued.find((m) => m.resourceType === 'Encounter')!.resource as Encounter;
    expect(encounter.episodeOfCare?.[0]?.reference).toBe(
      'EpisodeOfCare?identifier=https%3A%2F%2Ffhir.kap-bridge.org%2Fidentifier%2FEpisodeOfCare|practice-a%2Fep-lena',
    );
    expect(await expectAllWrittenValid('Patient/ehr-lena')).toBe(queued.length);
  });

  test('a PHQ-9 with thoughts of self-harm after the last prescriber review stops the next dose', async () => {
    await ok('/patients/lena/observations', {
      value: { kind: 'phq9', total: 6, items: [1, 1, 1, 1, 0, 0, 1, 0, 1] },
      effective: '2026-03-14T09:00:00Z',
    });
    const s = await ok('/episodes/ep-lena/sessions', { phase: 'medicine', start: '2026-03-15T10:00:00Z' });
    await ok(`/sessions/${s.id}/start`, { time: '2026-03-15T10:00:00Z' }, 200);
    const refused = await post(`/sessions/${s.id}/doses`, {
      patient: 'lena',
      dose: { value: 150, unit: 'mg' },
      time: '2026-03-15T10:10:00Z',
    });
    expect(refused.status).toBe(422);
    expect(codes(refused)).toEqual(['safety-phq9-item9', 'predose-missing']);
    await ok(`/sessions/${s.id}/cancel`, {}, 200);
    const timeline = (await get('/episodes/ep-lena?date=2026-03-15')).body;
    expect(timeline.readiness.ready).toBe(false);
    expect(timeline.phases[1].sessions.map((x: { status: string }) => x.status)).toEqual([
      'finished',
      'cancelled',
    ]);
  });

  test("the EHR's copy of one of our resources is attached to it, not a second record of the practice's", async () => {
    const local = (await service.store.getOwn('Observation', 'bp-lena-high', PRACTICE))!
      .resource as Observation;
    const { meta: _meta, ...body } = local;
    const copy = {
      ...body,
      id: 'ehr-obs-9001',
      meta: { versionId: '1', lastUpdated: '2026-03-05T10:06:00Z' },
    };
    const pushed = await call('PUT', '/fhir/Observation/ehr-obs-9001', copy);
    expect(pushed.status).toBe(200);
    // Kept as the EHR's data, for other practices caring for the patient; this practice's record has its own row only.
    const theirs = await service.store.getResource('Observation', 'ehr-obs-9001');
    expect({ ref: theirs?.patientRef, ours: theirs?.ours }).toEqual({
      ref: 'Patient/ehr-lena',
      ours: undefined,
    });
    expect(
      (await service.store.resourcesFor('Patient/ehr-lena', 'practice-a'))
        .map((r) => r.resource.id)
        .filter((id) => id === 'ehr-obs-9001' || id === 'bp-lena-high'),
    ).toEqual(['bp-lena-high']);
    expect((await service.store.getOwn('Observation', 'bp-lena-high', PRACTICE))?.ehrSource).toBe(
      'Observation/ehr-obs-9001/_history/1',
    );
    // An older version of the EHR's copy does not move it back.
    await call('PUT', '/fhir/Observation/ehr-obs-9001', { ...copy, meta: { versionId: '2' } });
    await call('PUT', '/fhir/Observation/ehr-obs-9001', copy);
    const timeline = (await get('/episodes/ep-lena?date=2026-03-12')).body;
    const bp = timeline.observations.filter((o: { id: string }) => o.id === 'bp-lena-high');
    expect(bp).toEqual([expect.objectContaining({ source: 'Observation/ehr-obs-9001/_history/2' })]);
    expect(timeline.observations).toHaveLength(10);
  });

  test("the EHR's Encounter of the same id as a practice's session is not that session in the timeline", async () => {
    const local = (await service.store.getOwn('Observation', 'bp-lena-high', PRACTICE))!
      .resource as Observation;
    const { meta: _meta, identifier: _identifier, ...body } = local;
    const theirs: Observation = {
      ...body,
      id: 'ehr-obs-9002',
      meta: { versionId: '1' },
      encounter: { reference: 'Encounter/med-lena-1' },
    };
    await service.store.putResource({
      resource: theirs,
      patientRef: 'Patient/ehr-lena',
      receivedAt: '2026-03-05T10:07:00Z',
    });
    const timeline = (await get('/episodes/ep-lena?date=2026-03-12')).body;
    expect(timeline.observations.map((o: { id: string }) => o.id)).not.toContain('ehr-obs-9002');
  });
});

describe("the course's status", () => {
  test('a course on hold is not ready and takes no dose; off hold it is again; a finished one does not change', async () => {
    const held = await post('/episodes/ep-lena/status', {
      status: 'onhold',
      reason: 'Patient travelling for a month',
      time: '2026-03-16T09:00:00Z',
    });
    expect(held.status).toBe(200);
    expect(held.body).toMatchObject({ status: 'onhold', statusReason: 'Patient travelling for a month' });
    const readiness = (await get('/episodes/ep-lena/readiness?date=2026-03-20')).body;
    expect(readiness.reasons.map((r: { code: string }) => r.code)).toContain('episode-not-active');
    // Written to the EHR: the EpisodeOfCare on hold, the reason on the CarePlan.
    const queued = await service.outbox.list({ patientRef: 'Patient/ehr-lena' });
    const last = (type: string) => queued.filter((m) => m.resourceType === type).at(-1)!.resource;
    expect(last('EpisodeOfCare')).toMatchObject({ status: 'onhold' });
    expect(last('CarePlan')).toMatchObject({
      status: 'on-hold',
      note: [{ text: 'Patient travelling for a month' }],
    });

    expect((await post('/episodes/ep-lena/status', { status: 'active' })).status).toBe(200);
    const again = (await get('/episodes/ep-lena/readiness?date=2026-03-20')).body;
    expect(again.reasons.map((r: { code: string }) => r.code)).not.toContain('episode-not-active');

    expect(
      (await post('/episodes/ep-lena/status', { status: 'finished', time: '2026-04-30T10:00:00Z' })).status,
    ).toBe(200);
    const reopened = await post('/episodes/ep-lena/status', { status: 'active' });
    expect(reopened.status).toBe(422);
    expect(expressions(reopened)).toEqual(['status']);
  });

  test('a status that is not one a therapist sets is a 400 naming the field', async () => {
    const wrong = await post('/episodes/ep-lena/status', { status: 'entered-in-error' });
    expect(wrong.status).toBe(400);
    expect(expressions(wrong)[0]).toMatch(/status/);
  });
});

describe('a full couples course', () => {
  test('joint sessions with one session per partner; a dose waits until both partners are ready', async () => {
    await registerPatient('ana');
    await registerPatient('tomas');
    const episode = await ok('/episodes', {
      id: 'ep-ruiz',
      type: 'couples',
      patients: ['ana', 'tomas'],
      intention: 'To trust each other again.',
    });
    expect(episode.type).toBe('couples');
    for (const p of ['ana', 'tomas']) {
      // On the course, the partner named in the body (as the console asks).
      await ok('/episodes/ep-ruiz/referrals', { patient: p, requester: 'Practitioner/therapist-2' });
      await ok('/episodes/ep-ruiz/consents', signed(p, '2026-04-01'));
      await ok(`/patients/${p}/observations`, { value: PHQ9_BEFORE, effective: '2026-04-01T09:30:00Z' });
    }
    const prep = await holdSession('ep-ruiz', 'preparation', '2026-04-02');
    expect(prep.couple).toEqual(['ana', 'tomas']);
    expect(
      prep.partners.map((p: { patientId: string; status: string; jointSessionId: string }) => [
        p.patientId,
        p.status,
        p.jointSessionId,
      ]),
    ).toEqual([
      ['ana', 'finished', prep.id],
      ['tomas', 'finished', prep.id],
    ]);

    const medicine = await ok('/episodes/ep-ruiz/sessions', {
      id: 'med-ruiz-1',
      phase: 'medicine',
      start: '2026-04-09T10:00:00Z',
    });
    expect(medicine.partners).toHaveLength(2);
    await ok('/sessions/med-ruiz-1/start', { time: '2026-04-09T10:00:00Z' }, 200);
    // A partner's own session moves only with the joint one.
    expect((await post(`/sessions/${medicine.partners[0].id}/complete`)).status).toBe(422);

    await prescriberClears('ehr-ana');
    const dose = (patient: string) => ({
      patient,
      dose: { value: 150, unit: 'mg' },
      time: '2026-04-09T10:20:00Z',
    });
    const waiting = await post('/sessions/med-ruiz-1/doses', dose('ana'));
    expect(waiting.status).toBe(422);
    // Her clearance is in, her pre-dose blood pressure is not; and Tomás is not ready.
    expect(codes(waiting).sort()).toEqual(['partner-not-ready', 'predose-missing']);
    expect(waiting.body.issue.map((i: { diagnostics: string }) => i.diagnostics)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^Patient ana: No blood pressure is recorded in this session/),
        expect.stringMatching(/^Patient ana: This is a couples course and the other partner is not ready/),
      ]),
    );
    // What she is told of him is only that he is not ready: none of his reasons, ids or sources.
    expect(JSON.stringify(waiting.body)).not.toMatch(/tomas|no-clearance|no-prescription/);
    for (const p of ['ana', 'tomas']) {
      await ok('/episodes/ep-ruiz/observations', {
        patient: p,
        value: { kind: 'blood-pressure', systolic: 120, diastolic: 80 },
        effective: '2026-04-09T10:05:00Z',
        session: 'med-ruiz-1',
      });
    }
    // Tomás is not cleared yet: his dose is refused with his reasons, and so is Ana's, for him.
    const tomasWaits = await post('/sessions/med-ruiz-1/doses', dose('tomas'));
    expect(tomasWaits.status).toBe(422);
    expect(codes(tomasWaits)).toEqual(expect.arrayContaining(['no-clearance', 'no-prescription']));
    expect(codes(tomasWaits)).not.toContain('partner-not-ready');
    const anaWaits = await post('/sessions/med-ruiz-1/doses', dose('ana'));
    expect(anaWaits.status).toBe(422);
    expect(codes(anaWaits)).toEqual(['partner-not-ready']);
    // Her medication status says the same, ahead of the session.
    const anaStatus = (await get('/patients/ana/medication-status?at=2026-04-09T10:20:00Z')).body;
    expect(anaStatus.verdict).toBe('not-ready');
    expect(anaStatus.reasons.map((r: { code: string }) => r.code)).toContain('partner-not-ready');

    await prescriberClears('ehr-tomas');
    // Once both are ready, one partner's dose in the joint session does not count against the other.
    const anaDose = await ok('/sessions/med-ruiz-1/doses', dose('ana'));
    expect(anaDose.sessionId).toBe(
      medicine.partners.find((s: { patientId: string }) => s.patientId === 'ana').id,
    );

    const tomasDose = await ok('/sessions/med-ruiz-1/doses', dose('tomas'));
    expect(tomasDose.sessionId).toBe(
      medicine.partners.find((s: { patientId: string }) => s.patientId === 'tomas').id,
    );
    await ok(
      '/sessions/med-ruiz-1/complete',
      { time: '2026-04-09T12:30:00Z', override: 'Monitored in person throughout; vitals kept on paper.' },
      200,
    );
    const integration = await holdSession('ep-ruiz', 'integration', '2026-04-12');
    for (const p of ['ana', 'tomas']) {
      await ok(`/patients/${p}/observations`, {
        value: PHQ9_AFTER,
        effective: '2026-04-12T11:05:00Z',
        session: integration.id,
      });
    }

    const t = (await get('/episodes/ep-ruiz?date=2026-04-20')).body;
    expect(t.phases.map((p: { sessions: unknown[] }) => p.sessions.length)).toEqual([1, 1, 1]);
    const joint = t.phases[1].sessions[0];
    expect(joint).toMatchObject({
      id: 'med-ruiz-1',
      couple: ['ana', 'tomas'],
      status: 'finished',
      source: 'Encounter/med-ruiz-1',
    });
    expect(joint.partners.map((p: { status: string }) => p.status)).toEqual(['finished', 'finished']);
    expect(t.doses.map((d: { patientId: string }) => d.patientId).sort()).toEqual(['ana', 'tomas']);
    expect(t.consents).toHaveLength(2);
    expect(t.observations).toHaveLength(6);
    expect(t.readiness.verdict).toBe('pending-day-of-checks');
    expect(t.readiness.patients).toHaveLength(2);

    // The whole course travels in one queue (the first partner's), so the joint sessions reach the
    // EHR before the partner sessions that are part of them.
    const queued = await service.outbox.list({ patientRef: 'Patient/ehr-ana' });
    expect(queued[0]!.resourceType).toBe('Group');
    const types = queued.map((m) => m.resourceType);
    // Three joint sessions with two partner sessions each, each scheduled, started and completed.
    const encounters = queued.filter((m) => m.resourceType === 'Encounter');
    expect(new Set(encounters.map((m) => m.identifier.value)).size).toBe(9);
    expect(encounters).toHaveLength(27);
    expect(types.filter((x) => x === 'MedicationAdministration')).toHaveLength(2);
    await expectAllWrittenValid('Patient/ehr-ana');
    await expectAllWrittenValid('Patient/ehr-tomas');
  });
});

describe('bad input at every new route gets a 4xx OperationOutcome naming the field, and changes nothing', () => {
  beforeAll(async () => {
    await registerPatient('bad');
    await ok('/patients', {
      id: 'unlinked',
      identifiers: [{ system: 'urn:therapist:client', value: 'unlinked' }],
    });
    await ok('/episodes', { id: 'ep-bad', type: 'individual', patients: ['bad'] });
    await ok('/episodes/ep-bad/sessions', {
      id: 'prep-bad',
      phase: 'preparation',
      start: '2026-05-01T10:00:00Z',
    });
    await ok('/sessions/prep-bad/start', {}, 200);
    await ok('/episodes/ep-bad/sessions', {
      id: 'med-bad',
      phase: 'medicine',
      start: '2026-05-02T10:00:00Z',
    });
    await ok('/sessions/med-bad/start', { time: '2026-05-02T10:00:00Z' }, 200);
    // A second course of the same patient, with a session of its own.
    await ok('/episodes', { id: 'ep-bad-2', type: 'individual', patients: ['bad'] });
    await ok('/episodes/ep-bad-2/sessions', {
      id: 'prep-bad-2',
      phase: 'preparation',
      start: '2026-05-01T10:00:00Z',
    });
  });
  const dose = { patient: 'bad', dose: { value: 150, unit: 'mg' }, time: '2026-05-02T10:10:00Z' };
  const consent = signed('bad', '2026-05-01');
  const asked = { requester: 'Practitioner/therapist-3' };
  const obs = (value: unknown, more: object = {}) => ({ value, effective: '2026-05-01T10:00:00Z', ...more });

  test.each([
    [
      'consent without a patient',
      '/episodes/ep-bad/consents',
      { ...consent, patient: undefined },
      400,
      'patient',
    ],
    [
      'consent signed "yesterday"',
      '/episodes/ep-bad/consents',
      { ...consent, signedAt: 'yesterday' },
      400,
      'signedAt',
    ],
    [
      'consent without the agreement',
      '/episodes/ep-bad/consents',
      { ...consent, document: undefined },
      400,
      'document',
    ],
    [
      'consent of a patient outside the course',
      '/episodes/ep-bad/consents',
      { ...consent, patient: 'lena' },
      422,
      'patient',
    ],
    ['consent for an unknown episode', '/episodes/nope/consents', consent, 404, undefined],
    [
      'a session of an unknown phase',
      '/episodes/ep-bad/sessions',
      { phase: 'ceremony', start: '2026-05-03T10:00:00Z' },
      400,
      'phase',
    ],
    ['a session without a start', '/episodes/ep-bad/sessions', { phase: 'integration' }, 400, 'start'],
    [
      'a session with an unknown field',
      '/episodes/ep-bad/sessions',
      { phase: 'integration', start: '2026-05-03T10:00:00Z', room: 2 },
      400,
      'room',
    ],
    [
      'a session id already taken',
      '/episodes/ep-bad/sessions',
      { id: 'med-bad', phase: 'integration', start: '2026-05-03T10:00:00Z' },
      409,
      'id',
    ],
    ['starting an unknown session', '/sessions/nope/start', {}, 404, undefined],
    ['starting at a bad time', '/sessions/prep-bad/complete', { time: "10 o'clock" }, 400, 'time'],
    ['starting a session in progress', '/sessions/prep-bad/start', {}, 422, undefined],
    ['ending before the start', '/sessions/prep-bad/complete', { time: '2026-04-30T10:00:00Z' }, 422, 'time'],
    ['a dose without a dose', '/sessions/med-bad/doses', { ...dose, dose: undefined }, 400, 'dose'],
    [
      'a dose in grams',
      '/sessions/med-bad/doses',
      { ...dose, dose: { value: 0.15, unit: 'g' } },
      400,
      'dose.unit',
    ],
    [
      'a dose of nothing',
      '/sessions/med-bad/doses',
      { ...dose, dose: { value: 0, unit: 'mg' } },
      400,
      'dose.value',
    ],
    ['a dose in a preparation session', '/sessions/prep-bad/doses', dose, 422, undefined],
    [
      'a dose for a patient not in the session',
      '/sessions/med-bad/doses',
      { ...dose, patient: 'lena' },
      422,
      'patient',
    ],
    ['a dose not ready', '/sessions/med-bad/doses', dose, 422, 'patient'],
    [
      'a score of an unknown kind',
      '/patients/bad/observations',
      obs({ kind: 'mood', total: 3 }),
      400,
      'value.kind',
    ],
    [
      'a PHQ-9 total of 30',
      '/patients/bad/observations',
      obs({ kind: 'phq9', total: 30 }),
      400,
      'value.total',
    ],
    [
      'a PHQ-9 whose items do not add up',
      '/patients/bad/observations',
      obs({ ...PHQ9_BEFORE, total: 12 }),
      400,
      'value.total',
    ],
    [
      'a PHQ-9 with eight items',
      '/patients/bad/observations',
      obs({ kind: 'phq9', total: 3, items: [0, 0, 0, 0, 0, 0, 1, 2] }),
      400,
      'value.items',
    ],
    [
      'a blood pressure without diastolic',
      '/patients/bad/observations',
      obs({ kind: 'blood-pressure', systolic: 120 }),
      400,
      'value.diastolic',
    ],
    [
      'a C-SSRS risk of "some"',
      '/patients/bad/observations',
      obs({ kind: 'cssrs', risk: 'some' }),
      400,
      'value.risk',
    ],
    [
      "a score in another patient's session",
      '/patients/bad/observations',
      obs({ kind: 'gad7', total: 4 }, { session: 'med-lena-1' }),
      422,
      'session',
    ],
    [
      'a score of an unknown patient',
      '/patients/nobody/observations',
      obs({ kind: 'gad7', total: 4 }),
      404,
      undefined,
    ],
    [
      'a score of a patient not linked to the EHR',
      '/patients/unlinked/observations',
      obs({ kind: 'gad7', total: 4 }),
      422,
      'id',
    ],
    [
      'a referral to an Organization',
      '/patients/bad/referrals',
      { ...asked, performer: 'Organization/1' },
      400,
      'performer',
    ],
    ['a referral without its requester', '/patients/bad/referrals', { reason: 'x' }, 400, 'requester'],
    [
      'a referral for an unknown episode',
      '/patients/bad/referrals',
      { ...asked, episode: 'nope' },
      422,
      'episode',
    ],
    [
      'a referral for another course',
      '/patients/bad/referrals',
      { ...asked, episode: 'ep-lena' },
      422,
      'episode',
    ],
    ['a referral with a bad path id', '/patients/bad$id/referrals', asked, 400, 'id'],
    [
      'a score on a course without its patient',
      '/episodes/ep-bad/observations',
      obs({ kind: 'gad7', total: 4 }),
      400,
      'patient',
    ],
    [
      'a score on a course of a patient outside it',
      '/episodes/ep-bad/observations',
      obs({ kind: 'gad7', total: 4 }, { patient: 'lena' }),
      422,
      'patient',
    ],
    [
      'a score on a course of an unknown patient',
      '/episodes/ep-bad/observations',
      obs({ kind: 'gad7', total: 4 }, { patient: 'nobody' }),
      422,
      'patient',
    ],
    [
      "a score on a course in the patient's session of another course",
      '/episodes/ep-bad/observations',
      obs({ kind: 'gad7', total: 4 }, { patient: 'bad', session: 'prep-bad-2' }),
      422,
      'session',
    ],
    [
      'a score on an unknown course',
      '/episodes/nope/observations',
      obs({ kind: 'gad7', total: 4 }, { patient: 'bad' }),
      404,
      undefined,
    ],
    [
      'a referral on a course of a patient outside it',
      '/episodes/ep-bad/referrals',
      { ...asked, patient: 'lena' },
      422,
      'patient',
    ],
    [
      'a referral on a course naming another course',
      '/episodes/ep-bad/referrals',
      { ...asked, patient: 'bad', episode: 'ep-lena' },
      400,
      'episode',
    ],
  ] as const)('%s', async (_name, path, body, status, expression) => {
    const before = (await service.outbox.list({ limit: 100_000 })).length;
    const a = await post(path, body);
    expect(a.status).toBe(status);
    expect((a.body as OperationOutcome).resourceType).toBe('OperationOutcome');
    if (expression) expect(expressions(a)).toContain(expression);
    expect((await service.outbox.list({ limit: 100_000 })).length).toBe(before);
  });

  test('an episode of a patient not linked to the EHR is refused', async () => {
    const a = await post('/episodes', { id: 'ep-unlinked', type: 'individual', patients: ['unlinked'] });
    expect(a.status).toBe(422);
    expect(expressions(a)).toContain('patients[0]');
    expect((await get('/episodes/ep-unlinked')).status).toBe(404);
  });

  test('fuzzed bodies on every writing route of a course get a 400 and write nothing', async () => {
    const before = (await service.outbox.list({ limit: 100_000 })).length;
    // Every route of the table that writes on an object named in its path, on this course's objects.
    const ids: Record<string, string> = { patient: 'bad', episode: 'ep-bad', session: 'med-bad' };
    const routes = Object.entries(ROUTES).flatMap(([name, r]) => {
      const body = OPERATIONS[name as ApiRoute]?.body;
      return r.method === 'POST' && 'owner' in r && body
        ? [{ path: r.path.replace(API_BASE, '').replace(':id', ids[r.owner]!), schema: body.schema }]
        : [];
    });
    expect(routes.length).toBeGreaterThanOrEqual(10);
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...routes), fc.jsonValue({ maxDepth: 4 }), async (route, body) => {
        // A body the route's schema takes (an empty move of a session) is a write, not hostile input.
        const expected = statusOfApiBody(route.schema, body);
        fc.pre(expected !== undefined);
        expect((await post(route.path, body)).status).toBe(expected);
      }),
      { numRuns: 150, interruptAfterTimeLimit: 15_000 },
    );
    expect((await service.outbox.list({ limit: 100_000 })).length).toBe(before);
  });
});

test('the OpenAPI document describes every new route', async () => {
  const doc = (await get('/openapi.json')).body;
  expect(Object.keys(doc.paths)).toEqual(
    expect.arrayContaining([
      '/episodes/{id}/consents',
      '/episodes/{id}/sessions',
      '/sessions/{id}/start',
      '/sessions/{id}/complete',
      '/sessions/{id}/cancel',
      '/sessions/{id}/doses',
      '/patients/{id}/observations',
      '/patients/{id}/referrals',
      '/episodes/{id}/observations',
      '/episodes/{id}/referrals',
    ]),
  );
});
