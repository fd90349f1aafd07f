/**
 * End to end against the HAPI sandbox: a course recorded through the therapist API and delivered by
 * the outbox reconciles without drift; a change made in the EHR, a copy of ours deleted there and an
 * EHR resource the store missed are each reported, `reconcile --fix` heals them, and a second run
 * finds nothing.
 */
import type { Condition, Observation } from 'fhir/r4';
import { run } from '../../src/cli/main.js';
import { identifierSystem } from '../../src/fhir/codes.js';
import { ehrIdentifierValue } from '../../src/fhir/ids.js';
import { CALLERS, kapFetch } from '../support/auth.js';
import {
  clearedPatient,
  courseEnv,
  type Json,
  outboxDelivered,
  post,
  startCourseService,
} from '../support/course.js';
import { sandboxBaseUrl, sandboxGateway, uniqueId } from '../support/sandbox.js';
import type { TestService } from '../support/service.js';

const ehr = sandboxGateway();

let service: TestService;
const saved = { ...process.env };

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(argv, { stdout: (t) => out.push(t), stderr: (t) => err.push(t) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const prescriber = uniqueId('e2e-rc-prescriber');

beforeAll(async () => {
  service = await startCourseService([prescriber]);
  // The CLI runs in-process on the service's store and EHR.
  Object.assign(process.env, courseEnv(service.dir));
}, 120_000);

afterAll(async () => {
  await service?.close();
  process.env = saved;
}, 60_000);

/** Where the EHR keeps one of our recorded resources, `Type/id`. */
async function ehrCopy(type: string, localId: string): Promise<string> {
  const ref = await service.outbox.ehrRefOf(type, {
    system: identifierSystem(type),
    value: ehrIdentifierValue(CALLERS.therapist.tenant, localId),
  });
  return ref!.split('/_history/')[0]!;
}

test('reconcile reports a clean course, names each drift, and --fix heals it', async () => {
  const patient = await clearedPatient(
    { ehr, service, prescriber, beforeRegister: () => service.syncNow() },
    'rc',
  );
  const episode = uniqueId('e2e-rc-ep');
  await post(service, '/episodes', {
    id: episode,
    type: 'individual',
    patients: [patient],
    start: '2026-03-01',
  });
  await post(service, `/episodes/${episode}/consents`, {
    patient,
    signedAt: '2026-03-01T09:00:00Z',
    document: { url: 'https://therapist.example/agreements/kap.pdf', contentType: 'application/pdf' },
  });
  const s = await post(service, `/episodes/${episode}/sessions`, {
    phase: 'preparation',
    start: '2026-03-02T10:00:00Z',
  });
  await post(service, `/sessions/${s.id}/start`, { time: '2026-03-02T10:00:00Z' });
  const heartRate = await post(service, `/patients/${patient}/observations`, {
    value: { kind: 'heart-rate', perMinute: 70 },
    effective: '2026-03-02T10:05:00Z',
    session: s.id,
  });
  const spo2 = await post(service, `/patients/${patient}/observations`, {
    value: { kind: 'spo2', percent: 98 },
    effective: '2026-03-02T10:05:00Z',
    session: s.id,
  });
  await post(service, `/sessions/${s.id}/complete`, { time: '2026-03-02T11:00:00Z' });
  await outboxDelivered(service);

  const clean = await cli('reconcile', '--patient', patient);
  expect({ code: clean.code, out: clean.out }).toEqual({
    code: 0,
    out: expect.stringContaining(' 0 drift.'),
  });
  const api = (await (await kapFetch(`${service.url}/api/v1/patients/${patient}/reconcile`)).json()) as Json;
  expect(api).toMatchObject({ patient, ehrPatient: `Patient/${patient}`, drift: [] });
  expect(api.matched).toBeGreaterThanOrEqual(8);

  // The EHR changes our heart rate, loses our SpO2, and holds a diagnosis the store never took in.
  const hrRef = await ehrCopy('Observation', heartRate.id);
  const [, hrId] = hrRef.split('/');
  const held = await ehr.read<Observation>('Observation', hrId!);
  await ehr.update({ ...held, valueQuantity: { ...held.valueQuantity, value: 71 } } as Observation & {
    id: string;
  });
  const spo2Ref = await ehrCopy('Observation', spo2.id);
  // The Provenance of our write refers to it: HAPI refuses the delete (409) until that goes first.
  expect((await fetch(`${sandboxBaseUrl()}/${spo2Ref}`, { method: 'DELETE' })).status).toBe(409);
  const provenance = await fetch(`${sandboxBaseUrl()}/Provenance?target=${spo2Ref}`, { method: 'DELETE' });
  expect(provenance.status).toBeLessThan(300);
  // HAPI answers 409 for a version-constraint race too (HAPI-0550, another thread on the resource):
  // that one is tried again; a referential-integrity 409 is not, and fails with HAPI's words.
  let deleted = { status: 0, body: '' };
  for (let attempt = 0; attempt < 5; attempt++) {
    const res = await fetch(`${sandboxBaseUrl()}/${spo2Ref}`, { method: 'DELETE' });
    deleted = { status: res.status, body: res.status < 300 ? '' : await res.text() };
    if (!(res.status === 409 && deleted.body.includes('HAPI-0550'))) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  expect(deleted).toEqual({ status: expect.any(Number), body: '' });
  expect(deleted.status).toBeLessThan(300);
  const condition = await ehr.create<Condition>({
    resourceType: 'Condition',
    clinicalStatus: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }],
    },
    verificationStatus: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: 'confirmed' }],
    },
    code: { text: 'Major depressive disorder, recurrent' },
    subject: { reference: `Patient/${patient}` },
  });

  const drifted = await cli('reconcile', '--patient', patient);
  expect(drifted.code).toBe(1);
  expect(drifted.out).toMatch(
    new RegExp(`different-content\\s+Observation\\s+here Observation/${heartRate.id}/`),
  );
  expect(drifted.out).toMatch(new RegExp(`missing-there\\s+Observation\\s+here Observation/${spo2.id}/`));
  expect(drifted.out).toMatch(
    new RegExp(`missing-here\\s+Condition\\s+here -\\s+there Condition/${condition.id}/`),
  );
  const report = (await (
    await kapFetch(`${service.url}/api/v1/patients/${patient}/reconcile`)
  ).json()) as Json;
  expect(report.drift.map((d: Json) => d.kind).sort()).toEqual([
    'different-content',
    'missing-here',
    'missing-there',
  ]);

  const fixed = await cli('reconcile', '--patient', patient, '--fix');
  expect({ code: fixed.code, out: fixed.out }).toEqual({ code: 0, out: expect.stringContaining('3 healed') });
  await outboxDelivered(service);

  const again = await cli('reconcile', '--patient', patient);
  expect({ code: again.code, out: again.out }).toEqual({
    code: 0,
    out: expect.stringContaining(' 0 drift.'),
  });
  const restored = await ehr.read<Observation>(
    'Observation',
    (await ehrCopy('Observation', heartRate.id)).split('/')[1]!,
  );
  expect(restored.valueQuantity?.value).toBe(70);
}, 300_000);
