/**
 * Who may see what, over real HTTP, with kap-bridge checking real JWTs against a JWKS file: every
 * route of the route table called without a token, with an expired or wrongly signed one, as each
 * kind of client, with too narrow a scope and as another practice; the audit trail of it all; the
 * rate limit and the security headers. Refused requests change nothing.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEvent, Bundle } from 'fhir/r4';
import { exportJWK, generateKeyPair, type JWTPayload, SignJWT } from 'jose';
import { ADVERSE_EVENTS } from '../../src/api/schemas.js';
import type { Owner } from '../../src/auth/access.js';
import type { ClientKind } from '../../src/auth/authentication.js';
import { loadConfig } from '../../src/config.js';
import { openApiDocument } from '../../src/http/openapi.js';
import { FHIR_OTHER, ROUTES, type RouteAccess } from '../../src/http/routes.js';
import { createLogger } from '../../src/log.js';
import { OUTBOX_TABLES } from '../../src/outbox/migrations.js';
import { type Service, startService } from '../../src/service.js';
import { STORE_TABLES } from '../../src/store/migrations.js';
import { CDS_ISSUER, CdsClient, cdsClientKeys, type SignOptions } from '../support/cds-client.js';
import { rowCounts } from '../support/databases.js';
import { startTestService } from '../support/service.js';

const ISSUER = 'https://idp.practice.test';
const AUDIENCE = 'https://kap-bridge.practice.test';

let dir: string;
let service: Service;
let idpKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
let sign: (claims: JWTPayload, options?: { expiresIn?: string | number; rogue?: boolean }) => Promise<string>;
/** The prescriber's EHR as a CDS client: its own key, its JWT's audience the URL it calls. */
let cdsSign: (path: string, options?: SignOptions & { rogue?: boolean }) => Promise<string>;

// biome-ignore lint/suspicious/noExplicitAny: tests read answers field by field, as a client would
type Json = any;
interface Answer {
  status: number;
  headers: Headers;
  body: Json;
}

