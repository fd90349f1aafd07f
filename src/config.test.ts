import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, exportPKCS8, exportSPKI, generateKeyPair } from 'jose';
import { ConfigError, loadConfig as loadVariables, VARIABLES } from './config.js';
import { EHR_DEFAULT_SCOPES } from './ehr/config.js';
import { privateKeyCheck } from './ehr/private-key-check.js';
import { KEPT_TYPES } from './intake.js';
import { WRITTEN_TYPES } from './reconcile/rules.js';

/** As a command loads it: the variables, and the EHR's key file read where the EHR boundary reads it. */
const loadConfig = (env: Record<string, string>, purpose: 'serve' | 'job' = 'serve') =>
  loadVariables(env, purpose, [(config) => privateKeyCheck(config.ehr)]);

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
    http: { host: '127.0.0.1', port: 8080 },
    store: { sqliteFile: './data/kap-bridge.db' },
    readiness: { systolicMax: 140 },
  });
  expect(config.store.databaseUrl).toBeUndefined();
  expect(config.http.publicBaseUrl).toBeUndefined();
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

test("the patient link is the EHR's confirmation by default; MRN alone is refused for more than one practice", () => {
  expect(loadConfig(STATIC).patientLink).toEqual({
    mode: 'ehr-confirmed',
    practiceSystem: 'https://fhir.kap-bridge.org/identifier/practice',
  });
  const dir = mkdtempSync(join(tmpdir(), 'kap-link-'));
  const tokens = (...tenants: string[]) => {
    const file = join(dir, `${tenants.join('-') || 'none'}.json`);
    const entry = (tenant: string, i: number) => ({
      sha256: `${i}`.repeat(64),
      client: `c${i}`,
      kind: 'therapist',
      tenant,
      scope: 'user/*.cruds',
    });
    writeFileSync(file, JSON.stringify({ tokens: tenants.map(entry) }));
    return { KAP_AUTH_MODE: 'static', KAP_AUTH_STATIC_TOKENS_FILE: file, KAP_PATIENT_LINK: 'mrn' };
  };
  try {
    expect(problems(tokens('practice-a', 'practice-a'))).toEqual([]);
    expect(loadConfig(tokens('practice-a')).patientLink.mode).toBe('mrn');
    expect(problems(tokens('practice-a', 'practice-b'))).toEqual([
      "KAP_PATIENT_LINK=mrn serves one practice, and KAP_AUTH_STATIC_TOKENS_FILE names 2 (practice-a, practice-b): an MRN is not a key to another practice's patient. Use KAP_PATIENT_LINK=ehr-confirmed",
    ]);
    expect(problems({ ...tokens('practice-a', 'practice-b'), KAP_PATIENT_LINK: 'ehr-confirmed' })).toEqual(
      [],
    );
    expect(problems({ ...STATIC, KAP_PATIENT_LINK: 'name' })).toEqual([
      'KAP_PATIENT_LINK must be one of ehr-confirmed, mrn (got "name")',
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
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

test('slow clients: the headers limit fits within the whole request limit', () => {
  expect(loadConfig(STATIC).http).toMatchObject({ headersTimeoutMs: 20_000, requestTimeoutMs: 60_000 });
  expect(problems({ ...STATIC, KAP_HEADERS_TIMEOUT_MS: '30000', KAP_REQUEST_TIMEOUT_MS: '10000' })).toEqual([
    'KAP_HEADERS_TIMEOUT_MS must not be longer than KAP_REQUEST_TIMEOUT_MS (10000); got 30000',
  ]);
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

test('CDS Hooks CORS: no origin by default; origins only, each as a browser sends it', () => {
  expect(loadConfig(STATIC).cds.corsOrigins).toEqual([]);
  expect(
    loadConfig({ ...STATIC, KAP_CDS_CORS_ORIGINS: 'https://ehr.example.org, http://127.0.0.1:3000' }).cds
      .corsOrigins,
  ).toEqual(['https://ehr.example.org', 'http://127.0.0.1:3000']);
  expect(
    problems({ ...STATIC, KAP_CDS_CORS_ORIGINS: 'https://ehr.example.org/app,*,ehr.example.org' }),
  ).toEqual([
    'KAP_CDS_CORS_ORIGINS must be origins such as https://ehr.example.org (no path); not https://ehr.example.org/app, *, ehr.example.org (got "https://ehr.example.org/app,*,ehr.example.org")',
  ]);
});

test('the README documents every variable in its configuration table', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const rows = new Set([...readme.matchAll(/^\| `(KAP_[A-Z0-9_]+|[A-Z_]+)` \|/gm)].map((m) => m[1]));
  expect(VARIABLES.map((v) => v.name).filter((name) => !rows.has(name))).toEqual([]);
});

describe('SMART Backend Services settings', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kap-config-'));
  const file = (name: string, content: string) => {
    writeFileSync(join(dir, name), content);
    return join(dir, name);
  };
  let rsaPem: string;
  let ecJwk: string;
  let p256Pem: string;
  let publicPem: string;
  const smart = (extra: Record<string, string>) => ({
    ...STATIC,
    KAP_EHR_AUTH: 'smart-backend',
    KAP_EHR_CLIENT_ID: 'kap-bridge',
    KAP_EHR_TOKEN_URL: 'https://ehr.example.org/oauth2/token',
    ...extra,
  });

  beforeAll(async () => {
    const rsa = await generateKeyPair('RS384', { extractable: true });
    rsaPem = file('rsa.pem', await exportPKCS8(rsa.privateKey));
    publicPem = file('public.pem', await exportSPKI(rsa.publicKey));
    const ec = await generateKeyPair('ES384', { extractable: true });
    ecJwk = file('ec.json', JSON.stringify({ ...(await exportJWK(ec.privateKey)), kid: 'kap-ec-1' }));
    const p256 = await generateKeyPair('ES256', { extractable: true });
    p256Pem = file('p256.pem', await exportPKCS8(p256.privateKey));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('a complete setting loads; the algorithm and kid come from the key when not given', () => {
    const config = loadConfig(smart({ KAP_EHR_PRIVATE_KEY_FILE: ecJwk }));
    expect(config.ehr).toMatchObject({
      auth: 'smart-backend',
      signingAlg: 'ES384',
      keyId: 'kap-ec-1',
      scopes: EHR_DEFAULT_SCOPES,
    });
    expect(
      loadConfig(smart({ KAP_EHR_PRIVATE_KEY_FILE: rsaPem, KAP_EHR_KEY_ID: 'kap-rsa-1' })).ehr,
    ).toMatchObject({ signingAlg: 'RS384', keyId: 'kap-rsa-1' });
  });

  test('the kind of authentication follows the bearer token when not given', () => {
    expect(loadConfig(STATIC).ehr.auth).toBe('none');
    expect(loadConfig({ ...STATIC, KAP_EHR_BEARER_TOKEN: 't' }).ehr.auth).toBe('bearer');
  });

  test('what smart-backend needs is named, with what it is', () => {
    expect(problems({ ...STATIC, KAP_EHR_AUTH: 'smart-backend' })).toEqual([
      'KAP_EHR_CLIENT_ID must be set when KAP_EHR_AUTH is smart-backend (the client id the EHR gave kap-bridge when its public key was registered)',
      "KAP_EHR_TOKEN_URL must be set when KAP_EHR_AUTH is smart-backend (the EHR's token endpoint, token_endpoint in its .well-known/smart-configuration)",
      "KAP_EHR_PRIVATE_KEY_FILE must be set when KAP_EHR_AUTH is smart-backend (kap-bridge's private key, a PKCS#8 PEM or a JWK file)",
    ]);
    expect(problems(smart({ KAP_EHR_PRIVATE_KEY_FILE: rsaPem }))).toEqual([
      "KAP_EHR_KEY_ID must be set when KAP_EHR_AUTH is smart-backend (the kid of kap-bridge's public key in the JWKS registered with the EHR)",
    ]);
  });

  test('a missing key file is named, with how to make one', () => {
    const missing = join(dir, 'nowhere.pem');
    expect(problems(smart({ KAP_EHR_PRIVATE_KEY_FILE: missing, KAP_EHR_KEY_ID: 'k' }))).toEqual([
      `KAP_EHR_PRIVATE_KEY_FILE: ${missing} does not exist; create the key (openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out ${missing}) and register its public key with the EHR, or point KAP_EHR_PRIVATE_KEY_FILE at the key already registered`,
    ]);
    expect(
      problems(
        smart({ KAP_EHR_PRIVATE_KEY_FILE: missing, KAP_EHR_KEY_ID: 'k', KAP_EHR_SIGNING_ALG: 'RS384' }),
      )[0],
    ).toContain('openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072');
  });

  test('an unreadable file, a public key or something else is one message each, never the content', () => {
    const garbage = file('garbage.pem', 'hunter2 is not a key');
    const cases: [string, string][] = [
      [
        dir,
        `KAP_EHR_PRIVATE_KEY_FILE: ${dir} cannot be read (EISDIR); check the path and that the user kap-bridge runs as may read the file`,
      ],
      [
        publicPem,
        `KAP_EHR_PRIVATE_KEY_FILE: ${publicPem} holds a public key or certificate, not the private key; point KAP_EHR_PRIVATE_KEY_FILE at the private key; the EHR is given the public one`,
      ],
      [
        garbage,
        `KAP_EHR_PRIVATE_KEY_FILE: ${garbage} holds no private key kap-bridge can read (expected a PKCS#8 PEM, "-----BEGIN PRIVATE KEY-----", or a private JWK as JSON); point KAP_EHR_PRIVATE_KEY_FILE at the private key file`,
      ],
    ];
    for (const [path, message] of cases)
      expect(problems(smart({ KAP_EHR_PRIVATE_KEY_FILE: path, KAP_EHR_KEY_ID: 'k' }))).toEqual([message]);
  });

  test('a key that does not fit the algorithm is named with both', () => {
    expect(
      problems(
        smart({ KAP_EHR_PRIVATE_KEY_FILE: rsaPem, KAP_EHR_KEY_ID: 'k', KAP_EHR_SIGNING_ALG: 'ES384' }),
      ),
    ).toEqual([
      `KAP_EHR_SIGNING_ALG is ES384, but KAP_EHR_PRIVATE_KEY_FILE ${rsaPem} holds an RSA 2048-bit key; ES384 needs an EC P-384 key (or set KAP_EHR_SIGNING_ALG=RS384)`,
    ]);
    expect(problems(smart({ KAP_EHR_PRIVATE_KEY_FILE: p256Pem, KAP_EHR_KEY_ID: 'k' }))).toEqual([
      `KAP_EHR_PRIVATE_KEY_FILE ${p256Pem} holds an EC P-256 key; kap-bridge signs with RS384 (an RSA key of 2048 bits or more) or ES384 (an EC P-384 key)`,
    ]);
    expect(problems(smart({ KAP_EHR_PRIVATE_KEY_FILE: ecJwk, KAP_EHR_SIGNING_ALG: 'RS256' }))).toEqual([
      'KAP_EHR_SIGNING_ALG must be one of RS384, ES384 (got "RS256")',
    ]);
    expect(problems(smart({ KAP_EHR_PRIVATE_KEY_FILE: ecJwk, KAP_EHR_KEY_ID: 'other' }))).toEqual([
      `KAP_EHR_KEY_ID is "other", but the JWK in KAP_EHR_PRIVATE_KEY_FILE ${ecJwk} has kid "kap-ec-1"; make them agree`,
    ]);
  });

  test('the token URL must be https, unless on a loopback address', () => {
    expect(
      problems(smart({ KAP_EHR_PRIVATE_KEY_FILE: ecJwk, KAP_EHR_TOKEN_URL: 'http://ehr.example.org/token' })),
    ).toEqual([
      'KAP_EHR_TOKEN_URL must be an https URL (http only for a loopback address such as 127.0.0.1) (got "http://ehr.example.org/token")',
    ]);
    expect(
      problems(smart({ KAP_EHR_PRIVATE_KEY_FILE: ecJwk, KAP_EHR_TOKEN_URL: 'http://127.0.0.1:9000/token' })),
    ).toEqual([]);
  });

  test('settings that the chosen kind would ignore are mistakes', () => {
    expect(
      problems({
        ...STATIC,
        KAP_EHR_CLIENT_ID: 'kap-bridge',
        KAP_EHR_TOKEN_URL: 'https://ehr.example.org/token',
      }),
    ).toEqual([
      'KAP_EHR_CLIENT_ID, KAP_EHR_TOKEN_URL are set, but KAP_EHR_AUTH is none; set KAP_EHR_AUTH=smart-backend to use them',
    ]);
    expect(problems(smart({ KAP_EHR_PRIVATE_KEY_FILE: ecJwk, KAP_EHR_BEARER_TOKEN: 'hunter2' }))).toEqual([
      'KAP_EHR_BEARER_TOKEN is set, but KAP_EHR_AUTH is smart-backend; unset one of them',
    ]);
    expect(problems({ ...STATIC, KAP_EHR_AUTH: 'bearer' })).toEqual([
      'KAP_EHR_BEARER_TOKEN must be set when KAP_EHR_AUTH is bearer',
    ]);
  });

  test('the default scopes cover what kap-bridge reads and writes', () => {
    const granted = new Map(
      EHR_DEFAULT_SCOPES.split(' ').map((s) => {
        const [, type, permissions] = /^system\/([A-Za-z]+)\.([cruds]+)$/.exec(s)!;
        return [type!, permissions!];
      }),
    );
    for (const type of KEPT_TYPES) expect(`${type}.${granted.get(type)}`).toMatch(/\.c?ru?s$/);
    for (const type of [...WRITTEN_TYPES, 'Subscription'])
      expect(`${type}.${granted.get(type)}`).toBe(`${type}.crus`);
  });
});
