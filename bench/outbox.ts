/**
 * `npm run bench:outbox`: therapist changes (scores and vitals recorded through the API, mapped to
 * Observations on their profiles) delivered by the outbox to HAPI, once in transaction Bundles
 * (KAP_OUTBOX_BATCH_SIZE's default) and once one request per resource (batch size 1), behind a
 * latency proxy of its own on loopback (bench/latency-proxy.ts) adding 0, 20 and 50 ms to every
 * round trip (`BENCH_OUTBOX_DELAYS`), as a remote EHR would. Per mode and delay:
 * - delivery: `BENCH_OUTBOX_CHANGES` (5,000) changes over `BENCH_OUTBOX_PATIENTS` (250) patients
 *   queued while no EHR is configured, then kap-bridge restarted with the EHR on the same SQLite
 *   file; resources per second until the queue is empty;
 * - lag: `BENCH_OUTBOX_LIVE` (1,000) more changes recorded with the worker running; for one in ten,
 *   the time from the API call to the Observation being found in HAPI by its identifier (p50, p95);
 * - where the time goes: the EHR latency histogram (/metrics) over the delivery, as milliseconds per
 *   transaction and per change.
 * Before them, `BENCH_OUTBOX_WARMUP` (2,000) changes delivered in each mode with nothing added,
 * printed apart and compared with nothing: HAPI's JIT compiles its hot paths in the first minutes,
 * and the mode measured first would otherwise pay for it.
 * Then, batched with 20 ms (`BENCH_OUTBOX_STEADY_DELAY`), a busy practice: a steady
 * `BENCH_OUTBOX_STEADY_RATE` (5) changes per second for `BENCH_OUTBOX_STEADY_SECONDS` (60), each
 * one's lag until HAPI has it (target: p95 under 2 s).
 * Then a prescriber alert under load (`BENCH_OUTBOX_ALERTS`, 20, serious adverse events, each in a
 * medicine session with a dose): per event, `BENCH_OUTBOX_ALERT_BACKLOG` (1,000) ordinary changes
 * queued while no EHR is configured, kap-bridge started again with the EHR behind the proxy at
 * `BENCH_OUTBOX_ALERT_DELAY` (20) ms, the event recorded at once, and the time until its
 * Communication is found in HAPI (p50, p95; target p95 under 2 s). `BENCH_OUTBOX_SECTIONS`
 * (`delivery,alert`) runs one part alone.
 * Every change travels with its Provenance, so a change is two entries in HAPI either way. The
 * restarted kap-bridge holds sync checkpoints from just before the restart, as one that had been
 * running would: its start-up catch-up takes in what changed since, not the whole EHR.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bundle } from 'fhir/r4';
import { EhrGateway } from '../src/ehr/gateway.js';
import { identifierSystem } from '../src/fhir/codes.js';
import { ehrIdentifierValue } from '../src/fhir/ids.js';
import { KEPT_TYPES } from '../src/intake.js';
import { Store } from '../src/store/store.js';
import { checkpointName } from '../src/sync.js';
import { bearer, CALLERS } from '../test/support/auth.js';
import {
  clearedPatient,
  courseSettings,
  holdSession,
  post as postTo,
  preparedCourse,
  prepareEhr,
} from '../test/support/course.js';
import { startTestService, type TestService } from '../test/support/service.js';
import { countInEhr, inParallel, therapistObservation } from '../test/support/therapist-changes.js';
import { startLatencyProxy } from './latency-proxy.js';
import { fmt, percentile, type Running, startHapi, startKapBridge } from './support.js';

const num = (name: string, fallback: number): number => Number(process.env[name] ?? fallback);
const PATIENTS = num('BENCH_OUTBOX_PATIENTS', 250);
const CHANGES = num('BENCH_OUTBOX_CHANGES', 5_000);
const LIVE = num('BENCH_OUTBOX_LIVE', 1_000);
const WARMUP = num('BENCH_OUTBOX_WARMUP', 2_000);
const SAMPLE_EVERY = 10;
const DELAYS = (process.env.BENCH_OUTBOX_DELAYS ?? '0,20,50').split(',').map(Number);
const STEADY_RATE = num('BENCH_OUTBOX_STEADY_RATE', 5);
const STEADY_SECONDS = num('BENCH_OUTBOX_STEADY_SECONDS', 60);
const STEADY_DELAY = num('BENCH_OUTBOX_STEADY_DELAY', 20);
const ALERTS = num('BENCH_OUTBOX_ALERTS', 20);
const ALERT_BACKLOG = num('BENCH_OUTBOX_ALERT_BACKLOG', 1_000);
const ALERT_DELAY = num('BENCH_OUTBOX_ALERT_DELAY', 20);
const SECTIONS = (process.env.BENCH_OUTBOX_SECTIONS ?? 'delivery,alert').split(',');
const run = `bench-${Date.now().toString(36)}`;

async function post(base: string, path: string, body: unknown): Promise<void> {
  const res = await fetch(`${base}/api/v1${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...bearer('therapist') },
    body: JSON.stringify(body),
  });
  if (res.status >= 300) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`);
  await res.arrayBuffer();
}

/** The EHR Patients, created in HAPI in one transaction; their ids. */
async function ehrPatients(ehr: EhrGateway, tag: string): Promise<string[]> {
  const ids = Array.from({ length: PATIENTS }, (_, i) => `${tag}-pt-${i}`);
  await ehr.transaction({
    resourceType: 'Bundle',
    type: 'transaction',
    entry: ids.map((id) => ({
      resource: { resourceType: 'Patient', id, identifier: [{ system: 'urn:kap-bench:mrn', value: id }] },
      request: { method: 'PUT', url: `Patient/${id}` },
    })),
  } as Bundle);
  return ids;
}

