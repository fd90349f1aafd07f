/**
 * Traces, with an in-memory exporter in place of an OTLP collector: a request carrying a W3C
 * `traceparent` is traced as part of the caller's trace, with spans for its store transaction and
 * for the EHR request it makes (which carries the trace on to the EHR), and its log lines name the
 * trace.
 */
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-node';
import { createLogger } from '../../src/log.js';
import { startTracing, type Tracing } from '../../src/telemetry/tracing.js';
import { kapFetch } from '../support/auth.js';
import { type FakeEhr, startFakeEhr } from '../support/fake-ehr.js';
import { logCapture } from '../support/phi.js';
import { eventually } from '../support/sandbox.js';
import { startTestService, type TestService } from '../support/service.js';

const SECRET = 'trace-secret';
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';
const exporter = new InMemorySpanExporter();
const captured = logCapture();
/** kap-bridge's log lines, parsed. */
const lines = () => captured.records();
let tracing: Tracing;
let ehr: FakeEhr;
let service: TestService;

beforeAll(async () => {
  tracing = startTracing({ exporter, version: 'test' });
  ehr = await startFakeEhr();
  const log = createLogger('info', captured.stream);
  service = await startTestService(
    {
      KAP_EHR_BASE_URL: ehr.baseUrl,
      KAP_SUBSCRIPTION_SECRET: SECRET,
      KAP_SYNC_INTERVAL_SECONDS: '0',
      KAP_SUBSCRIBE_ON_START: 'false',
    },
    { log },
  );
});
afterAll(async () => {
  await service?.close();
  await ehr?.close();
  await tracing?.shutdown();
});

const spansOf = (traceId: string): ReadableSpan[] =>
  exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);

test("a notification is traced in the caller's trace: the request, its store transaction, its EHR read", async () => {
  // An id-only notification: kap-bridge reads the resource from the EHR, then keeps it.
  const res = await kapFetch(`${service.url}/fhir/CareTeam/care-traced`, {
    method: 'PUT',
    headers: {
      'x-kap-subscription-secret': SECRET,
      traceparent: `00-${TRACE_ID}-${CALLER_SPAN}-01`,
    },
  });
  expect(res.status).toBe(201);
  const spans = await eventually('the request span', async () => {
    const s = spansOf(TRACE_ID);
    return s.some((x) => x.name.startsWith('PUT')) ? s : undefined;
  });
  const server = spans.find((s) => s.name === 'PUT /fhir/:type/:id' || s.name.startsWith('PUT /fhir'));
  expect(server?.parentSpanContext?.spanId).toBe(CALLER_SPAN);
  expect(server?.attributes['http.response.status_code']).toBe(201);
  const serverId = server?.spanContext().spanId;
  const read = spans.find((s) => s.name === 'EHR read');
  expect(read?.parentSpanContext?.spanId).toBe(serverId);
  expect(read?.attributes['kap.ehr.operation']).toBe('read');
  const transaction = spans.find((s) => s.name === 'store transaction');
  expect(transaction?.parentSpanContext?.spanId).toBe(serverId);
  // The EHR was asked within the same trace.
  const asked = ehr.requests.find((r) => r.path === '/fhir/CareTeam/care-traced');
  expect(asked?.headers.traceparent).toMatch(new RegExp(`^00-${TRACE_ID}-${read?.spanContext().spanId}-01$`));
  // And the log line of the request names the trace; no span names an id.
  expect(lines().find((l) => l.msg === 'request' && l.status === 201)?.traceId).toBe(TRACE_ID);
  expect(spans.map((s) => s.name).filter((n) => n.includes('care-traced'))).toEqual([]);
});

test('without a traceparent a request starts a trace of its own; an EHR failure marks its span', async () => {
  ehr.up = false;
  const res = await kapFetch(`${service.url}/fhir/CareTeam/care-down`, {
    method: 'PUT',
    headers: { 'x-kap-subscription-secret': SECRET },
  });
  ehr.up = true;
  expect(res.status).toBe(503);
  const failed = await eventually('the failed EHR read span', async () =>
    exporter
      .getFinishedSpans()
      .find((s) => s.name === 'EHR read' && s.attributes['error.type'] === 'unavailable'),
  );
  expect(failed.status.code).toBe(2);
  const server = exporter
    .getFinishedSpans()
    .find((s) => s.spanContext().spanId === failed.parentSpanContext?.spanId);
  expect(server?.parentSpanContext).toBeUndefined();
  expect(server?.spanContext().traceId).not.toBe(TRACE_ID);
});
