/**
 * Two practices caring for one EHR Patient, over real HTTP with a real SQLite file and no EHR: each
 * practice's own records (consents, sessions, scores, doses) are its own; another practice's
 * records reach it only as the EHR's data, once the EHR's copy is read back, and then count (a dose
 * the EHR holds for the order is a dose taken, whoever gave it).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {
  MedicationAdministration,
  MedicationDispense,
  MedicationRequest,
  Observation,
  Task,
} from 'fhir/r4';
import { loadConfig } from '../../src/config.js';
import { identifierSystem } from '../../src/fhir/codes.js';
import { createLogger } from '../../src/log.js';
import { type Service, startService } from '../../src/service.js';
import { authEnv, bearer, CALLERS, type Caller } from '../support/auth.js';
import { careTeam } from '../support/care.js';
import { fixture } from '../support/fixtures.js';

const SECRET = 'test-shared-secret';
const EHR_PATIENT = 'ehr-shared';

let dir: string;
let service: Service;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kap-practices-'));
  const config = loadConfig({
    ...authEnv(),
    PORT: '0',
    KAP_SQLITE_FILE: join(dir, 'kap.db'),
    KAP_SUBSCRIPTION_SECRET: SECRET,
    LOG_LEVEL: 'silent',
  });
  service = await startService(config, createLogger('silent'));
});
afterAll(async () => {
  await service.close();
  rmSync(dir, { recursive: true, force: true });
});

// biome-ignore lint/suspicious/noExplicitAny: tests read answers field by field, as a client would
type Json = any;

async function call(
  as: Caller,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Json }> {
  const fhir = path.startsWith('/fhir');
  const res = await fetch(`${service.url}${path}`, {
    method,
    headers: {
      ...(fhir ? { 'x-kap-subscription-secret': SECRET } : bearer(as)),
      ...(body === undefined ? {} : { 'content-type': fhir ? 'application/fhir+json' : 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

const A: Caller = 'therapist';
const B: Caller = 'otherPractice';

async function ok(as: Caller, path: string, body: unknown = {}, status = 201): Promise<Json> {
  const a = await call(as, 'POST', `/api/v1${path}`, body);
  if (a.status !== status) throw new Error(`POST ${path}: ${a.status} ${JSON.stringify(a.body)}`);
  return a.body;
}
const status = async (as: Caller, patient: string, date: string): Promise<Json> => {
  const a = await call(as, 'GET', `/api/v1/patients/${patient}/medication-status?date=${date}`);
  expect(a.status).toBe(200);
  return a.body;
};
const codes = (readiness: Json): string[] => readiness.reasons.map((r: { code: string }) => r.code);

/** The prescriber clears the patient and orders 150 mg troches for 3 sessions; the pharmacy hands them over. */
async function prescriberClears(): Promise<void> {
  const subject = { reference: `Patient/${EHR_PATIENT}` };
  const clearance = fixture<Observation>('prescriber/clearance-cleared.fhir.json');
  const rx = fixture<MedicationRequest>('prescriber/prescription-ketamine-troche.fhir.json');
  const { performer: _p, ...dispense } = fixture<MedicationDispense>('prescriber/dispense-troches.fhir.json');
  for (const [path, resource] of [
    ['Observation/clr-shared', { ...clearance, id: 'clr-shared', subject }],
    [
      'MedicationRequest/rx-shared',
      {
        ...rx,
        id: 'rx-shared',
        identifier: [{ system: 'https://ehr.example/identifier/order', value: 'ORD-shared' }],
        subject,
      },
    ],
    [
      'MedicationDispense/disp-shared',
      {
        ...dispense,
        id: 'disp-shared',
        identifier: [{ system: 'https://pharmacy.example/identifier/dispense', value: 'D-shared' }],
        subject,
        authorizingPrescription: [{ reference: 'MedicationRequest/rx-shared' }],
      },
    ],
  ] as const) {
    expect((await call(A, 'PUT', `/fhir/${path}`, resource)).status).toBe(201);
  }
}

