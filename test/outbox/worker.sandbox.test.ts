/**
 * The worker against the HAPI sandbox: changes arrive once each and in order per patient, a retry
 * after a lost answer does not duplicate, updates go with If-Match and survive a conflict, and two
 * workers on one PostgreSQL database deliver 200 changes exactly once without ever sharing a patient.
 */
import type { Bundle, Observation, Patient } from 'fhir/r4';
import { EhrGateway } from '../../src/ehr/gateway.js';
import { enqueue, Outbox } from '../../src/outbox/outbox.js';
import { OutboxWorker } from '../../src/outbox/worker.js';
import { Store } from '../../src/store/store.js';
import { postgresDatabase, sqliteDatabase, type TestDatabase } from '../support/databases.js';
import { eventually, sandboxBaseUrl, sandboxGateway, uniqueId } from '../support/sandbox.js';

const ehr = sandboxGateway();

/** A gateway that lets a test watch (and disturb) the transaction Bundles the worker sends. */
class WatchedGateway extends EhrGateway {
  constructor(private readonly watch: (bundle: Bundle, send: () => Promise<Bundle>) => Promise<Bundle>) {
    super({ baseUrl: sandboxBaseUrl(), timeoutMs: 60_000 });
  }
  override transaction(bundle: Bundle): Promise<Bundle> {
    return this.watch(bundle, () => super.transaction(bundle));
  }
}

const entriesOf = (bundle: Bundle) =>
  (bundle.entry ?? [])
    .filter((e) => e.resource?.resourceType === 'Observation')
    .map((e) => {
      const o = e.resource as Observation;
      return { patient: o.subject?.reference ?? '', value: o.identifier?.[0]?.value ?? '' };
    });

async function countByValue(system: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for await (const o of ehr.search<Observation>('Observation', { identifier: `${system}|`, _count: '500' })) {
    const value = o.identifier?.find((i) => i.system === system)?.value ?? '';
    counts.set(value, (counts.get(value) ?? 0) + 1);
  }
  return counts;
}

async function patients(n: number): Promise<string[]> {
  const refs: string[] = [];
  for (let i = 0; i < n; i++) {
    const p = await ehr.create<Patient>({
      resourceType: 'Patient',
      identifier: [{ system: 'urn:kap-outbox-test:mrn', value: uniqueId('mrn') }],
    });
    refs.push(`Patient/${p.id}`);
  }
  return refs;
}

const observation = (system: string, value: string, patientRef: string, score = 5): Observation => ({
  resourceType: 'Observation',
  identifier: [{ system, value }],
  status: 'final',
  code: { text: 'PHQ-9 total' },
  subject: { reference: patientRef },
  valueInteger: score,
});

const options = { pollMs: 20, maxAttempts: 5, backoffBaseMs: 20, backoffMaxMs: 200, owner: 'sandbox-test' };

