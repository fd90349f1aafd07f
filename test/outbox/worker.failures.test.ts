/**
 * The worker against an EHR that fails (nock): Retry-After and backoff are observed, a refused
 * change is parked as dead with the EHR's OperationOutcome while the others are delivered, and a
 * patient whose changes keep failing does not hold up another patient.
 */
import type { Bundle, Observation, OperationOutcome } from 'fhir/r4';
import nock from 'nock';
import { enqueue, Outbox } from '../../src/outbox/outbox.js';
import { nockedOutbox } from '../support/nocked-outbox.js';
import { eventually } from '../support/sandbox.js';

const BASE = 'http://ehr.outbox.test/fhir';
const SYSTEM = 'https://fhir.kap-bridge.org/identifier/observation';
const obs = (value: string): Observation => ({
  resourceType: 'Observation',
  identifier: [{ system: SYSTEM, value }],
  status: 'final',
  code: { text: 'GAD-7 total' },
  valueInteger: 3,
});
const outcome = (diagnostics: string): OperationOutcome => ({
  resourceType: 'OperationOutcome',
  issue: [{ severity: 'error', code: 'processing', diagnostics }],
});
const entriesIn = (body: unknown) =>
  ((typeof body === 'string' ? JSON.parse(body) : body) as Bundle).entry ?? [];
/** The Observations sent (each travels with its Provenance, which is not counted here). */
const valuesIn = (body: unknown): string[] =>
  entriesIn(body)
    .filter((e) => e.resource?.resourceType === 'Observation')
    .map((e) => (e.resource as Observation).identifier?.[0]?.value ?? '');
const created = (body: unknown): Bundle => ({
  resourceType: 'Bundle',
  type: 'transaction-response',
  entry: entriesIn(body).map((e, i) => ({
    response: {
      status: '201 Created',
      location:
        e.resource?.resourceType === 'Observation'
          ? `Observation/${(e.resource as Observation).identifier?.[0]?.value}/_history/1`
          : `Provenance/p${i}/_history/1`,
    },
  })),
});

const suite = nockedOutbox(BASE, {
  maxAttempts: 5,
  backoffBaseMs: 50,
  backoffMaxMs: 200,
  owner: 'failures-test',
});
const { startWorker } = suite;

const queue = (patientRef: string, values: string[]) =>
  suite.store.transaction(async (tx) => {
    const ids: string[] = [];
    for (const v of values) ids.push(await enqueue(tx, { patientRef, resource: obs(v) }));
    return ids;
  });

test('429 with Retry-After, then 503: the waits follow Retry-After, then the backoff', async () => {
  const at: number[] = [];
  nock(BASE)
    .post(/.*/)
    .reply(() => {
      at.push(Date.now());
      return [429, outcome('slow down'), { 'Retry-After': '1' }];
    })
    .post(/.*/)
    .reply(() => {
      at.push(Date.now());
      return [503, outcome('down for maintenance')];
    })
    .post(/.*/)
    .reply((_uri, body) => {
      at.push(Date.now());
      return [200, created(body)];
    });
  // The wait each retry was given, read when it is settled: at most the wait asked for, since the
  // clock has moved on since it was reckoned; with the times the EHR was asked again, exactly it.
  const scheduled: number[] = [];
  const settle = suite.outbox.settle.bind(suite.outbox);
  suite.outbox.settle = (id, owner, outcome) => {
    if ('nextAttemptAt' in outcome) scheduled.push(Date.parse(outcome.nextAttemptAt) - Date.now());
    return settle(id, owner, outcome);
  };
  const [id] = await queue('Patient/a', ['o1']);
  const w = startWorker();
  await eventually('delivery', async () => (await suite.outbox.get(id!))?.status === 'delivered', 8000, 10);
  const [first = 0, second = 0, third = 0] = at;
  const [afterRateLimit = 0, afterUnavailable = 0] = scheduled;
  // Retry-After: 1 s, more than the 49 ms backoff of attempt 1.
  expect(second - first).toBeGreaterThanOrEqual(1000);
  expect(afterRateLimit).toBeLessThanOrEqual(1000);
  // Attempt 2: full jitter below min(200, 50 * 2) ms; random() = 0.999 gives 99 ms, not Retry-After again.
  expect(third - second).toBeGreaterThanOrEqual(99);
  expect(afterUnavailable).toBeLessThanOrEqual(99);
  expect(scheduled).toHaveLength(2);
  expect(await suite.outbox.get(id!)).toMatchObject({ attempts: 3, ehrRef: 'Observation/o1/_history/1' });
  const text = await w.metrics.render();
  expect(text).toContain('kap_outbox_failures_total{outcome="retry",kind="rate-limited"} 1');
  expect(text).toContain('kap_outbox_failures_total{outcome="retry",kind="unavailable"} 1');
  expect(text).toContain('kap_outbox_deliveries_total{outcome="created"} 1');
});

