/**
 * 10,000 hostile requests over real HTTP against one service on SQLite, spread over every route of
 * the route table (and methods and paths it does not have): broken, oversized, deeply nested and
 * prototype-polluting bodies, wrong content types, traversal and outsized ids, odd query strings,
 * missing, garbled and foreign tokens, Bundles with hostile entries. Half carry a valid token, so
 * they reach the handlers. What a client relies on: no 5xx, every refusal an OperationOutcome with
 * no stack trace, nothing stored by a refused request, and the service still answering after.
 */
import { Agent, maxHeaderSize, request } from 'node:http';
import fc from 'fast-check';
import type { Bundle, MedicationRequest } from 'fhir/r4';
import { statusOf, tooLarge } from '../../src/fhir/outcome.js';
import { ROUTES, type RouteAccess, type RouteName } from '../../src/http/routes.js';
import { KEPT_TYPES } from '../../src/intake.js';
import { OUTBOX_TABLES } from '../../src/outbox/migrations.js';
import type { Service } from '../../src/service.js';
import { STORE_TABLES } from '../../src/store/migrations.js';
import { bearer, CALLERS, type Caller } from '../support/auth.js';
import { rowCounts } from '../support/databases.js';
import { fixture } from '../support/fixtures.js';
import { startTestService } from '../support/service.js';

/** Fixed, so a failure can be replayed: KAP_FUZZ_SEED=<seed> runs another sequence. */
const SEED = Number(process.env.KAP_FUZZ_SEED ?? 20261126);
const TOTAL = 10_000;
const CONCURRENCY = 8;
/** Small limits, so that bodies and Bundles beyond them are cheap to send. */
const BODY_LIMIT = 65_536;
const MAX_ENTRIES = 40;
const SECRET = 'fuzz-subscription-secret';

let service: Service;
const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });

/** Practice-a objects the hostile requests aim at, and practice-b ones they must not reach. */
const A = { patient: 'fuzz-pt-a', episode: 'fuzz-ep-a', session: '', ehrPatient: 'fuzz-ehr-a' };
const B = { patient: 'fuzz-pt-b', episode: 'fuzz-ep-b', session: '', ehrPatient: 'fuzz-ehr-b' };
const RX = 'fuzz-rx-a';

interface Hostile {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
  /** Sent without a Content-Length (chunked). */
  chunked?: boolean;
}
interface Answer {
  status: number;
  contentType: string;
  text: string;
}

function send(h: Hostile, over: Agent | false = agent): Promise<Answer> {
  const { port } = new URL(service.url);
  return new Promise((resolve, reject) => {
    // Framing stated outright: Node's client sends a GET's body without either.
    const framing =
      h.body === undefined
        ? {}
        : h.chunked
          ? { 'transfer-encoding': 'chunked' }
          : { 'content-length': String(Buffer.byteLength(h.body)) };
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: h.method,
        path: h.path,
        headers: { ...h.headers, ...framing },
        agent: over,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            contentType: String(res.headers['content-type'] ?? ''),
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (h.body !== undefined && h.chunked) req.write(h.body);
    req.end(h.chunked ? undefined : h.body);
  });
}

/** Row counts of every table a request could change; not the audit trail, which records refusals on purpose. */
function fingerprint(): Promise<string> {
  return rowCounts(service.store, [
    [
      STORE_TABLES,
      ['patients', 'patient_identifiers', 'episodes', 'episode_patients', 'resources', 'checkpoints'],
    ],
    [OUTBOX_TABLES, ['outbox']],
  ]);
}

// --- What the hostile requests are made of ---------------------------------------------------------

/** Percent-encodes every byte but the unreserved ones, so any string can travel in a path. */
const pct = (s: string): string =>
  [...Buffer.from(s, 'utf8')]
    .map((b) =>
      /[A-Za-z0-9\-._~]/.test(String.fromCharCode(b))
        ? String.fromCharCode(b)
        : `%${b.toString(16).padStart(2, '0').toUpperCase()}`,
    )
    .join('');

