import type { KeyObject, webcrypto } from 'node:crypto';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, exportPKCS8, generateKeyPair, jwtVerify } from 'jose';
import { loadConfig } from '../config.js';
import { ehrGateway } from '../service.js';
import { BackendServices } from './backend-services.js';
import type { SigningAlg } from './config.js';
import { EhrError, EhrGateway } from './gateway.js';
import { readPrivateKey } from './signing-key.js';

const CLIENT_ID = 'kap-bridge-test';
const SCOPE = 'system/Patient.rs system/Observation.crus';

interface Listening {
  url: string;
  close(): Promise<void>;
}

async function listen(
  handle: (req: IncomingMessage, body: string, res: ServerResponse) => void | Promise<void>,
) {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString('utf8');
    });
    req.on('end', () => void handle(req, body, res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  } satisfies Listening;
}

const json = (res: ServerResponse, status: number, body: unknown, type = 'application/json') => {
  res.writeHead(status, { 'content-type': type });
  res.end(JSON.stringify(body));
};

/**
 * A token endpoint that checks every part of the client credentials grant against the public key,
 * as an EHR's authorization server does, and issues short-lived opaque tokens.
 */
class TokenEndpoint {
  url = '';
  requests = 0;
  /** Why an assertion was refused, one line per refusal. */
  refusals: string[] = [];
  /** token -> when it expires (ms). */
  issued = new Map<string, number>();
  lifetimeSeconds = 300;
  failWith?: { status: number; body: unknown };
  private readonly seenJti = new Set<string>();
  private server?: Listening;

  constructor(
    private readonly publicKey: webcrypto.CryptoKey,
    private readonly alg: SigningAlg,
    private readonly kid: string,
  ) {}

  async start(): Promise<void> {
    this.server = await listen((req, body, res) => this.handle(req, body, res));
    this.url = `${this.server.url}/oauth2/token`;
  }

  close = () => this.server?.close();

  private async handle(req: IncomingMessage, body: string, res: ServerResponse): Promise<void> {
    this.requests++;
    if (this.failWith) return json(res, this.failWith.status, this.failWith.body);
    const refuse = (why: string) => {
      this.refusals.push(why);
      json(res, 401, { error: 'invalid_client', error_description: why });
    };
    const form = new URLSearchParams(body);
    if (req.method !== 'POST' || req.url !== '/oauth2/token') return refuse(`${req.method} ${req.url}`);
    if (req.headers['content-type'] !== 'application/x-www-form-urlencoded')
      return refuse(`content-type ${req.headers['content-type']}`);
    if (form.get('grant_type') !== 'client_credentials') return refuse('grant_type');
    if (form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer')
      return refuse('client_assertion_type');
    if (form.get('scope') !== SCOPE) return refuse(`scope ${form.get('scope')}`);
    try {
      const { payload, protectedHeader } = await jwtVerify(
        form.get('client_assertion') ?? '',
        this.publicKey,
        {
          algorithms: [this.alg],
          issuer: CLIENT_ID,
          subject: CLIENT_ID,
          audience: this.url,
          requiredClaims: ['jti', 'exp', 'iat'],
        },
      );
      if (protectedHeader.kid !== this.kid) return refuse(`kid ${protectedHeader.kid}`);
      if (payload.aud !== this.url) return refuse('aud is not exactly the token URL');
      if (this.seenJti.has(payload.jti!)) return refuse('jti seen before');
      this.seenJti.add(payload.jti!);
      if (payload.exp! - Date.now() / 1000 > 300) return refuse('exp more than 5 minutes ahead');
    } catch (e) {
      return refuse((e as Error).message);
    }
    const token = randomUUID();
    this.issued.set(token, Date.now() + this.lifetimeSeconds * 1000);
    json(res, 200, {
      access_token: token,
      token_type: 'bearer',
      expires_in: this.lifetimeSeconds,
      scope: SCOPE,
    });
  }
}

/** A FHIR server that answers `GET /fhir/Patient/{id}` only with a live token from the endpoint above. */
class FhirStub {
  url = '';
  requests = 0;
  unauthorized = 0;
  /** The token each answered request carried, in order. */
  served: string[] = [];
  revoked = new Set<string>();
  refuseAll = false;
  private server?: Listening;

  constructor(private readonly tokens: TokenEndpoint) {}

  async start(): Promise<void> {
    this.server = await listen((req, _body, res) => this.handle(req, res));
    this.url = `${this.server.url}/fhir`;
  }

