/**
 * The exchange rules kap-bridge relies on, checked against a real HAPI FHIR JPA server: conditional
 * create is idempotent, a stale If-Match is refused, REST-hook subscriptions deliver, searches page.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Bundle, Observation, Patient, Subscription } from 'fhir/r4';
import { EhrError } from '../../src/ehr/gateway.js';
import { eventually, sandboxGateway, uniqueId } from '../support/sandbox.js';

const ehr = sandboxGateway();
const SYSTEM = 'https://fhir.kap-bridge.org/identifier/Patient';

const patient = (value: string): Patient => ({
  resourceType: 'Patient',
  identifier: [{ system: SYSTEM, value }],
  name: [{ family: 'Testperson', given: ['Interop'] }],
});

async function count(params: Record<string, string>): Promise<number> {
  let n = 0;
  for await (const _ of ehr.search('Patient', params)) n++;
  return n;
}

describe('transaction Bundles of conditional creates', () => {
  test('sent twice, create nothing the second time', async () => {
    const values = [uniqueId('tx'), uniqueId('tx'), uniqueId('tx')];
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: values.map((value) => ({
        fullUrl: `urn:uuid:${crypto.randomUUID()}`,
        resource: patient(value),
        request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${SYSTEM}|${value}` },
      })),
    };
    const first = await ehr.transaction(bundle);
    expect(first.entry?.map((e) => e.response?.status.slice(0, 3))).toEqual(['201', '201', '201']);
    const second = await ehr.transaction(bundle);
    expect(second.entry?.map((e) => e.response?.status.slice(0, 3))).toEqual(['200', '200', '200']);
    expect(second.entry?.map((e) => e.response?.location?.split('/_history')[0])).toEqual(
      first.entry?.map((e) => e.response?.location?.split('/_history')[0]),
    );
    for (const value of values) expect(await count({ identifier: `${SYSTEM}|${value}` })).toBe(1);
  });
});

describe('updates with If-Match', () => {
  test('a stale version is refused and reaches our code as one typed conflict', async () => {
    const id = uniqueId('ifmatch');
    const v1 = await ehr.update({ ...patient(id), id });
    expect(v1.meta?.versionId).toBe('1');
    const v2 = await ehr.update({ ...v1, gender: 'female' }, '1');
    expect(v2.meta?.versionId).toBe('2');

    const stale = await ehr.update({ ...v1, gender: 'male' }, '1').catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(EhrError);
    expect(stale).toMatchObject({ kind: 'conflict', retryable: false });
    expect([409, 412]).toContain((stale as EhrError).status);
    expect((await ehr.read<Patient>('Patient', id)).gender).toBe('female');
  });
});

describe('REST-hook subscriptions', () => {
  let server: Server;
  const deliveries: { method?: string; url?: string; secret?: string | string[]; body: string }[] = [];

  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        deliveries.push({ method: req.method, url: req.url, secret: req.headers['x-kap-secret'], body });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  });
  const created: string[] = [];
  afterAll(async () => {
    // Leave no subscription pointing at an endpoint that is about to close.
    for (const id of created) {
      const s = await ehr.read<Subscription>('Subscription', id);
      await ehr.update({ ...s, id, status: 'off' });
    }
    await new Promise<void>((r) => server.close(() => r()));
  });

  test('become active and deliver a notification to our endpoint', async () => {
    const port = (server.address() as AddressInfo).port;
    const tag = uniqueId('sub');
    const subscription = await ehr.update<Subscription & { id: string }>({
      resourceType: 'Subscription',
      id: tag,
      status: 'requested',
      reason: 'kap-bridge interop test',
      criteria: `Observation?code=http://loinc.org|8867-4&_tag=${tag}`,
      channel: {
        type: 'rest-hook',
        endpoint: `http://127.0.0.1:${port}/fhir`,
        payload: 'application/fhir+json',
        header: ['X-Kap-Secret: s3cret'],
      },
    });
    created.push(subscription.id);
    await eventually(
      'the subscription to become active',
      async () =>
        (await ehr.read<Subscription>('Subscription', subscription.id)).status === 'active'
          ? true
          : undefined,
      60_000,
    );

    const observation: Observation = {
      resourceType: 'Observation',
      id: uniqueId('hr'),
      meta: { tag: [{ system: 'https://fhir.kap-bridge.org/test', code: tag }] },
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
      valueQuantity: { value: 72, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
    };
    await ehr.update(observation as Observation & { id: string });

    const delivery = await eventually(
      'the notification',
      async () => deliveries.find((d) => d.url?.includes(observation.id!)),
      30_000,
    );
    expect(delivery.method).toBe('PUT');
    expect(delivery.url).toBe(`/fhir/Observation/${observation.id}`);
    expect(delivery.secret).toBe('s3cret');
    expect(JSON.parse(delivery.body)).toMatchObject({ resourceType: 'Observation', id: observation.id });
  }, 120_000);
});

describe('searches that span several pages', () => {
  test('are read to the end', async () => {
    const family = uniqueId('Page');
    const ids = Array.from({ length: 7 }, (_, i) => `${family}-${i}`);
    await ehr.transaction({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: ids.map((id) => ({
        resource: { ...patient(id), id, name: [{ family }] },
        request: { method: 'PUT', url: `Patient/${id}` },
      })),
    });
    const found: string[] = [];
    for await (const p of ehr.search<Patient>('Patient', { family, _count: 2, _sort: '_id' }))
      found.push(p.id!);
    expect(found).toEqual(ids);
  });
});