const anyText = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.constantFrom('\u0000', 'a\u0000b', '\u202e\u200b', '\r\n\t\u0007', '\ud800', '💊🧠', 'Ω≈ç√∫'),
  fc.integer({ min: 1_000, max: 30_000 }).map((n) => 'x'.repeat(n)),
);
/** Path segments: raw or percent-encoded traversal, malformed escapes, outsized and odd ids. */
const hostileSegment = fc.oneof(
  fc.constantFrom(
    '..',
    '../../etc/passwd',
    '..%2F..%2Fetc%2Fpasswd',
    '%2e%2e',
    '%2e%2e%2f%2e%2e%2fkap.db',
    '%00',
    'a%00b',
    '%E0%A4%A',
    '%',
    '%zz',
    '__proto__',
    'constructor',
    'prototype',
    'hasOwnProperty',
    "x'%20OR%201=1--",
    '%24%7Bjndi:ldap://x%7D',
    '%3Cscript%3E',
    '.',
    '-',
    '_history',
  ),
  anyText.map(pct),
  fc.integer({ min: 65, max: 8_000 }).map((n) => 'a'.repeat(n)),
);
const realId = (owner: RouteAccess['owner']) =>
  fc.constantFrom(
    ...(owner === 'episode'
      ? [A.episode, B.episode]
      : owner === 'session'
        ? [A.session, B.session]
        : [A.patient, B.patient, RX, A.ehrPatient]),
  );
const typeSegment = fc.oneof(
  fc.constantFrom(...KEPT_TYPES, 'Patient', 'AuditEvent', 'Bundle', 'Subscription', 'metadata'),
  hostileSegment,
);

const queryValue = fc.oneof(
  fc.constantFrom(
    '',
    '2026-13-45',
    '2026-02-30',
    '0',
    '-1',
    '1e309',
    'NaN',
    '999999999999999999999',
    '2026-03-01T10:00:00Z',
    'Patient/fuzz-pt-a',
    'Patient/fuzz-pt-b',
    'practice-b',
  ),
  anyText.map(pct),
);
const queryKey = fc.oneof(
  fc.constantFrom(
    'date',
    '_count',
    'since',
    'until',
    'entity',
    'client',
    'tenant',
    '_format',
    '__proto__',
    'constructor',
    'date[]',
    'date[a]',
    '_count[]',
  ),
  fc.string({ maxLength: 10 }).map(pct),
);
/** A query string, keys repeated at times (the simple parser then makes an array). */
const queryString = fc.oneof(
  fc.constant(''),
  fc
    .array(fc.tuple(queryKey, queryValue), { minLength: 1, maxLength: 6 })
    .chain((pairs) =>
      fc
        .boolean()
        .map((repeat) => (repeat ? [...pairs, ...pairs] : pairs).map(([k, v]) => `${k}=${v}`).join('&')),
    )
    .map((q) => `?${q}`),
  fc.constantFrom('?', '?&&&', '?=', '?date', '?%', '?date=%E0%A4%A'),
);

/** The Authorization header: valid tokens of each caller (about half the time), and broken ones. */
const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
const expiredJwt = `${b64({ alg: 'ES256', kid: 'x' })}.${b64({ client_id: 'therapy-a', tenant: 'practice-a', exp: 1 })}.c2ln`;
const authorization = (own: Caller | undefined) =>
  fc.oneof(
    { weight: 5, arbitrary: fc.constant(own ? bearer(own).authorization : undefined) },
    {
      weight: 3,
      arbitrary: fc.constantFrom(...(Object.keys(CALLERS) as Caller[])).map((c) => bearer(c).authorization),
    },
    {
      weight: 4,
      arbitrary: fc.oneof(
        fc.constant(undefined),
        fc.constantFrom(
          'Bearer',
          'Bearer ',
          'bearer test-therapist-practice-a',
          'Bearer  test-therapist-practice-a ',
          'test-therapist-practice-a',
          'Basic dGhlcmFwaXN0OnBhc3N3b3Jk',
          `Bearer ${expiredJwt}`,
          `Bearer ${b64({ alg: 'none' })}.${b64({ client_id: 'prescriber-ehr' })}.`,
          'Bearer a.b.c',
          'Bearer ....',
          `Bearer ${'A'.repeat(6_000)}`,
        ),
        // Any printable byte (what an HTTP header can carry), behind "Bearer " or not.
        fc
          .tuple(
            fc.boolean(),
            fc.string({
              unit: fc
                .integer({ min: 0x20, max: 0xff })
                .map((c) => String.fromCharCode(c === 0x7f ? 0x41 : c)),
            }),
          )
          .map(([withScheme, s]) => (withScheme ? `Bearer ${s}` : s)),
      ),
    },
  );