const signed = (patient: string) => ({
  patient,
  signedAt: '2026-03-01T09:00:00Z',
  document: { url: 'https://therapist.example/agreements/kap.pdf', contentType: 'application/pdf' },
});

async function hold(as: Caller, episode: string, id: string, phase: string, day: string): Promise<void> {
  await ok(as, `/episodes/${episode}/sessions`, { id, phase, start: `${day}T10:00:00Z` });
  await ok(as, `/sessions/${id}/start`, { time: `${day}T10:00:00Z` }, 200);
}

const DAY = '2026-03-05';

describe('two practices, one EHR Patient', () => {
  test("each practice's records are its own; another's reach it only as the EHR's data once read back", async () => {
    await prescriberClears();
    // Practice B runs a course: consent, preparation, a medicine session with its checks and a dose.
    await ok(B, '/patients', {
      id: 'pb-shared',
      identifiers: [{ system: 'urn:mrn', value: 'MRN-SHARED' }],
      ehrPatient: `Patient/${EHR_PATIENT}`,
    });
    // The EHR names practice B's Organization in the patient's care team.
    const teamB = careTeam(EHR_PATIENT, CALLERS.otherPractice.tenant);
    expect((await call(B, 'PUT', `/fhir/CareTeam/${teamB.id}`, teamB)).status).toBe(201);
    await ok(B, '/episodes', { id: 'ep-b-shared', type: 'individual', patients: ['pb-shared'] });
    await ok(B, '/episodes/ep-b-shared/consents', { id: 'cons-b-shared', ...signed('pb-shared') });
    await hold(B, 'ep-b-shared', 'prep-b-shared', 'preparation', '2026-03-02');
    await ok(B, '/sessions/prep-b-shared/complete', { time: '2026-03-02T11:00:00Z' }, 200);
    await hold(B, 'ep-b-shared', 'med-b-shared', 'medicine', DAY);
    await ok(B, '/patients/pb-shared/observations', {
      value: { kind: 'blood-pressure', systolic: 120, diastolic: 80 },
      effective: `${DAY}T10:05:00Z`,
      session: 'med-b-shared',
    });
    const dose = { patient: 'pb-shared', dose: { value: 150, unit: 'mg' }, time: `${DAY}T10:20:00Z` };
    await ok(B, '/sessions/med-b-shared/doses', { ...dose, id: 'dose-b-shared' });
    const before = await status(B, 'pb-shared', DAY);
    expect(before.status.prescription).toMatchObject({ dosesAdministered: 1, dosesRemaining: 2 });

    // Practice A registers the same patient by the same MRN.
    await ok(A, '/patients', {
      id: 'pa-shared',
      identifiers: [{ system: 'urn:mrn', value: 'MRN-SHARED' }],
      ehrPatient: `Patient/${EHR_PATIENT}`,
    });
    await ok(A, '/episodes', { id: 'ep-a-shared', type: 'individual', patients: ['pa-shared'] });
    // The MRN links A to the EHR Patient, but the EHR has not confirmed A's care (B's care team
    // names B): A sees none of the EHR's record, and none of B's.
    const pending = await status(A, 'pa-shared', DAY);
    expect(codes(pending)).toContain('link-pending');
    expect(pending.status.prescription).toBeUndefined();
    expect(pending.status.clearance).toBeUndefined();
    await ok(A, '/patients/pa-shared/referrals', {
      id: 'ref-a-shared',
      episode: 'ep-a-shared',
      requester: 'Practitioner/therapist-a',
      performer: 'Practitioner/prescriber-1',
    });
    expect(codes(await status(A, 'pa-shared', DAY))).toContain('link-pending');
    // The prescriber accepts A's referral in the EHR; its Task comes back with the new status.
    const task = (await service.store.getOwn('Task', 'ref-a-shared', 'practice-a'))!.resource as Task;
    const { id: _taskId, meta: _taskMeta, ...taskBody } = task;
    const accepted = { ...taskBody, id: 'ehr-task-a', meta: { versionId: '2' }, status: 'accepted' };
    expect((await call(A, 'PUT', '/fhir/Task/ehr-task-a', accepted)).status).toBe(201);
    // A does not see B's consent, sessions or undelivered dose.
    const a = await status(A, 'pa-shared', DAY);
    expect(a.ready).toBe(false);
    expect(codes(a)).toEqual(expect.arrayContaining(['no-consent', 'no-preparation-session']));
    expect(a.status.prescription).toMatchObject({ dosesAdministered: 0, dosesRemaining: 3 });
    const timeline = await call(A, 'GET', '/api/v1/episodes/ep-a-shared');
    expect(timeline.status).toBe(200);
    expect(timeline.body.consents).toEqual([]);
    expect(timeline.body.observations).toEqual([]);
    expect(timeline.body.phases.flatMap((p: Json) => p.sessions)).toEqual([]);

    // A dose on A's own medicine session is refused on A's record: B's consent is not A's.
    await hold(A, 'ep-a-shared', 'med-a-shared', 'medicine', DAY);
    const refused = await call(A, 'POST', '/api/v1/sessions/med-a-shared/doses', {
      patient: 'pa-shared',
      dose: { value: 150, unit: 'mg' },
      time: `${DAY}T10:20:00Z`,
    });
    expect(refused.status).toBe(422);
    expect(refused.body.issue.map((i: Json) => i.details.text)).toEqual(
      expect.arrayContaining(['no-consent', 'no-preparation-session']),
    );

    // A's high C-SSRS, not delivered, leaves B's verdict as it was.
    await ok(A, '/patients/pa-shared/observations', {
      id: 'cssrs-a-shared',
      value: { kind: 'cssrs', risk: 'high' },
      effective: `${DAY}T09:00:00Z`,
    });
    expect(codes(await status(A, 'pa-shared', DAY))).toContain('safety-cssrs-risk');
    // Everything but when the EHR was last heard from (A's referral came back since).
    const { ehrLastHeardAt: _then, ...beforeVerdict } = before;
    const { ehrLastHeardAt: _now, ...afterVerdict } = await status(B, 'pb-shared', DAY);
    expect(afterVerdict).toEqual(beforeVerdict);

    // B's dose delivered and read back: the EHR holds it for the order, so it counts for A too, as
    // the EHR's (under the EHR's id); B counts its own row once, not its EHR copy again.
    const local = (await service.store.getOwn('MedicationAdministration', 'dose-b-shared', 'practice-b'))!
      .resource as MedicationAdministration;
    const { id: _id, meta: _meta, ...body } = local;
    const copy = {
      ...body,
      id: 'ehr-ma-1',
      meta: { versionId: '1' },
      context: { reference: 'Encounter/ehr-enc-1' },
      request: { reference: 'MedicationRequest/rx-shared' },
    };
    expect(copy.identifier).toEqual([
      { system: identifierSystem('MedicationAdministration'), value: 'practice-b/dose-b-shared' },
    ]);
    // The EHR's copy of ours is not a new record for kap-bridge: it is acknowledged as known.
    expect((await call(A, 'PUT', '/fhir/MedicationAdministration/ehr-ma-1', copy)).status).toBe(200);
    expect((await status(A, 'pa-shared', DAY)).status.prescription).toMatchObject({
      dosesAdministered: 1,
      dosesRemaining: 2,
    });
    expect((await status(B, 'pb-shared', DAY)).status.prescription).toMatchObject({
      dosesAdministered: 1,
      dosesRemaining: 2,
    });
    // A's timeline still holds none of B's own records.
    expect((await call(A, 'GET', '/api/v1/episodes/ep-a-shared')).body.consents).toEqual([]);
  });
});