test('a refused batch is sent one by one: the poison change is dead with its outcome, the others delivered', async () => {
  const sent: string[][] = [];
  nock(BASE)
    .post(/.*/)
    .times(4)
    .reply((_uri, body) => {
      const values = valuesIn(body);
      sent.push(values);
      if (values.includes('poison'))
        return [422, outcome(`Observation.code: unknown code (${values.length} entries)`)];
      return [200, created(body)];
    });
  const ids = await queue('Patient/a', ['ok-1', 'poison', 'ok-2']);
  startWorker();
  await eventually(
    'all settled',
    async () => (await suite.outbox.list()).every((m) => m.status === 'delivered' || m.status === 'dead'),
    8000,
    10,
  );
  expect(sent).toEqual([['ok-1', 'poison', 'ok-2'], ['ok-1'], ['poison'], ['ok-2']]);
  const [a, poison, b] = await Promise.all(ids.map((id) => suite.outbox.get(id)));
  expect([a?.status, poison?.status, b?.status]).toEqual(['delivered', 'dead', 'delivered']);
  expect(poison?.lastError).toMatchObject({
    status: 422,
    kind: 'invalid',
    outcome: { issue: [{ diagnostics: 'Observation.code: unknown code (1 entries)' }] },
  });
});

test('after the last attempt a failing change is dead, and another patient keeps flowing', async () => {
  nock(BASE)
    .post(/.*/)
    .times(20)
    .reply((_uri, body) =>
      valuesIn(body).includes('stuck') ? [503, outcome('backend unavailable')] : [200, created(body)],
    );
  const [stuck] = await queue('Patient/a', ['stuck']);
  const [flowing] = await queue('Patient/b', ['flowing']);
  startWorker({ maxAttempts: 3, backoffBaseMs: 5, backoffMaxMs: 20 });
  await eventually('dead letter', async () => (await suite.outbox.get(stuck!))?.status === 'dead', 8000, 10);
  expect(await suite.outbox.get(stuck!)).toMatchObject({
    attempts: 3,
    lastError: { status: 503, outcome: { issue: [{ diagnostics: 'backend unavailable' }] } },
  });
  expect((await suite.outbox.get(flowing!))?.status).toBe('delivered');
});

test('a batch waiting on the EHR longer than its lease keeps the lease renewed; no other instance takes the patient', async () => {
  let answer: () => void = () => undefined;
  const held = new Promise<void>((resolve) => {
    answer = resolve;
  });
  let waiting = false;
  nock(BASE)
    .post(/.*/)
    .reply(async (_uri, body) => {
      waiting = true;
      await held;
      return [200, created(body)];
    });
  const ids = await queue('Patient/a', ['slow-1', 'slow-2']);
  const renewals: boolean[] = [];
  const renew = suite.outbox.renew.bind(suite.outbox);
  suite.outbox.renew = async (...args) => {
    const kept = await renew(...args);
    if (waiting) renewals.push(kept);
    return kept;
  };
  startWorker({ leaseMs: 300 });
  // Four renewals, a third of the lease apart: the first lease has run out long since.
  await eventually('the lease renewed while the Bundle waits', async () => renewals.length >= 4, 1500, 10);
  expect(renewals.every(Boolean)).toBe(true);
  expect(
    await new Outbox(suite.store).claim('another-instance', { batchSize: 10, leaseMs: 60_000 }),
  ).toBeUndefined();
  answer();
  await eventually(
    'delivery',
    async () =>
      (await Promise.all(ids.map((id) => suite.outbox.get(id)))).every((m) => m?.status === 'delivered'),
    8000,
    10,
  );
});

test('an instance started again under its name delivers at once what it held when it was killed', async () => {
  nock(BASE)
    .post(/.*/)
    .reply((_uri, body) => [200, created(body)]);
  const [id] = await queue('Patient/a', ['held']);
  // The killed incarnation's loop still holds the patient, for a minute more.
  expect(await suite.outbox.claim('failures-test/1', { batchSize: 10, leaseMs: 60_000 })).toBeDefined();
  startWorker();
  await eventually('delivery', async () => (await suite.outbox.get(id!))?.status === 'delivered', 3000, 10);
});