const subscriptionSecret = fc.oneof(
  { weight: 8, arbitrary: fc.constant(undefined) },
  {
    weight: 2,
    arbitrary: fc.oneof(
      fc.constantFrom('', 'wrong', `${SECRET}x`, SECRET.slice(0, -1), SECRET.toUpperCase(), 'x'.repeat(4000)),
      fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) }),
    ),
  },
  // The right secret at times: deliveries reach the FHIR endpoint with hostile bodies.
  { weight: 1, arbitrary: fc.constant(SECRET) },
);
const contentType = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('application/json', 'application/fhir+json') },
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      undefined,
      'text/plain',
      'application/xml',
      'application/fhir+xml',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=xyz',
      'application/json; charset=utf-16',
      'application/json; charset=latin1',
      'application/json; charset=nope',
      'application/fhir+json; fhirVersion=9.9',
      'application/json, text/plain',
      'json',
      '*/*',
      '',
      ';;;',
    ),
  },
);

/** JSON values with the keys an attacker tries: prototype pollution first. */
const pollution = fc.constantFrom<Record<string, unknown>>(
  JSON.parse('{"__proto__": {"polluted": "yes", "isAdmin": true}}'),
  JSON.parse('{"constructor": {"prototype": {"polluted": "yes"}}}'),
  JSON.parse('{"__proto__": null}'),
  JSON.parse('{"prototype": {"polluted": "yes"}, "toString": "x", "hasOwnProperty": 1, "valueOf": null}'),
);
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, true, 0, -1, 1e308, -0, '', [], {}, '2026-02-30', 'Patient/fuzz-pt-b', '../x'),
  anyText,
  pollution,
  fc.jsonValue({ maxDepth: 3 }),
);
/** A body the route would accept, with one field replaced, dropped, or polluted. */
const mutated = (template: Record<string, unknown>) =>
  fc.oneof(
    fc
      .tuple(fc.constantFrom(...Object.keys(template)), hostileValue)
      .map(([k, v]) => ({ ...template, [k]: v })),
    fc.constantFrom(...Object.keys(template)).map((k) => {
      const { [k]: _, ...rest } = template;
      return rest;
    }),
    pollution.map((p) => Object.assign(JSON.parse(JSON.stringify(p)), template)),
    fc.tuple(fc.string({ maxLength: 12 }), hostileValue).map(([k, v]) => ({ ...template, [k]: v })),
  );

const { meta: _, ...rxTemplate } = fixture<MedicationRequest>(
  'prescriber/prescription-ketamine-troche.fhir.json',
);
const prescription = (subject: string): MedicationRequest => ({
  ...rxTemplate,
  id: RX,
  identifier: [{ system: 'urn:fuzz:rx', value: RX }],
  subject: { reference: `Patient/${subject}` },
});

