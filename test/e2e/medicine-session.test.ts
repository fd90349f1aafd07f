/**
 * End to end against the HAPI sandbox: the medicine session as the therapist records it and the
 * prescriber's EHR receives it. A whole individual session (the pre-dose checks refusing a dose,
 * monitoring points due, overdue and done, a booster beyond the limits and one within, discharge
 * refused and then completed), a couple in which one partner is refused while the other doses, and
 * a serious adverse event whose alert reaches HAPI ahead of the changes queued before it and keeps
 * the patient not ready until the prescriber's review arrives from the EHR.
 * kap-bridge reaches HAPI through a proxy that can keep HAPI's answer to a delivery, so that changes
 * wait in the outbox behind it; kap-bridge delivers one change at a time, one patient at a time, so the order of arrival is the
 * order of delivery.
 */
import type {
  Bundle,
  Communication,
  Composition,
  Medication,
  MedicationAdministration,
  Observation,
  Resource,
} from 'fhir/r4';
import { codeSystemUrl, identifierSystem, profileUrl } from '../../src/fhir/codes.js';
import { ehrIdentifierValue } from '../../src/fhir/ids.js';
import type { OutboxMessage } from '../../src/outbox/outbox.js';
import { CALLERS, kapFetch } from '../support/auth.js';
import {
  clearedPatient,
  courseSettings,
  holdSession,
  type Json,
  outboxDelivered,
  post,
  preparedCourse,
  prepareEhr,
} from '../support/course.js';
import { EhrProxy } from '../support/ehr-proxy.js';
import { eventually, sandboxGateway, uniqueId } from '../support/sandbox.js';
import { startTestService, type TestService } from '../support/service.js';

const ehr = sandboxGateway();
const prescriber = uniqueId('e2e-med-prescriber');
const DAY = '2026-03-12';
const NEXT_WEEK = '2026-03-19';
const at = (hhmm: string) => `${DAY}T${hhmm}:00Z`;
/** The value of kap-bridge's identifier the EHR holds a practice's resource `id` under. */
const inEhrAs = (id: string) => ehrIdentifierValue(CALLERS.therapist.tenant, id);

let proxy: EhrProxy;
let service: TestService;

beforeAll(async () => {
  proxy = new EhrProxy();
  await proxy.listen();
  await prepareEhr(ehr, [prescriber]);
  service = await startTestService({
    ...courseSettings(),
    KAP_EHR_BASE_URL: proxy.baseUrl,
    KAP_OUTBOX_POLL_MS: '50',
    KAP_OUTBOX_BACKOFF_BASE_MS: '50',
    KAP_OUTBOX_BACKOFF_MAX_MS: '400',
    KAP_OUTBOX_MAX_ATTEMPTS: '1000',
    KAP_OUTBOX_BATCH_SIZE: '1',
    KAP_OUTBOX_CONCURRENCY: '1',
    // The next medicine session's readiness turns on the safety review alone.
    KAP_REQUIRE_INTEGRATION: 'false',
  });
  await service.syncNow();
}, 120_000);

afterAll(async () => {
  await service?.close();
  await proxy?.close();
});

