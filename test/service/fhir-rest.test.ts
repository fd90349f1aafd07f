/**
 * /fhir's REST manners as an EHR integration engineer checks them with their own tools: Prefer,
 * Location, ETag and Last-Modified on every create, a version and a time in meta, Allow on a 405,
 * a 406 for a format it does not speak, and a CapabilityStatement that says what it does.
 */
import type { CapabilityStatement, MedicationRequest, OperationOutcome } from 'fhir/r4';
import { readConformance } from '../../src/fhir/conformance.js';
import { READABLE_TYPES } from '../../src/fhir-endpoint/capability.js';
import { KEPT_TYPES } from '../../src/intake.js';
import { bearer, type Caller } from '../support/auth.js';
import { careTeam } from '../support/care.js';
import { fixture } from '../support/fixtures.js';
import { startTestService, type TestService } from '../support/service.js';
import { type Answer, send } from '../support/therapist-api.js';

let service: TestService;
let base: string;

beforeAll(async () => {
  service = await startTestService({ KAP_AUTH_TOKEN_URL: 'https://idp.example.org/oauth2/token' });
  base = service.url;
});
afterAll(() => service.close());

const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  send(`${base}${path}`, method, body === undefined ? undefined : JSON.stringify(body), {
    ...(body === undefined ? {} : { 'content-type': 'application/fhir+json' }),
    ...headers,
  });

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
    ['DELETE', '/fhir/MedicationRequest/rest-created', 'GET, PUT'],
    ['PATCH', '/fhir/MedicationRequest/rest-created', 'GET, PUT'],
    ['DELETE', '/fhir/MedicationRequest', 'GET, POST'],
    ['POST', '/fhir/EpisodeOfCare', 'GET'],
    ['PUT', '/fhir/MedicationRequest/rest-created/_history/1', 'GET'],
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

  test('says how to get a token: SMART, at the configured token endpoint, and SMART discovery says the same', async () => {
    const security = cs.rest![0]!.security!;
    expect(security.service![0]!.coding![0]).toEqual({
      system: 'http://terminology.hl7.org/CodeSystem/restful-security-service',
      code: 'SMART-on-FHIR',
    });
    expect(security.description).toContain('https://idp.example.org/oauth2/token');
    const smart = await call('GET', '/fhir/.well-known/smart-configuration', undefined, {
      authorization: '',
    });
    expect(smart.status).toBe(200);
    expect(smart.body).toMatchObject({
      token_endpoint: 'https://idp.example.org/oauth2/token',
      grant_types_supported: ['client_credentials'],
      token_endpoint_auth_methods_supported: ['private_key_jwt'],
    });
  });

  test('carries a narrative (dom-6)', () => {
    expect(cs.text?.status).toBe('generated');
    expect(cs.text?.div).toMatch(/^<div xmlns="http:\/\/www.w3.org\/1999\/xhtml">/);
  });

  test('lists every type it takes or holds, each with the profiles of profiles/ written for it', async () => {
    const resources = cs.rest![0]!.resource!;
    expect(resources.map((r) => r.type).sort()).toEqual([...READABLE_TYPES].sort());
    expect(resources.map((r) => r.type)).toEqual(expect.arrayContaining([...KEPT_TYPES]));
    for (const r of resources) {
      const codes = r.interaction!.map((i) => i.code);
      expect({ type: r.type, codes }).toEqual({
        type: r.type,
        codes: [
          'read',
          'vread',
          'search-type',
          ...(KEPT_TYPES.includes(r.type as never) ? ['create', 'update'] : []),
        ],
      });
      expect(r.searchParam!.map((p) => p.name)).toEqual(['patient', 'identifier', '_lastUpdated']);
    }
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

/** As a given caller (the EHR unless said). */
const as = (who: Caller, path: string) => call('GET', path, undefined, bearer(who));

describe('reading what kap-bridge holds', () => {
  test('read and vread: the resource as held, with its ETag and Last-Modified; another version is a 404', async () => {
    await call('PUT', '/fhir/MedicationRequest/rest-read', order('rest-read'));
    const a = await as('ehr', '/fhir/MedicationRequest/rest-read');
    expect(a.status).toBe(200);
    expect(a.body).toMatchObject({
      resourceType: 'MedicationRequest',
      id: 'rest-read',
      meta: { versionId: '1' },
    });
    expect(a.headers.get('etag')).toBe('W/"1"');
    expect(a.headers.get('last-modified')).toBe(new Date(a.body.meta.lastUpdated).toUTCString());
    expect(a.headers.get('location')).toBeNull();
    const v1 = await as('ehr', '/fhir/MedicationRequest/rest-read/_history/1');
    expect(v1.status).toBe(200);
    expect(v1.body).toEqual(a.body);
    expectOutcome(await as('ehr', '/fhir/MedicationRequest/rest-read/_history/2'), 404);
    expectOutcome(await as('ehr', '/fhir/MedicationRequest/rest-never-held'), 404);
    expectOutcome(await as('ehr', '/fhir/Claim/rest-read'), 404);
  });

  test('without the read scope: 403; an operator reads with system/[type].r like any client', async () => {
    const a = await as('operator', '/fhir/MedicationRequest/rest-read');
    expectOutcome(a, 403);
    expect(a.headers.get('www-authenticate')).toContain('scope="system/MedicationRequest.r"');
  });

  test('search by patient: total, pages of _count, and self, next and previous links that lead through them all', async () => {
    const ids = ['rest-page-1', 'rest-page-2', 'rest-page-3', 'rest-page-4', 'rest-page-5'];
    for (const id of ids)
      await call('PUT', `/fhir/MedicationRequest/${id}`, {
        ...order(id),
        subject: { reference: 'Patient/rest-paged' },
      });
    let page = await as('ehr', '/fhir/MedicationRequest?patient=Patient/rest-paged&_count=2');
    expect(page.status).toBe(200);
    expect(page.body).toMatchObject({ resourceType: 'Bundle', type: 'searchset', total: 5 });
    const relations = (b: { link: { relation: string }[] }) => b.link.map((l) => l.relation);
    expect(relations(page.body)).toEqual(['self', 'next']);
    expect(page.body.link[0].url).toBe(
      `${base}/fhir/MedicationRequest?patient=Patient%2Frest-paged&_count=2&_offset=0`,
    );
    const seen: string[] = [];
    const pages: string[][] = [];
    for (;;) {
      const found = page.body.entry.map((e: { resource: { id: string } }) => e.resource.id);
      seen.push(...found);
      pages.push(relations(page.body));
      const next = page.body.link.find((l: { relation: string }) => l.relation === 'next');
      if (!next) break;
      page = await call('GET', next.url.slice(base.length));
    }
    expect(seen).toEqual(ids);
    expect(pages).toEqual([
      ['self', 'next'],
      ['self', 'previous', 'next'],
      ['self', 'previous'],
    ]);
    const previous = page.body.link.find((l: { relation: string }) => l.relation === 'previous');
    expect(previous.url).toBe(
      `${base}/fhir/MedicationRequest?patient=Patient%2Frest-paged&_count=2&_offset=2`,
    );
    // The patient's id alone names the same patient.
    expect((await as('ehr', '/fhir/MedicationRequest?patient=rest-paged')).body.total).toBe(5);
  });

  test('search by identifier: system|value, value alone; nothing else matches', async () => {
    const rx = {
      ...order('rest-identified'),
      identifier: [{ system: 'urn:oid:1.2.3.4', value: 'RX-100%_' }],
    };
    await call('PUT', '/fhir/MedicationRequest/rest-identified', rx);
    const ids = async (query: string) =>
      ((await as('ehr', `/fhir/MedicationRequest?${query}`)).body.entry ?? []).map(
        (e: { resource: { id: string } }) => e.resource.id,
      );
    expect(await ids(`identifier=${encodeURIComponent('urn:oid:1.2.3.4|RX-100%_')}`)).toEqual([
      'rest-identified',
    ]);
    expect(await ids(`identifier=${encodeURIComponent('RX-100%_')}`)).toEqual(['rest-identified']);
    expect(await ids(`identifier=${encodeURIComponent('urn:oid:9.9|RX-100%_')}`)).toEqual([]);
    expect(await ids('identifier=RX-1000')).toEqual([]);
    expect(await ids('identifier=RX-100')).toEqual([]);
  });

  test('search by _lastUpdated: prefixes, a day, and two bounds together', async () => {
    const at = {
      'rest-jan': '2025-01-10T12:00:00Z',
      'rest-feb': '2025-02-10T12:00:00Z',
      'rest-mar': '2025-03-10T12:00:00Z',
    };
    for (const [id, lastUpdated] of Object.entries(at))
      await call('PUT', `/fhir/MedicationRequest/${id}`, {
        ...order(id),
        subject: { reference: 'Patient/rest-dated' },
        meta: { versionId: '1', lastUpdated },
      });
    const ids = async (query: string) =>
      ((await as('ehr', `/fhir/MedicationRequest?patient=Patient/rest-dated&${query}`)).body.entry ?? []).map(
        (e: { resource: { id: string } }) => e.resource.id,
      );
    expect(await ids('_lastUpdated=ge2025-02-01')).toEqual(['rest-feb', 'rest-mar']);
    expect(await ids('_lastUpdated=lt2025-02-10T12:00:00Z')).toEqual(['rest-jan']);
    expect(await ids('_lastUpdated=2025-02-10')).toEqual(['rest-feb']);
    expect(await ids('_lastUpdated=gt2025-01-10T12:00:00Z&_lastUpdated=le2025-02-10T12:00:00Z')).toEqual([
      'rest-feb',
    ]);
    expect(await ids('_lastUpdated=ne2025-02')).toEqual(['rest-jan', 'rest-mar']);
  });

  test.each([
    ['_sort=-date', '_sort'],
    ['_lastUpdated=yesterday', '_lastUpdated'],
    ['patient=Patient/a%2Fb', 'patient'],
    ['patient=a&patient=b', 'patient'],
    ['_count=many', '_count'],
  ])('a search it cannot do (%s) is a 400 naming the parameter', async (query, name) => {
    const a = await as('ehr', `/fhir/MedicationRequest?${query}`);
    expectOutcome(a, 400);
    expect(a.body.issue[0].expression).toEqual([name]);
  });
});

describe("a practice reads its own and its patients' records, and nothing of another practice's", () => {
  const EHR_PATIENT = 'rest-tenancy-ehr';
  let ownPatient: string;
  let referral: string;

  beforeAll(async () => {
    const registered = await call(
      'POST',
      '/api/v1/patients',
      { identifiers: [{ system: 'urn:mrn', value: 'REST-T-1' }], ehrPatient: `Patient/${EHR_PATIENT}` },
      { 'content-type': 'application/json' },
    );
    ownPatient = registered.body.id;
    const recorded = await call(
      'POST',
      `/api/v1/patients/${ownPatient}/referrals`,
      { requester: 'Practitioner/pr-rest' },
      { 'content-type': 'application/json' },
    );
    expect(recorded.status).toBe(201);
    referral = recorded.body.sources.serviceRequest.split('/_history/')[0];
    await call('PUT', '/fhir/MedicationRequest/rest-tenancy-rx', {
      ...order('rest-tenancy-rx'),
      subject: { reference: `Patient/${EHR_PATIENT}` },
    });
  });

  /** The answer with the path's id put out of the sentence, to compare with an unknown id's. */
  const sentence = (a: Answer) => a.body.issue[0].diagnostics.replace(/\S+\/\S+ is held/, 'X is held');

  test("the EHR's record of the patient: not before the EHR confirms the practice's care, then to that practice only", async () => {
    const unknown = await as('therapist', '/fhir/MedicationRequest/rest-never-held');
    expectOutcome(unknown, 404);
    const pending = await as('therapist', '/fhir/MedicationRequest/rest-tenancy-rx');
    expectOutcome(pending, 404);
    expect(sentence(pending)).toBe(sentence(unknown));

    expect(
      (await call('PUT', `/fhir/CareTeam/${careTeam(EHR_PATIENT).id}`, careTeam(EHR_PATIENT))).status,
    ).toBe(201);
    expect((await as('therapist', '/fhir/MedicationRequest/rest-tenancy-rx')).status).toBe(200);
    const search = `/fhir/MedicationRequest?patient=Patient/${EHR_PATIENT}`;
    expect((await as('therapist', search)).body.total).toBe(1);

    const other = await as('otherPractice', '/fhir/MedicationRequest/rest-tenancy-rx');
    expectOutcome(other, 404);
    expect(sentence(other)).toBe(sentence(unknown));
    expect((await as('otherPractice', '/fhir/MedicationRequest/rest-tenancy-rx/_history/1')).status).toBe(
      404,
    );
    const none = await as('otherPractice', search);
    expect(none.status).toBe(200);
    expect(none.body).toMatchObject({ total: 0 });
    expect(none.body.entry ?? []).toEqual([]);
    // The EHR acts for no practice and sees it all.
    expect((await as('ehr', search)).body.total).toBe(1);
  });

  test("a practice's own records are its own: another practice gets the answer for an unknown id", async () => {
    const [type, id] = referral.split('/');
    expect((await as('therapist', `/fhir/${referral}`)).status).toBe(200);
    const other = await as('otherPractice', `/fhir/${referral}`);
    expectOutcome(other, 404);
    expect(sentence(other)).toBe(sentence(await as('otherPractice', `/fhir/${type}/rest-never-held`)));
    expect(
      (await as('otherPractice', `/fhir/${type}?identifier=${encodeURIComponent(id!)}`)).body.total,
    ).toBe(0);
    expect((await as('otherPractice', `/fhir/${type}`)).body.total).toBe(0);
  });

  test('every read and search is in the audit trail, with what it found', async () => {
    await as('therapist', '/fhir/MedicationRequest/rest-tenancy-rx');
    await as('otherPractice', `/fhir/MedicationRequest?patient=Patient/${EHR_PATIENT}`);
    const trail = await call('GET', '/audit/AuditEvent?entity=MedicationRequest/rest-tenancy-rx&_count=100');
    const events = trail.body.entry.map(
      (e: {
        resource: { action: string; outcome: string; agent: { who: { identifier: { value: string } } }[] };
      }) => ({
        action: e.resource.action,
        client: e.resource.agent[0]!.who.identifier.value,
      }),
    );
    expect(events).toEqual(
      expect.arrayContaining([
        { action: 'R', client: 'therapy-a' },
        { action: 'R', client: 'therapy-b' },
      ]),
    );
  });
});

describe('the audit search pages too', () => {
  test('total, _count and _offset, with self, next and previous links', async () => {
    for (let i = 0; i < 3; i++) await as('ehr', '/fhir/MedicationRequest/rest-audited');
    const first = await call('GET', '/audit/AuditEvent?entity=MedicationRequest/rest-audited&_count=2');
    expect(first.status).toBe(200);
    expect(first.body.total).toBe(3);
    expect(first.body.entry).toHaveLength(2);
    expect(first.body.link).toEqual([
      {
        relation: 'self',
        url: `${base}/audit/AuditEvent?entity=MedicationRequest%2Frest-audited&_count=2&_offset=0`,
      },
      {
        relation: 'next',
        url: `${base}/audit/AuditEvent?entity=MedicationRequest%2Frest-audited&_count=2&_offset=2`,
      },
    ]);
    const second = await call('GET', first.body.link[1].url.slice(base.length));
    expect(second.body.entry).toHaveLength(1);
    expect(second.body.link.map((l: { relation: string }) => l.relation)).toEqual(['self', 'previous']);
    const ids = [...first.body.entry, ...second.body.entry].map(
      (e: { resource: { id: string } }) => e.resource.id,
    );
    expect(new Set(ids).size).toBe(3);
  });
});

test('without a token endpoint configured, SMART discovery is a 404 saying so', async () => {
  const bare = await startTestService();
  try {
    const res = await fetch(`${bare.url}/fhir/.well-known/smart-configuration`);
    expect(res.status).toBe(404);
    const outcome = (await res.json()) as OperationOutcome;
    expect(outcome.issue[0]!.diagnostics).toContain('KAP_AUTH_TOKEN_URL');
    const cs = (await (await fetch(`${bare.url}/fhir/metadata`)).json()) as CapabilityStatement;
    expect(cs.rest![0]!.security!.description).not.toContain('token endpoint');
  } finally {
    await bare.close();
  }
});
