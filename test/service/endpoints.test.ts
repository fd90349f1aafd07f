/**
 * kap-bridge's own HTTP endpoints, over real HTTP with a real SQLite file and no EHR: what the EHR
 * may push, what the therapist may ask, and that bad input gets a 4xx OperationOutcome and changes
 * nothing.
 */
import fc from 'fast-check';
import type { MedicationRequest, Observation, OperationOutcome, Resource } from 'fhir/r4';
import { badRequest, statusOf } from '../../src/fhir/outcome.js';
import { type ApiRoute, OPERATIONS } from '../../src/http/openapi.js';
import { ROUTES } from '../../src/http/routes.js';
import type { Service } from '../../src/service.js';
import { careTeam } from '../support/care.js';
import { statusOfApiBody } from '../support/expected-status.js';
import { fixture } from '../support/fixtures.js';
import { startTestService } from '../support/service.js';
import { type Answer, send } from '../support/therapist-api.js';

const SECRET = 'test-shared-secret';

let service: Service;
let base: string;

beforeAll(async () => {
  service = await startTestService({ KAP_SUBSCRIPTION_SECRET: SECRET, KAP_BODY_LIMIT_BYTES: '200000' });
  base = service.url;
});
afterAll(() => service.close());

const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  send(
    `${base}${path}`,
    method,
    body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    {
      ...(body === undefined ? {} : { 'content-type': 'application/fhir+json' }),
      ...(path.startsWith('/fhir') ? { 'x-kap-subscription-secret': SECRET } : {}),
      ...headers,
    },
  );

const put = <T extends Resource>(r: T, headers?: Record<string, string>) =>
  call('PUT', `/fhir/${r.resourceType}/${r.id}`, r, headers);
const expectOutcome = (a: Answer, status: number) => {
  expect(a.status).toBe(status);
  expect(a.headers.get('content-type')).toContain('application/fhir+json');
  expect((a.body as OperationOutcome).resourceType).toBe('OperationOutcome');
  expect(JSON.stringify(a.body)).not.toMatch(/\n\s+at /);
};

describe('GET /fhir/metadata', () => {
  test('tells what the endpoint takes', async () => {
    const a = await call('GET', '/fhir/metadata');
    expect(a.status).toBe(200);
    expect(a.body.resourceType).toBe('CapabilityStatement');
    expect(a.body.fhirVersion).toBe('4.0.1');
    const types = a.body.rest[0].resource.map((r: { type: string }) => r.type);
    expect(types).toEqual(
      expect.arrayContaining(['MedicationRequest', 'Observation', 'MedicationDispense', 'Patient', 'Task']),
    );
    expect(a.body.rest[0].interaction.map((i: { code: string }) => i.code)).toEqual(['batch', 'transaction']);
  });
});

