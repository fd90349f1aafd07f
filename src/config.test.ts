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

/** The least a `serve` needs beyond the defaults: how callers authenticate. */
const STATIC = { KAP_AUTH_MODE: 'static', KAP_AUTH_STATIC_TOKENS_FILE: './tokens.json' };

test('defaults give a runnable embedded configuration', () => {
  const config = loadConfig(STATIC);
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
  expect(
    problems({ ...STATIC, PORT: 'eighty', KAP_EHR_BASE_URL: 'ehr.example.org', LOG_LEVEL: 'loud' }),
  ).toEqual([
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
  expect(problems({ ...STATIC, KAP_EHR_BASE_URL: 'http://127.0.0.1:8090/fhir' })[0]).toMatch(
    /^KAP_SUBSCRIPTION_SECRET must be set/,
  );
  expect(
    problems({ ...STATIC, KAP_EHR_BASE_URL: 'http://127.0.0.1:8090/fhir', KAP_SUBSCRIBE_ON_START: 'false' }),
  ).toEqual([]);
});

test('serving needs a way to authenticate callers: a JWKS, issuer and audience, or static tokens', () => {
  expect(problems({})).toEqual([
    'KAP_AUTH_JWKS must be set when KAP_AUTH_MODE=jwt (or use KAP_AUTH_MODE=static for one practice without an identity provider)',
    'KAP_AUTH_ISSUER must be set when KAP_AUTH_MODE=jwt (or use KAP_AUTH_MODE=static for one practice without an identity provider)',
    'KAP_AUTH_AUDIENCE must be set when KAP_AUTH_MODE=jwt (or use KAP_AUTH_MODE=static for one practice without an identity provider)',
  ]);
  expect(problems({ KAP_AUTH_MODE: 'static' })).toEqual([
    'KAP_AUTH_STATIC_TOKENS_FILE must name the tokens file when KAP_AUTH_MODE=static',
  ]);
  // Jobs (sync, reconcile, outbox) serve no one.
  expect(() => loadConfig({}, 'job')).not.toThrow();
});

test('production refuses static tokens unless asked for explicitly', () => {
  expect(problems({ ...STATIC, NODE_ENV: 'production' })).toEqual([
    'KAP_AUTH_MODE=static is refused when NODE_ENV=production: use jwt with an identity provider, or set KAP_AUTH_ALLOW_STATIC=true to accept static tokens knowingly',
  ]);
  expect(problems({ ...STATIC, NODE_ENV: 'production', KAP_AUTH_ALLOW_STATIC: 'true' })).toEqual([]);
});

test('only asymmetric signature algorithms, and keys from a file or over https', () => {
  const jwt = { KAP_AUTH_ISSUER: 'https://idp.example.org', KAP_AUTH_AUDIENCE: 'https://kap.example.org' };
  expect(problems({ ...jwt, KAP_AUTH_JWKS: './jwks.json', KAP_AUTH_ALGORITHMS: 'RS256,HS256,none' })).toEqual(
    [
      'KAP_AUTH_ALGORITHMS may name only RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA; not HS256, none (got "RS256,HS256,none")',
    ],
  );
  expect(problems({ ...jwt, KAP_AUTH_JWKS: 'http://idp.example.org/jwks' })).toEqual([
    'KAP_AUTH_JWKS must be a file path or an https URL (got "http://idp.example.org/jwks")',
  ]);
  expect(problems({ ...jwt, KAP_AUTH_JWKS: 'https://idp.example.org/jwks' })).toEqual([]);
});

test('the README documents every variable', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  for (const v of VARIABLES) expect(readme).toContain(`\`${v.name}\``);
});