/** What each route takes when it is called right; routes without a body take none. */
const TEMPLATES: Partial<Record<RouteName, () => Record<string, unknown>>> = {
  registerPatient: () => ({
    id: 'fuzz-new',
    identifiers: [{ system: 'urn:fuzz:client', value: 'C-1' }],
    ehrPatient: `Patient/${A.ehrPatient}`,
  }),
  registerEpisode: () => ({ id: 'fuzz-ep-new', type: 'couples', patients: [A.patient, B.patient] }),
  recordObservation: () => ({
    value: { kind: 'gad7', total: 4 },
    effective: '2026-03-02T10:00:00Z',
    session: A.session,
  }),
  requestClearance: () => ({
    episode: A.episode,
    requester: 'Practitioner/fuzz-th',
    performer: 'Practitioner/fuzz-pr',
    reason: 'KAP course planned',
  }),
  recordConsent: () => ({
    patient: B.patient,
    signedAt: '2026-03-01T09:00:00Z',
    document: { url: 'https://therapist.example/agreement.pdf', contentType: 'application/pdf' },
  }),
  scheduleSession: () => ({ phase: 'medicine', start: '2026-03-05T10:00:00Z' }),
  startSession: () => ({ time: '2026-03-05T10:00:00Z' }),
  completeSession: () => ({ time: '2026-03-04T10:00:00Z' }),
  cancelSession: () => ({ time: 'yesterday' }),
  recordDose: () => ({ patient: B.patient, dose: { value: 150, unit: 'mg' }, time: '2026-03-05T10:20:00Z' }),
  fhirCreate: () => prescription(B.ehrPatient) as unknown as Record<string, unknown>,
  fhirUpdate: () => prescription(A.ehrPatient) as unknown as Record<string, unknown>,
};

/** Bundles with hostile entries: beyond the cap, nulls, wrong types, other practices' ids. */
const hostileEntry = fc.oneof(
  fc.constantFrom(null, 1, 'entry', [], {}),
  hostileValue.map((resource) => ({ resource, request: { method: 'PUT', url: 'MedicationRequest/x' } })),
  fc
    .tuple(
      fc.constantFrom('GET', 'PUT', 'POST', 'DELETE', 'PATCH', 'HEAD', 'x', null, 7),
      fc.oneof(
        fc.constantFrom('MedicationRequest/x', `Patient/${B.patient}`, 'AuditEvent', '../../x', '', null),
        typeSegment,
      ),
    )
    .map(([method, url]) => ({ resource: prescription(B.ehrPatient), request: { method, url } })),
  fc.tuple(hostileValue, fc.constantFrom('urn:uuid:1', 'urn:x', '')).map(([fullUrl, url]) => ({
    fullUrl: url || fullUrl,
    resource: { ...prescription(B.ehrPatient), id: undefined, subject: { reference: url || 'urn:uuid:1' } },
    request: { method: 'POST', url: 'MedicationRequest' },
  })),
  fc.constantFrom(B.ehrPatient, B.patient, A.patient, '../../x').map((subject) => ({
    resource: { ...prescription(subject), id: 'fuzz-rx-entry' },
    request: { method: 'PUT', url: 'MedicationRequest/fuzz-rx-entry' },
  })),
);
const hostileBundle = fc.oneof(
  fc
    .tuple(
      fc.constantFrom('batch', 'transaction', 'collection', 'searchset', 'nope', null, 3),
      fc.array(hostileEntry, { maxLength: 8 }),
    )
    .map(([type, entry]) => ({ resourceType: 'Bundle', type, entry })),
  fc.integer({ min: MAX_ENTRIES + 1, max: MAX_ENTRIES * 3 }).map((n) => ({
    resourceType: 'Bundle',
    type: 'batch',
    entry: Array.from({ length: n }, (_, i) => ({
      resource: { ...prescription(B.ehrPatient), id: `fuzz-cap-${i}` },
      request: { method: 'PUT', url: `MedicationRequest/fuzz-cap-${i}` },
    })),
  })),
  fc.constantFrom(
    { resourceType: 'Bundle', type: 'batch', entry: null },
    { resourceType: 'Bundle', type: 'batch', entry: {} },
    { resourceType: 'Bundle', type: 'batch', entry: 'x' },
    { resourceType: 'Bundle' },
  ),
);

