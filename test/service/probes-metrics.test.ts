/**
 * What an operator's tools see: /readyz says whether the therapist side can be served (an EHR
 * outage is not a reason), /healthz says what the last EHR request found without asking the EHR
 * again, subscription registration that fails at start is retried with backoff, and /metrics,
 * parsed as Prometheus parses it, counts what happened.
 */
import { createLogger } from '../../src/log.js';
import { STORE_TABLES } from '../../src/store/migrations.js';
import { Store } from '../../src/store/store.js';
import { kapFetch } from '../support/auth.js';
import { careTeam } from '../support/care.js';
import { type FakeEhr, startFakeEhr } from '../support/fake-ehr.js';
import { logCapture } from '../support/phi.js';
import { parseMetrics, sampleValue } from '../support/prometheus.js';
import { eventually } from '../support/sandbox.js';
import { startTestService, type TestService } from '../support/service.js';

const SECRET = 'probe-secret';
let ehr: FakeEhr;
let service: TestService;
const captured = logCapture();
/** kap-bridge's log lines, parsed. */
const lines = () => captured.records();

beforeAll(async () => {
  ehr = await startFakeEhr({ up: false });
  const log = createLogger('info', captured.stream);
  service = await startTestService(
    {
      KAP_EHR_BASE_URL: ehr.baseUrl,
      KAP_SUBSCRIPTION_SECRET: SECRET,
      KAP_SYNC_INTERVAL_SECONDS: '0',
      KAP_SUBSCRIBE_RETRY_BASE_MS: '100',
      KAP_SUBSCRIBE_RETRY_MAX_MS: '400',
      KAP_OUTBOX_POLL_MS: '200',
    },
    { log },
  );
});
afterAll(async () => {
  await service?.close();
  await ehr?.close();
});

// biome-ignore lint/suspicious/noExplicitAny: tests read answers field by field, as a client would
const json = async (path: string): Promise<{ status: number; body: any }> => {
  const res = await kapFetch(`${service.url}${path}`);
  return { status: res.status, body: await res.json() };
};
const metrics = async () => parseMetrics(await (await kapFetch(`${service.url}/metrics`)).text());

test('with the EHR down, /readyz is ready and /healthz says the EHR is failing, from requests already made', async () => {
  const health = await eventually('a failed EHR request', async () => {
    const h = await json('/healthz');
    return h.body.ehr.state === 'failing' ? h : undefined;
  });
  expect(health.status).toBe(200);
  expect(health.body).toMatchObject({
    status: 'ok',
    ehr: { state: 'failing', lastError: 'unavailable' },
    subscriptions: 'pending',
  });
  const ready = await json('/readyz');
  expect(ready).toEqual({ status: 200, body: { status: 'ready', checks: { store: 'ok' } } });

  // Probing costs the EHR nothing: no request to it per probe.
  const before = ehr.requests.filter((r) => r.path.includes('metadata')).length;
  for (let i = 0; i < 5; i++) {
    await json('/readyz');
    await json('/healthz');
  }
  expect(ehr.requests.filter((r) => r.path.includes('metadata')).length).toBe(before);
});

test('subscription registration failing at start is retried with backoff until the EHR is back', async () => {
  await eventually('two failed registrations', async () => {
    const m = await metrics();
    return (sampleValue(m, 'kap_subscription_registrations_total', { outcome: 'failed' }) ?? 0) >= 2;
  });
  const m = await metrics();
  expect(sampleValue(m, 'kap_subscriptions_registered')).toBe(0);
  expect(sampleValue(m, 'kap_ehr_up')).toBe(0);
  expect(
    sampleValue(m, 'kap_ehr_requests_total', { operation: 'search', outcome: 'unavailable' }),
  ).toBeGreaterThan(0);

  ehr.up = true;
  const health = await eventually(
    'subscriptions registered',
    async () => {
      const h = await json('/healthz');
      return h.body.subscriptions === 'registered' ? h : undefined;
    },
    10_000,
    100,
  );
  expect(health.body.ehr).toMatchObject({ state: 'up' });
  const created = ehr.requests.filter((r) => r.method === 'POST' && r.path.startsWith('/fhir/Subscription'));
  expect(created.length).toBeGreaterThan(0);
  const after = await metrics();
  expect(sampleValue(after, 'kap_subscriptions_registered')).toBe(1);
  expect(sampleValue(after, 'kap_subscription_registrations_total', { outcome: 'ok' })).toBe(1);
  expect(sampleValue(after, 'kap_ehr_up')).toBe(1);
  // The log says when the EHR's state changes, not on every request: once failing, once back.
  expect(
    lines()
      .filter((l) => l.msg === 'the EHR is failing')
      .map((l) => l.level),
  ).toEqual([40]);
  expect(
    lines()
      .filter((l) => l.msg === 'the EHR answers')
      .map((l) => l.level),
  ).toEqual([30]);
  expect(lines().findIndex((l) => l.msg === 'the EHR is failing')).toBeLessThan(
    lines().findIndex((l) => l.msg === 'the EHR answers'),
  );
});

