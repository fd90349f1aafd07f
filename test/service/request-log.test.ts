/**
 * What a request leaves in the log: the route it matched, as the route table writes it, and the
 * request id the answer carries; never the path itself, whose ids a client chose (often an MRN).
 */
import { createLogger } from '../../src/log.js';
import type { Service } from '../../src/service.js';
import { kapFetch } from '../support/auth.js';
import { logCapture } from '../support/phi.js';
import { startTestService } from '../support/service.js';

const MRN = 'MRN-0047125';
const log = logCapture();
let service: Service;

beforeAll(async () => {
  service = await startTestService({ LOG_LEVEL: 'info' }, { log: createLogger('info', log.stream) });
});
afterAll(() => service.close());

const requestLines = () =>
  log
    .lines()
    .map((l) => JSON.parse(l))
    .filter((l) => l.msg === 'request');

test('a request is logged by its route template and request id, not by the ids in its path', async () => {
  const registered = await kapFetch(`${service.url}/api/v1/patients`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id: MRN, identifiers: [{ system: 'urn:ehr:mrn', value: MRN }] }),
  });
  expect(registered.status).toBe(201);
  const read = await kapFetch(`${service.url}/api/v1/patients/${MRN}/medication-status?date=2026-12-01`);
  expect(read.status).toBe(200);
  const unrouted = await kapFetch(`${service.url}/api/v1/nowhere/${MRN}`);
  expect(unrouted.status).toBe(404);

  const lines = requestLines();
  expect(lines.map((l) => [l.method, l.route, l.status])).toEqual([
    ['POST', '/api/v1/patients', 201],
    ['GET', '/api/v1/patients/:id/medication-status', 200],
    ['GET', undefined, 404],
  ]);
  expect(lines.map((l) => l.requestId)).toEqual(
    [registered, read, unrouted].map((r) => r.headers.get('x-request-id')),
  );
  expect(lines.every((l) => l.path === undefined)).toBe(true);
  expect(log.lines().filter((l) => l.includes(MRN))).toEqual([]);
});