describe('the EHR pushes resources', () => {
  test('a new prescription is created with Location and ETag, the same version again changes nothing', async () => {
    const rx = fixture<MedicationRequest>('prescriber/prescription-ketamine-troche.fhir.json');
    const first = await put(rx);
    expect(first.status).toBe(201);
    expect(first.headers.get('location')).toBe(
      `${base}/fhir/MedicationRequest/${rx.id}/_history/${rx.meta!.versionId}`,
    );
    expect(first.headers.get('etag')).toBe(`W/"${rx.meta!.versionId}"`);
    const again = await put(rx);
    expect(again.status).toBe(200);
  });

  test('an older version never overwrites a newer one', async () => {
    const rx = fixture<MedicationRequest>('prescriber/prescription-ketamine-troche.fhir.json');
    const newer = { ...rx, id: 'rx-order', meta: { ...rx.meta, versionId: '7' }, status: 'on-hold' as const };
    const older = { ...rx, id: 'rx-order', meta: { ...rx.meta, versionId: '6' }, status: 'active' as const };
    expect((await put(newer)).status).toBe(201);
    const stale = await put(older);
    expect(stale.status).toBe(200);
    expect(stale.body.status).toBe('on-hold');
    expect((await service.store.getResource('MedicationRequest', 'rx-order'))?.resource).toMatchObject({
      status: 'on-hold',
    });
  });

  test('If-Match: the held version or the version sent is accepted, any other is a 412', async () => {
    const rx = {
      ...fixture<MedicationRequest>('prescriber/prescription-ketamine-troche.fhir.json'),
      id: 'rx-ifmatch',
    };
    await put(rx);
    expectOutcome(await put({ ...rx, meta: { ...rx.meta, versionId: '9' } }, { 'if-match': 'W/"2"' }), 412);
    expect(
      (
        await put(
          { ...rx, meta: { ...rx.meta, versionId: '9' } },
          { 'if-match': `W/"${rx.meta!.versionId}"` },
        )
      ).status,
    ).toBe(200);
    // A REST-hook delivery names the version it carries.
    expect(
      (await put({ ...rx, meta: { ...rx.meta, versionId: '10' } }, { 'if-match': 'W/"10"' })).status,
    ).toBe(200);
    expect(
      (await service.store.getResource('MedicationRequest', 'rx-ifmatch'))?.resource.meta?.versionId,
    ).toBe('10');
  });

  test('a POST without an id gets one', async () => {
    const { id: _, ...rx } = fixture<MedicationRequest>('ehr/medicationrequest-rxnorm-6130.fhir.json');
    const a = await call('POST', '/fhir/MedicationRequest', rx);
    expect(a.status).toBe(201);
    expect(a.body.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  test('a transaction is all or nothing', async () => {
    const good = {
      ...fixture<MedicationRequest>('ehr/medicationrequest-rxnorm-6130.fhir.json'),
      id: 'tx-good',
    };
    const bad = { ...good, id: 'tx-bad', status: undefined };
    const rejected = await call('POST', '/fhir', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { resource: good, request: { method: 'PUT', url: 'MedicationRequest/tx-good' } },
        { resource: bad, request: { method: 'PUT', url: 'MedicationRequest/tx-bad' } },
      ],
    });
    expectOutcome(rejected, 400);
    expect(rejected.body.issue[0].expression).toEqual(['Bundle.entry[1].resource.status']);
    expect(await service.store.getResource('MedicationRequest', 'tx-good')).toBeUndefined();

    const accepted = await call('POST', '/fhir', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { resource: good, request: { method: 'PUT', url: 'MedicationRequest/tx-good' } },
        { resource: { resourceType: 'Claim', id: 'c1' }, request: { method: 'PUT', url: 'Claim/c1' } },
      ],
    });
    expect(accepted.status).toBe(200);
    expect(accepted.body.type).toBe('transaction-response');
    expect(accepted.body.entry.map((e: { response: { status: string } }) => e.response.status)).toEqual([
      '201 Created',
      '200 OK',
    ]);
    expect(await service.store.getResource('MedicationRequest', 'tx-good')).toBeDefined();
    expect(await service.store.getResource('Claim', 'c1')).toBeUndefined();
  });

  test('a transaction resolves urn:uuid references between its entries, as an EHR export sends them', async () => {
    const patientUrl = 'urn:uuid:6f1c2a9e-0d4b-4c43-9a57-2f1b7d3e9c01';
    const { id: _, ...rx } = fixture<MedicationRequest>('ehr/medicationrequest-rxnorm-6130.fhir.json');
    const a = await call('POST', '/fhir', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: patientUrl,
          resource: { resourceType: 'Patient', active: true },
          request: { method: 'POST', url: 'Patient' },
        },
        {
          fullUrl: 'urn:uuid:0b7e6d1a-5c2f-4e8b-a1d3-9f4c2e7b6a10',
          resource: { ...rx, subject: { reference: patientUrl } },
          request: { method: 'POST', url: 'MedicationRequest' },
        },
      ],
    });
    expect(a.status).toBe(200);
    const held = await service.store.getResource('MedicationRequest', '0b7e6d1a-5c2f-4e8b-a1d3-9f4c2e7b6a10');
    expect((held!.resource as MedicationRequest).subject.reference).toBe(
      'Patient/6f1c2a9e-0d4b-4c43-9a57-2f1b7d3e9c01',
    );
    expect(held?.patientRef).toBe('Patient/6f1c2a9e-0d4b-4c43-9a57-2f1b7d3e9c01');
  });

  test('Observations KAP does not read (labs) are acknowledged, not checked or stored; KAP ones are kept', async () => {
    const bp = fixture<Observation>('individual-course/Observation-obs-lena-bp-before.fhir.json');
    const lab = {
      resourceType: 'Observation',
      id: 'lab-1',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '2339-0' }] },
      effectivePeriod: { start: '1994-05-19T19:33:18-04:00', stop: '1994-05-19T20:33:18-04:00' },
    };
    const a = await call('POST', '/fhir', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { resource: lab, request: { method: 'PUT', url: 'Observation/lab-1' } },
        { resource: bp, request: { method: 'PUT', url: `Observation/${bp.id}` } },
      ],
    });
    expect(a.status).toBe(200);
    expect(await service.store.getResource('Observation', 'lab-1')).toBeUndefined();
    expect(await service.store.getResource('Observation', bp.id!)).toBeDefined();
  });

  test('a batch takes each entry on its own', async () => {
    const good = {
      ...fixture<MedicationRequest>('ehr/medicationrequest-rxnorm-6130.fhir.json'),
      id: 'batch-good',
    };
    const a = await call('POST', '/fhir', {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        {
          resource: { ...good, id: 'batch-bad', authoredOn: 'yesterday' },
          request: { method: 'PUT', url: 'MedicationRequest/batch-bad' },
        },
        { resource: good, request: { method: 'PUT', url: 'MedicationRequest/batch-good' } },
      ],
    });
    expect(a.status).toBe(200);
    expect(a.body.entry[0].response.status).toBe('400');
    expect(a.body.entry[0].response.outcome.issue[0].expression[0]).toMatch(
      /^Bundle\.entry\[0\]\.resource\.authoredOn/,
    );
    expect(a.body.entry[1].response.status).toBe('201 Created');
  });

  test('a resource for a patient not yet linked is kept, and found once the patient is registered', async () => {
    const patient = fixture<Resource & { identifier: { system: string; value: string }[] }>(
      'ehr/patient-mrn.fhir.json',
    );
    const rx = {
      ...fixture<MedicationRequest>('ehr/medicationrequest-rxnorm-6130.fhir.json'),
      id: 'rx-unlinked',
      subject: { reference: `Patient/${patient.id}` },
      // Written after the patient's other orders pushed above, so it is the current one.
      authoredOn: '2026-03-10T09:00:00Z',
    };
    expect((await put(rx)).status).toBe(201);
    expect((await put(patient)).status).toBe(201);
    const { system, value } = patient.identifier[0]!;
    const mrn = { system, value };
    const registered = await call(
      'POST',
      '/api/v1/patients',
      { identifiers: [mrn] },
      { 'content-type': 'application/json' },
    );
    expect(registered.status).toBe(201);
    expect(registered.body.ehrPatient).toBe(`Patient/${patient.id}`);
    const statusOf = () =>
      call('GET', `/api/v1/patients/${registered.body.id}/medication-status?date=2026-12-03`);
    // Linked by MRN, but the EHR has not confirmed the practice's care: none of the EHR's record is shown.
    const pending = await statusOf();
    expect(pending.status).toBe(200);
    expect(pending.body.reasons.map((r: { code: string }) => r.code)).toContain('link-pending');
    expect(pending.body.status.prescription).toBeUndefined();
    expect((await put(careTeam(patient.id!))).status).toBe(201);
    const status = await statusOf();
    expect(status.status).toBe(200);
    expect(status.body.reasons.map((r: { code: string }) => r.code)).not.toContain('link-pending');
    expect(status.body.status.prescription).toMatchObject({
      status: 'active',
      source: 'MedicationRequest/rx-unlinked/_history/1',
    });
  });
});