describe('one worker, SQLite', () => {
  let db: TestDatabase;
  let store: Store;
  let outbox: Outbox;
  beforeEach(async () => {
    db = await sqliteDatabase();
    store = await Store.open(db.options);
    outbox = new Outbox(store);
  });
  afterEach(async () => {
    await store.close();
    await db.drop();
  });

  test('30 changes of 3 patients: each created once, in order per patient, a lost answer retried safely', async () => {
    const system = `https://fhir.kap-bridge.org/test/${uniqueId('outbox')}`;
    const refs = await patients(3);
    const order = new Map<string, string[]>();
    let lostOnce = false;
    const watched = new WatchedGateway(async (bundle, send) => {
      const answer = await send();
      for (const { patient, value } of entriesOf(bundle))
        order.set(patient, [...(order.get(patient) ?? []), value]);
      // The EHR kept the first batch but its answer is lost: the worker must retry without duplicates.
      if (!lostOnce) {
        lostOnce = true;
        throw Object.assign(new Error('socket hang up'), { name: 'FetchError' });
      }
      return answer;
    });
    const expected = new Map<string, string[]>();
    await store.transaction(async (tx) => {
      for (let i = 0; i < 30; i++) {
        const patient = refs[i % 3]!;
        const value = `${patient.split('/')[1]}-${String(i).padStart(2, '0')}`;
        expected.set(patient, [...(expected.get(patient) ?? []), value]);
        await enqueue(tx, { patientRef: patient, resource: observation(system, value, patient) });
      }
    });
    const worker = new OutboxWorker({ ...options, outbox, ehr: watched, batchSize: 4, concurrency: 2 });
    worker.start();
    try {
      await eventually(
        '30 deliveries',
        async () => (await outbox.depth()).byStatus.delivered === 30,
        60_000,
        50,
      );
    } finally {
      await worker.stop();
    }
    const counts = await countByValue(system);
    expect(counts.size).toBe(30);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    for (const patient of refs) {
      // The lost batch was sent twice; with repeats removed, each patient's sequence is the enqueue order.
      const seen = order.get(patient)!.filter((v, i, all) => all.indexOf(v) === i);
      expect(seen).toEqual(expected.get(patient));
    }
    expect(await worker.metrics.render()).toMatch(/kap_outbox_deliveries_total\{outcome="matched"\} [1-4]\n/);
  });

  test('an update goes with If-Match; after a conflict it is re-read and sent on the new version', async () => {
    const system = `https://fhir.kap-bridge.org/test/${uniqueId('outbox')}`;
    const [patient] = await patients(1);
    const worker = new OutboxWorker({ ...options, outbox, ehr, batchSize: 10, concurrency: 1 });
    const send = (score: number) =>
      store.transaction((tx) =>
        enqueue(tx, { patientRef: patient!, resource: observation(system, 'u1', patient!, score) }),
      );
    const first = await send(1);
    await worker.drain();
    const ref = (await outbox.get(first))?.ehrRef ?? '';
    expect(ref).toMatch(/^Observation\/[^/]+\/_history\/1$/);
    const id = ref.split('/')[1]!;

    const second = await send(2);
    await worker.drain();
    expect((await outbox.get(second))?.ehrRef).toBe(`Observation/${id}/_history/2`);

    // The prescriber side changes it meanwhile: our If-Match on version 2 meets version 3.
    const theirs = await ehr.read<Observation>('Observation', id);
    await ehr.update({ ...theirs, id, valueInteger: 7 }, '2');
    const third = await send(11);
    await worker.drain();
    expect(await outbox.get(third)).toMatchObject({
      status: 'delivered',
      ehrRef: `Observation/${id}/_history/4`,
    });
    expect((await ehr.read<Observation>('Observation', id)).valueInteger).toBe(11);
    expect((await countByValue(system)).get('u1')).toBe(1);
  });
});

test('two workers on one PostgreSQL database: 200 changes delivered exactly once, never two on one patient', async () => {
  const system = `https://fhir.kap-bridge.org/test/${uniqueId('outbox')}`;
  const refs = await patients(20);
  const db = await postgresDatabase();
  const stores = [await Store.open(db.options), await Store.open(db.options)];
  const inFlight = new Map<string, number>();
  const overlaps: string[] = [];
  const batchesBy = [0, 0];
  const workers = stores.map(
    (store, n) =>
      new OutboxWorker({
        ...options,
        outbox: new Outbox(store),
        owner: `worker-${n}`,
        batchSize: 5,
        concurrency: 2,
        ehr: new WatchedGateway(async (bundle, send) => {
          batchesBy[n] = (batchesBy[n] ?? 0) + 1;
          const mine = [...new Set(entriesOf(bundle).map((e) => e.patient))];
          for (const p of mine) {
            inFlight.set(p, (inFlight.get(p) ?? 0) + 1);
            if (inFlight.get(p)! > 1) overlaps.push(p);
          }
          try {
            return await send();
          } finally {
            for (const p of mine) inFlight.set(p, inFlight.get(p)! - 1);
          }
        }),
      }),
  );
  try {
    await stores[0]!.transaction(async (tx) => {
      for (let i = 0; i < 200; i++) {
        const patient = refs[i % 20]!;
        await enqueue(tx, { patientRef: patient, resource: observation(system, `c-${i}`, patient) });
      }
    });
    for (const w of workers) w.start();
    const outbox = new Outbox(stores[0]!);
    await eventually(
      '200 deliveries',
      async () => (await outbox.depth()).byStatus.delivered === 200,
      120_000,
      50,
    );
    for (const w of workers) await w.stop();
    expect(overlaps).toEqual([]);
    expect(batchesBy.every((n) => n > 0)).toBe(true);
    const counts = await countByValue(system);
    expect(counts.size).toBe(200);
    expect([...counts.values()].filter((n) => n !== 1)).toEqual([]);
  } finally {
    for (const w of workers) await w.stop();
    for (const s of stores) await s.close();
    await db.drop();
  }
}, 180_000);
