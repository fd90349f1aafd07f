import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './main.js';

const saved = { ...process.env };
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kap-cli-'));
  for (const k of Object.keys(process.env))
    if (k.startsWith('KAP_') || k === 'PORT' || k === 'DATABASE_URL') delete process.env[k];
  process.env.KAP_SQLITE_FILE = join(dir, 'kap.db');
});
afterEach(() => {
  process.env = { ...saved };
  rmSync(dir, { recursive: true, force: true });
});

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await run(args, { stdout: (t) => (out += `${t}\n`), stderr: (t) => (err += `${t}\n`) });
  return { code, out, err };
}

test('serve with a wrong variable names it and exits 2 without starting', async () => {
  process.env.PORT = 'eighty';
  const r = await cli(['serve']);
  expect(r.code).toBe(2);
  expect(r.err).toContain('PORT must be a whole number from 0 to 65535 (got "eighty")');
  expect(r.err).toContain('README');
});

test('sync needs the EHR base URL', async () => {
  const r = await cli(['sync']);
  expect(r.code).toBe(2);
  expect(r.err).toContain('This command needs KAP_EHR_BASE_URL to be set');
});

test('subscribe needs the EHR, the shared secret and the public address', async () => {
  process.env.KAP_EHR_BASE_URL = 'http://127.0.0.1:9/fhir';
  const r = await cli(['subscribe']);
  expect(r.code).toBe(2);
  expect(r.err).toContain('KAP_SUBSCRIPTION_SECRET and KAP_PUBLIC_BASE_URL');
});

test('an unreachable EHR is a message and exit 1, not a stack trace', async () => {
  process.env.KAP_EHR_BASE_URL = 'http://127.0.0.1:9/fhir';
  const r = await cli(['sync']);
  expect(r.code).toBe(1);
  expect(r.err).toContain('the EHR could not be reached');
  expect(r.err).toContain('Check KAP_EHR_BASE_URL');
  expect(r.err).not.toMatch(/\n\s+at /);
});

test('stray arguments are a usage mistake', async () => {
  const r = await cli(['sync', '--everything']);
  expect(r.code).toBe(2);
  expect(r.err).toContain("Unexpected argument '--everything'");
});