describe('bad input at the FHIR endpoint gets a 4xx OperationOutcome and changes nothing', () => {
  const rx = () => ({
    ...fixture<MedicationRequest>('ehr/medicationrequest-rxnorm-6130.fhir.json'),
    id: 'rx-bad-input',
  });

  test.each([
    ['unparsable JSON', () => call('PUT', '/fhir/MedicationRequest/rx-bad-input', '{"resourceType":'), 400],
    [
      'wrong media type',
      () => call('PUT', '/fhir/MedicationRequest/rx-bad-input', 'x', { 'content-type': 'text/plain' }),
      415,
    ],
    [
      'unknown resource type',
      () => call('PUT', '/fhir/Wizard/rx-bad-input', { ...rx(), resourceType: 'Wizard' }),
      404,
    ],
    [
      'a type kap-bridge does not take',
      () => call('PUT', '/fhir/Claim/c1', { resourceType: 'Claim', id: 'c1' }),
      404,
    ],
    ['a bad id', () => call('PUT', '/fhir/MedicationRequest/bad$id', { ...rx(), id: 'bad$id' }), 400],
    ['an id that is not the URL id', () => call('PUT', '/fhir/MedicationRequest/other', rx()), 400],
    ['a body of another type', () => call('PUT', '/fhir/Observation/rx-bad-input', rx()), 400],
    [
      'a structurally invalid resource',
      () => put({ ...rx(), authoredOn: 'yesterday' } as MedicationRequest),
      400,
    ],
    [
      'a body over the size limit',
      () => put({ ...rx(), note: [{ text: 'x'.repeat(300_000) }] } as MedicationRequest),
      413,
    ],
    [
      'no shared secret',
      () =>
        call('PUT', '/fhir/MedicationRequest/rx-bad-input', rx(), { 'x-kap-subscription-secret': 'wrong' }),
      401,
    ],
    ['DELETE', () => call('DELETE', '/fhir/MedicationRequest/rx-bad-input'), 405],
    ['a searchset Bundle', () => call('POST', '/fhir', { resourceType: 'Bundle', type: 'searchset' }), 400],
    [
      'a Bundle whose entry is not a list',
      () => call('POST', '/fhir', { resourceType: 'Bundle', type: 'batch', entry: {} }),
      400,
    ],
    [
      'a transaction entry whose request names another type',
      () =>
        call('POST', '/fhir', {
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [{ resource: rx(), request: { method: 'PUT', url: 'Observation/rx-bad-input' } }],
        }),
      400,
    ],
  ] as const)('%s', async (_name, send, status) => {
    expectOutcome(await send(), status);
    expect(await service.store.getResource('MedicationRequest', 'rx-bad-input')).toBeUndefined();
  });

  test('a ketamine order breaking a KAP rule (no dose) is kept and answered 201 with a warning naming each element', async () => {
    const order = {
      ...rx(),
      id: 'rx-no-dose',
      dosageInstruction: [{ text: 'as directed' }],
    } as MedicationRequest;
    const a = await put(order);
    expect(a.status).toBe(201);
    expect(a.body.resourceType).toBe('OperationOutcome');
    expect(
      a.body.issue.map((i: { severity: string; expression: string[] }) => [i.severity, i.expression[0]]),
    ).toEqual([
      ['warning', 'MedicationRequest.dosageInstruction[0].route'],
      ['warning', 'MedicationRequest.dosageInstruction[0].doseAndRate[0].doseQuantity'],
    ]);
    expect(await service.store.getResource('MedicationRequest', 'rx-no-dose')).toBeDefined();
  });

  test('fuzzed bodies never get a 5xx and never store anything', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.jsonValue({ maxDepth: 6 }),
        fc.constantFrom('MedicationRequest', 'Observation', 'Patient'),
        async (body, type) => {
          // No JSON value the generator makes is a resource of the type: each is a bad request.
          expect((await call('PUT', `/fhir/${type}/fuzz`, JSON.stringify(body))).status).toBe(
            statusOf(badRequest('')),
          );
        },
      ),
      { numRuns: 150, interruptAfterTimeLimit: 15_000 },
    );
    for (const type of ['MedicationRequest', 'Observation', 'Patient'])
      expect(await service.store.getResource(type, 'fuzz')).toBeUndefined();
  });
});

