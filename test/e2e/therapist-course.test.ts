/**
 * End to end against the HAPI sandbox: a course recorded through the therapist API reaches the
 * EHR through the outbox, each resource once, valid against its profile by HAPI's own $validate,
 * each change with one Provenance (valid on kap-provenance, naming the resource and who wrote it);
 * the EHR's copies coming back by catch-up are attached to our records, not kept twice.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Provenance, Resource } from 'fhir/r4';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { OUTBOX_MESSAGE_SYSTEM } from '../../src/mapping/provenance.js';
import { type Service, startService } from '../../src/service.js';
import { clearedPatient, type Json, outboxDelivered, post } from '../support/course.js';
import { sandboxBaseUrl, sandboxGateway, uniqueId, uploadConformance } from '../support/sandbox.js';

const ehr = sandboxGateway();

let dir: string;
let service: Service;

const get = async (path: string): Promise<Json> => (await fetch(`${service.url}/api/v1${path}`)).json();

// The sandbox is shared: every id is fresh.
const therapist = uniqueId('e2e-therapist');
const prescriber = uniqueId('e2e-prescriber');

const signed = (patient: string) => ({
  patient,
  signedAt: '2026-03-01T09:00:00Z',
  document: { url: 'https://therapist.example/agreements/kap.pdf', contentType: 'application/pdf' },
});

async function holdSession(episode: string, phase: string, day: string): Promise<Json> {
  const s = await post(service, `/episodes/${episode}/sessions`, { phase, start: `${day}T10:00:00Z` });
  await post(service, `/sessions/${s.id}/start`, { time: `${day}T10:00:00Z` });
  return s;
}
const complete = (s: Json, day: string, end = '11:00') =>
  post(service, `/sessions/${s.id}/complete`, { time: `${day}T${end}:00Z` });

/** Records a whole course for the patients (one or a couple); returns the episode id. */
async function recordCourse(patients: string[]): Promise<string> {
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
  await complete(await holdSession(episode, 'preparation', '2026-03-02'), '2026-03-02');
  const medicine = await holdSession(episode, 'medicine', '2026-03-05');
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
    await post(service, `/sessions/${medicine.id}/doses`, {
      patient: p,
      dose: { value: 150, unit: 'mg' },
      time: '2026-03-05T10:20:00Z',
    });
    for (const value of [
      { kind: 'dissociation', cadss: 20 },
      { kind: 'sedation', moaas: 4 },
    ]) {
      await post(service, `/patients/${p}/observations`, {
        value,
        effective: '2026-03-05T11:00:00Z',
        session: medicine.id,
      });
    }
  }
  await complete(medicine, '2026-03-05', '12:30');
  const integration = await holdSession(episode, 'integration', '2026-03-07');
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
  await complete(integration, '2026-03-07');
  return episode;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kap-e2e-course-'));
  // HAPI validates against our profiles only once it holds them.
  await uploadConformance(ehr);
  for (const id of [therapist, prescriber]) {
    await ehr.update({ resourceType: 'Practitioner', id, name: [{ family: id }] } as Resource & {
      id: string;
    });
  }
  const config = loadConfig({
    PORT: '0',
    KAP_SUBSCRIBE_ON_START: 'false',
    KAP_SQLITE_FILE: join(dir, 'kap.db'),
    KAP_EHR_BASE_URL: sandboxBaseUrl(),
    KAP_SYNC_INTERVAL_SECONDS: '0',
    KAP_SYNC_OVERLAP_SECONDS: '5',
    KAP_OUTBOX_POLL_MS: '200',
    LOG_LEVEL: 'silent',
  });
  service = await startService(config, createLogger('silent'));
  // The catch-up the service starts with is over before the prescriber writes.
  await service.syncNow();
}, 120_000);