/** Raw body text: JSON that breaks, nests, grows beyond the limit, or is no JSON at all. */
const rawBody = fc.oneof(
  fc.constantFrom(
    '{',
    '{"a":}',
    "{'a':1}",
    '{"a":1}}',
    'NaN',
    '\ufeff{"resourceType":"Bundle"}',
    '\u0000',
    '"\\ud800"',
    '{"a":"\\u0000"}',
    'null',
    '[]',
    '1e99999',
    '<Patient xmlns="http://hl7.org/fhir"/>',
    'a=1&b=2',
  ),
  fc.integer({ min: 100, max: 30_000 }).map((n) => '['.repeat(n) + ']'.repeat(n)),
  fc.integer({ min: 100, max: 6_000 }).map((n) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`),
  fc
    .integer({ min: BODY_LIMIT + 1, max: BODY_LIMIT * 3 })
    .map((n) => JSON.stringify({ text: 'x'.repeat(n) })),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc
    .jsonValue()
    .map((v) => JSON.stringify(v))
    .map((s) => s.slice(0, Math.max(1, s.length - 1))),
);

/**
 * `body` as JSON text, with `{"a":{"a":...}}` `levels` objects deep (about 6 bytes a level) in place of
 * the string DEEP (JSON.stringify itself overflows the stack on such a value).
 */
const withDeepValue = (body: unknown, levels: number): string =>
  JSON.stringify(body).replace('"DEEP"', `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`);

/**
 * A body nested from a little under the limit to thousands of levels deep: the route's own body with
 * one field replaced, or a transaction whose urn:uuid entry holds it (its references are rewritten).
 */
const deepBody = (template: (() => Record<string, unknown>) | undefined): fc.Arbitrary<string> =>
  fc.tuple(fc.integer({ min: 50, max: 9_000 }), fc.boolean()).map(([levels, inBundle]) =>
    withDeepValue(
      template && !inBundle
        ? { ...template(), [Object.keys(template())[0]!]: 'DEEP' }
        : {
            resourceType: 'Bundle',
            type: 'transaction',
            entry: [
              {
                fullUrl: 'urn:uuid:1',
                resource: { ...prescription(B.ehrPatient), id: undefined, extension: 'DEEP' },
                request: { method: 'POST', url: 'MedicationRequest' },
              },
            ],
          },
      levels,
    ),
  );

const bodyFor = (name: RouteName | undefined): fc.Arbitrary<string> => {
  const template = name ? TEMPLATES[name] : undefined;
  const json = fc.oneof(
    ...(template ? [{ weight: 6, arbitrary: mutated(template()) }] : []),
    ...(name === 'fhirBatch' ? [{ weight: 6, arbitrary: hostileBundle }] : []),
    { weight: 2, arbitrary: hostileValue },
    { weight: 1, arbitrary: hostileBundle },
  );
  return fc.oneof(
    { weight: 3, arbitrary: json.map((v) => JSON.stringify(v) ?? 'null') },
    { weight: 1, arbitrary: rawBody },
    { weight: 1, arbitrary: deepBody(template) },
  );
};

const routes = Object.entries(ROUTES as Record<RouteName, RouteAccess>) as [RouteName, RouteAccess][];
const ODD_METHODS = ['DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'PROPFIND', 'SEARCH', 'PURGE', 'LOCK', 'M-SEARCH'];

/** One hostile request to one route of the table (or to its path with a method it does not serve). */
const hostileRequest: fc.Arbitrary<Hostile> = fc
  .constantFrom(...routes)
  .chain(([name, access]) => {
    const own = access.clients === 'public' ? undefined : (access.clients[0] as Caller);
    const caller: Caller | undefined = own === 'therapist' ? 'therapist' : own;
    const id = fc.oneof(
      { weight: 2, arbitrary: realId(access.owner) },
      { weight: 1, arbitrary: hostileSegment },
    );
    return fc.record({
      method: fc.oneof(
        { weight: 9, arbitrary: fc.constant(access.method as string) },
        { weight: 1, arbitrary: fc.constantFrom(...ODD_METHODS) },
      ),
      id,
      type: typeSegment,
      extra: fc.oneof(
        { weight: 9, arbitrary: fc.constant('') },
        { weight: 1, arbitrary: hostileSegment.map((s) => `/${s}`) },
      ),
      query: queryString,
      authorization: authorization(caller),
      secret: access.path.startsWith('/fhir') ? subscriptionSecret : fc.constant(undefined),
      contentType,
      body:
        access.method === 'GET'
          ? fc.option(bodyFor(undefined), { freq: 8 })
          : fc.option(bodyFor(name), { freq: 12 }),
      chunked: fc.boolean(),
      name: fc.constant(name),
      path: fc.constant(access.path),
    });
  })
  .map((r) => {
    const headers: Record<string, string> = {};
    if (r.authorization !== undefined) headers.authorization = r.authorization;
    if (r.secret !== undefined) headers['x-kap-subscription-secret'] = r.secret;
    if (r.body !== null && r.contentType !== undefined) headers['content-type'] = r.contentType;
    return {
      method: r.method,
      path: `${r.path.replace(':type', r.type).replace(':id', r.id)}${r.extra}${r.query}`,
      headers,
      ...(r.body === null ? {} : { body: r.body, chunked: r.chunked }),
    };
  });

// --- The run ----------------------------------------------------------------------------------------

beforeAll(async () => {
  service = await startTestService({
    KAP_SUBSCRIPTION_SECRET: SECRET,
    KAP_SUBSCRIBE_ON_START: 'false',
    KAP_BODY_LIMIT_BYTES: String(BODY_LIMIT),
    KAP_MAX_BUNDLE_ENTRIES: String(MAX_ENTRIES),
  });
  const seed = async (caller: Caller, method: string, path: string, body: unknown) => {
    const res = await send({
      method,
      path,
      headers: { ...bearer(caller), 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${res.text}`);
    return JSON.parse(res.text);
  };
  for (const [who, o] of [
    ['therapist', A],
    ['otherPractice', B],
  ] as const) {
    await seed(who, 'POST', '/api/v1/patients', {
      id: o.patient,
      identifiers: [{ system: 'urn:fuzz:client', value: o.patient }],
      ehrPatient: `Patient/${o.ehrPatient}`,
    });
    await seed(who, 'POST', '/api/v1/episodes', { id: o.episode, type: 'individual', patients: [o.patient] });
    o.session = (
      await seed(who, 'POST', `/api/v1/episodes/${o.episode}/sessions`, {
        phase: 'preparation',
        start: '2026-03-02T10:00:00Z',
      })
    ).id;
  }
  await seed('ehr', 'PUT', `/fhir/MedicationRequest/${RX}`, prescription(A.ehrPatient));
});