describe('the therapist API', () => {
  const json = { 'content-type': 'application/json' };

  test('serves its OpenAPI document to anyone, without a token', async () => {
    const res = await fetch(`${base}/api/v1/openapi.json`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { info: { title: string } }).info.title).toBe('kap-bridge therapist API');
  });

  test('serves its OpenAPI document', async () => {
    const a = await call('GET', '/api/v1/openapi.json');
    expect(a.status).toBe(200);
    expect(a.body.openapi).toBe('3.1.0');
    expect(Object.keys(a.body.paths)).toEqual(
      expect.arrayContaining(['/patients', '/patients/{id}/medication-status']),
    );
  });

  test('registers a patient once; the same identifiers again return it', async () => {
    const body = { id: 'therapist-p1', identifiers: [{ system: 'urn:therapist:client', value: 'C-100' }] };
    const first = await call('POST', '/api/v1/patients', body, json);
    expect(first.status).toBe(201);
    expect(first.headers.get('location')).toBe('/api/v1/patients/therapist-p1');
    expect((await call('POST', '/api/v1/patients', body, json)).status).toBe(200);
    expect((await call('GET', '/api/v1/patients/therapist-p1')).body).toEqual(body);
  });

  test('refuses an identifier that belongs to another patient', async () => {
    await call(
      'POST',
      '/api/v1/patients',
      { id: 'p-a', identifiers: [{ system: 's', value: 'shared' }] },
      json,
    );
    const a = await call(
      'POST',
      '/api/v1/patients',
      {
        id: 'p-b',
        identifiers: [
          { system: 's', value: 'shared' },
          { system: 's', value: 'own' },
        ],
      },
      json,
    );
    expectOutcome(a, 409);
    expect((await call('GET', '/api/v1/patients/p-b')).status).toBe(404);
  });

  test.each([
    ['no identifiers', { identifiers: [] }, 'identifiers'],
    ['an identifier without a value', { identifiers: [{ system: 's' }] }, 'identifiers[0].value'],
    ['an unknown field', { identifiers: [{ system: 's', value: 'v' }], name: 'Jane' }, 'name'],
    [
      'a bad EHR reference',
      { identifiers: [{ system: 's', value: 'v' }], ehrPatient: 'Practitioner/1' },
      'ehrPatient',
    ],
  ])('a registration with %s names the field', async (_name, body, expression) => {
    const a = await call('POST', '/api/v1/patients', body, json);
    expectOutcome(a, 400);
    expect(a.body.issue.map((i: { expression: string[] }) => i.expression[0])).toContain(expression);
  });

  test('medication status: unknown patient is a 404, a bad date a 400', async () => {
    expectOutcome(await call('GET', '/api/v1/patients/nobody/medication-status'), 404);
    await call(
      'POST',
      '/api/v1/patients',
      { id: 'p-date', identifiers: [{ system: 's', value: 'date' }] },
      json,
    );
    expectOutcome(await call('GET', '/api/v1/patients/p-date/medication-status?date=2026-13-45'), 400);
    const a = await call('GET', '/api/v1/patients/p-date/medication-status?date=2026-12-03');
    expect(a.status).toBe(200);
    expect(a.body.ready).toBe(false);
    expect(a.body.reasons.map((r: { code: string }) => r.code)).toEqual(
      expect.arrayContaining(['no-consent', 'no-clearance', 'no-prescription']),
    );
  });

  test('a couples episode is ready only when both partners are', async () => {
    const clearance = fixture<Observation>('prescriber/clearance-cleared.fhir.json');
    const rx = fixture<MedicationRequest>('prescriber/prescription-ketamine-troche.fhir.json');
    for (const p of ['ana', 'tomas']) {
      await call(
        'POST',
        '/api/v1/patients',
        { id: `cpl-${p}`, identifiers: [{ system: 'urn:c', value: p }], ehrPatient: `Patient/ehr-${p}` },
        json,
      );
    }
    for (const p of ['ana', 'tomas']) expect((await put(careTeam(`ehr-${p}`))).status).toBe(201);
    // Only Ana's prescriber record has arrived.
    await put({ ...clearance, id: 'cpl-clr-ana', subject: { reference: 'Patient/ehr-ana' } });
    await put({ ...rx, id: 'cpl-rx-ana', subject: { reference: 'Patient/ehr-ana' } });
    const episode = await call(
      'POST',
      '/api/v1/episodes',
      { id: 'cpl-ep', type: 'couples', patients: ['cpl-ana', 'cpl-tomas'] },
      json,
    );
    expect(episode.status).toBe(201);
    const r = await call('GET', '/api/v1/episodes/cpl-ep/readiness?date=2026-03-01');
    expect(r.status).toBe(200);
    expect(r.body.ready).toBe(false);
    expect(r.body.patients.map((p: { patientId: string }) => p.patientId)).toEqual(['cpl-ana', 'cpl-tomas']);
    const codes = r.body.reasons.map((x: { patientId: string; code: string }) => `${x.patientId}:${x.code}`);
    expect(codes).toContain('cpl-tomas:no-clearance');
    expect(codes).toContain('cpl-tomas:no-prescription');
    expect(codes).not.toContain('cpl-ana:no-clearance');
  });

  test.each([
    ['a couples episode with one patient', { type: 'couples', patients: ['p-a'] }, 400, 'patients'],
    ['an unknown type', { type: 'group', patients: ['p-a'] }, 400, 'type'],
    ['an unregistered patient', { type: 'individual', patients: ['nobody'] }, 422, 'patients[0]'],
  ])('an episode with %s is refused', async (_name, body, status, expression) => {
    const a = await call('POST', '/api/v1/episodes', body, json);
    expectOutcome(a, status);
    expect(a.body.issue.map((i: { expression: string[] }) => i.expression[0])).toContain(expression);
  });

  test('fuzzed bodies on every route that registers or takes FHIR get a 400', async () => {
    // The table's writes whose path names no object: the FHIR endpoint and the therapist's registrations.
    const routes = Object.values(ROUTES).flatMap((r) =>
      r.method === 'POST' && /^\/(fhir|api\/v1)(\/|$)/.test(r.path) && !r.path.includes(':id')
        ? [r.path.replace(':type', 'Observation')]
        : [],
    );
    expect(routes).toEqual(expect.arrayContaining(['/fhir', '/fhir/Observation', '/api/v1/patients']));
    const schemaOf = Object.fromEntries(
      Object.entries(OPERATIONS).flatMap(([name, o]) =>
        o.body ? [[ROUTES[name as ApiRoute].path, o.body.schema] as const] : [],
      ),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...routes), fc.jsonValue({ maxDepth: 5 }), async (route, body) => {
        const schema = schemaOf[route];
        // A therapist-API body: refused as its schema refuses it (one the schema takes is no fuzz);
        // no JSON value the generator makes is a FHIR resource or Bundle: a bad request.
        const expected = schema ? statusOfApiBody(schema, body) : statusOf(badRequest(''));
        fc.pre(expected !== undefined);
        // Sent as JSON, a string too (call sends a string as it is).
        const a = await call('POST', route, JSON.stringify(body), {
          'content-type': route.startsWith('/api') ? 'application/json' : 'application/fhir+json',
        });
        expect(a.status).toBe(expected);
      }),
      { numRuns: 200, interruptAfterTimeLimit: 15_000 },
    );
  });

  test('health and readiness', async () => {
    expect((await call('GET', '/healthz')).body).toEqual({
      status: 'ok',
      ehr: { state: 'not configured' },
      subscriptions: 'off',
      lastSyncAt: null,
    });
    const ready = await call('GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ status: 'ready', checks: { store: 'ok' } });
  });

  test('an unknown path is a 404 OperationOutcome', async () => {
    expectOutcome(await call('GET', '/nowhere'), 404);
  });
});
