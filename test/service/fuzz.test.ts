/**
 * 10,000 hostile requests over real HTTP against one service on SQLite, spread over every route of
 * the route table (and methods it does not have). Each request is hostile in one way and right in
 * every other, so that the one status it must get follows from that way and is asserted exactly:
 * tokens missing, garbled or foreign, wrong subscription secrets, callers of the wrong kind, another
 * practice's objects, traversal, malformed and outsized ids, wrong content types, oversized, broken,
 * deeply nested and prototype-polluting bodies, bodies their schema or their references refuse,
 * Bundles refused whole, heads beyond what Node reads; odd query strings ride along where they are
 * not read. Every answer an OperationOutcome with no stack trace, nothing stored, and the service
 * still answering after.
 */
import { Agent, maxHeaderSize, request } from 'node:http';
import fc from 'fast-check';
import type { Bundle, MedicationRequest } from 'fhir/r4';
import type { RequestSchemaName } from '../../src/api/schemas.js';
import { PATH_ID_PATTERN } from '../../src/fhir/ids.js';
import { MAX_NESTING } from '../../src/fhir/nesting.js';
import {
  badRequest,
  forbidden,
  headersTooLarge,
  notFound,
  notRegistered,
  statusOf,
  tooLarge,
  unauthorized,
  unknownReference,
  unsupportedMediaType,
} from '../../src/fhir/outcome.js';
import { type ApiRoute, OPERATIONS } from '../../src/http/openapi.js';
import { ROUTES, type RouteAccess, type RouteName } from '../../src/http/routes.js';
import { OUTBOX_TABLES } from '../../src/outbox/migrations.js';
import type { Service } from '../../src/service.js';
import { STORE_TABLES } from '../../src/store/migrations.js';
import { bearer, CALLERS, type Caller } from '../support/auth.js';
import { rowCounts } from '../support/databases.js';
import { statusOfApiBody } from '../support/expected-status.js';
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
/** Path segments: traversal, malformed escapes, outsized and odd ids, each one segment of the path (no raw slash). */
const hostileSegment = fc
  .oneof(
    fc.constantFrom(
      '..',
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
      '%24%7Bjndi:ldap:%2F%2Fx%7D',
      '%3Cscript%3E',
      '.',
      '-',
      '_history',
    ),
    anyText.map(pct),
    fc.integer({ min: 65, max: 8_000 }).map((n) => 'a'.repeat(n)),
  )
  // An empty segment is no segment: the path is another route's, or none.
  .filter((segment) => segment !== '');

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

/** Authorization headers that name no caller: missing, garbled, expired, unsigned, another scheme. */
const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
const expiredJwt = `${b64({ alg: 'ES256', kid: 'x' })}.${b64({ client_id: 'therapy-a', tenant: 'practice-a', exp: 1 })}.c2ln`;
const brokenAuthorization = fc.oneof(
  fc.constant(undefined),
  fc.constantFrom(
    'Bearer',
    'Bearer ',
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
        unit: fc.integer({ min: 0x20, max: 0xff }).map((c) => String.fromCharCode(c === 0x7f ? 0x41 : c)),
      }),
    )
    .map(([withScheme, s]) => (withScheme ? `Bearer ${s}` : s)),
);
const wrongSecret = fc.oneof(
  fc.constantFrom('', 'wrong', `${SECRET}x`, SECRET.slice(0, -1), SECRET.toUpperCase(), 'x'.repeat(4000)),
  fc
    .string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) })
    .filter((s) => s.trim() !== SECRET),
);
/** Content types that are no JSON, or none at all. */
const notJson = fc.constantFrom(
  undefined,
  'text/plain',
  'application/xml',
  'application/fhir+xml',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=xyz',
);
const jsonType = fc.constantFrom('application/json', 'application/fhir+json');
const FORM = 'application/x-www-form-urlencoded';

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

/** Raw body text that is no JSON: broken, truncated, or something else entirely. */
const brokenJson = fc.oneof(
  fc.constantFrom(
    '{',
    '{"a":}',
    "{'a':1}",
    '{"a":1}}',
    'NaN',
    '\u0000',
    '"\\ud800',
    '<Patient xmlns="http://hl7.org/fhir"/>',
    'a=1&b=2',
  ),
  fc
    .oneof(fc.object(), fc.array(fc.jsonValue()))
    .map((v) => JSON.stringify(v))
    .map((s) => s.slice(0, -1)),
);