async function call(method: string, path: string, token?: string, body?: unknown): Promise<Answer> {
  const res = await fetch(`${service.url}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  const json = res.headers.get('content-type')?.includes('json');
  return { status: res.status, headers: res.headers, body: text && json ? JSON.parse(text) : text };
}

/** The same as `call`, with the path sent exactly as given; a body goes with anything but a GET. */
function rawCall(method: string, path: string, token: string, body: unknown): Promise<Answer> {
  const { port } = new URL(service.url);
  const text = method === 'GET' ? '' : JSON.stringify(body);
  const headers = text
    ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }
    : undefined;
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method, path, headers: { authorization: `Bearer ${token}`, ...headers } },
      (res) => {
        let answer = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          answer += d;
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: new Headers(), body: JSON.parse(answer) }),
        );
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}

/** A console session: its cookie and CSRF token, signed in with `bearerToken` at POST /console/session. */
async function consoleSignIn(
  bearerToken: string,
  host?: string,
): Promise<{ cookie: string; csrf: string; setCookie: string }> {
  // node:http, not fetch: fetch will not send a Host of the caller's choosing (a proxy's).
  const { port } = new URL(service.url);
  const body = JSON.stringify({ token: bearerToken });
  const { status, setCookie, answer } = await new Promise<{
    status: number;
    setCookie: string;
    answer: string;
  }>((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/console/session',
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          ...(host ? { host } : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          text += d;
        });
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            setCookie: res.headers['set-cookie']?.[0] ?? '',
            answer: text,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
  expect(status).toBe(201);
  return { cookie: setCookie.split(';')[0]!, csrf: (JSON.parse(answer) as Json).csrf, setCookie };
}

/** `call` with a console session cookie in place of a bearer token, and the CSRF header when given. */
async function cookieCall(
  method: string,
  path: string,
  cookie: string,
  csrf?: string,
  body?: unknown,
): Promise<Answer> {
  const res = await fetch(`${service.url}${path}`, {
    method,
    headers: {
      cookie,
      ...(csrf === undefined ? {} : { 'x-csrf-token': csrf }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (res.headers.get('content-type')?.startsWith('text/event-stream')) {
    await res.body?.cancel();
    return { status: res.status, headers: res.headers, body: '' };
  }
  const text = await res.text();
  const json = res.headers.get('content-type')?.includes('json');
  return { status: res.status, headers: res.headers, body: text && json ? JSON.parse(text) : text };
}

/** Each kind of client as a token would describe it, with all the scopes its kind uses. */
const CLIENTS: Record<ClientKind | 'otherPractice', JWTPayload> = {
  therapist: { client_id: 'therapy-a', sub: 'dr-rivera', tenant: 'practice-a', scope: 'user/*.cruds' },
  otherPractice: { client_id: 'therapy-b', sub: 'dr-okafor', tenant: 'practice-b', scope: 'user/*.cruds' },
  ehr: { client_id: 'prescriber-ehr', scope: 'system/*.cruds' },
  operator: { client_id: 'on-call', scope: 'system/AuditEvent.rs system/*.r' },
};
const token = (who: keyof typeof CLIENTS, extra: JWTPayload = {}) => sign({ ...CLIENTS[who], ...extra });

/** What each table route is called with: the practice-a objects its :id names, a body when it takes one. */
const PATIENT = 'sec-patient';
const EPISODE = 'sec-episode';
let session: string;
const pathOf = (access: RouteAccess): string =>
  access.path
    .replace(':type', 'MedicationRequest')
    .replace(':version', '1')
    // The catch-all: a path no route of the table takes.
    .replace('*', 'Basic/1/nothing/here')
    .replace(
      ':id',
      access.owner === 'patient'
        ? PATIENT
        : access.owner === 'episode'
          ? EPISODE
          : access.owner === 'session'
            ? session
            : 'rx-sec',
    );
const BATCH = {
  resourceType: 'Bundle',
  type: 'batch',
  entry: [
    {
      resource: { resourceType: 'MedicationRequest', id: 'rx-sec' },
      request: { method: 'PUT', url: 'MedicationRequest/rx-sec' },
    },
  ],
};
const bodyOf = (access: RouteAccess): unknown =>
  access.method === 'GET' ? undefined : access.path === '/fhir' ? BATCH : {};

/** Row counts of every table a request could change, apart from the audit trail. */
function fingerprint(): Promise<string> {
  return rowCounts(service.store, [
    [STORE_TABLES, ['patients', 'patient_identifiers', 'episodes', 'resources']],
    [OUTBOX_TABLES, ['outbox']],
  ]);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kap-security-'));
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  idpKey = privateKey;
  const rogue = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'practice-idp-1', alg: 'ES256', use: 'sig' };
  writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [jwk] }));
  sign = (claims, { expiresIn = '5m', rogue: byRogue = false } = {}) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: 'practice-idp-1' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(expiresIn)
      .sign(byRogue ? rogue.privateKey : privateKey);
  const cdsKeys = await cdsClientKeys();
  const cdsRogue = await cdsClientKeys();
  writeFileSync(join(dir, 'ehr-cds-jwks.json'), JSON.stringify(cdsKeys.jwks));
  service = await startTestService(
    {
      KAP_CDS_ISSUERS: CDS_ISSUER,
      KAP_CDS_JWKS: join(dir, 'ehr-cds-jwks.json'),
      KAP_AUTH_MODE: 'jwt',
      KAP_AUTH_STATIC_TOKENS_FILE: '',
      KAP_AUTH_JWKS: join(dir, 'jwks.json'),
      KAP_AUTH_ISSUER: ISSUER,
      KAP_AUTH_AUDIENCE: AUDIENCE,
      KAP_AUTH_EHR_CLIENTS: 'prescriber-ehr',
      KAP_AUTH_OPERATOR_CLIENTS: 'on-call',
    },
    { dir },
  );
  const cdsClient = new CdsClient(service.url, cdsKeys.keys.privateKey);
  cdsSign = (path, { rogue: byRogue = false, ...options } = {}) =>
    cdsClient.sign(path, { ...options, ...(byRogue ? { key: cdsRogue.keys.privateKey } : {}) });
  const a = await token('therapist');
  const ok = async (path: string, body: unknown) => {
    const res = await call('POST', `/api/v1${path}`, a, body);
    if (res.status >= 300) throw new Error(`${path}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  };
  await ok('/patients', {
    id: PATIENT,
    identifiers: [{ system: 'urn:therapist:client', value: 'C-100' }],
    ehrPatient: 'Patient/sec-ehr-1',
  });
  await ok('/episodes', { id: EPISODE, type: 'individual', patients: [PATIENT] });
  session = (
    await ok(`/episodes/${EPISODE}/sessions`, { phase: 'preparation', start: '2026-03-02T10:00:00Z' })
  ).id;
});
afterAll(async () => {
  await service.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Every route of the table that needs a caller, and the /fhir catch-all behind the same guard. */
const guarded: [string, RouteAccess][] = [
  ...Object.entries(ROUTES as Record<string, RouteAccess>).filter(([, a]) => a.clients !== 'public'),
  ['fhirOther', FHIR_OTHER],
];

describe('every route of the table', () => {
  test.each(guarded)('%s: refuses who it must, and lets in its own client', async (_name, access) => {
    const path = pathOf(access);
    const body = bodyOf(access);
    const before = await fingerprint();
    const kinds = access.clients as readonly ClientKind[];

    const none = await call(access.method, path, undefined, body);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer realm="kap-bridge"/);
    expect(none.body.resourceType).toBe('OperationOutcome');

    const own = kinds[0]!;
    // The CDS Hooks routes take the EHR's CDS client JWT, never a token of kap-bridge's own clients.
    const cds = access.credential === 'cds-hooks';
    const ownToken = (options: { expiresIn?: number; rogue?: boolean } = {}) =>
      cds ? cdsSign(path, options) : sign(CLIENTS[own], options);
    const expired = await call(access.method, path, await ownToken({ expiresIn: -120 }), body);
    expect(expired.status).toBe(401);
    expect(expired.body.issue[0].diagnostics).toMatch(/ERR_JWT_EXPIRED/);
    const forged = await call(access.method, path, await ownToken({ rogue: true }), body);
    expect(forged.status).toBe(401);
    expect(forged.headers.get('www-authenticate')).toContain('error="invalid_token"');

    for (const kind of (['therapist', 'ehr', 'operator'] as const).filter((k) => cds || !kinds.includes(k))) {
      const wrong = await call(access.method, path, await token(kind), body);
      expect({ kind, status: wrong.status }).toEqual({ kind, status: cds ? 401 : 403 });
    }
    if (access.scope !== undefined) {
      const context = own === 'therapist' ? 'user' : 'system';
      const narrow = await call(access.method, path, await token(own, { scope: `${context}/Basic.r` }), body);
      expect(narrow.status).toBe(403);
      expect(narrow.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
    }
    if (access.owner) {
      const foreign = await call(access.method, path, await token('otherPractice'), body);
      const unknown = await call(
        access.method,
        path.replace(/sec-[a-z]+|[0-9a-f-]{36}/, 'never-registered'),
        await token('otherPractice'),
        body,
      );
      expect(foreign.status).toBe(404);
      // The same answer as for an id nobody registered: nothing tells that it exists.
      expect(foreign.body.issue[0].diagnostics.replace(/\S+ is registered/, 'X')).toBe(
        unknown.body.issue[0].diagnostics.replace(/\S+ is registered/, 'X'),
      );
    }
    expect(await fingerprint()).toBe(before);

    const allowed = await call(access.method, path, cds ? await cdsSign(path) : await token(own), body);
    expect([401, 403]).not.toContain(allowed.status);
    if (access.owner) expect(allowed.status).not.toBe(404);
  });

  const withId = guarded.filter(([, a]) => a.path.includes(':id'));
  test.each(withId)(
    '%s: a path id that is no FHIR id, "." and ".." included, is a 400 naming the id',
    async (_name, access) => {
      const before = await fingerprint();
      for (const bad of ['..', '%2e%2e', '.', '%2E', 'a%2Fb', 'x'.repeat(65), 'a%20b', '%C3%A9']) {
        // Sent as it is: fetch would resolve "." and ".." segments away before they left.
        const path = access.path
          .replace(':type', 'MedicationRequest')
          .replace(':version', '1')
          .replace(':id', bad);
        // A CDS client JWT names the endpoint called, its id as the service reads it.
        const own =
          access.credential === 'cds-hooks'
            ? await cdsSign(access.path.replace(':id', encodeURIComponent(decodeURIComponent(bad))))
            : await token((access.clients as readonly ClientKind[])[0]!);
        const res = await rawCall(access.method, path, own, { resourceType: 'MedicationRequest', id: bad });
        expect({ bad, status: res.status, expression: res.body.issue?.[0]?.expression }).toEqual({
          bad,
          status: 400,
          expression: ['id'],
        });
      }
      expect(await fingerprint()).toBe(before);
    },
  );
});

/** The routes whose body names objects: each such field, as the table declares it. */
const bodyReferences = guarded.flatMap(([name, access]) =>
  (access.references ?? []).map((ref) => [name, access, ref] as const),
);

/**
 * A body for each route that takes a client-chosen `id` (the API's request schemas with an `id`),
 * naming the calling practice's own objects; each practice's differs from the other's.
 */
const REUSE_BODIES: Record<string, (id: string, mine: Record<Owner, string>) => unknown> = {
  registerPatient: (id, mine) => ({
    id,
    identifiers: [{ system: 'urn:mrn', value: `MRN-${id}-${mine.patient}` }],
  }),
  registerEpisode: (id, mine) => ({ id, type: 'individual', patients: [mine.patient] }),
  recordConsent: (id, mine) => ({
    id,
    patient: mine.patient,
    signedAt: '2026-03-01T09:00:00Z',
    document: { url: `https://therapist.example/${mine.episode}.pdf`, contentType: 'application/pdf' },
  }),
  scheduleSession: (id, mine) => ({
    id,
    phase: 'preparation',
    start: '2026-03-03T10:00:00Z',
    therapist: `Practitioner/${mine.patient}`,
  }),
  recordDose: (id, mine) => ({
    id,
    patient: mine.patient,
    dose: { value: 1, unit: 'mg' },
    time: '2026-03-02T10:10:00Z',
  }),
  recordObservation: (id, mine) => ({
    id,
    value: { kind: 'heart-rate', perMinute: mine.patient === 'ref-a-pat' ? 70 : 80 },
    effective: '2026-03-02T10:05:00Z',
  }),
  recordCourseObservation: (id, mine) => ({
    id,
    patient: mine.patient,
    value: { kind: 'heart-rate', perMinute: mine.patient === 'ref-a-pat' ? 71 : 81 },
    effective: '2026-03-02T10:06:00Z',
  }),
  requestCourseClearance: (id, mine) => ({
    id,
    patient: mine.patient,
    requester: `Practitioner/${mine.patient}`,
    reason: 'KAP course planned',
    authoredOn: '2026-03-01T08:05:00Z',
  }),
  recordAdverseEvent: (id, mine) => ({
    id,
    patient: mine.patient,
    event: ADVERSE_EVENTS[0],
    severity: 'mild',
    serious: false,
    onset: '2026-03-02T10:15:00Z',
    outcome: 'resolved',
  }),
  requestClearance: (id, mine) => ({
    id,
    episode: mine.episode,
    requester: `Practitioner/${mine.patient}`,
    reason: 'KAP course planned',
    authoredOn: '2026-03-01T08:00:00Z',
  }),
};

/** The routes whose request body takes a client-chosen id, from the OpenAPI document the API validates against. */
const creating = guarded.filter(([name]) => {
  const operation = Object.values(openApiDocument.paths)
    .flatMap((p) => Object.values(p as Record<string, { operationId?: string; requestBody?: Json }>))
    .find((o) => o.operationId === name);
  const ref: string | undefined = operation?.requestBody?.content['application/json'].schema.$ref;
  const schema = ref && (openApiDocument.components.schemas as Record<string, Json>)[ref.split('/').pop()!];
  return schema?.properties?.id !== undefined;
});

describe.each(['ehr-confirmed', 'mrn'])('body references, with KAP_PATIENT_LINK=%s', (link) => {
  let linked: Service;
  let linkedDir: string;
  const at = (method: string, path: string, who: string, body: unknown) =>
    fetch(`${linked.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${who}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }).then(async (res) => ({ status: res.status, body: (await res.json()) as Json }));
  /** Each practice's own patient, episode and session in this service. */
  const own: Record<'a' | 'b', Record<Owner, string>> = {
    a: { patient: 'ref-a-pat', episode: 'ref-a-ep', session: '' },
    b: { patient: 'ref-b-pat', episode: 'ref-b-ep', session: '' },
  };

  beforeAll(async () => {
    linkedDir = mkdtempSync(join(tmpdir(), 'kap-references-'));
    linked = await startService(
      loadConfig({
        PORT: '0',
        KAP_SQLITE_FILE: join(linkedDir, 'kap.db'),
        KAP_AUTH_MODE: 'jwt',
        // The JWT configuration names no practice, so mrn cannot be refused at start here.
        KAP_AUTH_JWKS: join(dir, 'jwks.json'),
        KAP_AUTH_ISSUER: ISSUER,
        KAP_AUTH_AUDIENCE: AUDIENCE,
        KAP_RATE_LIMIT_PER_SECOND: '0',
        KAP_PATIENT_LINK: link,
        LOG_LEVEL: 'silent',
      }),
      createLogger('silent'),
    );
    for (const [who, mine] of [
      ['therapist', own.a],
      ['otherPractice', own.b],
    ] as const) {
      const t = await token(who);
      const made = [
        await at('POST', '/api/v1/patients', t, {
          id: mine.patient,
          identifiers: [{ system: 'urn:mrn', value: 'MRN-REF-1' }],
          ehrPatient: 'Patient/ref-ehr-1',
        }),
        await at('POST', '/api/v1/episodes', t, {
          id: mine.episode,
          type: 'individual',
          patients: [mine.patient],
        }),
      ];
      const session = await at('POST', `/api/v1/episodes/${mine.episode}/sessions`, t, {
        phase: 'preparation',
        start: '2026-03-02T10:00:00Z',
      });
      expect([...made, session].map((m) => m.status)).toEqual([201, 201, 201]);
      mine.session = session.body.id;
    }
  });
  afterAll(async () => {
    await linked.close();
    rmSync(linkedDir, { recursive: true, force: true });
  });

  test("another practice's records never reach a practice's record; the EHR's only on the EHR's word", async () => {
    // B records a consent for its course on the EHR Patient both practices registered by one MRN.
    const consent = await at(
      'POST',
      `/api/v1/episodes/${own.b.episode}/consents`,
      await token('otherPractice'),
      {
        patient: own.b.patient,
        signedAt: '2026-03-01T09:00:00Z',
        document: { url: 'https://therapist.example/agreements/kap.pdf', contentType: 'application/pdf' },
      },
    );
    expect(consent.status).toBe(201);
    const a = await token('therapist');
    const status = await fetch(
      `${linked.url}/api/v1/patients/${own.a.patient}/medication-status?date=2026-03-05`,
      {
        headers: { authorization: `Bearer ${a}` },
      },
    ).then(async (res) => ({ status: res.status, body: (await res.json()) as Json }));
    expect(status.status).toBe(200);
    const reasons = status.body.reasons.map((r: { code: string }) => r.code);
    expect(reasons).toContain('no-consent');
    // With the EHR's word required, nothing confirmed it for A: pending. With the MRN's, linked.
    expect(reasons.includes('link-pending')).toBe(link === 'ehr-confirmed');
  });

  test('the table declares body references', () => {
    expect(bodyReferences.length).toBeGreaterThan(0);
  });

  test.each(bodyReferences)(
    "%s: another practice's object in the body answers exactly as an unknown one",
    async (_name, access, ref) => {
      const b = await token('otherPractice');
      // Practice B on its own path object, naming practice A's object, an unknown one, and its own.
      const path = access.path.replace(':id', own.b[access.owner!]);
      const named = (id: string) => ({ [ref.field]: ref.list ? [id] : id });
      const foreignId = own.a[ref.owner];
      const foreign = await at(access.method, path, b, named(foreignId));
      const unknown = await at(access.method, path, b, named('never-registered'));
      expect({ status: foreign.status, issue: foreign.body.issue }).toEqual({
        status: unknown.status,
        issue: unknown.body.issue.map((i: { diagnostics: string }) => ({
          ...i,
          diagnostics: i.diagnostics.replace('never-registered', foreignId),
        })),
      });
      expect(foreign.status).toBe(422);
      expect(foreign.body.issue[0].expression).toEqual([ref.list ? `${ref.field}[0]` : ref.field]);
      // Its own object passes this check (whatever else the body lacks).
      const mine = await at(access.method, path, b, named(own.b[ref.owner]));
      expect(mine.body.issue?.[0]?.diagnostics ?? '').not.toMatch(/is registered/);
    },
  );

  test('the table and the API declare the routes that take a client-chosen id', () => {
    expect(creating.map(([name]) => name).sort()).toEqual(Object.keys(REUSE_BODIES).sort());
  });

  test.each(creating)(
    "%s: an id another practice chose is an ordinary create, its record kept beside the other's",
    async (name, access) => {
      const [a, b] = [await token('therapist'), await token('otherPractice')];
      const send = (who: 'a' | 'b', t: string, id: string) =>
        at(
          access.method,
          access.path.replace(':id', access.owner ? own[who][access.owner] : ''),
          t,
          REUSE_BODIES[name]!(id, own[who]),
        );
      const reused = `reuse-${name}-${link}`;
      const first = await send('a', a, reused);
      // Practice B reusing A's id is answered as B choosing an id nobody used: same status, same text.
      const again = await send('b', b, reused);
      const fresh = await send('b', b, `fresh-${name}-${link}`);
      const said = (answer: { status: number; body: Json }, id: string) => ({
        status: answer.status,
        said: answer.status < 300 ? answer.body.id : JSON.stringify(answer.body.issue).replaceAll(id, 'ID'),
      });
      expect(said(again, reused)).toEqual({
        ...said(fresh, `fresh-${name}-${link}`),
        ...(fresh.status < 300 ? { said: reused } : {}),
      });
      expect(again.status).toBe(first.status);
      if (first.status !== 201) {
        // A dose or an adverse event is refused in a preparation session, for both practices alike.
        expect({ name, status: first.status }).toEqual({
          name: expect.stringMatching(/^(recordDose|recordAdverseEvent)$/),
          status: 422,
        });
        return;
      }
      // Both records live side by side, each its practice's own, each known to the EHR apart.
      const kept = await Promise.all(
        (['practice-a', 'practice-b'] as const).map((tenant) => keptUnder(access, reused, tenant)),
      );
      expect(kept.every((k) => k !== undefined)).toBe(true);
      expect(new Set(kept.map((k) => k!.ehrIdentifier)).size).toBe(2);
      expect(JSON.stringify(kept[0]!.body)).not.toBe(JSON.stringify(kept[1]!.body));
    },
  );

  /** What a practice keeps under an id: a patient or course as registered, else its own resource of the route's type. */
  async function keptUnder(access: RouteAccess, id: string, tenant: string) {
    const type = (access.scope as readonly [string, string])[0];
    if (type === 'Patient') {
      const p = await linked.store.getPatient(id, tenant);
      return p && { body: p, ehrIdentifier: tenant };
    }
    if (type === 'EpisodeOfCare') {
      const e = await linked.store.getEpisode(id, tenant);
      const r = await linked.store.getOwn(type, id, tenant);
      return e && r && { body: e, ehrIdentifier: r.ehrIdentifier };
    }
    const r = await linked.store.getOwn(type, id, tenant);
    return r && { body: r.resource, ehrIdentifier: r.ehrIdentifier };
  }
});

describe('the console session in place of a bearer token', () => {
  /** The routes a person signed in to the console may call, by the kind of client they are. */
  const forPeople = guarded.filter(([, a]) =>
    (a.clients as readonly ClientKind[]).some((k) => k === 'therapist' || k === 'operator'),
  );

  test.each(forPeople)(
    '%s: no cookie, a tampered cookie, a write without the CSRF token, another practice: refused, nothing changed',
    async (_name, access) => {
      const path = pathOf(access);
      const body = bodyOf(access);
      const kind = (access.clients as readonly ClientKind[]).includes('therapist') ? 'therapist' : 'operator';
      const own = await consoleSignIn(await token(kind));
      const before = await fingerprint();

      expect((await cookieCall(access.method, path, '', own.csrf, body)).status).toBe(401);
      const [name, value] = own.cookie.split('=') as [string, string];
      const tampered = `${name}=${value.slice(0, -2)}${value.endsWith('AA') ? 'BB' : 'AA'}`;
      const refused = await cookieCall(access.method, path, tampered, own.csrf, body);
      expect(refused.status).toBe(401);
      expect(refused.body.resourceType).toBe('OperationOutcome');
      if (access.method !== 'GET') {
        expect((await cookieCall(access.method, path, own.cookie, undefined, body)).status).toBe(403);
        expect((await cookieCall(access.method, path, own.cookie, `${own.csrf}x`, body)).status).toBe(403);
      }
      if (access.owner) {
        const other = await consoleSignIn(await token('otherPractice'));
        expect((await cookieCall(access.method, path, other.cookie, other.csrf, body)).status).toBe(404);
      }
      expect(await fingerprint()).toBe(before);

      const allowed = await cookieCall(access.method, path, own.cookie, own.csrf, body);
      expect([401, 403]).not.toContain(allowed.status);
      if (access.owner) expect(allowed.status).not.toBe(404);
    },
  );

  test('the cookie is HttpOnly and SameSite=Strict; Secure and __Host- unless reached on loopback http; gone at sign-out', async () => {
    const local = await consoleSignIn(await token('therapist'));
    expect(local.setCookie).toMatch(/^kap-console=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict$/);
    const proxied = await consoleSignIn(await token('therapist'), 'kap.practice.example');
    expect(proxied.setCookie).toMatch(
      /^__Host-kap-console=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Secure$/,
    );

    expect((await cookieCall('GET', `/api/v1/patients/${PATIENT}`, local.cookie)).status).toBe(200);
    expect((await cookieCall('POST', '/console/session/end', local.cookie, local.csrf)).status).toBe(204);
    expect((await cookieCall('GET', `/api/v1/patients/${PATIENT}`, local.cookie)).status).toBe(401);
  });

  test('the EHR cannot sign in to the console, and a sign-in without a token names the field', async () => {
    const ehr = await fetch(`${service.url}/console/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: await token('ehr') }),
    });
    expect(ehr.status).toBe(403);
    expect(ehr.headers.get('set-cookie')).toBeNull();
    const empty = await call('POST', '/console/session', undefined, {});
    expect(empty.status).toBe(400);
    expect(empty.body.issue[0].expression).toEqual(['token']);
    const used = await call('POST', '/console/session', undefined, { code: 'never-issued' });
    expect(used.status).toBe(401);
  });

  test('reads through the console are in the audit trail under the signed-in client', async () => {
    const since = new Date().toISOString();
    const own = await consoleSignIn(await token('therapist'));
    expect((await cookieCall('GET', `/api/v1/episodes/${EPISODE}`, own.cookie)).status).toBe(200);
    const trail = await call(
      'GET',
      `/audit/AuditEvent?entity=EpisodeOfCare/${EPISODE}&since=${since}`,
      await token('operator'),
    );
    const events = (trail.body as Bundle<AuditEvent>).entry!.map((e) => e.resource!);
    expect(events.map((e) => [e.agent[0]!.who!.identifier!.value, e.action, e.outcome])).toEqual([
      ['therapy-a', 'R', '0'],
    ]);
  });
});