const registerAll = (base: string, patients: string[]) =>
  inParallel(patients.length, 8, (i) =>
    post(base, '/patients', {
      id: patients[i],
      identifiers: [{ system: 'urn:kap-bench:mrn', value: patients[i] }],
      ehrPatient: `Patient/${patients[i]}`,
    }),
  );

const record = (base: string, patients: string[], id: string, i: number) =>
  post(base, `/patients/${patients[i % patients.length]}/observations`, therapistObservation(id, i));

const metrics = async (kap: Running): Promise<string> =>
  (await fetch(`${kap.url}/metrics`, { headers: bearer('operator') })).text();
const metric = (text: string, series: string): number =>
  Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} ([0-9.e+-]+)$`, 'm').exec(text)?.[1] ?? 0);
const delivered = async (kap: Running): Promise<number> =>
  metric(await metrics(kap), 'kap_outbox_messages{status="delivered"}');

interface Figures {
  mode: string;
  /** Round trip the proxy adds, ms. */
  delayMs: number;
  /** Worker loops (KAP_OUTBOX_CONCURRENCY): EHR time per change x loops is comparable to wall time. */
  loops: number;
  apiPerSecond: number;
  /** Changes queued and delivered. */
  changes: number;
  deliverySeconds: number;
  perSecond: number;
  /** EHR transactions during the delivery, and the seconds the worker waited on them in all. */
  transactions: number;
  ehrSeconds: number;
  lagsMs: number[];
  missing: number;
  /** The steady-rate lag, measured in one mode and delay only. */
  steady?: { lagsMs: number[]; missing: number; total: number };
}

/** Records changes at a steady rate and waits for each to be found in HAPI: lag per change, sorted. */
async function steadyLag(kap: Running, ehr: EhrGateway, patients: string[], tag: string) {
  const total = STEADY_RATE * STEADY_SECONDS;
  const sent = new Map<string, number>();
  const lagsMs: number[] = [];
  const start = performance.now();
  const recorders: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / STEADY_RATE;
    await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
    const id = `${tag}-s${i}`;
    sent.set(id, performance.now());
    recorders.push(record(kap.url, patients, id, i));
    // Look for what was sent so far, without holding up the next change.
    if (i % STEADY_RATE === STEADY_RATE - 1) await found(ehr, sent, lagsMs);
  }
  await Promise.all(recorders);
  const deadline = performance.now() + 60_000;
  while (sent.size && performance.now() < deadline) {
    await found(ehr, sent, lagsMs);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { lagsMs: lagsMs.sort((a, b) => a - b), missing: sent.size, total };
}

async function found(ehr: EhrGateway, sent: Map<string, number>, lagsMs: number[]): Promise<void> {
  const waiting = [...sent.keys()];
  if (!waiting.length) return;
  const counts = await countInEhr(ehr, waiting);
  const now = performance.now();
  for (const [v, n] of counts) {
    if (n === 0) continue;
    lagsMs.push(now - sent.get(v)!);
    sent.delete(v);
  }
}

async function measure(
  mode: string,
  workerEnv: Record<string, string>,
  ehr: EhrGateway,
  hapiUrl: string,
  delayMs: number,
  size = { changes: CHANGES, live: LIVE, steady: true },
) {
  const { changes } = size;
  const dir = mkdtempSync(join(tmpdir(), 'kap-bench-outbox-'));
  const sqlite = { KAP_SQLITE_FILE: join(dir, 'kap.db') };
  const tag = `${run}-${mode.replace(/\W+/g, '')}-${delayMs}`;
  const patients = await ehrPatients(ehr, tag);
  try {
    // Queued with no EHR configured: the worker does not run, the backlog builds.
    let kap = await startKapBridge(sqlite);
    await registerAll(kap.url, patients);
    let t = performance.now();
    await inParallel(changes, 8, (i) => record(kap.url, patients, `${tag}-q${i}`, i));
    const apiPerSecond = changes / ((performance.now() - t) / 1000);
    await kap.stop();
    // Checkpoints as a kap-bridge that had been running holds them (see the header).
    const store = await Store.open({ sqliteFile: sqlite.KAP_SQLITE_FILE });
    const now = new Date().toISOString();
    for (const type of KEPT_TYPES) await store.setCheckpoint(checkpointName(type), now);
    await store.close();

    const proxy = await startLatencyProxy(hapiUrl, delayMs);
    kap = await startKapBridge({
      ...sqlite,
      ...workerEnv,
      KAP_EHR_BASE_URL: proxy.url,
      KAP_SUBSCRIBE_ON_START: 'false',
    });
    try {
      t = performance.now();
      while ((await delivered(kap)) < changes) await new Promise((r) => setTimeout(r, 100));
      const deliverySeconds = (performance.now() - t) / 1000;
      const text = await metrics(kap);
      const transactions = metric(text, 'kap_ehr_request_duration_seconds_count{operation="transaction"}');
      const ehrSeconds = metric(text, 'kap_ehr_request_duration_seconds_sum{operation="transaction"}');

      // Live: the worker delivers while the therapists record; a sample is looked for in HAPI.
      const sent = new Map<string, number>();
      const lagsMs: number[] = [];
      let recording = true;
      let deadline = Number.POSITIVE_INFINITY;
      const watcher = (async () => {
        while (recording || sent.size) {
          const waiting = [...sent.keys()];
          if (waiting.length) {
            const counts = await countInEhr(ehr, waiting);
            const now = performance.now();
            for (const [v, n] of counts) {
              if (n === 0) continue;
              lagsMs.push(now - sent.get(v)!);
              sent.delete(v);
            }
          }
          if (!recording && performance.now() - deadline > 0) break;
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
      await inParallel(size.live, 8, async (i) => {
        const id = `${tag}-l${i}`;
        const at = performance.now();
        await record(kap.url, patients, id, i);
        if (i % SAMPLE_EVERY === 0) sent.set(id, at);
      });
      deadline = performance.now() + 120_000;
      recording = false;
      await watcher;
      const steady =
        size.steady && workerEnv.KAP_OUTBOX_BATCH_SIZE === undefined && delayMs === STEADY_DELAY
          ? await steadyLag(kap, ehr, patients, tag)
          : undefined;
      return {
        mode,
        delayMs,
        steady,
        loops: Number(workerEnv.KAP_OUTBOX_CONCURRENCY ?? 2),
        apiPerSecond,
        deliverySeconds,
        changes,
        perSecond: changes / deliverySeconds,
        transactions,
        ehrSeconds,
        lagsMs: lagsMs.sort((a, b) => a - b),
        missing: sent.size,
      } satisfies Figures;
    } finally {
      await kap.stop();
      await proxy.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const ALERT_DAY = '2026-03-12';

/**
 * Per serious adverse event: the ordinary backlog queued with no EHR, kap-bridge started again with
 * the EHR behind the proxy, the event recorded at once; the time until HAPI holds its
 * Communication, ms, sorted.
 */
async function alertLag(ehr: EhrGateway, hapiUrl: string): Promise<number[]> {
  const tag = `${run}-alert`;
  const prescriber = `${tag}-prescriber`;
  await prepareEhr(ehr, [prescriber]);
  const dir = mkdtempSync(join(tmpdir(), 'kap-bench-alert-'));
  const proxy = await startLatencyProxy(hapiUrl, ALERT_DELAY);
  const withEhr = () =>
    startTestService({ ...courseSettings(), KAP_EHR_BASE_URL: proxy.url, KAP_OUTBOX_POLL_MS: '50' }, { dir });
  const lags: number[] = [];
  let kap: TestService | undefined;
  try {
    // Each event's patient: cleared by the prescriber in the EHR, dosed in a medicine session under way.
    kap = await withEhr();
    await kap.syncNow();
    const dosed: { patient: string; session: string }[] = [];
    for (let e = 0; e < ALERTS; e++) {
      const service = kap;
      const patient = await clearedPatient(
        { ehr, service, prescriber, beforeRegister: () => service.syncNow() },
        `${tag}-${e}`,
      );
      const episode = await preparedCourse(service, patient, ALERT_DAY);
      const session = (await holdSession(service, episode, 'medicine', ALERT_DAY)).id as string;
      await postTo(service, `/patients/${patient}/observations`, {
        value: { kind: 'blood-pressure', systolic: 122, diastolic: 78 },
        effective: `${ALERT_DAY}T10:05:00Z`,
        session,
      });
      await postTo(service, `/sessions/${session}/doses`, {
        patient,
        dose: { value: 100, unit: 'mg' },
        time: `${ALERT_DAY}T10:20:00Z`,
      });
      dosed.push({ patient, session });
    }
    const patients = await ehrPatients(ehr, tag);
    await registerAll(kap.url, patients);
    await kap.close();
    kap = undefined;
    for (const [e, { patient, session }] of dosed.entries()) {
      // Only this event's backlog waits: what the last instance left is delivered first.
      kap = await withEhr();
      while ((await kap.outbox.depth()).byStatus.pending > 0) await new Promise((r) => setTimeout(r, 100));
      await kap.close();
      kap = undefined;
      const queueing = await startTestService({ KAP_SUBSCRIBE_ON_START: 'false' }, { dir });
      try {
        await inParallel(ALERT_BACKLOG, 8, (i) => record(queueing.url, patients, `${tag}-e${e}-q${i}`, i));
      } finally {
        await queueing.close();
      }
      kap = await withEhr();
      const queued = (await kap.outbox.depth()).byStatus.pending;
      const id = `${tag}-ae-${e}`;
      const t = performance.now();
      await postTo(kap, `/sessions/${session}/adverse-events`, {
        id,
        patient,
        event: 'hypertension',
        severity: 'severe',
        serious: true,
        onset: `${ALERT_DAY}T10:45:00Z`,
        outcome: 'recovering',
      });
      const identifier = `${identifierSystem('Communication')}|${ehrIdentifierValue(CALLERS.therapist.tenant, `ae-${id}`)}`;
      const deadline = t + 60_000;
      for (;;) {
        const hits = ehr.search('Communication', { identifier, _count: '1' });
        if (!(await hits[Symbol.asyncIterator]().next()).done) break;
        if (performance.now() > deadline) throw new Error(`The alert ${id} did not reach HAPI within 60 s`);
        await new Promise((r) => setTimeout(r, 25));
      }
      lags.push(performance.now() - t);
      console.log(
        `alert ${e + 1}/${dosed.length}: ${fmt(lags.at(-1)!)} ms with ${fmt(queued)} changes queued`,
      );
      await kap.close();
      kap = undefined;
    }
  } finally {
    await kap?.close();
    await proxy.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return lags.sort((a, b) => a - b);
}

const DELIVERY_HEADER =
  'mode                 +RTT ms   API changes/s   delivery s   resources/s   lag p50 ms   lag p95 ms   not found';
const deliveryRow = (r: Figures) =>
  `${r.mode.padEnd(20)} ${String(r.delayMs).padStart(7)} ${fmt(r.apiPerSecond).padStart(15)} ${fmt(r.deliverySeconds, 1).padStart(12)} ${fmt(r.perSecond).padStart(13)} ${fmt(percentile(r.lagsMs, 50)).padStart(12)} ${fmt(percentile(r.lagsMs, 95)).padStart(12)} ${String(r.missing).padStart(11)}`;
const TIME_HEADER =
  'mode                 +RTT ms   transactions   changes each   EHR ms each   EHR ms/change';
const timeRow = (r: Figures) =>
  `${r.mode.padEnd(20)} ${String(r.delayMs).padStart(7)} ${fmt(r.transactions).padStart(14)} ${fmt(r.changes / r.transactions, 1).padStart(14)} ${fmt((1000 * r.ehrSeconds) / r.transactions, 1).padStart(13)} ${fmt((1000 * r.ehrSeconds) / r.changes, 1).padStart(15)}`;

/** The batched over one-per-request ratio at one added round trip, once both modes have run. */
function ratioLine(results: Figures[], delay: number): string | undefined {
  const batched = results.find((r) => r.delayMs === delay && r.mode.startsWith('batched'));
  const single = results.find((r) => r.delayMs === delay && r.mode.startsWith('one'));
  if (!batched || !single) return undefined;
  return `+${delay} ms: batched / one per request = ${fmt(batched.perSecond / single.perSecond, 1)}x resources per second${delay === 50 ? ' (target >= 5x)' : ''}`;
}

function steadyLine(steady: NonNullable<Figures['steady']>): string {
  const p95 = percentile(steady.lagsMs, 95);
  return `steady ${STEADY_RATE} changes/s for ${STEADY_SECONDS} s, batched, +${STEADY_DELAY} ms: lag p50 ${fmt(percentile(steady.lagsMs, 50))} ms, p95 ${fmt(p95)} ms, max ${fmt(steady.lagsMs.at(-1) ?? 0)} ms over ${steady.total} changes, ${steady.missing} not found (target: p95 < 2,000 ms: ${steady.missing === 0 && p95 < 2000 ? 'met' : 'not met'})`;
}

/** Each mode's figures as soon as they are measured: a run stopped later keeps what it printed. */
function printMeasured(results: Figures[], r: Figures): void {
  console.log(`measured: ${deliveryRow(r)}`);
  console.log(`   where: ${timeRow(r)}`);
  if (r.steady) console.log(steadyLine(r.steady));
  const ratio = ratioLine(results, r.delayMs);
  if (ratio) console.log(ratio);
}

async function main() {
  const hapi = await startHapi();
  // The suites' course set-up reads the server from the environment, as the test run sets it.
  process.env.KAP_FHIR_BASE_URL = hapi.url;
  const ehr = new EhrGateway({ baseUrl: hapi.url, timeoutMs: 120_000 });
  const results: Figures[] = [];
  let alertLags: number[] | undefined;
  try {
    if (SECTIONS.includes('delivery')) {
      console.log(
        `${fmt(CHANGES)} changes over ${PATIENTS} patients per mode and added round trip (${DELAYS.join(', ')} ms); lag sampled on ${LIVE / SAMPLE_EVERY} of ${fmt(LIVE)} live changes`,
      );
      const modes = [
        ['batched (default)', {}],
        ['one per request', { KAP_OUTBOX_BATCH_SIZE: '1' }],
      ] as const;
      for (const [mode, env] of WARMUP > 0 ? modes : []) {
        const warm = await measure(`warm-up ${mode}`, env, ehr, hapi.url, 0, {
          changes: WARMUP,
          live: 0,
          steady: false,
        });
        console.log(`warm-up, compared with nothing: ${deliveryRow(warm)}`);
        console.log(`                         where: ${timeRow(warm)}`);
      }
      for (const delay of DELAYS) {
        for (const [mode, env] of modes) {
          const [gc, t] = [hapi.gcSeconds(), performance.now()];
          results.push(await measure(mode, env, ehr, hapi.url, delay));
          printMeasured(results, results.at(-1)!);
          console.log(
            `   HAPI's JVM in garbage collection: ${fmt(hapi.gcSeconds() - gc, 1)} s of ${fmt((performance.now() - t) / 1000, 1)} s`,
          );
        }
      }
    }
    if (SECTIONS.includes('alert')) alertLags = await alertLag(ehr, hapi.url);
  } finally {
    await hapi.stop();
  }
  if (alertLags) {
    const p95 = percentile(alertLags, 95);
    console.log(
      `serious adverse event to its Communication in HAPI, ${ALERT_BACKLOG} ordinary changes queued, +${ALERT_DELAY} ms: p50 ${fmt(percentile(alertLags, 50))} ms, p95 ${fmt(p95)} ms, max ${fmt(alertLags.at(-1) ?? 0)} ms over ${alertLags.length} events (target: p95 < 2,000 ms: ${p95 < 2000 ? 'met' : 'not met'})`,
    );
  }
  if (!results.length) return;
  console.log('');
  console.log(DELIVERY_HEADER);
  for (const r of results) console.log(deliveryRow(r));
  console.log('');
  console.log('where the delivery time goes (from /metrics):');
  console.log(TIME_HEADER);
  for (const r of results) console.log(timeRow(r));
  console.log('');
  for (const delay of DELAYS) {
    const ratio = ratioLine(results, delay);
    if (ratio) console.log(ratio);
  }
  const steady = results.find((r) => r.steady)?.steady;
  if (steady) console.log(steadyLine(steady));
}

await main();