afterAll(async () => {
  await service?.close();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

test('an individual and a couples course reach the EHR, each resource once and valid on its profile', async () => {
  const lena = await clearedPatient({ ehr, service, prescriber }, 'lena');
  const ana = await clearedPatient({ ehr, service, prescriber }, 'ana');
  const tomas = await clearedPatient({ ehr, service, prescriber }, 'tomas');
  await service.syncNow(); // the prescriber's clearances and prescriptions
  const individual = await recordCourse([lena]);
  const couples = await recordCourse([ana, tomas]);
  await outboxDelivered(service);

  const messages = (await service.outbox.list({ status: 'delivered', limit: 100_000 })).filter((m) =>
    [lena, ana, tomas].some((p) => m.patientRef === `Patient/${p}`),
  );
  const latest = new Map(messages.map((m) => [`${m.resourceType}|${m.identifier.value}`, m]));
  expect(latest.size).toBeGreaterThan(60);
  for (const m of latest.values()) {
    const [type, id] = m.ehrRef!.split('/');
    // Once in the EHR, whatever the number of changes.
    const found: Resource[] = [];
    for await (const r of ehr.search<Resource>(type!, {
      identifier: `${m.identifier.system}|${m.identifier.value}`,
    }))
      found.push(r);
    expect({ what: `${type}|${m.identifier.value}`, count: found.length }).toEqual({
      what: `${type}|${m.identifier.value}`,
      count: 1,
    });
    const held = await ehr.read<Resource>(type as never, id!);
    const local = await service.store.getResource(m.resourceType, m.identifier.value);
    const profile = local!.resource.meta!.profile![0]!;
    expect(held.meta?.profile).toEqual([profile]);
    const outcome = await ehr.validate(held, profile);
    const errors = outcome.issue.filter((i) => i.severity === 'error' || i.severity === 'fatal');
    expect({ what: `${type}/${id} on ${profile}`, errors }).toEqual({
      what: `${type}/${id} on ${profile}`,
      errors: [],
    });
  }

  // Every change delivered has one Provenance: on the resource written, by kap-bridge, and by the
  // therapist where the change names one; valid on kap-provenance by HAPI's $validate.
  const authored = new Set<string>();
  for (const m of messages) {
    const found: Provenance[] = [];
    for await (const p of ehr.search<Provenance>('Provenance', { _tag: `${OUTBOX_MESSAGE_SYSTEM}|${m.id}` }))
      found.push(p);
    expect({ what: `Provenance of ${m.resourceType}|${m.identifier.value}`, count: found.length }).toEqual({
      what: `Provenance of ${m.resourceType}|${m.identifier.value}`,
      count: 1,
    });
    const [provenance] = found;
    expect(provenance!.target).toEqual([{ reference: m.ehrRef!.split('/_history/')[0] }]);
    expect(provenance!.agent[0]?.who.identifier?.value).toBe('kap-bridge');
    for (const a of provenance!.agent.slice(1)) authored.add(`${m.resourceType} ${a.who.reference}`);
    const outcome = await ehr.validate(provenance!, provenance!.meta!.profile![0]!);
    const errors = outcome.issue.filter((i) => i.severity === 'error' || i.severity === 'fatal');
    expect({ what: `Provenance/${provenance!.id}`, errors }).toEqual({
      what: `Provenance/${provenance!.id}`,
      errors: [],
    });
  }
  expect(authored).toContain(`ServiceRequest Practitioner/${therapist}`);

  // The EHR's copies of our Observations, ServiceRequests and Tasks come back by catch-up: attached, not kept twice.
  const before = (await get(`/episodes/${individual}?date=2026-03-10`)) as Json;
  await service.syncNow();
  const after = (await get(`/episodes/${individual}?date=2026-03-10`)) as Json;
  expect(after.observations).toHaveLength(before.observations.length);
  for (const o of after.observations) expect(o.source).toMatch(/^Observation\/[^/]+\/_history\/\d+$/);
  expect(after.readiness.ready).toBe(true);
  expect(after.readiness.patients[0].status.prescription.dosesAdministered).toBe(1);
  const couple = (await get(`/episodes/${couples}?date=2026-03-10`)) as Json;
  expect(couple.phases[1].sessions[0].partners).toHaveLength(2);
  expect(couple.doses).toHaveLength(2);
}, 300_000);
