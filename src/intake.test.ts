import type { MedicationRequest, Task } from 'fhir/r4';
import { identifierSystem, SYSTEM } from './fhir/codes.js';
import { identityContext } from './fhir/reference-context.js';
import { checkInbound, keep } from './intake.js';
import { readingWarnings, recordFrom } from './record.js';
import { DEFAULT_TENANT, Store } from './store/store.js';
import { createValidator } from './validation/validator.js';

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
        // Sent before ids were per practice: the EHR knows it by its bare id.
        ehrIdentifier: 'ref-1',
        patientRef: 'Patient/p1',
      }),
    );
  });
  afterEach(() => store.close());

  test('as delivered: attached, nothing else changes', async () => {
    expect(await keepNow(ehrCopy('1'))).toBe('duplicate');
    const held = await store.getOwn('Task', 'ref-1', DEFAULT_TENANT);
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
    const held = await store.getOwn('Task', 'ref-1', DEFAULT_TENANT);
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
    expect((await store.getOwn('Task', 'ref-1', DEFAULT_TENANT))?.resource).toMatchObject({
      status: 'completed',
    });
  });
});

describe("a ketamine order that breaks a KAP rule is the prescriber's word all the same", () => {
  const validator = createValidator();
  const order = (over: Partial<MedicationRequest>): MedicationRequest => ({
    resourceType: 'MedicationRequest',
    id: 'rx-2',
    status: 'stopped',
    intent: 'order',
    medicationCodeableConcept: { coding: [{ system: SYSTEM.rxnorm, code: '6130' }], text: 'ketamine' },
    subject: { reference: 'Patient/p1' },
    authoredOn: '2026-03-11T15:00:00Z',
    priorPrescription: { reference: 'MedicationRequest/rx-1' },
    ...over,
  });

  test('a stop order without a dosage is kept, and read as the order that stops', () => {
    const stop = order({});
    expect(checkInbound(stop, validator)).toBe(stop);
    expect(readingWarnings(stop)).toEqual([]);
    expect(recordFrom('p1', [stop], identityContext).prescriptions.map((p) => p.status)).toEqual(['stopped']);
  });

  test('an active order without a dosage is kept, never authorises, and intake says why', () => {
    const active = order({ status: 'active', priorPrescription: undefined });
    expect(checkInbound(active, validator)).toBe(active);
    expect(readingWarnings(active).map((i) => [i.severity, i.expression])).toEqual([
      ['warning', 'MedicationRequest.dosageInstruction'],
    ]);
    const record = recordFrom('p1', [active], identityContext);
    expect(record.prescriptions).toEqual([]);
    expect(record.unreadable).toMatchObject([{ kind: 'prescription', source: 'MedicationRequest/rx-2' }]);
  });

  test('an order that is not R4 is still refused', () => {
    expect(() => checkInbound(order({ authoredOn: 'yesterday' }), validator)).toThrow(
      expect.objectContaining({ kind: 'bad-request' }),
    );
  });
});
