import type { Bundle } from 'fhir/r4';
import nock from 'nock';
import { staticBearer } from './authentication.js';
import { EhrError, EhrGateway } from './gateway.js';

const BASE = 'http://ehr.test/fhir';
const outcome = (text: string) => ({
  resourceType: 'OperationOutcome',
  issue: [{ severity: 'error', code: 'processing', diagnostics: text }],
});

async function failure(promise: Promise<unknown>): Promise<EhrError> {
  try {
    await promise;
  } catch (e) {
    if (e instanceof EhrError) return e;
    throw e;
  }
  throw new Error('expected the call to fail');
}

beforeAll(() => nock.disableNetConnect());
afterEach(() => nock.cleanAll());
afterAll(() => nock.enableNetConnect());

describe('every EHR failure is one typed EhrError', () => {
  const gateway = new EhrGateway({ baseUrl: BASE, timeoutMs: 300 });

  test('409 and 412 on a stale If-Match are both a conflict, with the outcome kept', async () => {
    for (const status of [409, 412]) {
      nock(BASE)
        .put('/MedicationRequest/rx1')
        .matchHeader('if-match', 'W/"1"')
        .reply(status, outcome('version conflict'));
      const e = await failure(gateway.update({ resourceType: 'MedicationRequest', id: 'rx1' } as never, '1'));
      expect(e).toMatchObject({ kind: 'conflict', status, retryable: false });
      expect(e.outcome?.issue[0]?.diagnostics).toBe('version conflict');
    }
  });

  test('429 with Retry-After in seconds is rate-limited and says how long to wait', async () => {
    nock(BASE).get('/Patient/p1').reply(429, outcome('slow down'), { 'Retry-After': '7' });
    const e = await failure(gateway.read('Patient', 'p1'));
    expect(e).toMatchObject({ kind: 'rate-limited', status: 429, retryAfterMs: 7000, retryable: true });
  });

  test('503 is unavailable and retryable', async () => {
    nock(BASE).get('/Patient/p1').reply(503, 'Service Unavailable');
    const e = await failure(gateway.read('Patient', 'p1'));
    expect(e).toMatchObject({ kind: 'unavailable', status: 503, retryable: true });
    expect(e.outcome).toBeUndefined();
  });

  test('an answer that is not FHIR JSON is malformed', async () => {
    nock(BASE).get('/Patient/p1').reply(200, '<html>login</html>', { 'Content-Type': 'text/html' });
    const e = await failure(gateway.read('Patient', 'p1'));
    expect(e.kind).toBe('malformed');
  });

  test('JSON without a resourceType is malformed', async () => {
    nock(BASE).get('/Patient/p1').reply(200, { hello: 'world' });
    expect((await failure(gateway.read('Patient', 'p1'))).kind).toBe('malformed');
  });

  test('no answer within the timeout is a network error', async () => {
    nock(BASE).get('/Patient/p1').delay(2000).reply(200, { resourceType: 'Patient', id: 'p1' });
    const e = await failure(gateway.read('Patient', 'p1'));
    expect(e).toMatchObject({ kind: 'network', retryable: true });
  });

  test('a refused connection is a network error', async () => {
    const down = new EhrGateway({ baseUrl: 'http://127.0.0.1:9/fhir', timeoutMs: 1000 });
    nock.enableNetConnect('127.0.0.1:9');
    const e = await failure(down.read('Patient', 'p1'));
    expect(e).toMatchObject({ kind: 'network', retryable: true });
  });

  test('422 with an outcome is invalid and not retryable', async () => {
    nock(BASE).post('/').reply(422, outcome('Unknown code'));
    const e = await failure(gateway.transaction({ resourceType: 'Bundle', type: 'transaction', entry: [] }));
    expect(e).toMatchObject({ kind: 'invalid', status: 422, retryable: false });
    expect(e.message).toContain('Unknown code');
  });
});

