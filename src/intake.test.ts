import type { Task } from 'fhir/r4';
import { identifierSystem } from './fhir/codes.js';
import { keep } from './intake.js';
import { Store } from './store/store.js';

const ours: Task = {
  resourceType: 'Task',
  id: 'ref-1',
  meta: { versionId: '1', lastUpdated: '2026-03-01T09:00:00Z' },
  identifier: [{ system: identifierSystem('Task'), value: 'ref-1' }],
  status: 'requested',
  intent: 'order',
  focus: { reference: 'ServiceRequest/ref-1' },
  for: { reference: 'Patient/p1' },
  requester: { reference: 'Practitioner/therapist' },
  authoredOn: '2026-03-01T09:00:00Z',
};
/** The EHR's copy of it at a version: its own id, our focus as the EHR's ServiceRequest. */
const ehrCopy = (versionId: string, extra: Partial<Task> = {}): Task => ({
  ...ours,
  id: 'ehr-77',
  focus: { reference: 'ServiceRequest/ehr-76' },
  meta: { versionId },
  ...extra,
});

describe("the EHR's copy of our Task", () => {
  let store: Store;
  const keepNow = (t: Task) => store.transaction((tx) => keep(t, tx, '2026-03-04T12:00:00Z'));
  beforeEach(async () => {
    store = await Store.open({ sqliteFile: ':memory:' });
    await store.transaction((tx) =>
      tx.putResource({
        resource: ours,
        receivedAt: '2026-03-01T09:00:00Z',
        ours: true,
        patientRef: 'Patient/p1',
      }),
    );
  });
  afterEach(() => store.close());

  test('as delivered: attached, nothing else changes', async () => {
    expect(await keepNow(ehrCopy('1'))).toBe('duplicate');
    const held = await store.getResource('Task', 'ref-1');
    expect(held).toMatchObject({ ours: true, ehrSource: 'Task/ehr-77/_history/1', resource: ours });
  });

  test("the prescriber's status, business status, output and note are taken in; ours stay; older versions change nothing", async () => {
    const completed = ehrCopy('3', {
      status: 'completed',
      businessStatus: { text: 'Cleared' },
      output: [{ type: { text: 'decision' }, valueReference: { reference: 'Observation/clr-9' } }],
      note: [{ text: 'No contraindication found.' }],
      // Not the prescriber's to change: stays as the therapist recorded it (reconcile resends it).
      requester: { reference: 'Practitioner/someone-else' },
    });
    expect(await keepNow(completed)).toBe('stored');
    const held = await store.getResource('Task', 'ref-1');
    expect(held?.ehrSource).toBe('Task/ehr-77/_history/3');
    expect(held?.patientRef).toBe('Patient/p1');
    expect(held?.resource).toEqual({
      ...ours,
      meta: { versionId: '2', lastUpdated: '2026-03-04T12:00:00Z' },
      status: 'completed',
      businessStatus: { text: 'Cleared' },
      output: completed.output,
      note: completed.note,
    });
    expect(await keepNow(ehrCopy('2', { status: 'accepted' }))).toBe('duplicate');
    expect((await store.getResource('Task', 'ref-1'))?.resource).toMatchObject({ status: 'completed' });
  });
});
