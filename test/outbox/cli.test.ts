/** `kap-bridge outbox list | retry | drop`, run in-process on a SQLite store. */
import type { Observation } from 'fhir/r4';
import { run } from '../../src/cli/main.js';
import { enqueue, Outbox } from '../../src/outbox/outbox.js';
import { Store } from '../../src/store/store.js';
import { sqliteDatabase, type TestDatabase } from '../support/databases.js';

const obs = (value: string): Observation => ({
  resourceType: 'Observation',
  identifier: [{ system: 'https://fhir.kap-bridge.org/identifier/observation', value }],
  status: 'final',
  code: { text: 'PCL-5 score' },
});

let db: TestDatabase;
let ids: string[];
const saved = { ...process.env };

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(['outbox', ...argv], { stdout: (t) => out.push(t), stderr: (t) => err.push(t) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

beforeEach(async () => {
  db = await sqliteDatabase();
  process.env = { ...saved, KAP_SQLITE_FILE: db.options.sqliteFile! };
  delete process.env.DATABASE_URL;
  const store = await Store.open(db.options);
  const outbox = new Outbox(store);
  ids = await store.transaction(async (tx) => [
    await enqueue(tx, { patientRef: 'Patient/a', resource: obs('poison') }),
    await enqueue(tx, { patientRef: 'Patient/a', resource: obs('fine') }),
  ]);
  await outbox.claim('test', { batchSize: 1, leaseMs: 60_000 });
  await outbox.settle(ids[0]!, 'test', {
    status: 'dead',
    error: {
      message: 'refused',
      status: 422,
      outcome: {
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'error', code: 'code-invalid', diagnostics: 'Unknown code' }],
      },
    },
  });
  await outbox.release('Patient/a', 'test');
  await store.close();
});
afterEach(async () => {
  process.env = saved;
  await db.drop();
});

test('list shows the dead message with the EHR outcome, and filters by status', async () => {
  const dead = await cli('list', '--status', 'dead');
  expect(dead.code).toBe(0);
  expect(dead.out).toContain(ids[0]);
  expect(dead.out).toContain('last error: 422 Unknown code');
  expect(dead.out).not.toContain(ids[1]);
  expect(dead.out).toMatch(/1 message dead\.$/);
  expect((await cli('list')).out).toMatch(/2 messages\.$/);
});

test('list says when it shows only the first messages', async () => {
  const first = await cli('list', '--limit', '1');
  expect(first.out).toContain(ids[0]);
  expect(first.out).not.toContain(ids[1]);
  expect(first.out).toMatch(
    /The first 1 message shown; there are more \(narrow with --status or --patient, or raise --limit\)\.$/,
  );
  expect((await cli('list', '--limit', '2')).out).toMatch(/\n2 messages\.$/);
  expect((await cli('list', '--limit', '0')).code).toBe(2);
});

test('retry puts a dead message back; retry of an unknown id is a finding', async () => {
  expect(await cli('retry', ids[0]!)).toMatchObject({ code: 0, out: `${ids[0]} queued again.` });
  expect((await cli('retry', ids[0]!)).code).toBe(1);
  expect((await cli('list', '--status', 'pending')).out).toMatch(/2 messages pending\.$/);
  expect(await cli('retry', '--all-dead')).toMatchObject({ code: 0, out: '0 dead messages queued again.' });
});

test('drop removes a message once; usage mistakes exit 2', async () => {
  expect(await cli('drop', ids[1]!)).toMatchObject({ code: 0, out: `${ids[1]} dropped.` });
  expect(await cli('drop', ids[1]!)).toMatchObject({ code: 1, err: expect.stringContaining('No message') });
  expect((await cli('list', '--status', 'stuck')).code).toBe(2);
  expect((await cli('retry')).code).toBe(2);
  expect((await cli('frobnicate')).code).toBe(2);
  expect((await cli('--help')).code).toBe(0);
});
