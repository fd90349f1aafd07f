/**
 * CORS on the CDS Hooks endpoints, for CDS clients running in a browser: a page of a configured
 * origin gets its preflight answered without a token and may read every answer, a refusal included;
 * any other origin gets no CORS header and its preflight is refused. Nothing outside /cds-services
 * speaks CORS.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kapFetch } from '../support/auth.js';
import { CDS_ISSUER, CdsClient, cdsClientKeys } from '../support/cds-client.js';
import { startTestService, type TestService } from '../support/service.js';

const EHR_ORIGIN = 'https://ehr.example.org';
const OTHER_ORIGIN = 'https://elsewhere.example.org';
const SERVICE = '/cds-services/kap-patient-view';
let dir: string;
let service: TestService;
let client: CdsClient;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kap-cds-cors-'));
  const { keys, jwks } = await cdsClientKeys();
  writeFileSync(join(dir, 'ehr-jwks.json'), JSON.stringify(jwks));
  service = await startTestService({
    KAP_CDS_ISSUERS: CDS_ISSUER,
    KAP_CDS_JWKS: join(dir, 'ehr-jwks.json'),
    KAP_CDS_CORS_ORIGINS: `${EHR_ORIGIN},http://127.0.0.1:3000`,
  });
  client = new CdsClient(service.url, keys.privateKey);
});
afterAll(async () => {
  await service?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A browser's preflight for a POST with the JWT and a JSON body. */
const preflight = (path: string, origin: string) =>
  fetch(`${service.url}${path}`, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization, content-type',
    },
  });

const cors = (res: Response) => ({
  status: res.status,
  allowOrigin: res.headers.get('access-control-allow-origin'),
  allowMethods: res.headers.get('access-control-allow-methods'),
  allowHeaders: res.headers.get('access-control-allow-headers'),
  allowCredentials: res.headers.get('access-control-allow-credentials'),
  vary: res.headers.get('vary'),
});

test.each(['/cds-services', SERVICE, `${SERVICE}/feedback`])(
  'a preflight to %s from a configured origin: 204, no token asked',
  async (path) => {
    const res = await preflight(path, EHR_ORIGIN);
    expect(cors(res)).toEqual({
      status: 204,
      allowOrigin: EHR_ORIGIN,
      allowMethods: 'GET, POST',
      allowHeaders: 'Authorization, Content-Type',
      allowCredentials: null,
      vary: 'Origin',
    });
    expect(res.headers.get('access-control-max-age')).toBe('600');
  },
);

test('a preflight from another origin: 403, no CORS header', async () => {
  const res = await preflight(SERVICE, OTHER_ORIGIN);
  expect(cors(res)).toMatchObject({ status: 403, allowOrigin: null, allowMethods: null });
  expect(((await res.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');
});

test('a call from a configured origin may be read by its page, a refusal too', async () => {
  const token = await client.sign(SERVICE);
  const body = JSON.stringify({
    hook: 'patient-view',
    hookInstance: 'd1577c69-dfbe-44ad-ba6d-3e05e953b2ea',
    context: { userId: 'Practitioner/pr-1', patientId: 'ehr-nobody' },
  });
  const call = (authorization: string) =>
    fetch(`${service.url}${SERVICE}`, {
      method: 'POST',
      headers: { origin: EHR_ORIGIN, authorization, 'content-type': 'application/json' },
      body,
    });
  const answered = await call(`Bearer ${token}`);
  expect(cors(answered)).toMatchObject({ status: 200, allowOrigin: EHR_ORIGIN, vary: 'Origin' });
  expect(await answered.json()).toEqual({ cards: [] });
  // The replay is refused; the page still reads why, WWW-Authenticate included.
  const refused = await call(`Bearer ${token}`);
  expect(cors(refused)).toMatchObject({ status: 401, allowOrigin: EHR_ORIGIN });
  expect(refused.headers.get('access-control-expose-headers')).toContain('WWW-Authenticate');
});

test('a call from another origin is answered without a CORS header', async () => {
  const res = await fetch(`${service.url}/cds-services`, {
    headers: { origin: OTHER_ORIGIN, authorization: `Bearer ${await client.sign('/cds-services')}` },
  });
  expect(cors(res)).toMatchObject({ status: 200, allowOrigin: null, vary: 'Origin' });
});

test('outside /cds-services no CORS is spoken, even to a configured origin', async () => {
  const res = await kapFetch(`${service.url}/api/v1/episodes`, { headers: { origin: EHR_ORIGIN } });
  expect(res.status).toBe(200);
  expect(res.headers.get('access-control-allow-origin')).toBeNull();
  expect(
    (await preflight('/api/v1/episodes', EHR_ORIGIN)).headers.get('access-control-allow-origin'),
  ).toBeNull();
});