describe('search reads every page and stays on the EHR', () => {
  const gateway = new EhrGateway({ baseUrl: BASE });
  const page = (ids: string[], next?: string) => ({
    resourceType: 'Bundle',
    type: 'searchset',
    link: next ? [{ relation: 'next', url: next }] : [],
    entry: ids.map((id) => ({ resource: { resourceType: 'Patient', id }, search: { mode: 'match' } })),
  });

  test('follows next links to the end', async () => {
    nock(BASE)
      .get('/Patient')
      .query({ _count: '2' })
      .reply(200, page(['a', 'b'], `${BASE}?_getpages=x&_getpagesoffset=2`));
    nock('http://ehr.test')
      .get('/fhir')
      .query({ _getpages: 'x', _getpagesoffset: '2' })
      .reply(200, page(['c']));
    const ids: string[] = [];
    for await (const p of gateway.search('Patient', { _count: 2 })) ids.push(p.id!);
    expect(ids).toEqual(['a', 'b', 'c']);
  });

  test('refuses a next link to another server, and sends nothing there', async () => {
    const evil = nock('http://evil.test')
      .get(/.*/)
      .reply(200, page(['stolen']));
    nock(BASE)
      .get('/Patient')
      .reply(200, page(['a'], 'http://evil.test/steal'));
    const ids: string[] = [];
    const e = await failure(
      (async () => {
        for await (const p of gateway.search('Patient')) ids.push(p.id!);
      })(),
    );
    expect(ids).toEqual(['a']);
    expect(e.kind).toBe('malformed');
    expect(e.message).toBe(
      'Searching Patient: the EHR sent a link to another server (http://evil.test, not http://ehr.test); not followed',
    );
    expect(evil.isDone()).toBe(false);
  });
});

describe('no request leaves the EHR', () => {
  const gateway = new EhrGateway({ baseUrl: BASE, timeoutMs: 1000, auth: staticBearer('s3cret') });
  let evil: nock.Scope;
  beforeEach(() => {
    evil = nock('http://evil.test').get(/.*/).reply(200, { resourceType: 'Patient', id: 'p1' });
  });
  afterEach(() => expect(evil.isDone()).toBe(false));

  test('a redirect to another server is not followed, so the token never goes there', async () => {
    nock(BASE).get('/Patient/p1').reply(302, '', { Location: 'http://evil.test/fhir/Patient/p1' });
    const e = await failure(gateway.read('Patient', 'p1'));
    expect(e).toMatchObject({ kind: 'malformed', status: 302 });
    expect(e.message).toBe(
      'Reading Patient/p1: the EHR answered 302, a redirect to http://evil.test; not followed',
    );
  });

  test('a transaction answer that places an entry on another server is refused', async () => {
    const answer = (location: string) => ({
      resourceType: 'Bundle',
      type: 'transaction-response',
      entry: [{ response: { status: '201 Created', location } }],
    });
    nock(BASE).post('/').reply(200, answer('Observation/o1/_history/1'));
    nock(BASE)
      .post('/')
      .reply(200, answer(`${BASE}/Observation/o1/_history/1`));
    nock(BASE).post('/').reply(200, answer('http://evil.test/fhir/Observation/o1/_history/1'));
    const bundle: Bundle = { resourceType: 'Bundle', type: 'transaction', entry: [] };
    await gateway.transaction(bundle);
    await gateway.transaction(bundle);
    const e = await failure(gateway.transaction(bundle));
    expect(e.kind).toBe('malformed');
    expect(e.message).toBe(
      "Sending a transaction Bundle of 0 entries: entry 1's location: the EHR sent a link to another server (http://evil.test, not http://ehr.test); not followed",
    );
  });

  test.each([
    ['Patient', '..'],
    ['Patient', '../../x'],
    ['Patient', '@evil.test'],
    ['http://evil.test/Patient', 'p1'],
    ['//evil.test/Patient', 'p1'],
  ])('an id-only notification for %s/%s is never read', async (type, id) => {
    const e = await failure(gateway.read(type as never, id));
    expect(e.kind).toBe('invalid');
    expect(e.message).toBe('Reading a resource: not a resource type and id kap-bridge would ask the EHR for');
  });
});

test('a static bearer token refused with 401 is final: one request, no retry', async () => {
  const gateway = new EhrGateway({ baseUrl: BASE, auth: staticBearer('s3cret') });
  const ehr = nock(BASE)
    .get('/Patient/p1')
    .matchHeader('authorization', 'Bearer s3cret')
    .reply(401, outcome('token revoked'));
  const e = await failure(gateway.read('Patient', 'p1'));
  expect(e).toMatchObject({ kind: 'unauthorized', status: 401 });
  expect(e.message).not.toContain('s3cret');
  expect(ehr.isDone()).toBe(true);
});
