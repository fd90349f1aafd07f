/**
 * docker-compose.yml cannot run here (no Docker engine), but its configuration can be checked by
 * the compose tool itself: it parses, names the services, and gives HAPI the sandbox's settings.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../support/fixtures.js';

/** `docker compose` (v2 plugin) where present, else `docker-compose` (v1). */
function compose(args: string[]): { status: number | null; stdout: string; stderr: string } {
  for (const [cmd, pre] of [
    ['docker', ['compose']],
    ['docker-compose', []],
  ] as const) {
    const r = spawnSync(cmd, [...pre, ...args], { cwd: ROOT, encoding: 'utf8' });
    if (!r.error && !/unknown (command|flag)|is not a docker command/.test(r.stderr)) return r;
  }
  throw new Error(
    'Neither `docker compose` nor `docker-compose` is installed (Debian: apt-get install docker-compose).',
  );
}

test('docker-compose.yml is valid and names HAPI, its database and kap-bridge', () => {
  const services = compose(['config', '--services']);
  expect(services.stderr).not.toMatch(/error/i);
  expect(services.status).toBe(0);
  expect(services.stdout.split('\n').filter(Boolean).sort()).toEqual([
    'hapi',
    'hapi-db',
    'kap-bridge',
    'kap-db',
  ]);
});

test('HAPI in compose gets every setting of the local sandbox, from the one file both read', () => {
  const config = compose(['config']).stdout;
  expect(config).toContain('hapiproject/hapi:v8.8.0-1');
  const settings = readFileSync(join(ROOT, 'sandbox', 'hapi.env'), 'utf8')
    .split('\n')
    .filter((l) => /^hapi\.fhir\./.test(l));
  expect(settings.length).toBeGreaterThan(3);
  for (const line of settings) {
    const [key] = line.split('=');
    expect(config).toContain(`${key}:`);
  }
});