afterAll(async () => {
  agent.destroy();
  await service?.close();
});

const STACK = /\n\s+at |\bat [\w.$<>]+ \(|node:internal|node_modules|\.[tj]s:\d+:\d+/;
const clip = (s: string, n = 300) => (s.length > n ? `${s.slice(0, n)}… (${s.length} chars)` : s);
const describeRequest = (h: Hostile) => ({
  method: h.method,
  path: clip(h.path, 200),
  headers: Object.fromEntries(Object.entries(h.headers).map(([k, v]) => [k, clip(v, 80)])),
  body: h.body === undefined ? undefined : clip(h.body, 200),
});

/**
 * A request line and headers beyond what Node reads are refused before the body is read (431); a
 * client still sending that body may see the connection close instead of the answer, as over any
 * HTTP server, and a HEAD sees a body it did not expect.
 */
const oversizedHead = (h: Hostile): boolean =>
  h.method.length +
    h.path.length +
    Object.entries(h.headers).reduce((n, [k, v]) => n + k.length + v.length + 4, 0) >
  maxHeaderSize - 512;

/**
 * The one 5xx that is an answer, not a failure: reconciling needs the EHR, and this service was
 * started without one; it says so.
 */
const NO_EHR = /No EHR is configured \(KAP_EHR_BASE_URL\)/;

/** What is wrong with one answer, if anything. */
function problemWith(h: Hostile, a: Answer): string | undefined {
  if (a.status === 0) return oversizedHead(h) ? undefined : a.text;
  if (a.status === 503 && h.path.includes('/reconcile') && (NO_EHR.test(a.text) || h.method === 'HEAD'))
    return undefined;
  if (a.status >= 500) return `${a.status}: ${clip(a.text)}`;
  if (a.status < 400 || h.method === 'HEAD') return undefined;
  if (!a.contentType.includes('json'))
    return `${a.status} answered as ${a.contentType || 'no content type'}: ${clip(a.text)}`;
  let body: { resourceType?: string };
  try {
    body = JSON.parse(a.text);
  } catch {
    return `${a.status} with a body that is not JSON: ${clip(a.text)}`;
  }
  if (body.resourceType !== 'OperationOutcome')
    return `${a.status} that is no OperationOutcome: ${clip(a.text)}`;
  if (STACK.test(a.text)) return `${a.status} with a stack trace: ${clip(a.text)}`;
  return undefined;
}

test(`${TOTAL} hostile requests over every route: no 5xx, every refusal an OperationOutcome, nothing stored by a refusal`, async () => {
  const requests = fc.sample(hostileRequest, { seed: SEED, numRuns: TOTAL });
  const problems: { request: ReturnType<typeof describeRequest>; problem: string }[] = [];
  const statuses = new Map<number, number>();
  let compared = 0;
  let baseline = await fingerprint();
  for (let i = 0; i < requests.length; i += CONCURRENCY) {
    const batch = requests.slice(i, i + CONCURRENCY);
    const answers = await Promise.all(
      // A kept-alive connection the server closes as it is reused fails on any HTTP client; the
      // request is sent once more on a connection of its own, and fails if it fails again.
      batch.map((h) =>
        send(h)
          .catch(() => send(h, false))
          .catch(
            (e: Error): Answer => ({ status: 0, contentType: '', text: `connection failed: ${e.message}` }),
          ),
      ),
    );
    batch.forEach((h, k) => {
      const a = answers[k]!;
      statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
      const problem = problemWith(h, a);
      if (problem) problems.push({ request: describeRequest(h), problem });
    });
    const after = await fingerprint();
    // A batch with a write that was let in may change the store; any other batch must leave it as it was.
    const accepted = batch.some(
      (h, k) => answers[k]!.status < 400 && h.method !== 'GET' && h.method !== 'HEAD',
    );
    if (!accepted) {
      compared++;
      if (after !== baseline) {
        problems.push({
          request: describeRequest(batch[0]!),
          problem: `store changed by refused requests (batch at ${i}): ${baseline} -> ${after}; batch: ${JSON.stringify(batch.map(describeRequest))}`,
        });
      }
    }
    baseline = after;
  }
  const summary = Object.fromEntries([...statuses].sort(([a], [b]) => a - b));
  process.stdout.write(
    `fuzz seed ${SEED}: answers by status ${JSON.stringify(summary)}; ${compared} batches compared\n`,
  );

  // One example of each kind of problem, so that a failure reads as a list of bugs, not of requests.
  const kinds = new Map<string, { count: number; example: (typeof problems)[number] }>();
  for (const p of problems) {
    const kind = p.problem.slice(0, 40);
    const seen = kinds.get(kind);
    if (seen) seen.count++;
    else kinds.set(kind, { count: 1, example: p });
  }
  expect({ seed: SEED, problems: [...kinds.values()] }).toEqual({ seed: SEED, problems: [] });
  // The run reached the handlers, not only the authentication in front of them.
  const reached = [...statuses].filter(([s]) => s !== 401).reduce((n, [, c]) => n + c, 0);
  expect(reached).toBeGreaterThan(TOTAL / 2);
  expect(compared).toBeGreaterThan(requests.length / CONCURRENCY / 2);
  // Nothing a body said ended up on every object's prototype.
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect(Object.prototype).not.toHaveProperty('isAdmin');
  const health = await send({ method: 'GET', path: '/healthz', headers: {} });
  expect(health.status).toBe(200);
  expect(
    (await send({ method: 'GET', path: `/api/v1/patients/${A.patient}`, headers: bearer('therapist') }))
      .status,
  ).toBe(200);
}, 240_000);

test('a Bundle of entries above the cap is refused whole, with nothing of it stored', async () => {
  const before = await fingerprint();
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'batch',
    // Entries small enough that the Bundle is within the body limit: the cap refuses it, not the limit.
    entry: Array.from({ length: MAX_ENTRIES + 1 }, (_, i) => ({
      resource: { resourceType: 'MedicationRequest', id: `fuzz-over-${i}` } as MedicationRequest,
      request: { method: 'PUT', url: `MedicationRequest/fuzz-over-${i}` },
    })),
  };
  expect(JSON.stringify(bundle).length).toBeLessThan(BODY_LIMIT);
  const res = await send({
    method: 'POST',
    path: '/fhir',
    headers: { ...bearer('ehr'), 'content-type': 'application/fhir+json' },
    body: JSON.stringify(bundle),
  });
  expect(res.status).toBe(statusOf(tooLarge('')));
  expect(JSON.parse(res.text)).toMatchObject({
    resourceType: 'OperationOutcome',
    issue: [{ expression: ['Bundle.entry'] }],
  });
  expect(await fingerprint()).toBe(before);
});