/**
 * `body` as JSON text, with `{"a":{"a":...}}` `levels` objects deep (about 6 bytes a level) in place of
 * the string DEEP (JSON.stringify itself overflows the stack on such a value).
 */
const withDeepValue = (body: unknown, levels: number): string =>
  JSON.stringify(body).replace('"DEEP"', `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`);

/** Bundles refused whole, with the status each must get: no batch or transaction, entries that are no list, too many, or not objects. */
const brokenEntry = fc.constantFrom(null, 1, 'entry', [], true);
const smallEntry = (i: number) => ({
  resource: { resourceType: 'MedicationRequest', id: `fuzz-cap-${i}` },
  request: { method: 'PUT', url: `MedicationRequest/fuzz-cap-${i}` },
});
const bundleType = fc.constantFrom('batch', 'transaction');
const hostileBundle: fc.Arbitrary<[unknown, number]> = fc.oneof(
  fc
    .tuple(fc.constantFrom('collection', 'searchset', 'document', 'nope', null, 3), fc.nat({ max: 8 }))
    .map(([type, n]): [unknown, number] => [
      { resourceType: 'Bundle', type, entry: Array.from({ length: n }, (_, i) => smallEntry(i)) },
      STATUS.badRequest,
    ]),
  fc
    .tuple(bundleType, fc.constantFrom(null, {}, 'x', 1))
    .map(([type, entry]): [unknown, number] => [{ resourceType: 'Bundle', type, entry }, STATUS.badRequest]),
  fc
    .tuple(bundleType, fc.integer({ min: MAX_ENTRIES + 1, max: MAX_ENTRIES * 3 }))
    .map(([type, n]): [unknown, number] => [
      { resourceType: 'Bundle', type, entry: Array.from({ length: n }, (_, i) => smallEntry(i)) },
      STATUS.tooLarge,
    ]),
  fc
    .tuple(
      bundleType,
      fc.array(fc.oneof(brokenEntry, fc.nat().map(smallEntry)), { maxLength: 6 }),
      brokenEntry,
      fc.nat({ max: 6 }),
    )
    .map(([type, entries, broken, at]): [unknown, number] => {
      const entry: unknown[] = [...entries];
      entry.splice(Math.min(at, entry.length), 0, broken);
      return [{ resourceType: 'Bundle', type, entry }, STATUS.badRequest];
    }),
);

// --- What each hostile request must be answered -----------------------------------------------------

/** The statuses of the refusals, from the outcomes that say them. */
const STATUS = {
  badRequest: statusOf(badRequest('')),
  unauthorized: statusOf(unauthorized('')),
  forbidden: statusOf(forbidden('')),
  notRegistered: statusOf(notRegistered('patient', 'x')),
  nothingHere: statusOf(notFound('')),
  unsupported: statusOf(unsupportedMediaType('')),
  tooLarge: statusOf(tooLarge('')),
  unknownReference: statusOf(unknownReference('patient', 'x', 'patient')),
  headersTooLarge: statusOf(headersTooLarge('')),
};

/** One hostile request, what about it is hostile, and the one status it must get. */
interface Case extends Hostile {
  hostile: string;
  route: RouteName;
  expected: number;
}

const BODY_ID = new RegExp(PATH_ID_PATTERN);
const ODD_METHODS = ['DELETE', 'PATCH', 'PROPFIND', 'SEARCH', 'PURGE', 'LOCK', 'M-SEARCH'];
const routes = Object.entries(ROUTES as Record<RouteName, RouteAccess>) as [RouteName, RouteAccess][];
const bodySchema = (name: RouteName): RequestSchemaName | undefined =>
  OPERATIONS[name as ApiRoute]?.body?.schema;

/** The bytes of a request's line and headers, about as Node counts them. */
const headSize = (h: Hostile): number =>
  h.method.length +
  h.path.length +
  Object.entries(h.headers).reduce((n, [k, v]) => n + k.length + v.length + 4, 0);

/** The status a request line and headers of `size` bytes gets when beyond what Node reads; undefined near the edge. */
function headSizeStatus(h: Hostile): number | 'fits' | undefined {
  const size = headSize(h);
  if (size < maxHeaderSize - 1024) return 'fits';
  return size > maxHeaderSize + 1024 ? STATUS.headersTooLarge : undefined;
}