interface Answer {
  status: number;
  body: Json;
}
async function call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<Answer> {
  const res = await kapFetch(`${service.url}/api/v1${path}`, {
    method,
    ...(body === undefined
      ? {}
      : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  return { status: res.status, body: await res.json() };
}
const refusedCodes = (a: Answer): string[] =>
  a.body.issue.map((i: { details?: { text?: string } }) => i.details?.text ?? '').filter(Boolean);
const reasonCodes = (status: Json): string[] => status.reasons.map((r: { code: string }) => r.code);

/** A cleared patient with a course ready on DAY (a couple's when two names): the patients and the episode. */
async function readyCourse(names: string[]): Promise<{ patients: string[]; episode: string }> {
  const patients: string[] = [];
  for (const name of names) {
    patients.push(
      await clearedPatient({ ehr, service, prescriber, beforeRegister: () => service.syncNow() }, name),
    );
  }
  const episode = await preparedCourse(service, patients, DAY);
  for (const p of patients) {
    const status = await eventually(
      `${p} to be ready`,
      async () => {
        await service.syncNow();
        const s = (await call('GET', `/patients/${p}/medication-status?date=${DAY}`)).body;
        return s.ready ? s : undefined;
      },
      20_000,
    );
    expect(status.verdict).toBe('ready');
  }
  return { patients, episode };
}

const reading = (patient: string, session: string, value: object, hhmm: string) =>
  post(service, `/patients/${patient}/observations`, { value, effective: at(hhmm), session });
const PRE_DOSE = [
  { kind: 'blood-pressure', systolic: 124, diastolic: 80 },
  { kind: 'heart-rate', perMinute: 72 },
  { kind: 'spo2', percent: 98 },
] as const;
const dose = (patient: string, hhmm: string, mg: number) => ({
  patient,
  dose: { value: mg, unit: 'mg' },
  time: at(hhmm),
});
/** The plan's points of one patient in the monitoring answer at `hhmm`, as `point:kind`, by status. */
async function points(
  session: string,
  patient: string,
  hhmm: string,
): Promise<{ due: string[]; overdue: string[]; outOfRange: Json[] }> {
  const m = await call('GET', `/sessions/${session}/monitoring?at=${encodeURIComponent(at(hhmm))}`);
  expect(m.status).toBe(200);
  const mine = m.body.patients.find((p: { patientId: string }) => p.patientId === patient);
  const names = (list: { id: string; kind: string }[]) => list.map((p) => `${p.id}:${p.kind}`);
  return { due: names(mine.due), overdue: names(mine.overdue), outOfRange: mine.outOfRange };
}
async function inEhr<T extends Resource>(
  type: T['resourceType'],
  query: Record<string, string>,
): Promise<T[]> {
  const found: T[] = [];
  for await (const r of ehr.search<T>(type, query)) found.push(r);
  return found;
}

test('a whole individual medicine session: pre-dose checks, monitoring, boosters and discharge, kept in HAPI', async () => {
  const { patients, episode } = await readyCourse(['med-solo']);
  const patient = patients[0]!;
  const session = (await holdSession(service, episode, 'medicine', DAY)).id as string;

  // The morning's blood pressure outside the session does not count for the dose: refused, nothing written.
  const early = await call('POST', `/sessions/${session}/doses`, dose(patient, '10:20', 100));
  expect(early.status).toBe(422);
  expect(refusedCodes(early)).toEqual(['predose-missing']);
  const queued = await service.outbox.list({ patientRef: `Patient/${patient}` });
  expect(queued.filter((m) => m.resourceType === 'MedicationAdministration')).toEqual([]);

  for (const value of PRE_DOSE) await reading(patient, session, value, '10:05');
  const first = { ...dose(patient, '10:20', 100), lotNumber: 'KT-2026-0412' };
  expect((await call('POST', `/sessions/${session}/doses`, first)).status).toBe(201);

  // About 40 minutes after the dose: due from 10:50, overdue after 11:10, done once read.
  const post40 = ['post-dose-40:blood-pressure', 'post-dose-40:sedation', 'post-dose-40:dissociation'];
  expect((await points(session, patient, '10:55')).due).toEqual(expect.arrayContaining(post40));
  expect((await points(session, patient, '11:15')).overdue).toEqual(expect.arrayContaining(post40));

  // A booster too late and above the dose per session (100 + 60 > 150 mg): both reasons; one within both limits.
  const beyond = await call('POST', `/sessions/${session}/doses`, dose(patient, '11:30', 60));
  expect(beyond.status).toBe(422);
  expect(refusedCodes(beyond)).toEqual(['booster-too-late', 'booster-above-dose']);
  expect((await call('POST', `/sessions/${session}/doses`, dose(patient, '10:50', 50))).status).toBe(201);

  for (const value of PRE_DOSE) await reading(patient, session, value, '11:05');
  await reading(patient, session, { kind: 'sedation', moaas: 4 }, '11:05');
  await reading(patient, session, { kind: 'dissociation', cadss: 18 }, '11:05');
  const after = await points(session, patient, '11:15');
  expect([...after.due, ...after.overdue].filter((p) => p.startsWith('post-dose-40'))).toEqual([]);
  expect(after.outOfRange).toEqual([]);

  // Discharge before the monitoring time is over, not fully alert, with no way home: every reason.
  const refused = await call('POST', `/sessions/${session}/complete`, { time: at('11:30') });
  expect(refused.status).toBe(422);
  expect(refusedCodes(refused)).toEqual(
    expect.arrayContaining(['monitoring-time', 'not-alert', 'transport-not-confirmed']),
  );
  for (const value of PRE_DOSE) await reading(patient, session, value, '12:15');
  await reading(patient, session, { kind: 'sedation', moaas: 5 }, '12:15');
  const done = await call('POST', `/sessions/${session}/complete`, {
    time: at('12:30'),
    transport: 'Driven home by her partner',
  });
  expect(done.status).toBe(200);

  // HAPI holds both administrations (150 mg in all) and the finished session; no alert was raised.
  await outboxDelivered(service);
  const given = await inEhr<MedicationAdministration>('MedicationAdministration', {
    subject: `Patient/${patient}`,
  });
  expect(given.map((a) => a.dosage?.dose?.value).sort()).toEqual([100, 50].sort());
  // The lot of the first dose, on the Medication it names; the booster's was not recorded.
  const lots = given.map((a) => [a.dosage?.dose?.value, (a.contained?.[0] as Medication | undefined)?.batch]);
  expect(lots.sort()).toEqual(
    [
      [100, { lotNumber: 'KT-2026-0412' }],
      [50, undefined],
    ].sort(),
  );
  const sessions = await inEhr<Resource & { status: string }>('Encounter', {
    identifier: `${identifierSystem('Encounter')}|${inEhrAs(session)}`,
  });
  expect(sessions.map((e) => e.status)).toEqual(['finished']);
  expect(await inEhr<Communication>('Communication', { subject: `Patient/${patient}` })).toEqual([]);
  // The session report is in HAPI: a document, its Composition first, the doses among its entries.
  const reports = await inEhr<Bundle>('Bundle', {
    identifier: `${identifierSystem('Bundle')}|${inEhrAs(`report-${session}`)}`,
  });
  expect(reports.map((b) => [b.type, b.entry?.[0]?.resource?.resourceType])).toEqual([
    ['document', 'Composition'],
  ]);
  expect(
    reports[0]!.entry!.filter((e) => e.resource?.resourceType === 'MedicationAdministration'),
  ).toHaveLength(2);
  const [report] = reports as [Bundle];
  expect((report.entry![0]!.resource as Composition).text?.div).toContain('lot KT-2026-0412');
  // As HAPI keeps it, it passes $validate: the document's rules, its Composition on the profile it
  // claims (kap-session-report), each entry on its own; every reference is one HAPI can resolve.
  expect(report.entry![0]!.resource!.meta?.profile).toEqual([profileUrl('kap-session-report')]);
  const outcome = await ehr.validate(report);
  expect(outcome.issue.filter((i) => i.severity === 'error' || i.severity === 'fatal')).toEqual([]);
  expect(JSON.stringify(report)).not.toContain('?identifier=');

  // The episode timeline: the monitoring points with the readings that met them, and the report,
  // each with where HAPI keeps it.
  const timeline = (await call('GET', `/episodes/${episode}`)).body;
  expect(timeline.monitoring.map((m: Json) => [m.patientId, m.sessionId, m.at])).toEqual([
    [patient, session, at('12:30')],
  ]);
  const met = timeline.monitoring[0].points.filter((p: Json) => p.status === 'done');
  expect(met.map((p: Json) => `${p.id}:${p.kind}`)).toEqual(
    expect.arrayContaining([
      'post-dose-40:blood-pressure',
      'post-dose-40:dissociation',
      'pre-discharge:sedation',
    ]),
  );
  for (const p of met) expect(p.source).toMatch(/^Observation\/[^/]+\/_history\/\d+$/);
  expect(timeline.reports).toEqual([
    {
      id: `report-${session}`,
      sessionId: session,
      patientId: patient,
      issuedAt: at('12:30'),
      source: `Bundle/${report.id}/_history/${report.meta!.versionId}`,
    },
  ]);
  expect(timeline.adverseEvents).toEqual([]);
}, 180_000);

test("a couple: a partner's high pre-dose blood pressure stops both doses until it is taken again", async () => {
  const { patients, episode } = await readyCourse(['med-ana', 'med-tomas']);
  const [ana, tomas] = patients as [string, string];
  const session = (await holdSession(service, episode, 'medicine', DAY)).id as string;
  for (const value of PRE_DOSE) await reading(ana, session, value, '10:05');
  await reading(tomas, session, { kind: 'blood-pressure', systolic: 172, diastolic: 104 }, '10:05');

  const refused = await call('POST', `/sessions/${session}/doses`, dose(tomas, '10:20', 100));
  expect(refused.status).toBe(422);
  // A blood pressure this high stops the dose as readiness itself does.
  expect(refusedCodes(refused)).toEqual(['safety-blood-pressure']);
  // The joint session needs both partners: Ana is told only that Tomás is not ready.
  const anaRefused = await call('POST', `/sessions/${session}/doses`, dose(ana, '10:12', 100));
  expect(refusedCodes(anaRefused)).toEqual(['partner-not-ready']);
  // Taken again within limits, it no longer stops the session; Tomás does not dose this time.
  await reading(tomas, session, { kind: 'blood-pressure', systolic: 132, diastolic: 84 }, '10:15');
  expect((await call('POST', `/sessions/${session}/doses`, dose(ana, '10:20', 100))).status).toBe(201);

  const m = await call('GET', `/sessions/${session}/monitoring?at=${encodeURIComponent(at('10:55'))}`);
  const byPatient = new Map(m.body.patients.map((p: Json) => [p.patientId, p]));
  expect((byPatient.get(ana) as Json).firstDoseAt).toBe(new Date(at('10:20')).toISOString());
  expect((byPatient.get(tomas) as Json).firstDoseAt).toBeUndefined();

  // The timeline shows both partners' monitoring, each on their own part of the session.
  const timeline = (await call('GET', `/episodes/${episode}`)).body;
  const monitored = new Map(timeline.monitoring.map((m: Json) => [m.patientId, m]));
  expect([...monitored.keys()].sort()).toEqual([ana, tomas].sort());
  expect((monitored.get(ana) as Json).firstDoseAt).toBe(new Date(at('10:20')).toISOString());
  expect((monitored.get(tomas) as Json).outOfRange).toEqual([
    expect.objectContaining({ kind: 'blood-pressure', at: at('10:05') }),
  ]);

  await outboxDelivered(service);
  const anaDoses = await inEhr<MedicationAdministration>('MedicationAdministration', {
    subject: `Patient/${ana}`,
  });
  expect(anaDoses.map((a) => a.dosage?.dose?.value)).toEqual([100]);
  expect(
    await inEhr<MedicationAdministration>('MedicationAdministration', { subject: `Patient/${tomas}` }),
  ).toEqual([]);
}, 180_000);

describe('a serious adverse event', () => {
  let patient: string;
  let other: string;
  let session: string;
  const eventId = uniqueId('ae-e2e');
  const before: OutboxMessage[] = [];

  beforeAll(async () => {
    const solo = await readyCourse(['med-ae']);
    patient = solo.patients[0]!;
    other = (await readyCourse(['med-ae-other'])).patients[0]!;
    session = (await holdSession(service, solo.episode, 'medicine', DAY)).id as string;
    for (const value of PRE_DOSE) await reading(patient, session, value, '10:05');
    await post(service, `/sessions/${session}/doses`, dose(patient, '10:20', 100));
    await outboxDelivered(service);
  }, 180_000);

  test('its alert reaches HAPI before the changes queued before it', async () => {
    // The EHR takes the first change and keeps its answer: the worker waits while the queue grows.
    proxy.mode = 'hold';
    proxy.passBeforeHold = 0;
    try {
      for (let i = 0; i < 4; i++) {
        await reading(patient, session, { kind: 'heart-rate', perMinute: 70 + i }, `10:3${i}`);
        await post(service, `/patients/${other}/observations`, {
          value: { kind: 'gad7', total: 5 + i },
          effective: at(`09:0${i}`),
        });
      }
      await eventually(
        'a delivery to be under way',
        async () => (proxy.seen.held > 0 ? true : undefined),
        20_000,
      );
      // What waits in the queue; the change already with the EHR cannot be overtaken.
      before.push(...(await service.outbox.list({ status: 'pending' })));
      expect(before.length).toBeGreaterThanOrEqual(6);
      const serious = await call('POST', `/sessions/${session}/adverse-events`, {
        id: eventId,
        patient,
        event: 'hypertension',
        severity: 'severe',
        serious: true,
        onset: at('10:45'),
        actionTaken: 'Prescriber called; monitored lying down',
        outcome: 'recovering',
      });
      expect(serious.status).toBe(201);
    } finally {
      proxy.dropHeld();
      proxy.mode = 'up';
    }
    await outboxDelivered(service);

    const delivered = await service.outbox.list({ status: 'delivered' });
    const alert = delivered.find(
      (m) => m.resourceType === 'Communication' && m.identifier.value === inEhrAs(`ae-${eventId}`),
    )!;
    const earlier = delivered.filter((m) => before.some((b) => b.id === m.id));
    expect(earlier).toHaveLength(before.length);
    for (const m of earlier) expect(alert.deliveredAt! < m.deliveredAt!).toBe(true);

    // In HAPI: the alert, addressed to the prescriber, was written before any of the waiting readings.
    const [communication] = await inEhr<Communication>('Communication', {
      identifier: `${identifierSystem('Communication')}|${inEhrAs(`ae-${eventId}`)}`,
    });
    expect(communication).toMatchObject({
      status: 'completed',
      priority: 'urgent',
      recipient: [{ reference: `Practitioner/${prescriber}` }],
    });
    const readings = await inEhr<Observation>('Observation', {
      identifier: earlier
        .filter((m) => m.resourceType === 'Observation')
        .map((m) => `${m.identifier.system}|${m.identifier.value}`)
        .join(','),
    });
    expect(readings).toHaveLength(earlier.filter((m) => m.resourceType === 'Observation').length);
    for (const o of readings) {
      expect(Date.parse(communication!.meta!.lastUpdated!)).toBeLessThan(Date.parse(o.meta!.lastUpdated!));
    }
  }, 180_000);

  test("the next dose is not ready until the prescriber's review arrives from the EHR", async () => {
    const status = async () =>
      (await call('GET', `/patients/${patient}/medication-status?date=${NEXT_WEEK}`)).body;
    const flagged = await status();
    expect(flagged.verdict).toBe('not-ready');
    expect(flagged.reasons).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          code: 'safety-adverse-event',
          source: expect.stringMatching(new RegExp(`^AdverseEvent/${eventId}`)),
        }),
      ]),
    );
    // A review in progress closes nothing.
    const review = {
      resourceType: 'ClinicalImpression',
      code: { coding: [{ system: codeSystemUrl('kap-observation'), code: 'safety-review' }] },
      subject: { reference: `Patient/${patient}` },
      effectiveDateTime: at('15:00'),
      assessor: { reference: `Practitioner/${prescriber}` },
      summary: 'Blood pressure settled within the hour; fit to continue at the same dose.',
    };
    const pending = await ehr.create({ ...review, status: 'in-progress' } as Resource);
    await service.syncNow();
    expect(reasonCodes(await status())).toContain('safety-adverse-event');

    await ehr.update({ ...review, id: pending.id!, status: 'completed' } as Resource & { id: string });
    await service.syncNow();
    const reviewed = await status();
    expect(reasonCodes(reviewed)).not.toContain('safety-adverse-event');
    expect(reviewed.verdict).toBe('pending-day-of-checks');
  }, 120_000);
});