/** Requests the run above once answered with a 500 or an empty body; each is now a 4xx OperationOutcome. */
const FOUND: [string, number, () => Hostile][] = [
  [
    'a transaction Bundle whose urn:uuid entry holds a resource nested 10,000 levels deep',
    400,
    () => ({
      method: 'POST',
      path: '/fhir',
      headers: { ...bearer('ehr'), 'content-type': 'application/fhir+json' },
      body: withDeepValue(
        {
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [
            {
              fullUrl: 'urn:uuid:6f1f4a4e-8a3c-4a51-9d0e-0c5b3e8f2a10',
              resource: { ...prescription(A.ehrPatient), id: undefined, modifierExtension: 'DEEP' },
              request: { method: 'POST', url: 'MedicationRequest' },
            },
          ],
        },
        10_000,
      ),
    }),
  ],
  [
    'a path whose percent-encoding does not decode',
    400,
    () => ({ method: 'POST', path: '/api/v1/patients/%E0%A4%A/referrals', headers: bearer('therapist') }),
  ],
  [
    'the same in a FHIR path',
    400,
    () => ({ method: 'GET', path: '/fhir/Patient/%E0%A4%A', headers: bearer('ehr') }),
  ],
  [
    'an audit search parameter given twice',
    400,
    () => ({
      method: 'GET',
      path: '/audit/AuditEvent?entity=Patient/x&entity=Patient/y',
      headers: bearer('operator'),
    }),
  ],
  [
    'a prescription whose contained is not an array',
    400,
    () => ({
      method: 'PUT',
      path: `/fhir/MedicationRequest/${RX}`,
      headers: { ...bearer('ehr'), 'content-type': 'application/fhir+json' },
      body: JSON.stringify({ ...prescription(A.ehrPatient), contained: 0 }),
    }),
  ],
  [
    'a prescription whose identifier is a string',
    400,
    () => ({
      method: 'PUT',
      path: `/fhir/MedicationRequest/${RX}`,
      headers: { ...bearer('ehr'), 'content-type': 'application/fhir+json' },
      body: JSON.stringify({ ...prescription(A.ehrPatient), identifier: 'rx' }),
    }),
  ],
  ...(['batch', 'transaction'] as const).map((type): [string, number, () => Hostile] => [
    `a ${type} Bundle with a null entry`,
    400,
    () => ({
      method: 'POST',
      path: '/fhir',
      headers: { ...bearer('ehr'), 'content-type': 'application/fhir+json' },
      body: JSON.stringify({ resourceType: 'Bundle', type, entry: [null, { fullUrl: 7, resource: null }] }),
    }),
  ]),
  [
    'a request line and headers beyond what Node reads',
    431,
    () => ({
      method: 'GET',
      path: `/api/v1/patients/${'a'.repeat(maxHeaderSize)}`,
      headers: bearer('therapist'),
    }),
  ],
];

test.each(FOUND)('%s: a %d OperationOutcome', async (_what, status, make) => {
  const before = await fingerprint();
  const h = make();
  const answer = await send(h, false);
  expect(answer.status).toBe(status);
  expect(problemWith(h, answer)).toBeUndefined();
  expect(JSON.parse(answer.text).resourceType).toBe('OperationOutcome');
  expect(await fingerprint()).toBe(before);
});
