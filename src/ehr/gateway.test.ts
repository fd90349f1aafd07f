import nock from 'nock';
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

  test('refuses a next link to another server', async () => {
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
    expect(e.message).toContain('another server');
  });
});
