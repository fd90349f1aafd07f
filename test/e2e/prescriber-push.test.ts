/**
 * End to end against the HAPI sandbox: the prescriber writes into the EHR, kap-bridge hears of it
 * through its REST-hook subscriptions (or catches up after being down), and the therapist's
 * "may this patient dose?" answer follows.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MedicationRequest, Observation, Patient } from 'fhir/r4';
import type { Service } from '../../src/service.js';
import { kapFetch } from '../support/auth.js';
import { careTeam } from '../support/care.js';
import { fixture } from '../support/fixtures.js';
import {
  eventually,
  freePort,
  sandboxBaseUrl,
  sandboxGateway,
  subscriptionsActive,
  subscriptionsOff,
  uniqueId,
} from '../support/sandbox.js';
import { startTestService } from '../support/service.js';

const ehr = sandboxGateway();
const SECRET = 'e2e-shared-secret';
const DATE = '2026-12-03';

let dir: string;
let port: number;
let service: Service | undefined;

async function start(listenPort = port, subscribe = true): Promise<Service> {
  const started = await startTestService(
    {
      PORT: String(listenPort),
      KAP_SUBSCRIBE_ON_START: String(subscribe),
      KAP_EHR_BASE_URL: sandboxBaseUrl(),
      KAP_SUBSCRIPTION_SECRET: SECRET,
      KAP_SYNC_INTERVAL_SECONDS: '0',
      KAP_SYNC_OVERLAP_SECONDS: '5',
    },
    { dir },
  );
  service = started;
  return started;
}

const endpoint = () => `http://127.0.0.1:${port}/fhir`;

// biome-ignore lint/suspicious/noExplicitAny: tests read answers field by field, as a client would
type Json = any;

async function api(path: string, body?: unknown): Promise<{ status: number; body: Json }> {
  const res = await kapFetch(`${service!.url}/api/v1${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: await res.json() };
}

// One patient per run: the sandbox is shared, so everything gets fresh ids.
const patientId = uniqueId('e2e-pt');
const mrn = { system: 'https://ehr.lakeshore-psychiatry.example/identifier/mrn', value: uniqueId('MRN') };
const rxId = uniqueId('e2e-rx');

const ehrPatient = (): Patient => {
  const { meta: _, ...p } = fixture<Patient>('ehr/patient-mrn.fhir.json');
  return { ...p, id: patientId, identifier: [mrn] };
};
const clearance = (): Observation => {
  const { meta: _, ...o } = fixture<Observation>('prescriber/clearance-cleared.fhir.json');
  return {
    ...o,
    id: uniqueId('e2e-clr'),
    identifier: [{ system: 'urn:ehr:clearance', value: uniqueId('clr') }],
    subject: { reference: `Patient/${patientId}` },
    effectivePeriod: { start: '2026-11-20', end: '2027-05-20' },
    meta: { profile: ['https://fhir.kap-bridge.org/StructureDefinition/kap-clearance'] },
  };
};
const prescription = (): MedicationRequest => {
  const { meta: _, ...rx } = fixture<MedicationRequest>('prescriber/prescription-ketamine-troche.fhir.json');
  return {
    ...rx,
    id: rxId,
    identifier: [{ system: 'urn:ehr:rx', value: rxId }],
    subject: { reference: `Patient/${patientId}` },
    authoredOn: '2026-11-21',
    dispenseRequest: { ...rx.dispenseRequest, validityPeriod: { start: '2026-11-21', end: '2027-02-21' } },
    meta: { profile: ['https://fhir.kap-bridge.org/StructureDefinition/kap-medication-request'] },
  };
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kap-e2e-'));
  port = await freePort();
  await ehr.update({ ...ehrPatient(), id: patientId });
  // The prescriber the fixtures name exists in the EHR, as it would in a real one.
  await ehr.update({
    resourceType: 'Practitioner',
    id: 'pr-okafor',
    name: [{ family: 'Okafor', given: ['Tobias'] }],
  });
  await start();
  await subscriptionsActive(ehr, endpoint());
  // The EHR's word that the practice cares for the patient (delivered like any change): its data is shown to the practice.
  await ehr.update(careTeam(patientId));
}, 120_000);

afterAll(async () => {
  await service?.close();
  await subscriptionsOff(ehr, endpoint());
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

const status = async (): Promise<Json> =>
  (await api(`/patients/${patientId}/medication-status?date=${DATE}`)).body;

test('the therapist registers the patient, linked to the EHR Patient by MRN', async () => {
  const registered = await api('/patients', { id: patientId, identifiers: [mrn] });
  expect(registered.status).toBe(201);
  expect(registered.body.ehrPatient).toBe(`Patient/${patientId}`);
});

test('a clearance and a prescription written into the EHR reach the status within 10 s', async () => {
  const started = Date.now();
  await ehr.create(clearance());
  await ehr.update({ ...prescription(), id: rxId });
  const answer = await eventually(
    'cleared and active in the medication status',
    async () => {
      const s = await status();
      return s.status?.clearance?.result === 'cleared' && s.status?.prescription?.status === 'active'
        ? s
        : undefined;
    },
    10_000,
  );
  expect(Date.now() - started).toBeLessThan(10_000);
  expect(answer.status.prescription.source).toBe(`MedicationRequest/${rxId}/_history/1`);
  expect(answer.reasons.map((r: { code: string }) => r.code)).not.toContain('no-prescription');
}, 30_000);

test('the prescriber puts the prescription on hold: not ready, with the reason and its source version', async () => {
  const current = await ehr.read<MedicationRequest>('MedicationRequest', rxId);
  await ehr.update(
    { ...current, id: rxId, status: 'on-hold', statusReason: { text: 'Blood pressure to be reviewed' } },
    current.meta!.versionId,
  );
  const answer = await eventually(
    'the hold to reach kap-bridge',
    async () => {
      const s = await status();
      return s.status?.prescription?.status === 'on-hold' ? s : undefined;
    },
    10_000,
  );
  expect(answer.ready).toBe(false);
  const reason = answer.reasons.find((r: { code: string }) => r.code === 'prescription-not-active');
  expect(reason).toMatchObject({
    message: 'The current ketamine order is on-hold (Blood pressure to be reviewed).',
    source: `MedicationRequest/${rxId}/_history/2`,
  });
}, 30_000);

test('the same notification delivered twice changes nothing', async () => {
  const current = await ehr.read<MedicationRequest>('MedicationRequest', rxId);
  const deliver = () =>
    fetch(`${endpoint()}/MedicationRequest/${rxId}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/fhir+json', 'x-kap-subscription-secret': SECRET },
      body: JSON.stringify(current),
    });
  const before = await service!.store.getResource('MedicationRequest', rxId);
  const first = await deliver();
  const second = await deliver();
  expect([first.status, second.status]).toEqual([200, 200]);
  const after = await service!.store.getResource('MedicationRequest', rxId);
  expect(after).toEqual(before);
});

test('an id-only notification (no body) is read from the EHR', async () => {
  const res = await fetch(`${endpoint()}/MedicationRequest/${rxId}`, {
    method: 'PUT',
    headers: { 'x-kap-subscription-secret': SECRET },
  });
  expect(res.status).toBe(200);
  const current = await ehr.read<MedicationRequest>('MedicationRequest', rxId);
  const held = await service!.store.getResource('MedicationRequest', rxId);
  expect(held?.resource.meta?.versionId).toBe(current.meta?.versionId);
});

test('kap-bridge is down while the prescriber changes the dose; catch-up brings the change after a restart', async () => {
  await service!.close();
  service = undefined;
  const current = await ehr.read<MedicationRequest>('MedicationRequest', rxId);
  const dosage = current.dosageInstruction!.map((d) => ({
    ...d,
    doseAndRate: [
      { doseQuantity: { value: 150, unit: 'mg', system: 'http://unitsofmeasure.org', code: 'mg' } },
    ],
  }));
  await ehr.update(
    { ...current, id: rxId, status: 'active', dosageInstruction: dosage },
    current.meta!.versionId,
  );

  // Restarted where no notification can reach it (another port, no subscriptions): only catch-up can bring the change.
  await start(await freePort(), false);
  const report = await service!.syncNow();
  expect(report?.stored).toBeGreaterThanOrEqual(1);
  const s = await status();
  expect(s.status.prescription).toMatchObject({
    status: 'active',
    dosePerSession: { value: 150, unit: 'mg' },
  });
  expect(s.status.prescription.source).toBe(`MedicationRequest/${rxId}/_history/3`);
}, 60_000);