/**
 * Hostile requests, each hostile in one way and right in every other (the route's own caller, its own
 * practice's object, JSON), so that the one status it must get follows from that way: a token that
 * names no caller or a wrong subscription secret (401), a caller of a kind the route does not serve
 * (403), another practice's object (404, as an unknown one), a path id that is none or does not decode
 * (400), a method the path does not have (404), a body that is no JSON by its type (415), too large
 * (413), broken or nested too deep (400), a Bundle refused whole, or a body its references or schema
 * refuse (the status that check gives: statusOfApiBody). Cases that are no refusal (a body the schema
 * takes, a well-formed id a handler looks up) are left out. Made once the objects exist, since the
 * requests name them.
 */
function hostileCases(): fc.Arbitrary<Case> {
  const own = { patient: A.patient, episode: A.episode, session: A.session };
  const foreign = { patient: B.patient, episode: B.episode, session: B.session };
  const owned = new Set(Object.values(own));
  const pathOf = (access: RouteAccess, id?: string) =>
    access.path
      .replace(':type', 'MedicationRequest')
      .replace(
        ':id',
        id ?? (access.owner ? own[access.owner] : access.path.startsWith('/fhir') ? RX : 'fuzz-x'),
      )
      .replace(':version', '1')
      .replace(':file', 'x');
  const ownAuthorization = (access: RouteAccess): Record<string, string> =>
    access.clients === 'public' ? {} : bearer(access.clients[0] as Caller);
  const smallBody = fc.option(
    hostileValue.map((v) => JSON.stringify(v) ?? 'null'),
    { freq: 2 },
  );
  /** A body for a request that is refused before its body is read (none for a GET). */
  const withBody = (
    access: RouteAccess,
    body: string | null,
  ): { body?: string; headers: Record<string, string> } =>
    access.method === 'GET' || body === null
      ? { headers: {} }
      : { body, headers: { 'content-type': 'application/json' } };

  const perRoute = ([route, access]: [RouteName, RouteAccess]): fc.Arbitrary<Case | undefined>[] => {
    const cds = access.credential === 'cds-hooks';
    const writes = access.method !== 'GET' && !cds;
    const make = (hostile: string, expected: number | undefined, h: Hostile): Case | undefined =>
      expected === undefined ? undefined : { ...h, hostile, route, expected };
    const arbitraries: fc.Arbitrary<Case | undefined>[] = [];
    if (access.clients !== 'public') {
      arbitraries.push(
        fc.tuple(brokenAuthorization, queryString, smallBody).map(([authorization, query, body]) => {
          const b = withBody(access, body);
          return make('token', STATUS.unauthorized, {
            method: access.method,
            path: `${pathOf(access)}${query}`,
            headers: { ...(authorization === undefined ? {} : { authorization }), ...b.headers },
            ...(b.body === undefined ? {} : { body: b.body }),
          });
        }),
      );
      const others = (Object.keys(CALLERS) as Caller[]).filter(
        (c) => !(access.clients as readonly string[]).includes(CALLERS[c].kind),
      );
      if (others.length && !cds)
        arbitraries.push(
          fc.tuple(fc.constantFrom(...others), queryString).map(([caller, query]) =>
            make('kind', STATUS.forbidden, {
              method: access.method,
              path: `${pathOf(access)}${query}`,
              headers: bearer(caller),
            }),
          ),
        );
    }
    if (access.owner) {
      const owner = access.owner;
      arbitraries.push(
        queryString.map((query) =>
          make('foreign', STATUS.notRegistered, {
            method: access.method,
            path: `${pathOf(access, foreign[owner])}${query}`,
            headers: ownAuthorization(access),
          }),
        ),
      );
    }
    if (access.path.includes(':id') && !cds && access.clients !== 'public')
      arbitraries.push(
        hostileSegment.map((segment) => {
          let id: string;
          try {
            id = decodeURIComponent(segment);
          } catch {
            return make('id', STATUS.badRequest, {
              method: access.method,
              path: pathOf(access, segment),
              headers: ownAuthorization(access),
            });
          }
          // A well-formed id is an object's: unknown for a route that names one, the handler's otherwise.
          const expected = !BODY_ID.test(id)
            ? STATUS.badRequest
            : access.owner && !owned.has(id)
              ? STATUS.notRegistered
              : undefined;
          return make('id', expected, {
            method: access.method,
            path: pathOf(access, segment),
            headers: ownAuthorization(access),
          });
        }),
      );
    if (access.path.startsWith('/fhir') && access.clients !== 'public')
      arbitraries.push(
        fc.tuple(wrongSecret, queryString).map(([secret, query]) =>
          make('secret', STATUS.unauthorized, {
            method: access.method,
            path: `${pathOf(access)}${query}`,
            headers: { 'x-kap-subscription-secret': secret },
          }),
        ),
      );
    if (!access.path.startsWith('/fhir') && !access.path.startsWith('/console'))
      arbitraries.push(
        fc.constantFrom(...ODD_METHODS).map((method) =>
          make('method', STATUS.nothingHere, {
            method,
            path: pathOf(access),
            headers: ownAuthorization(access),
          }),
        ),
      );
    if (writes) {
      const template = TEMPLATES[route];
      const json = template ? mutated(template()) : hostileValue;
      const sent = json.map((v) => JSON.stringify(v) ?? 'null');
      const right = (body: string, type: string | undefined, chunked: boolean): Hostile => ({
        method: access.method,
        path: pathOf(access),
        headers: { ...ownAuthorization(access), ...(type === undefined ? {} : { 'content-type': type }) },
        body,
        chunked,
      });
      if (access.body === 'form') {
        // FHIR's search by POST: a form body only; what is no form is refused before it is read.
        arbitraries.push(
          fc
            .tuple(
              sent,
              fc.oneof(
                notJson.filter((t) => t !== FORM),
                jsonType,
              ),
              fc.boolean(),
            )
            .map(([body, type, chunked]) =>
              make('content type', STATUS.unsupported, right(body, type, chunked)),
            ),
          fc
            .tuple(fc.integer({ min: BODY_LIMIT + 1, max: BODY_LIMIT * 3 }), fc.boolean())
            .map(([n, chunked]) =>
              make('size', STATUS.tooLarge, right(`entity=${'x'.repeat(n)}`, FORM, chunked)),
            ),
        );
        return arbitraries;
      }
      arbitraries.push(
        fc
          .tuple(sent, notJson, fc.boolean())
          .map(([body, type, chunked]) =>
            make('content type', STATUS.unsupported, right(body, type, chunked)),
          ),
        fc
          .tuple(fc.integer({ min: BODY_LIMIT + 1, max: BODY_LIMIT * 3 }), jsonType, fc.boolean())
          .map(([n, type, chunked]) =>
            make('size', STATUS.tooLarge, right(JSON.stringify({ text: 'x'.repeat(n) }), type, chunked)),
          ),
        fc
          .tuple(brokenJson, jsonType, fc.boolean())
          .map(([body, type, chunked]) => make('json', STATUS.badRequest, right(body, type, chunked))),
        // Nested beyond what is walked: refused once read, before anything looks inside.
        fc
          .tuple(fc.integer({ min: MAX_NESTING + 1, max: 9_000 }), jsonType, fc.boolean())
          .map(([levels, type, chunked]) =>
            make(
              'depth',
              STATUS.badRequest,
              right(
                withDeepValue({ ...(template?.() ?? { resourceType: 'Bundle' }), extension: 'DEEP' }, levels),
                type,
                chunked,
              ),
            ),
          ),
      );
      if (route === 'fhirBatch')
        arbitraries.push(
          hostileBundle.map(([bundle, expected]) =>
            make('bundle', expected, right(JSON.stringify(bundle), 'application/fhir+json', false)),
          ),
        );
      const schema = bodySchema(route);
      if (schema)
        arbitraries.push(
          fc.tuple(sent, jsonType, fc.boolean()).map(([text, type, chunked]) => {
            // What the service reads, checked as it checks it: the objects the body names, then its schema.
            const body = JSON.parse(text) as Record<string, unknown> | null;
            const foreignNamed = (access.references ?? []).some(({ field, list }) => {
              const value = body !== null && typeof body === 'object' ? body[field] : undefined;
              const ids = list ? (Array.isArray(value) ? value : []) : [value];
              return ids.some((id) => typeof id === 'string' && BODY_ID.test(id) && !owned.has(id));
            });
            const expected = foreignNamed ? STATUS.unknownReference : statusOfApiBody(schema, body);
            return make('schema', expected, right(text, type, chunked));
          }),
        );
    }
    return arbitraries;
  };

  return fc
    .oneof(...routes.flatMap(perRoute))
    .filter((c): c is Case => c !== undefined)
    .map((c) => {
      const head = headSizeStatus(c);
      if (head === 'fits') return c;
      return head === undefined ? undefined : { ...c, hostile: `${c.hostile}, head`, expected: head };
    })
    .filter((c): c is Case => c !== undefined);
}