test('catch-up sync is measured: runs by outcome, resources by outcome, the time of the last success', async () => {
  const count = (m: Awaited<ReturnType<typeof metrics>>, outcome: string) =>
    sampleValue(m, 'kap_sync_duration_seconds_count', { outcome }) ?? 0;
  const before = await metrics();
  const startedAt = Date.now() / 1000;
  expect(await service.syncNow()).toMatchObject({ rejected: 0 });
  const ok = await metrics();
  expect(count(ok, 'ok')).toBe(count(before, 'ok') + 1);
  expect(count(ok, 'failed')).toBe(count(before, 'failed'));
  expect(ok.get('kap_sync_duration_seconds')?.type).toBe('HISTOGRAM');
  for (const outcome of ['stored', 'unchanged', 'rejected'])
    expect(sampleValue(ok, 'kap_sync_resources_total', { outcome })).toBeGreaterThanOrEqual(0);
  const lastSuccess = sampleValue(ok, 'kap_sync_last_success_timestamp_seconds') ?? 0;
  expect(lastSuccess).toBeGreaterThanOrEqual(Math.floor(startedAt));
  expect(lastSuccess).toBeLessThanOrEqual(Date.now() / 1000);

  ehr.up = false;
  try {
    expect(await service.syncNow()).toBeUndefined();
  } finally {
    ehr.up = true;
  }
  const failed = await metrics();
  expect(count(failed, 'failed')).toBe(count(ok, 'failed') + 1);
  expect(count(failed, 'ok')).toBe(count(ok, 'ok'));
  expect(sampleValue(failed, 'kap_sync_last_success_timestamp_seconds')).toBe(lastSuccess);
});

test('/metrics: process, HTTP by route template, intake, notifications, readiness by verdict and reason, outbox', async () => {
  // A notification (the subscription secret) and a registered patient asked about.
  const put = await kapFetch(`${service.url}/fhir/CareTeam/care-probe`, {
    method: 'PUT',
    headers: { 'content-type': 'application/fhir+json', 'x-kap-subscription-secret': SECRET },
    body: JSON.stringify({ ...careTeam('ehr-probe'), id: 'care-probe' }),
  });
  expect(put.status).toBe(201);
  const registered = await kapFetch(`${service.url}/api/v1/patients`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      id: 'probe-1',
      identifiers: [{ system: 'urn:therapist:client', value: 'probe-1' }],
      ehrPatient: 'Patient/ehr-probe',
    }),
  });
  expect(registered.status).toBe(201);
  const status = await json('/api/v1/patients/probe-1/medication-status?date=2026-12-10');
  expect(status.status).toBe(200);
  await json('/nowhere');

  const m = await metrics();
  expect(m.get('process_cpu_user_seconds_total')?.type).toBe('COUNTER');
  expect(m.get('nodejs_eventloop_lag_seconds')?.type).toBe('GAUGE');
  expect(m.get('kap_http_request_duration_seconds')?.type).toBe('HISTOGRAM');
  expect(
    sampleValue(m, 'kap_http_request_duration_seconds_count', {
      method: 'GET',
      route: '/api/v1/patients/:id/medication-status',
      status: '200',
    }),
  ).toBe(1);
  expect(
    sampleValue(m, 'kap_http_request_duration_seconds_count', { route: 'unmatched', status: '404' }),
  ).toBe(1);
  // No path with an id in it is ever a label value.
  const routes = m.get('kap_http_request_duration_seconds')?.samples.map((s) => s.labels.route) ?? [];
  expect(routes.filter((r) => r?.includes('probe'))).toEqual([]);

  expect(
    sampleValue(m, 'kap_intake_resources_total', { type: 'CareTeam', outcome: 'stored', path: 'push' }),
  ).toBe(1);
  expect(sampleValue(m, 'kap_subscription_notifications_total', { status: '201' })).toBe(1);

  const verdict = status.body.verdict as string;
  expect(sampleValue(m, 'kap_readiness_answers_total', { verdict })).toBe(1);
  const codes = (status.body.reasons as { code: string }[]).map((r) => r.code);
  expect(codes.length).toBeGreaterThan(0);
  for (const code of new Set(codes)) {
    expect(sampleValue(m, 'kap_readiness_reasons_total', { verdict, code })).toBe(
      codes.filter((c) => c === code).length,
    );
  }
  expect(sampleValue(m, 'kap_readyz_answers_total', { verdict: 'ready', reason: 'none' })).toBeGreaterThan(0);
  expect(
    m
      .get('kap_outbox_messages')
      ?.samples.map((s) => s.labels.status)
      .sort(),
  ).toEqual(['dead', 'delivered', 'delivering', 'pending']);
  expect(sampleValue(m, 'kap_ehr_request_duration_seconds_count', { operation: 'create' })).toBeGreaterThan(
    0,
  );
});

