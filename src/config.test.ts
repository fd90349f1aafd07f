import { readFileSync } from 'node:fs';
import { ConfigError, loadConfig, VARIABLES } from './config.js';

const problems = (env: Record<string, string>): string[] => {
  try {
    loadConfig(env);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
};

test('defaults give a runnable embedded configuration', () => {
  const config = loadConfig({});
  expect(config).toMatchObject({
    host: '127.0.0.1',
    port: 8080,
    sqliteFile: './data/kap-bridge.db',
    systolicMax: 140,
  });
  expect(config.databaseUrl).toBeUndefined();
  expect(config.publicBaseUrl).toBeUndefined();
});

test('every mistake is named at once, with the variable and what it must be', () => {
  expect(problems({ PORT: 'eighty', KAP_EHR_BASE_URL: 'ehr.example.org', LOG_LEVEL: 'loud' })).toEqual([
    'PORT must be a whole number from 0 to 65535 (got "eighty")',
    'KAP_EHR_BASE_URL must be an http(s) URL, e.g. https://ehr.example.org/fhir (got "ehr.example.org")',
    'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent (got "loud")',
  ]);
});

test('secrets are never echoed back', () => {
  const [problem] = problems({ DATABASE_URL: 'mysql://user:hunter2@db/kap' });
  expect(problem).toBe('DATABASE_URL must be a postgres:// connection URL');
});

test('subscriptions need a shared secret', () => {
  expect(problems({ KAP_EHR_BASE_URL: 'http://127.0.0.1:8090/fhir' })[0]).toMatch(
    /^KAP_SUBSCRIPTION_SECRET must be set/,
  );
  expect(
    problems({ KAP_EHR_BASE_URL: 'http://127.0.0.1:8090/fhir', KAP_SUBSCRIBE_ON_START: 'false' }),
  ).toEqual([]);
});

test('the README documents every variable', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  for (const v of VARIABLES) expect(readme).toContain(`\`${v.name}\``);
});
