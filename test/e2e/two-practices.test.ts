import type { MedicationAdministration, Provenance, Task } from 'fhir/r4';
import { identifierSystem, RXNORM_KETAMINE, SYSTEM } from '../../src/fhir/codes.js';
import { ehrIdentifierValue } from '../../src/fhir/ids.js';
import { PRACTICE_IDENTIFIER_SYSTEM } from '../../src/patient-link.js';
import type { Service } from '../../src/service.js';
import { bearer, CALLERS, type Caller } from '../support/auth.js';
import { clearedPatient, type Json, outboxDelivered, startCourseService } from '../support/course.js';
import { sandboxGateway, uniqueId } from '../support/sandbox.js';

const ehr = sandboxGateway();
const therapist = uniqueId('e2e-2p-therapist');
const prescriber = uniqueId('e2e-2p-prescriber');
const DAY = '2026-03-05';

let _dir: string;
let service: Service;

const A: Caller = 'therapist';
const B: Caller = 'otherPractice';

async function api(
  as: Caller,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${service.url}/api/v1${path}`, {
    method,
    headers: { ...bearer(as), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: await res.json() };
}
async function ok(as: Caller, path: string, body: unknown = {}): Promise<Json> {
  const a = await api(as, 'POST', path, body);
  if (a.status >= 300) throw new Error(`POST ${path}: ${a.status} ${JSON.stringify(a.body)}`);
  return a.body;
}
const statusOf = async (as: Caller, patient: string): Promise<Json> => {
  const a = await api(as, 'GET', `/patients/${patient}/medication-status?date=${DAY}`);
  expect(a.status).toBe(200);
  return a.body;
};
const codes = (s: Json): string[] => s.reasons.map((r: { code: string }) => r.code);
/** The verdict without when the EHR was last heard from. */
const verdict = ({ ehrLastHeardAt: _, ...rest }: Json): Json => rest;

beforeAll(async () => {
  service = await startCourseService([therapist, prescriber]);
}, 120_000);

afterAll(async () => {
  await service?.close();
}, 60_000);

test("A's link waits for the prescriber's acceptance; then A sees the EHR's record, B's delivered records as the EHR's, never B's own", async () => {
  // The EHR's care team names practice B only. A registers the patient by MRN (clearedPatient).
  const patient = await clearedPatient(
    { ehr, service, prescriber, careOf: [CALLERS.otherPractice.tenant] },
    '2p',
  );
  const ehrPatient = `Patient/${patient}`;
  await service.syncNow();
  const own = `b-${patient}`;
  await ok(B, '/patients', { id: own, identifiers: [{ system: 'urn:e2e:mrn', value: patient }], ehrPatient });

  // B's course: consent, a preparation session, a medicine session with its checks and a dose.
  const episodeB = uniqueId('e2e-2p-ep-b');
  await ok(B, '/episodes', { id: episodeB, type: 'individual', patients: [own], start: '2026-03-01' });
  await ok(B, `/episodes/${episodeB}/consents`, {
    patient: own,
    signedAt: '2026-03-01T09:00:00Z',
    document: { url: 'https://therapist.example/agreements/kap.pdf', contentType: 'application/pdf' },
  });
  const prep = await ok(B, `/episodes/${episodeB}/sessions`, {
    phase: 'preparation',
    start: '2026-03-02T10:00:00Z',
  });
  await ok(B, `/sessions/${prep.id}/start`, { time: '2026-03-02T10:00:00Z' });
  await ok(B, `/sessions/${prep.id}/complete`, { time: '2026-03-02T11:00:00Z' });
  const medicine = await ok(B, `/episodes/${episodeB}/sessions`, {
    phase: 'medicine',
    start: `${DAY}T10:00:00Z`,
  });
  await ok(B, `/sessions/${medicine.id}/start`, { time: `${DAY}T10:00:00Z` });
  for (const value of [
    { kind: 'blood-pressure', systolic: 122, diastolic: 78 },
    { kind: 'cssrs', risk: 'low' },
  ]) {
    await ok(B, `/patients/${own}/observations`, {
      value,
      effective: `${DAY}T10:05:00Z`,
      session: medicine.id,
    });
  }
  const dose = await ok(B, `/sessions/${medicine.id}/doses`, {
    patient: own,
    dose: { value: 150, unit: 'mg' },
    time: `${DAY}T10:20:00Z`,
  });
  await outboxDelivered(service);
  await service.syncNow(); // B's delivered dose and scores come back as the EHR holds them
  const bBefore = await statusOf(B, own);
  expect(bBefore.status.prescription).toMatchObject({ dosesAdministered: 1 });

  // A: linked by MRN, not confirmed by the EHR. Nothing of the EHR's record, nothing of B's.
  const pending = await statusOf(A, patient);
  expect(codes(pending)).toContain('link-pending');
  expect(pending.status.prescription).toBeUndefined();
  expect(pending.status.clearance).toBeUndefined();
  const reconcilePending = await api(A, 'GET', `/patients/${patient}/reconcile`);
  expect(reconcilePending.status).toBe(200);
  expect(reconcilePending.body).toMatchObject({ here: 0, there: 0, drift: [] });
  expect(reconcilePending.body.skipped).toMatch(/not confirmed/);

  // A asks for clearance; still pending until the prescriber accepts in the EHR.
  const episodeA = uniqueId('e2e-2p-ep-a');
  await ok(A, '/episodes', { id: episodeA, type: 'individual', patients: [patient], start: '2026-03-01' });
  const referral = await ok(A, `/patients/${patient}/referrals`, {
    episode: episodeA,
    requester: `Practitioner/${therapist}`,
    performer: `Practitioner/${prescriber}`,
    reason: 'KAP course planned',
  });
  await outboxDelivered(service);
  await service.syncNow();
  expect(codes(await statusOf(A, patient))).toContain('link-pending');
  const ehrTask = (await service.outbox.ehrRefOf('Task', {
    system: identifierSystem('Task'),
    value: ehrIdentifierValue(CALLERS.therapist.tenant, referral.id),
  }))!.split('/')[1]!;
  const task = await ehr.read<Task>('Task', ehrTask);
  await ehr.update({ ...task, status: 'accepted' } as Task & { id: string }, task.meta?.versionId);
  await service.syncNow();

  // Confirmed: the prescriber's record, and B's delivered dose counted against the order as the EHR's.
  const confirmed = await statusOf(A, patient);
  expect(codes(confirmed)).not.toContain('link-pending');
  expect(codes(confirmed)).toEqual(expect.arrayContaining(['no-consent', 'no-preparation-session']));
  expect(confirmed.status.clearance).toBeDefined();
  expect(confirmed.status.prescription).toMatchObject({ status: 'active', dosesAdministered: 1 });
  // A's view holds its own rows and the EHR's data only: B's dose under the EHR's id, none of B's rows.
  const seen = await service.store.resourcesFor(ehrPatient, CALLERS.therapist.tenant);
  expect(seen.filter((s) => s.ours && s.tenant !== CALLERS.therapist.tenant)).toEqual([]);
  expect(seen.map((s) => s.resource.id)).not.toContain(dose.id);
  const bDose = seen.filter((s) => s.resource.resourceType === 'MedicationAdministration');
  const delivered = await service.outbox.ehrRefOf('MedicationAdministration', {
    system: identifierSystem('MedicationAdministration'),
    value: ehrIdentifierValue(CALLERS.otherPractice.tenant, dose.id),
  });
  expect(bDose.map((s) => [s.ours, `${s.resource.resourceType}/${s.resource.id}`])).toEqual([
    [undefined, delivered!.split('/_history/')[0]],
  ]);
  // B's dose, as A sees it in the EHR, is attributed to B: its Provenance names B's Organization.
  const provenances: Provenance[] = [];
  for await (const p of ehr.search<Provenance>('Provenance', { target: delivered!.split('/_history/')[0]! }))
    provenances.push(p);
  expect(
    provenances.map((p) => p.agent.map((a) => a.who.type === 'Organization' && a.who.identifier)),
  ).toEqual([[false, { system: PRACTICE_IDENTIFIER_SYSTEM, value: CALLERS.otherPractice.tenant }]]);
  // A's reconcile: its own records and the EHR's, B's among them as EHR data; no drift.
  const reconciled = await api(A, 'GET', `/patients/${patient}/reconcile`);
  expect(reconciled.status).toBe(200);
  expect(reconciled.body.drift).toEqual([]);
  expect(reconciled.body.skipped).toBeUndefined();
  const timeline = await api(A, 'GET', `/episodes/${episodeA}`);
  expect(timeline.status).toBe(200);
  expect(timeline.body.consents).toEqual([]);
  expect(timeline.body.doses).toEqual([]);
  expect(timeline.body.phases.flatMap((p: Json) => p.sessions)).toEqual([]);

  // A's high C-SSRS moves B's verdict only once delivered and read back as the EHR's.
  await ok(A, `/patients/${patient}/observations`, {
    value: { kind: 'cssrs', risk: 'high' },
    effective: `${DAY}T09:00:00Z`,
  });
  expect(codes(await statusOf(A, patient))).toContain('safety-cssrs-risk');
  expect(verdict(await statusOf(B, own))).toEqual(verdict(bBefore));
  await outboxDelivered(service);
  expect(verdict(await statusOf(B, own))).toEqual(verdict(bBefore));
  await service.syncNow();
  expect(codes(await statusOf(B, own))).toContain('safety-cssrs-risk');

  // The prescriber records a dose in the EHR for the order, in no session: it counts for both practices.
  const order = confirmed.status.prescription.source.split('/_history/')[0];
  await ehr.create<MedicationAdministration>({
    resourceType: 'MedicationAdministration',
    status: 'completed',
    medicationCodeableConcept: { coding: [{ system: SYSTEM.rxnorm, code: RXNORM_KETAMINE }] },
    subject: { reference: ehrPatient },
    request: { reference: order },
    effectiveDateTime: '2026-03-04T10:00:00Z',
    dosage: {
      route: { coding: [{ system: SYSTEM.snomed, code: '37839007' }] },
      dose: { value: 150, unit: 'mg', system: SYSTEM.ucum, code: 'mg' },
    },
  });
  await service.syncNow();
  for (const [who, id] of [
    [A, patient],
    [B, own],
  ] as const) {
    expect((await statusOf(who, id)).status.prescription).toMatchObject({ dosesAdministered: 2 });
  }
}, 240_000);
