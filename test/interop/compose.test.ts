/**
 * docker-compose.yml cannot run here (no Docker engine), so its configuration is checked against the
 * Compose Specification's JSON schema kept in sandbox/compose-spec/ (its source in SOURCE.md): no
 * Docker tool is needed. Where `docker compose` or `docker-compose` is installed, it parses the file
 * too, as an extra.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { ROOT } from '../support/fixtures.js';

interface Service {
  image?: string;
  build?: unknown;
  restart?: string;
  read_only?: boolean;
  env_file?: string | string[];
  environment?: Record<string, string>;
  volumes?: string[];
  healthcheck?: { test?: string[] | string };
  depends_on?: Record<string, { condition: string }>;
}
interface Compose {
  services: Record<string, Service> & Record<'hapi' | 'kap-bridge', Service>;
}

const composeText = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');
const compose = (): Compose => parse(composeText) as Compose;

// The schema names draft-07 by an https URL ajv does not know as a meta-schema; draft-07 is ajv's own.
const ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false });
const validate = ajv.compile(
  JSON.parse(readFileSync(join(ROOT, 'sandbox', 'compose-spec', 'compose-spec.json'), 'utf8')),
);
const errors = (doc: unknown): string[] =>
  validate(doc) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);

/** The restart policies the Compose Specification defines (`restart` in the services section). */
const RESTART_POLICIES = /^(no|always|on-failure(:\d+)?|unless-stopped)$/;

test('docker-compose.yml is valid against the Compose Specification schema (and the compose tool, if any)', () => {
  expect(errors(compose())).toEqual([]);
  const tool = composeTool();
  if (tool) {
    const r = tool(['config', '--services']);
    expect(r.status).toBe(0);
    expect(r.stdout.split('\n').filter(Boolean).sort()).toEqual(Object.keys(compose().services).sort());
  }
});

test('the schema check refuses what the compose tool refuses', () => {
  const unknownKey = compose();
  (unknownKey.services.hapi as Record<string, unknown>).heathcheck = {};
  expect(errors(unknownKey).join('\n')).toMatch(/\/services\/hapi must NOT have additional properties/);
  const badCondition = compose();
  badCondition.services['kap-bridge'].depends_on = { hapi: { condition: 'service_ready' } };
  expect(errors(badCondition).join('\n')).toMatch(/depends_on\/hapi\/condition must be equal to one of/);
});

test('compose names HAPI, its database and kap-bridge, each with a restart policy', () => {
  const { services } = compose();
  expect(Object.keys(services).sort()).toEqual(['hapi', 'hapi-db', 'kap-bridge', 'kap-db']);
  for (const [name, service] of Object.entries(services)) {
    expect([name, service.restart]).toEqual([name, expect.stringMatching(RESTART_POLICIES)]);
  }
});

test('kap-bridge starts once HAPI and its database are healthy, on a read-only root filesystem', () => {
  const { services } = compose();
  expect(services.hapi.healthcheck?.test).toEqual(expect.arrayContaining(['CMD']));
  expect(JSON.stringify(services.hapi.healthcheck?.test)).toContain('/fhir/metadata');
  expect(services['kap-bridge'].depends_on).toEqual({
    hapi: { condition: 'service_healthy' },
    'kap-db': { condition: 'service_healthy' },
  });
  expect(services['kap-bridge'].read_only).toBe(true);
});

test('HAPI in compose gets every setting of the local sandbox, from the one file both read', () => {
  const { hapi } = compose().services;
  expect(hapi.image).toMatch(/^hapiproject\/hapi:v8\.8\.0-1/);
  expect([hapi.env_file].flat()).toEqual(['sandbox/hapi.env']);
  const settings = readFileSync(join(ROOT, 'sandbox', 'hapi.env'), 'utf8')
    .split('\n')
    .filter((l) => /^hapi\.fhir\.[^=]+=/.test(l));
  expect(settings.length).toBeGreaterThan(3);
});

test("HAPI in compose installs kap-bridge's FHIR package, the one the build makes, like the sandbox", () => {
  const { hapi } = compose().services;
  const settings = JSON.parse(String(hapi.environment?.SPRING_APPLICATION_JSON)).hapi.fhir
    .implementationguides['kap-bridge'];
  const built = JSON.parse(readFileSync(join(ROOT, 'package', 'package.json'), 'utf8'));
  expect(settings).toMatchObject({
    name: built.name,
    version: built.version,
    installMode: 'STORE_AND_INSTALL',
    fetchDependencies: false,
  });
  const mounted = hapi.volumes?.find((v) => v.startsWith('./generated/package.tgz:'));
  expect(mounted?.split(':')[1]).toBe(new URL(settings.packageUrl).pathname);
});

/** `docker compose` (v2 plugin) where present, else `docker-compose` (v1), else none. */
function composeTool():
  | ((args: string[]) => { status: number | null; stdout: string; stderr: string })
  | undefined {
  for (const [cmd, pre] of [
    ['docker', ['compose']],
    ['docker-compose', []],
  ] as const) {
    const probe = spawnSync(cmd, [...pre, 'version'], { cwd: ROOT, encoding: 'utf8' });
    if (!probe.error && probe.status === 0) {
      return (args) => spawnSync(cmd, [...pre, ...args], { cwd: ROOT, encoding: 'utf8' });
    }
  }
  return undefined;
}