// --- The run ----------------------------------------------------------------------------------------

beforeAll(async () => {
  service = await startTestService({
    KAP_SUBSCRIPTION_SECRET: SECRET,
    KAP_SUBSCRIBE_ON_START: 'false',
    KAP_BODY_LIMIT_BYTES: String(BODY_LIMIT),
    KAP_MAX_BUNDLE_ENTRIES: String(MAX_ENTRIES),
    // Every request is answered for what it is, never throttled.
    KAP_RATE_LIMIT_PER_SECOND: '0',
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
const oversizedHead = (h: Hostile): boolean => headSize(h) > maxHeaderSize - 512;

/** What is wrong with one refusal's answer, if anything, its status aside. */
function problemWith(h: Hostile, a: Answer): string | undefined {
  if (a.status === 0) return oversizedHead(h) ? undefined : a.text;
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

test(`${TOTAL} hostile requests over every route: each answered with the one status it must get, as an OperationOutcome, nothing stored`, async () => {
  const requests = fc.sample(hostileCases(), { seed: SEED, numRuns: TOTAL });
  const problems: { kind: string; request: ReturnType<typeof describeRequest>; problem: string }[] = [];
  const statuses = new Map<number, number>();
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
      const wrongStatus = a.status !== h.expected && !(a.status === 0 && oversizedHead(h));
      const problem = wrongStatus ? `${a.status}: ${clip(a.text)}` : problemWith(h, a);
      if (problem)
        problems.push({
          kind: `${h.hostile} on ${h.route}: expected ${h.expected}, got ${wrongStatus ? a.status : problem.slice(0, 40)}`,
          request: describeRequest(h),
          problem,
        });
    });
    // Every request is refused: no batch may change the store.
    const after = await fingerprint();
    if (after !== baseline)
      problems.push({
        kind: 'store changed',
        request: describeRequest(batch[0]!),
        problem: `store changed by refused requests (batch at ${i}): ${baseline} -> ${after}; batch: ${JSON.stringify(batch.map(describeRequest))}`,
      });
    baseline = after;
  }
  const summary = Object.fromEntries([...statuses].sort(([a], [b]) => a - b));
  const hostile = new Map<string, number>();
  for (const h of requests) hostile.set(h.hostile, (hostile.get(h.hostile) ?? 0) + 1);
  process.stdout.write(
    `fuzz seed ${SEED}: answers by status ${JSON.stringify(summary)}; by what is hostile ${JSON.stringify(Object.fromEntries(hostile))}\n`,
  );

  // One example of each kind of problem, so that a failure reads as a list of bugs, not of requests.
  const kinds = new Map<string, { count: number; example: (typeof problems)[number] }>();
  for (const p of problems) {
    const seen = kinds.get(p.kind);
    if (seen) seen.count++;
    else kinds.set(p.kind, { count: 1, example: p });
  }
  expect({ seed: SEED, problems: [...kinds.values()] }).toEqual({ seed: SEED, problems: [] });
  // The run reached past the authentication in front of the handlers, and every way of being hostile.
  const reached = [...statuses].filter(([s]) => s !== STATUS.unauthorized).reduce((n, [, c]) => n + c, 0);
  expect(reached).toBeGreaterThan(TOTAL / 2);
  expect([...hostile.keys()].map((k) => k.replace(', head', '')).sort()).toEqual(
    expect.arrayContaining([
      'content type',
      'foreign',
      'id',
      'json',
      'kind',
      'method',
      'schema',
      'secret',
      'size',
      'token',
      'depth',
      'bundle',
    ]),
  );
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
