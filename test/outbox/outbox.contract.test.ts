/**
 * The outbox's contract on both engines: queued in the caller's transaction, in order per patient,
 * one owner per patient at a time, and the operator's retry and drop.
 */
import type { Observation } from 'fhir/r4';
import { OUTBOX_TABLES } from '../../src/outbox/migrations.js';
import { enqueue, Outbox, OutboxChangeError } from '../../src/outbox/outbox.js';
import { DEFAULT_TENANT, Store } from '../../src/store/store.js';
import { ENGINES, type TestDatabase } from '../support/databases.js';

const SYSTEM = 'https://fhir.kap-bridge.org/identifier/observation';
const obs = (value: string): Observation => ({
  resourceType: 'Observation',
  identifier: [{ system: SYSTEM, value }],
  status: 'final',
  code: { text: 'PHQ-9 total' },
  valueInteger: 4,
});
const lease = { batchSize: 10, leaseMs: 60_000 };

describe.each(ENGINES)('outbox contract on $name', (engine) => {
  let db: TestDatabase;
  let store: Store;
  let outbox: Outbox;

  beforeEach(async () => {
    db = await engine.create();
    store = await Store.open(db.options);
    outbox = new Outbox(store);
  });
  afterEach(async () => {
    await store.close();
    await db.drop();
  });

  test('a change is queued with the local change, and a rollback queues nothing', async () => {
    await store.transaction(async (tx) => {
      await tx.savePatient({
        id: 'p1',
        identifiers: [{ system: 'urn:mrn', value: '1' }],
        ehrPatient: 'Patient/e1',
      });
      await enqueue(tx, { patientRef: 'Patient/e1', resource: obs('kept') });
    });
    await expect(
      store.transaction(async (tx) => {
        await tx.savePatient({ id: 'p2', identifiers: [{ system: 'urn:mrn', value: '2' }] });
        await enqueue(tx, { patientRef: 'Patient/e1', resource: obs('rolled-back') });
        throw new Error('the local change failed');
      }),
    ).rejects.toThrow('the local change failed');
    expect(await store.getPatient('p2', DEFAULT_TENANT)).toBeUndefined();
    const all = await outbox.list();
    expect(all.map((m) => [m.identifier.value, m.status, m.seq])).toEqual([['kept', 'pending', 1]]);
    expect(all[0]?.resource).toEqual(obs('kept'));
  });

  test('a change without a business identifier, or one already queued for another patient, is refused', async () => {
    await store.transaction((tx) => enqueue(tx, { patientRef: 'Patient/e1', resource: obs('a') }));
    await expect(
      store.transaction((tx) => enqueue(tx, { patientRef: 'Patient/e2', resource: obs('a') })),
    ).rejects.toThrow(OutboxChangeError);
    await expect(
      store.transaction((tx) =>
        enqueue(tx, { patientRef: 'Patient/e1', resource: { ...obs('x'), identifier: [] } as Observation }),
      ),
    ).rejects.toThrow(/needs a business identifier/);
  });

  test('claims give one patient at a time, in order, stopping before a second change to one identifier', async () => {
    await store.transaction(async (tx) => {
      for (const v of ['a1', 'a2', 'a1', 'a3'])
        await enqueue(tx, { patientRef: 'Patient/a', resource: obs(v) });
      await enqueue(tx, { patientRef: 'Patient/b', resource: obs('b1') });
    });
    const first = await outbox.claim('one', lease);
    expect(first?.patientRef).toBe('Patient/a');
    expect(first?.messages.map((m) => [m.identifier.value, m.seq])).toEqual([
      ['a1', 1],
      ['a2', 2],
    ]);
    // A second connection (as a second process would) sees Patient/a taken.
    const other = await Store.open(db.options);
    try {
      const second = await new Outbox(other).claim('two', lease);
      expect(second?.patientRef).toBe('Patient/b');
      expect(await new Outbox(other).claim('three', lease)).toBeUndefined();
    } finally {
      await other.close();
    }
    expect(
      await outbox.settle(first!.messages[0]!.id, 'one', {
        status: 'delivered',
        ehrRef: 'Observation/9/_history/1',
      }),
    ).toBe(true);
    expect(
      await outbox.settle(first!.messages[1]!.id, 'intruder', { status: 'delivered', ehrRef: 'x' }),
    ).toBe(false);
    await outbox.release('Patient/a', 'one');
    expect(await outbox.ehrRefOf('Observation', { system: SYSTEM, value: 'a1' })).toBe(
      'Observation/9/_history/1',
    );
    // The next batch begins with the released message, then the second a1 change.
    const again = await outbox.claim('one', lease);
    expect(again?.messages.map((m) => m.seq)).toEqual([2, 3, 4]);
  });

  test('an expired lease is taken over, and its old owner can no longer record anything', async () => {
    await store.transaction((tx) => enqueue(tx, { patientRef: 'Patient/a', resource: obs('a1') }));
    // The outbox's clock is driven by the test: the lease runs out without waiting for it.
    let now = Date.now();
    const timed = new Outbox(store, () => now);
    const stale = await timed.claim('slow', { batchSize: 5, leaseMs: 30_000 });
    now += 10_000;
    expect(await timed.claim('fast', lease)).toBeUndefined();
    now += 20_001;
    expect(await timed.renew('Patient/a', 'slow', 60_000)).toBe(false);
    const fresh = await timed.claim('fast', lease);
    expect(fresh?.messages[0]?.id).toBe(stale?.messages[0]?.id);
    expect(
      await timed.settle(stale!.messages[0]!.id, 'slow', { status: 'dead', error: { message: 'late' } }),
    ).toBe(false);
    expect(
      await timed.settle(fresh!.messages[0]!.id, 'fast', {
        status: 'delivered',
        ehrRef: 'Observation/1/_history/1',
      }),
    ).toBe(true);
  });

  test('concurrent enqueues for one patient each get a place of their own in its queue', async () => {
    const ids = await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        store.transaction(async (tx) => {
          const id = await enqueue(tx, { patientRef: 'Patient/a', resource: obs(`c${i}`) });
          await enqueue(tx, { patientRef: 'Patient/b', resource: obs(`d${i}`) });
          return id;
        }),
      ),
    );
    const queued = await outbox.list({ patientRef: 'Patient/a' });
    expect(queued.map((m) => m.id).sort()).toEqual([...ids].sort());
    expect(queued.map((m) => m.seq).sort((x, y) => x - y)).toEqual(
      Array.from({ length: 24 }, (_, i) => i + 1),
    );
    expect(new Set((await outbox.list({ patientRef: 'Patient/b' })).map((m) => m.seq)).size).toBe(24);
  });

  test('a database from before the unique queue places has places given twice renumbered in order', async () => {
    const migration =
      OUTBOX_TABLES.migrations.findIndex((m) => m.some((s) => s.includes('outbox_patient_seq'))) + 1;
    const ids = await store.transaction(async (tx) => {
      const queued = [];
      for (const v of ['a1', 'a2', 'a3'])
        queued.push(await enqueue(tx, { patientRef: 'Patient/a', resource: obs(v) }));
      await enqueue(tx, { patientRef: 'Patient/b', resource: obs('b1') });
      // As before the migration: a2 given a1's place, a3 a later one.
      const outboxTables = tx.tables(OUTBOX_TABLES);
      await outboxTables.run('DROP INDEX outbox_patient_seq');
      for (const [i, seq] of [1, 1, 7].entries())
        await outboxTables.run('UPDATE outbox SET seq = ?, created_at = ? WHERE id = ?', [
          seq,
          `2026-03-01T10:00:0${i}.000Z`,
          queued[i]!,
        ]);
      await outboxTables.run("DELETE FROM module_migrations WHERE module = 'outbox' AND version = ?", [
        migration,
      ]);
      return queued;
    });
    await store.close();
    store = await Store.open(db.options);
    outbox = new Outbox(store);
    const queued = await outbox.list({ patientRef: 'Patient/a' });
    expect(queued.map((m) => [m.id, m.seq]).sort((x, y) => Number(x[1]) - Number(y[1]))).toEqual([
      [ids[0], 1],
      [ids[1], 2],
      [ids[2], 3],
    ]);
    expect((await outbox.list({ patientRef: 'Patient/b' })).map((m) => m.seq)).toEqual([1]);
  });

  test("a restarted instance takes back its own leases at once, and no one else's", async () => {
    await store.transaction(async (tx) => {
      for (const p of ['a', 'b', 'c']) await enqueue(tx, { patientRef: `Patient/${p}`, resource: obs(p) });
    });
    // The instance was killed holding two patients, from two of its worker loops; another holds the third.
    const held = [await outbox.claim('host:8080/0', lease), await outbox.claim('host:8080/1', lease)];
    const other = await outbox.claim('host:8081/0', lease);
    expect(await outbox.claim('host:8080/0', lease)).toBeUndefined();
    expect(await outbox.reclaim('host:8080')).toBe(2);
    const again = [await outbox.claim('host:8080/0', lease), await outbox.claim('host:8080/1', lease)];
    expect(again.map((c) => c?.patientRef).sort()).toEqual(held.map((c) => c?.patientRef).sort());
    expect(again.every((c) => c?.messages.length === 1)).toBe(true);
    expect(await outbox.claim('host:8080/2', lease)).toBeUndefined();
    expect(await outbox.renew(other!.patientRef, 'host:8081/0', 60_000)).toBe(true);
  });

  test('a later attempt waits its turn; dead messages are retried or dropped; delivered ones stay', async () => {
    const ids = await store.transaction(async (tx) => [
      await enqueue(tx, { patientRef: 'Patient/a', resource: obs('a1') }),
      await enqueue(tx, { patientRef: 'Patient/a', resource: obs('a2') }),
    ]);
    const claim = await outbox.claim('w', lease);
    const nextAttemptAt = new Date(Date.now() + 60_000).toISOString();
    await outbox.settle(ids[0]!, 'w', { status: 'dead', error: { message: 'refused', status: 422 } });
    await outbox.settle(ids[1]!, 'w', { status: 'pending', nextAttemptAt, countAttempt: true });
    await outbox.release(claim!.patientRef, 'w');
    expect(await outbox.claim('w', lease)).toBeUndefined();
    expect((await outbox.get(ids[1]!))?.attempts).toBe(1);
    const dead = await outbox.list({ status: 'dead' });
    expect(dead.map((m) => [m.id, m.lastError?.status])).toEqual([[ids[0], 422]]);
    expect(await outbox.depth()).toMatchObject({
      byStatus: { pending: 1, dead: 1, delivered: 0, delivering: 0 },
    });
    expect(await outbox.retry(ids[0]!)).toBe(true);
    expect(await outbox.retry(ids[0]!)).toBe(false);
    expect((await outbox.get(ids[0]!))?.status).toBe('pending');
    expect(await outbox.drop(ids[1]!)).toBe('dropped');
    expect(await outbox.drop(ids[1]!)).toBe('not-found');
    const c = await outbox.claim('w', lease);
    await outbox.settle(ids[0]!, 'w', { status: 'delivered', ehrRef: 'Observation/5/_history/1' });
    await outbox.release(c!.patientRef, 'w');
    expect(await outbox.drop(ids[0]!)).toBe('delivered');
  });
});
