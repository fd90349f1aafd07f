/**
 * End to end against the HAPI sandbox: the prescriber works on the clearance Task kap-bridge wrote
 * (accepts it, then completes it with the decision as output, a business status and a note) and
 * the change, arriving by catch-up, updates the local copy and the episode timeline instead of
 * being ignored or reported as drift; before it arrives, reconcile names it as the prescriber's
 * change to take in (pull), never as ours to send again.
 */
import type { Observation, Task } from 'fhir/r4';
import { identifierSystem } from '../../src/fhir/codes.js';
import { ehrIdentifierValue } from '../../src/fhir/ids.js';
import { CALLERS, kapFetch } from '../support/auth.js';
import { clearedPatient, type Json, outboxDelivered, post, startCourseService } from '../support/course.js';
import { sandboxGateway, uniqueId } from '../support/sandbox.js';
import type { TestService } from '../support/service.js';

const ehr = sandboxGateway();
const therapist = uniqueId('e2e-pt-therapist');
const prescriber = uniqueId('e2e-pt-prescriber');

let service: TestService;

const get = async (path: string): Promise<Json> => (await kapFetch(`${service.url}/api/v1${path}`)).json();

beforeAll(async () => {
  service = await startCourseService([therapist, prescriber]);
}, 120_000);

afterAll(() => service?.close(), 60_000);

/** The prescriber's edit of the Task in the EHR, on its current version. */
async function prescriberEdits(taskId: string, change: (t: Task) => Task): Promise<Task> {
  const current = await ehr.read<Task>('Task', taskId);
  return ehr.update(change(current) as Task & { id: string }, current.meta?.versionId);
}

test('the prescriber accepts, then completes our clearance Task: taken into the local copy and the timeline', async () => {
  const patient = await clearedPatient({ ehr, service, prescriber }, 'pt');
  const episode = uniqueId('e2e-pt-ep');
  await post(service, '/episodes', {
    id: episode,
    type: 'individual',
    patients: [patient],
    start: '2026-03-01',
  });
  const referral = await post(service, `/patients/${patient}/referrals`, {
    episode,
    requester: `Practitioner/${therapist}`,
    performer: `Practitioner/${prescriber}`,
    reason: 'KAP course planned',
  });
  await outboxDelivered(service);
  await service.syncNow(); // our own copies come back: nothing changes
  expect((await service.store.getOwn('Task', referral.id, CALLERS.therapist.tenant))?.resource).toMatchObject(
    {
      status: 'requested',
      meta: { versionId: '1' },
    },
  );
  const ehrTask = (await service.outbox.ehrRefOf('Task', {
    system: identifierSystem('Task'),
    value: ehrIdentifierValue(CALLERS.therapist.tenant, referral.id),
  }))!.split('/')[1]!;

  // Accepted: before the catch-up, reconcile names the prescriber's change as one to take in.
  await prescriberEdits(ehrTask, (t) => ({
    ...t,
    status: 'accepted',
    businessStatus: { text: 'Intake booked' },
  }));
  const pending = await get(`/patients/${patient}/reconcile`);
  expect(pending.drift).toEqual([
    expect.objectContaining({ kind: 'different-content', resourceType: 'Task', remedy: 'pull' }),
  ]);
  await service.syncNow();
  expect((await service.store.getOwn('Task', referral.id, CALLERS.therapist.tenant))?.resource).toMatchObject(
    {
      status: 'accepted',
      businessStatus: { text: 'Intake booked' },
      meta: { versionId: '2' },
    },
  );
  expect((await get(`/patients/${patient}/reconcile`)).drift).toEqual([]);

  // Completed, with the clearance decision the prescriber wrote as output and a note.
  const clearances: Observation[] = [];
  for await (const o of ehr.search<Observation>('Observation', {
    subject: `Patient/${patient}`,
    identifier: 'urn:ehr:clearance|',
  }))
    clearances.push(o);
  const decision = `Observation/${clearances[0]!.id}`;
  await prescriberEdits(ehrTask, (t) => ({
    ...t,
    status: 'completed',
    businessStatus: { text: 'Cleared for KAP' },
    output: [
      {
        type: {
          coding: [
            { system: 'https://fhir.kap-bridge.org/CodeSystem/kap-observation', code: 'clearance-decision' },
          ],
        },
        valueReference: { reference: decision },
      },
    ],
    note: [{ text: 'No contraindication found.' }],
  }));
  await service.syncNow();
  const local = (await service.store.getOwn('Task', referral.id, CALLERS.therapist.tenant))!;
  expect(local.resource).toMatchObject({
    status: 'completed',
    businessStatus: { text: 'Cleared for KAP' },
    output: [{ valueReference: { reference: decision } }],
    note: [{ text: 'No contraindication found.' }],
    // The therapist's elements stay as recorded.
    requester: { reference: `Practitioner/${therapist}` },
    focus: { reference: `ServiceRequest/${referral.id}` },
  });
  expect(local.ehrSource).toBe(`Task/${ehrTask}/_history/3`);

  const timeline = await get(`/episodes/${episode}`);
  expect(timeline.referrals).toEqual([
    expect.objectContaining({
      id: referral.id,
      taskStatus: 'completed',
      decision,
      source: `Task/${ehrTask}/_history/3`,
    }),
  ]);
  const report = await get(`/patients/${patient}/reconcile`);
  expect(report.drift).toEqual([]);
  expect(report.matched).toBe(report.here);
}, 180_000);