test('a database a newer kap-bridge has migrated stops an older one at start, saying so', async () => {
  const store = await Store.open({ sqliteFile: `${service.dir}/newer.db` });
  const current = (await store.schemaVersions()).store!;
  expect(await store.schemaCurrent()).toBe(true);
  await store.transaction((tx) =>
    tx
      .tables(STORE_TABLES)
      .run('INSERT INTO module_migrations (module, version, applied_at) VALUES (?, ?, ?)', [
        'store',
        current + 1,
        new Date().toISOString(),
      ]),
  );
  expect(await store.schemaCurrent()).toBe(false);
  await store.close();
  await expect(Store.open({ sqliteFile: `${service.dir}/newer.db` })).rejects.toThrow(
    `The database's schema (store tables) is at version ${current + 1}, newer than version ${current}, the last this kap-bridge knows`,
  );
});

test('without OTEL_EXPORTER_OTLP_ENDPOINT tracing is off: no trace id in the log, none passed on to the EHR', async () => {
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const res = await kapFetch(`${service.url}/fhir/CareTeam/care-untraced`, {
    method: 'PUT',
    headers: { 'x-kap-subscription-secret': SECRET, traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
  });
  expect(res.status).toBe(201);
  const asked = ehr.requests.find((r) => r.path === '/fhir/CareTeam/care-untraced');
  expect(asked).toBeDefined();
  expect(asked?.headers.traceparent).toBeUndefined();
  const logged = await eventually('the request logged', async () =>
    lines().find((l) => l.msg === 'request' && l.status === 201),
  );
  expect(logged.traceId).toBeUndefined();
  expect(lines().filter((l) => l.traceId !== undefined)).toEqual([]);
});

test('/readyz answers 503 schema-not-current when a newer kap-bridge migrates the database under a running one', async () => {
  const current = (await service.store.schemaVersions()).store!;
  const migrate = (sql: string, params: (string | number)[]) =>
    service.store.transaction((tx) => tx.tables(STORE_TABLES).run(sql, params));
  await migrate('INSERT INTO module_migrations (module, version, applied_at) VALUES (?, ?, ?)', [
    'store',
    current + 1,
    new Date().toISOString(),
  ]);
  try {
    expect(await json('/readyz')).toEqual({
      status: 503,
      body: { status: 'not ready', reason: 'schema-not-current' },
    });
    const m = await metrics();
    expect(
      sampleValue(m, 'kap_readyz_answers_total', { verdict: 'not-ready', reason: 'schema-not-current' }),
    ).toBe(1);
    // The process still answers: /healthz is about the process, /readyz about serving.
    expect((await json('/healthz')).status).toBe(200);
  } finally {
    await migrate('DELETE FROM module_migrations WHERE module = ? AND version = ?', ['store', current + 1]);
  }
  expect((await json('/readyz')).status).toBe(200);
});