  close = () => this.server?.close();

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.requests++;
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
    const expiresAt = this.tokens.issued.get(token) ?? 0;
    if (this.refuseAll || this.revoked.has(token) || expiresAt <= Date.now()) {
      this.unauthorized++;
      const outcome = { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'login' }] };
      json(res, 401, outcome, 'application/fhir+json');
      return;
    }
    this.served.push(token);
    const id = /^\/fhir\/Patient\/([^/?]+)$/.exec(req.url ?? '')?.[1];
    json(res, 200, { resourceType: 'Patient', id }, 'application/fhir+json');
  }
}

async function failure(promise: Promise<unknown>): Promise<EhrError> {
  try {
    await promise;
  } catch (e) {
    if (e instanceof EhrError) return e;
    throw e;
  }
  throw new Error('expected the call to fail');
}

const dir = mkdtempSync(join(tmpdir(), 'kap-smart-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A key pair for `alg`, its private half written as kap-bridge reads it: PEM for RSA, a JWK for EC. */
async function keyFile(alg: SigningAlg, kid: string) {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const file = join(dir, `${kid}.${alg === 'RS384' ? 'pem' : 'json'}`);
  writeFileSync(
    file,
    alg === 'RS384'
      ? await exportPKCS8(privateKey)
      : JSON.stringify({ ...(await exportJWK(privateKey)), kid, alg }),
  );
  const read = readPrivateKey(file);
  return { file, publicKey, key: read.key, kid: read.kid ?? kid };
}

describe.each<SigningAlg>(['RS384', 'ES384'])('SMART Backend Services with %s', (alg) => {
  let signing: Awaited<ReturnType<typeof keyFile>>;
  let tokens: TokenEndpoint;
  let fhir: FhirStub;
  let gateway: EhrGateway;

  const client = (key: KeyObject = signing.key, now?: () => number) =>
    new BackendServices({
      tokenUrl: tokens.url,
      clientId: CLIENT_ID,
      key,
      alg,
      keyId: signing.kid,
      scope: SCOPE,
      ...(now ? { now } : {}),
    });

  beforeAll(async () => {
    signing = await keyFile(alg, `kap-${alg.toLowerCase()}`);
  });

  beforeEach(async () => {
    tokens = new TokenEndpoint(signing.publicKey, alg, signing.kid);
    await tokens.start();
    fhir = new FhirStub(tokens);
    await fhir.start();
    gateway = new EhrGateway({ baseUrl: fhir.url, timeoutMs: 5000, auth: client() });
  });

  afterEach(async () => {
    await tokens.close();
    await fhir.close();
  });

  test('one token serves many calls, and callers at the same moment share one token request', async () => {
    const together = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((id) => gateway.read('Patient', id)));
    expect(together.map((p) => p.id)).toEqual(['a', 'b', 'c', 'd', 'e']);
    for (const id of ['f', 'g', 'h', 'i', 'j']) expect((await gateway.read('Patient', id)).id).toBe(id);
    expect(tokens.refusals).toEqual([]);
    expect(tokens.requests).toBe(1);
    expect(fhir).toMatchObject({ requests: 10, unauthorized: 0 });
    expect(new Set(fhir.served).size).toBe(1);
  });

  test('the token is renewed before it expires, never used past its end', async () => {
    tokens.lifetimeSeconds = 2;
    // The client's clock is driven by the test: time passes without waiting for it.
    let now = Date.now();
    const timed = new EhrGateway({ baseUrl: fhir.url, timeoutMs: 5000, auth: client(undefined, () => now) });
    await timed.read('Patient', 'a');
    now += 300;
    await timed.read('Patient', 'b');
    expect(tokens.requests).toBe(1);
    // Past the renewal point (half of a short lifetime) but before the first token's end.
    now += 900;
    const first = fhir.served[0]!;
    expect(tokens.issued.get(first)!).toBeGreaterThan(now);
    await timed.read('Patient', 'c');
    expect(tokens.requests).toBe(2);
    expect(fhir.served[2]).not.toBe(first);
    // Past the second token's end: it is not used again either.
    now += 2_000;
    await timed.read('Patient', 'd');
    expect(tokens.requests).toBe(3);
    expect(fhir.served[3]).not.toBe(fhir.served[2]);
    expect(tokens.refusals).toEqual([]);
    expect(fhir.unauthorized).toBe(0);
  });

  test('a 401 drops the token; one fresh token is asked for and the request sent once more', async () => {
    await gateway.read('Patient', 'a');
    fhir.revoked.add(fhir.served[0]!);
    expect((await gateway.read('Patient', 'b')).id).toBe('b');
    expect(tokens.refusals).toEqual([]);
    expect(tokens.requests).toBe(2);
    expect(fhir).toMatchObject({ requests: 3, unauthorized: 1 });
  });

  test('a second 401 is an unauthorized EhrError after exactly two token requests', async () => {
    fhir.refuseAll = true;
    const e = await failure(gateway.read('Patient', 'a'));
    expect(e).toMatchObject({ kind: 'unauthorized', status: 401 });
    expect(e.message).toContain('also with a fresh access token');
    expect(tokens.refusals).toEqual([]);
    expect(tokens.requests).toBe(2);
    expect(fhir.requests).toBe(2);
  });

  test('an assertion signed by another key is refused: an unauthorized EhrError, no EHR request', async () => {
    const stranger = await keyFile(alg, `stranger-${alg.toLowerCase()}`);
    const refused = new EhrGateway({ baseUrl: fhir.url, auth: client(stranger.key) });
    const e = await failure(refused.read('Patient', 'a'));
    expect(e).toMatchObject({ kind: 'unauthorized', status: 401 });
    expect(e.message).toContain('the token endpoint answered 401 invalid_client');
    // Neither the signed assertion (a JWT starts "eyJ") nor any token is ever in the message.
    expect(e.message).not.toMatch(/eyJ/);
    expect(tokens.refusals).toHaveLength(1);
    expect(fhir.requests).toBe(0);
  });
});

describe('token endpoint failures', () => {
  let signing: Awaited<ReturnType<typeof keyFile>>;
  let tokens: TokenEndpoint;
  beforeAll(async () => {
    signing = await keyFile('ES384', 'kap-failures');
    tokens = new TokenEndpoint(signing.publicKey, 'ES384', signing.kid);
    await tokens.start();
  });
  afterAll(() => tokens.close());

  const auth = (tokenUrl = tokens.url) =>
    new BackendServices({
      tokenUrl,
      clientId: CLIENT_ID,
      key: signing.key,
      alg: 'ES384',
      keyId: signing.kid,
      scope: SCOPE,
      timeoutMs: 2000,
    });

  test.each([
    [503, { error: 'temporarily_unavailable' }, 'unavailable'],
    [429, {}, 'rate-limited'],
    [
      400,
      { error: 'invalid_scope', error_description: 'system/Observation.crus is not granted' },
      'unauthorized',
    ],
    [302, {}, 'malformed'],
    [200, { token_type: 'bearer', expires_in: 300 }, 'malformed'],
  ])('%i %j is a typed %s error', async (status, body, kind) => {
    tokens.failWith = { status, body };
    const e = await failure(auth().authorization());
    expect(e.kind).toBe(kind);
    expect(e.message).toMatch(/^Getting an access token from http:\/\/127\.0\.0\.1:\d+\/oauth2\/token: /);
    if (status === 400) expect(e.message).toContain('invalid_scope: system/Observation.crus is not granted');
  });

  test('an unreachable token endpoint is a network error', async () => {
    const e = await failure(auth('http://127.0.0.1:9/oauth2/token').authorization());
    expect(e).toMatchObject({ kind: 'network', retryable: true });
  });

  test('a token URL in clear off this machine is refused before any request', () => {
    expect(() => auth('http://auth.example.org/oauth2/token')).toThrow(/must be an https URL/);
  });
});

test('configured from the environment, the service gateway reads with SMART access tokens', async () => {
  const signing = await keyFile('ES384', 'kap-configured');
  const tokens = new TokenEndpoint(signing.publicKey, 'ES384', signing.kid);
  await tokens.start();
  const fhir = new FhirStub(tokens);
  await fhir.start();
  try {
    const config = loadConfig(
      {
        KAP_EHR_BASE_URL: fhir.url,
        KAP_SUBSCRIBE_ON_START: 'false',
        KAP_EHR_AUTH: 'smart-backend',
        KAP_EHR_CLIENT_ID: CLIENT_ID,
        KAP_EHR_PRIVATE_KEY_FILE: signing.file,
        KAP_EHR_TOKEN_URL: tokens.url,
        KAP_EHR_SCOPES: SCOPE,
      },
      'job',
    );
    const gateway = ehrGateway(config.ehr)!;
    expect((await gateway.read('Patient', 'a')).id).toBe('a');
    expect((await gateway.read('Patient', 'b')).id).toBe('b');
    expect(tokens.refusals).toEqual([]);
    expect(tokens.requests).toBe(1);
  } finally {
    await tokens.close();
    await fhir.close();
  }
});
