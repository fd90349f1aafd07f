/**
 * /fhir's REST manners as an EHR integration engineer checks them with their own tools: Prefer,
 * Location, ETag and Last-Modified on every create, a version and a time in meta, Allow on a 405,
 * a 406 for a format it does not speak, and a CapabilityStatement that says what it does.
 */
import type { CapabilityStatement, MedicationRequest, OperationOutcome } from 'fhir/r4';
import { KEPT_TYPES } from '../../src/intake.js';
import { kapFetch } from '../support/auth.js';
import { fixture } from '../support/fixtures.js';
import { startTestService, type TestService } from '../support/service.js';

let service: TestService;
let base: string;

beforeAll(async () => {
  service = await startTestService({ KAP_AUTH_TOKEN_URL: 'https://idp.example.org/oauth2/token' });
  base = service.url;
});
afterAll(() => service.close());

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests read answers field by field, as a client would
  body: any;
}

async function call(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const res = await kapFetch(`${base}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/fhir+json' }), ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, body: text ? JSON.parse(text) : undefined };
}

/** A ketamine order as an EHR sends it on a create: no server-assigned id, version or time. */
const order = (id: string): MedicationRequest => {
  const { meta: _meta, ...rx } = fixture<MedicationRequest>('ehr/medicationrequest-rxnorm-6130.fhir.json');
  return { ...rx, id };
};

const expectOutcome = (a: Answer, status: number) => {
  expect(a.status).toBe(status);
  expect(a.headers.get('content-type')).toContain('application/fhir+json');
  expect((a.body as OperationOutcome).resourceType).toBe('OperationOutcome');
};

describe('a create says where, which version and when', () => {
  test('POST without meta: 201, version 1 in meta, Location, ETag and Last-Modified agree', async () => {
    const before = Date.now() - 1000;
    const a = await call('POST', '/fhir/MedicationRequest', order('rest-created'));
    expect(a.status).toBe(201);
    expect(a.body.meta.versionId).toBe('1');
    const lastUpdated = Date.parse(a.body.meta.lastUpdated);
    expect(lastUpdated).toBeGreaterThanOrEqual(before);
    expect(a.headers.get('location')).toBe(`${base}/fhir/MedicationRequest/rest-created/_history/1`);
    expect(a.headers.get('etag')).toBe('W/"1"');
    expect(a.headers.get('last-modified')).toBe(new Date(a.body.meta.lastUpdated).toUTCString());
  });

  test('the same content again keeps the version; a change makes the next one', async () => {
    const rx = order('rest-versions');
    expect((await call('PUT', '/fhir/MedicationRequest/rest-versions', rx)).headers.get('etag')).toBe(
      'W/"1"',
    );
    const same = await call('PUT', '/fhir/MedicationRequest/rest-versions', rx);
    expect(same.status).toBe(200);
    expect(same.headers.get('etag')).toBe('W/"1"');
    const changed = await call('PUT', '/fhir/MedicationRequest/rest-versions', { ...rx, status: 'on-hold' });
    expect(changed.status).toBe(200);
    expect(changed.headers.get('etag')).toBe('W/"2"');
    expect(changed.headers.get('location')).toBe(`${base}/fhir/MedicationRequest/rest-versions/_history/2`);
    expect(changed.body.meta.versionId).toBe('2');
  });

  test("the EHR's own version is kept as it sent it, with the time it arrived when it sent none", async () => {
    const rx = { ...order('rest-ehr-version'), meta: { versionId: '7' } };
    const a = await call('PUT', '/fhir/MedicationRequest/rest-ehr-version', rx);
    expect(a.status).toBe(201);
    expect(a.headers.get('etag')).toBe('W/"7"');
    expect(a.body.meta.versionId).toBe('7');
    expect(a.headers.get('last-modified')).toBe(new Date(a.body.meta.lastUpdated).toUTCString());
  });

  test('each entry of a batch answers with its location, etag and lastModified', async () => {
    const a = await call('POST', '/fhir', {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { resource: order('rest-batch'), request: { method: 'PUT', url: 'MedicationRequest/rest-batch' } },
      ],
    });
    expect(a.status).toBe(200);
    expect(a.body.entry[0].response).toMatchObject({
      status: '201 Created',
      location: `${base}/fhir/MedicationRequest/rest-batch/_history/1`,
      etag: 'W/"1"',
    });
    expect(Date.parse(a.body.entry[0].response.lastModified)).not.toBeNaN();
  });
});

describe('Prefer: return=', () => {
  test('minimal: the status and headers, no body', async () => {
    const a = await call('POST', '/fhir/MedicationRequest', order('rest-minimal'), {
      prefer: 'return=minimal',
    });
    expect(a.status).toBe(201);
    expect(a.text).toBe('');
    expect(a.headers.get('etag')).toBe('W/"1"');
    expect(a.headers.get('location')).toBe(`${base}/fhir/MedicationRequest/rest-minimal/_history/1`);
  });

  test('representation: the resource as held', async () => {
    const a = await call('PUT', '/fhir/MedicationRequest/rest-representation', order('rest-representation'), {
      prefer: 'return=representation',
    });
    expect(a.status).toBe(201);
    expect(a.body).toMatchObject({ resourceType: 'MedicationRequest', id: 'rest-representation' });
    expect(a.body.meta.versionId).toBe('1');
  });

  test('OperationOutcome: what came of it, in words', async () => {
    const a = await call('PUT', '/fhir/MedicationRequest/rest-outcome', order('rest-outcome'), {
      prefer: 'return=OperationOutcome',
    });
    expect(a.status).toBe(201);
    expect(a.body.resourceType).toBe('OperationOutcome');
    expect(a.body.issue[0]).toMatchObject({ severity: 'information', code: 'informational' });
    expect(a.headers.get('etag')).toBe('W/"1"');
  });
});

describe('what the endpoint does not do, it says', () => {
  test.each([
    ['DELETE', '/fhir/MedicationRequest/rest-created', 'PUT'],
    ['PATCH', '/fhir/MedicationRequest/rest-created', 'PUT'],
    ['DELETE', '/fhir/MedicationRequest', 'POST'],
    ['PUT', '/fhir', 'POST'],
    ['POST', '/fhir/metadata', 'GET'],
  ])('%s %s: 405 with Allow: %s', async (method, path, allow) => {
    const a = await call(method, path);
    expectOutcome(a, 405);
    expect(a.headers.get('allow')).toBe(allow);
  });

  test.each([
    ['/fhir/metadata', { accept: 'application/fhir+xml' }],
    ['/fhir/metadata?_format=xml', {}],
    ['/fhir/metadata?_format=application/fhir%2Bxml', {}],
    ['/fhir/MedicationRequest/rest-created', { accept: 'application/xml' }],
  ])('%s asking for XML (%j): 406', async (path, headers) => {
    expectOutcome(await call('GET', path, undefined, headers), 406);
  });

  test('406 before anything is written', async () => {
    const a = await call('POST', '/fhir/MedicationRequest?_format=xml', order('rest-xml'));
    expectOutcome(a, 406);
    expect(await service.store.getResource('MedicationRequest', 'rest-xml')).toBeUndefined();
  });

  test.each([
    [{ accept: 'application/fhir+json' }],
    [{ accept: 'application/json' }],
    [{ accept: '*/*' }],
    [{ accept: 'application/fhir+xml;q=0.9, application/fhir+json;q=0.5' }],
  ])('JSON asked for in any way it is said (%j): 200', async (headers) => {
    expect((await call('GET', '/fhir/metadata?_format=json', undefined, headers)).status).toBe(200);
  });
});

describe('the CapabilityStatement', () => {
  let cs: CapabilityStatement;
  beforeAll(async () => {
    cs = (await call('GET', '/fhir/metadata')).body;
  });

  test('names itself and the package it instantiates, under the profiles canonical base', () => {
    expect(cs.name).toMatch(/^[A-Z][A-Za-z0-9_]*$/);
    expect(cs.instantiates).toEqual(['https://fhir.kap-bridge.org/CapabilityStatement/kap-bridge']);
  });

  test('says how to get a token: SMART, at the configured token endpoint', () => {
    const security = cs.rest![0]!.security!;
    expect(security.service![0]!.coding![0]).toEqual({
      system: 'http://terminology.hl7.org/CodeSystem/restful-security-service',
      code: 'SMART-on-FHIR',
    });
    const oauth = security.extension!.find(
      (e) => e.url === 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
    );
    expect(oauth?.extension).toEqual([{ url: 'token', valueUri: 'https://idp.example.org/oauth2/token' }]);
  });

  test('lists every kept type, each with the profiles of profiles/ written for it', async () => {
    const { readConformance } = await import('../../src/fhir/conformance.js');
    const resources = cs.rest![0]!.resource!;
    expect(resources.map((r) => r.type).sort()).toEqual([...KEPT_TYPES].sort());
    for (const r of resources) {
      const expected = readConformance('StructureDefinition-')
        .filter((sd) => sd.derivation === 'constraint' && sd.type === r.type)
        .map((sd) => sd.url as string)
        .sort();
      expect({ type: r.type, profiles: [...(r.supportedProfile ?? [])].sort() }).toEqual({
        type: r.type,
        profiles: expected,
      });
    }
    expect(resources.find((r) => r.type === 'MedicationRequest')?.supportedProfile).toContain(
      'https://fhir.kap-bridge.org/StructureDefinition/kap-medication-request',
    );
  });
});
