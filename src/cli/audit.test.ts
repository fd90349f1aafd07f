/** `kap-bridge audit`, run in-process on a SQLite store holding a few audit records. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditTrail } from '../audit/trail.js';
import { parseScopes } from '../auth/scopes.js';
import { createLogger } from '../log.js';
import { Store } from '../store/store.js';
import { run } from './main.js';

let dir: string;
const saved = { ...process.env };

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(['audit', ...argv], { stdout: (t) => out.push(t), stderr: (t) => err.push(t) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kap-audit-cli-'));
  const sqliteFile = join(dir, 'kap.db');
  process.env = { ...saved, KAP_SQLITE_FILE: sqliteFile };
  delete process.env.DATABASE_URL;
  const store = await Store.open({ sqliteFile });
  const trail = new AuditTrail(store, createLogger('silent'));
  const therapist = {
    client: 'therapy-a',
    kind: 'therapist',
    tenant: 'practice-a',
    user: 'dr-rivera',
    scopes: parseScopes('user/*.rs'),
  } as const;
  trail.record({
    principal: therapist,
    action: 'R',
    route: 'GET /api/v1/patients/:id',
    entities: ['Patient/p1'],
    status: 200,
    recorded: '2026-11-20T09:00:00.000Z',
  });
  trail.record({
    action: 'R',
    route: 'GET /api/v1/patients/:id',
    entities: ['Patient/p1'],
    status: 401,
    recorded: '2026-11-21T09:00:00.000Z',
  });
  trail.record({
    principal: therapist,
    action: 'C',
    route: 'POST /api/v1/patients/:id/observations',
    entities: ['Patient/p2', 'Observation/o1'],
    status: 201,
    recorded: '2026-11-22T09:00:00.000Z',
  });
  await trail.flushed();
  await store.close();
});
afterAll(() => {
  process.env = saved;
  rmSync(dir, { recursive: true, force: true });
});

test("a patient's trail, newest first: who, what, when and how it went", async () => {
  const { code, out } = await cli('--patient', 'p1');
  expect(code).toBe(0);
  expect(out.split('\n')).toEqual([
    '2026-11-21T09:00:00.000Z  R fail4  unverified  Patient/p1  GET /api/v1/patients/:id answered 401',
    '2026-11-20T09:00:00.000Z  R ok    therapy-a (dr-rivera) @practice-a  Patient/p1  GET /api/v1/patients/:id answered 200',
    '2 events.',
  ]);
});

test('filters by client and time, and prints a FHIR Bundle with --json', async () => {
  expect((await cli('--client', 'therapy-a', '--since', '2026-11-21')).out).toMatch(
    /Observation\/o1[\s\S]*^1 event\.$/m,
  );
  const json = JSON.parse((await cli('--entity', 'Observation/o1', '--json')).out);
  expect(json).toMatchObject({ resourceType: 'Bundle', type: 'searchset' });
  expect(json.entry[0].resource).toMatchObject({ resourceType: 'AuditEvent', action: 'C', outcome: '0' });
});

test.each([
  [['--since', 'last week'], /--since must be a date/],
  [['--limit', '5000'], /--limit must be a whole number from 1 to 500/],
  [['--patient'], /--patient needs a value/],
  [['extra'], /Unexpected arguments: extra/],
])('%j is a usage mistake (exit 2) that says what to do', async (argv, message) => {
  const { code, err } = await cli(...argv);
  expect(code).toBe(2);
  expect(err).toMatch(message);
});