describe('tokens', () => {
  test('another issuer, another audience, no expiry, a shared-secret or unsigned token: all 401', async () => {
    const path = `/api/v1/patients/${PATIENT}`;
    // Signed with the provider's own key: only the claim under test is wrong.
    const privateKey = idpKey;
    const wrongIssuer = await new SignJWT(CLIENTS.therapist)
      .setProtectedHeader({ alg: 'ES256', kid: 'practice-idp-1' })
      .setIssuer('https://evil.test')
      .setAudience(AUDIENCE)
      .setExpirationTime('5m')
      .sign(privateKey);
    const hs256 = await new SignJWT(CLIENTS.therapist)
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode('a-secret-anyone-could-guess-000000'));
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const unsigned = `${b64({ alg: 'none' })}.${b64({ ...CLIENTS.therapist, iss: ISSUER, aud: AUDIENCE, exp: Math.floor(Date.now() / 1000) + 300 })}.`;
    const otherAudience = await new SignJWT(CLIENTS.therapist)
      .setProtectedHeader({ alg: 'ES256', kid: 'practice-idp-1' })
      .setIssuer(ISSUER)
      .setAudience('https://other.test')
      .setExpirationTime('5m')
      .sign(privateKey);
    for (const bad of [wrongIssuer, hs256, unsigned, otherAudience, 'not-a-jwt']) {
      expect((await call('GET', path, bad)).status).toBe(401);
    }
    expect((await call('GET', path, await token('therapist'))).status).toBe(200);
    const noExpiry = await new SignJWT(CLIENTS.therapist)
      .setProtectedHeader({ alg: 'ES256', kid: 'practice-idp-1' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .sign(privateKey);
    expect((await call('GET', path, noExpiry)).status).toBe(401);
  });

  test('a therapist system whose token names no practice is refused', async () => {
    const res = await call(
      'GET',
      `/api/v1/patients/${PATIENT}`,
      await token('therapist', { tenant: undefined }),
    );
    expect(res.status).toBe(403);
    expect(res.body.issue[0].diagnostics).toMatch(/no practice/);
  });
});

describe('tenancy', () => {
  test("a practice registering the same identifiers gets its own patient, and cannot put another practice's patient in an episode", async () => {
    const b = await token('otherPractice');
    const same = await call('POST', '/api/v1/patients', b, {
      identifiers: [{ system: 'urn:therapist:client', value: 'C-100' }],
      ehrPatient: 'Patient/sec-ehr-1',
    });
    expect(same.status).toBe(201);
    expect(same.body.id).not.toBe(PATIENT);
    const episode = await call('POST', '/api/v1/episodes', b, { type: 'individual', patients: [PATIENT] });
    expect(episode.status).toBe(422);
    expect(episode.body.issue[0]).toMatchObject({
      diagnostics: `No patient ${PATIENT} is registered.`,
      expression: ['patients[0]'],
    });
  });
});

describe('audit trail', () => {
  test('every read and write of PHI is an AuditEvent: who, what, when, outcome; an operator can query it', async () => {
    const since = new Date().toISOString();
    await call('GET', `/api/v1/patients/${PATIENT}/medication-status`, await token('therapist'));
    await call('GET', `/api/v1/patients/${PATIENT}`, await token('otherPractice'));
    await call('GET', `/api/v1/patients/${PATIENT}`);
    const res = await call(
      'GET',
      `/audit/AuditEvent?entity=Patient/${PATIENT}&since=${since}`,
      await token('operator'),
    );
    expect(res.status).toBe(200);
    const events = (res.body as Bundle<AuditEvent>).entry!.map((e) => e.resource!);
    const summary = events.map((e) => ({
      who: e.agent[0]!.who!.identifier!.value,
      site: e.source.site,
      action: e.action,
      outcome: e.outcome,
      what: e.entity!.map((x) => x.what!.reference),
    }));
    expect(summary).toEqual(
      expect.arrayContaining([
        { who: 'therapy-a', site: 'practice-a', action: 'R', outcome: '0', what: [`Patient/${PATIENT}`] },
        { who: 'therapy-b', site: 'practice-b', action: 'R', outcome: '4', what: [`Patient/${PATIENT}`] },
        { who: 'unverified', site: undefined, action: 'R', outcome: '4', what: [`Patient/${PATIENT}`] },
      ]),
    );
    expect(events.every((e) => e.recorded >= since)).toBe(true);
    // The user behind the client is named where the token names one.
    expect(events.find((e) => e.agent[0]?.who?.identifier?.value === 'therapy-a')?.agent[0]?.altId).toBe(
      'dr-rivera',
    );
  });

  test('writes name what they wrote; the trail cannot be changed or deleted through any route', async () => {
    const a = await token('therapist');
    const written = await call('POST', `/api/v1/patients/${PATIENT}/observations`, a, {
      id: 'obs-sec-1',
      value: { kind: 'gad7', total: 4 },
      effective: '2026-03-02T10:00:00Z',
    });
    expect(written.status).toBe(201);
    const operator = await token('operator');
    const found = await call('GET', '/audit/AuditEvent?entity=Observation/obs-sec-1', operator);
    expect(found.body.entry).toHaveLength(1);
    expect(found.body.entry[0].resource).toMatchObject({ action: 'C', outcome: '0' });
    const count = (await call('GET', '/audit/AuditEvent?_count=500', operator)).body.entry.length;
    for (const method of ['PUT', 'DELETE', 'POST', 'PATCH']) {
      const id = found.body.entry[0].resource.id;
      expect(
        (await call(method, `/audit/AuditEvent/${id}`, operator, method === 'DELETE' ? undefined : {}))
          .status,
      ).toBe(404);
      expect(
        (await call(method, '/audit/AuditEvent', operator, method === 'DELETE' ? undefined : {})).status,
      ).toBe(404);
    }
    expect(
      (await call('GET', '/audit/AuditEvent?_count=500', operator)).body.entry.length,
    ).toBeGreaterThanOrEqual(count);
  });

  test("the EHR's writes are in the trail too, with the resources they name", async () => {
    const ehr = await token('ehr');
    const bad = await call('PUT', '/fhir/MedicationRequest/rx-audit', ehr, {
      resourceType: 'MedicationRequest',
    });
    expect(bad.status).toBe(400);
    const found = await call(
      'GET',
      '/audit/AuditEvent?entity=MedicationRequest/rx-audit',
      await token('operator'),
    );
    expect(found.body.entry.map((e: { resource: AuditEvent }) => e.resource)).toEqual([
      expect.objectContaining({
        action: 'U',
        outcome: '4',
        agent: [
          expect.objectContaining({
            who: { identifier: { system: 'urn:kap-bridge:client', value: 'prescriber-ehr' } },
          }),
        ],
      }),
    ]);
  });

  test('queries are checked and capped; only operators may read the trail', async () => {
    const operator = await token('operator');
    expect((await call('GET', '/audit/AuditEvent?since=yesterday', operator)).status).toBe(400);
    expect((await call('GET', '/audit/AuditEvent?_count=0', operator)).status).toBe(400);
    const big = await call('GET', '/audit/AuditEvent?_count=999999', operator);
    expect(big.status).toBe(200);
    expect(big.body.entry.length).toBeLessThanOrEqual(500);
    expect((await call('GET', '/audit/AuditEvent', await token('therapist'))).status).toBe(403);
  });

  test('a search by POST (a form body) answers as the same search by GET, and takes a form only', async () => {
    const operator = await token('operator');
    // Up to now: the records of the two searches themselves come after.
    const criteria = `entity=Patient/${PATIENT}&until=${new Date().toISOString()}&_count=2`;
    await new Promise((resolve) => setTimeout(resolve, 20));
    const search = (body: string, type = 'application/x-www-form-urlencoded', bearerToken = operator) =>
      fetch(`${service.url}/audit/AuditEvent/_search`, {
        method: 'POST',
        headers: { authorization: `Bearer ${bearerToken}`, 'content-type': type },
        body,
      });
    const byGet = await call('GET', `/audit/AuditEvent?${criteria}`, operator);
    const byPost = await search(criteria);
    expect(byPost.status).toBe(200);
    const found = (await byPost.json()) as Bundle<AuditEvent>;
    const ids = (b: Bundle<AuditEvent>) => b.entry!.map((e) => e.resource!.id);
    expect(ids(found)).toHaveLength(2);
    expect(ids(found)).toEqual(ids(byGet.body as Bundle<AuditEvent>));
    expect(found.total).toBe((byGet.body as Bundle).total);
    expect(found.link?.map((l) => l.relation)).toEqual((byGet.body as Bundle).link?.map((l) => l.relation));
    // The links of a search by POST name no patient: the next page is the same body posted to the link.
    expect(found.link?.every((l) => !l.url.includes(PATIENT))).toBe(true);
    const next = found.link!.find((l) => l.relation === 'next')!.url.replace(/^.*\/audit\//, '/audit/');
    const nextPage = (await (
      await fetch(`${service.url}${next}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: criteria,
      })
    ).json()) as Bundle<AuditEvent>;
    const nextByGet = (await call('GET', `/audit/AuditEvent?${criteria}&_offset=2`, operator))
      .body as Bundle<AuditEvent>;
    expect(ids(nextPage)).toEqual(ids(nextByGet));
    expect((await search('since=yesterday')).status).toBe(400);
    expect((await search(`entity=Patient/${PATIENT}&entity=Patient/other`)).status).toBe(400);
    expect((await search(JSON.stringify({ entity: `Patient/${PATIENT}` }), 'application/json')).status).toBe(
      415,
    );
    expect((await search(criteria, undefined, await token('therapist'))).status).toBe(403);
  });
});

test('answers carry the security headers and no stack trace', async () => {
  const res = await call('GET', `/api/v1/patients/${PATIENT}`, await token('therapist'));
  expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'");
  expect(res.headers.get('x-frame-options')).toBe('DENY');
  expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  expect(res.headers.get('strict-transport-security')).toMatch(/max-age=\d+/);
  expect(res.headers.get('referrer-policy')).toBe('no-referrer');
  expect(res.headers.get('x-powered-by')).toBeNull();
});

test('each client is held to its rate; the others are not slowed by it', async () => {
  const limited = await startTestService({ KAP_RATE_LIMIT_PER_SECOND: '5' });
  try {
    const as = (t: string) =>
      fetch(`${limited.url}/api/v1/patients/nobody`, { headers: { authorization: `Bearer ${t}` } });
    const answers = await Promise.all(Array.from({ length: 25 }, () => as('test-therapist-practice-a')));
    const statuses = answers.map((r) => r.status);
    // A burst of twice the rate passes (404: nobody is registered); the rest wait.
    expect(statuses.filter((s) => s === 404).length).toBeGreaterThanOrEqual(10);
    expect(statuses.filter((s) => s === 404).length).toBeLessThan(15);
    const throttled = answers.find((r) => r.status === 429)!;
    expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await as('test-therapist-practice-b')).status).toBe(404);
  } finally {
    await limited.close();
  }
});

test("the README's route table lists every route with the scope it needs", () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  for (const access of Object.values(ROUTES as Record<string, RouteAccess>)) {
    const route = `\`${access.method} ${access.path.replace(/:(\w+)/g, '{$1}')}\``;
    const row = readme.split('\n').find((l) => l.startsWith(`| ${route} |`));
    expect({ route, listed: row !== undefined }).toEqual({ route, listed: true });
    if (Array.isArray(access.scope)) expect(row).toContain(`${access.scope[0]}.${access.scope[1]}\``);
  }
});
