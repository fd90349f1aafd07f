/**
 * `npm run bench:outbox`: therapist changes (scores and vitals recorded through the API, mapped to
 * Observations on their profiles) delivered by the outbox to HAPI, once in transaction Bundles
 * (KAP_OUTBOX_BATCH_SIZE's default) and once one request per resource (batch size 1), each with
 * the default 2 worker loops and with 4 (KAP_OUTBOX_CONCURRENCY), in the same run against the same
 * HAPI. Per mode:
 * - delivery: 5,000 changes over 250 patients queued while no EHR is configured, then kap-bridge
 *   restarted with the EHR on the same SQLite file; resources per second until the queue is empty;
 * - lag: 1,000 more changes recorded with the worker running; for one in ten, the time from the API
 *   call to the Observation being found in HAPI by its identifier (p50, p95);
 * - where the time goes: the worker's own EHR latency histogram (/metrics) over the delivery, as
 *   milliseconds per transaction and per change, against the wall time per change.
 * Every change travels with its Provenance, so a change is two entries in HAPI either way. The
 * restarted kap-bridge holds sync checkpoints from just before the restart, as one that had been
 * running would: its start-up catch-up takes in what changed since, not the whole EHR, so it does not
 * compete with delivery differently in the two modes (it did when the second mode had to catch up on
 * the first mode's 6,000 Observations).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bundle } from 'fhir/r4';
import { EhrGateway } from '../src/ehr/gateway.js';
import { KEPT_TYPES } from '../src/intake.js';
import { Store } from '../src/store/store.js';
import { checkpointName } from '../src/sync.js';
import { bearer } from '../test/support/auth.js';
import { countInEhr, inParallel, therapistObservation } from '../test/support/therapist-changes.js';
import { fmt, percentile, type Running, startHapi, startKapBridge } from './support.js';

const PATIENTS = 250;
const CHANGES = 5_000;
const LIVE = 1_000;
const SAMPLE_EVERY = 10;
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
  /** Worker loops (KAP_OUTBOX_CONCURRENCY): EHR time per change x loops is comparable to wall time. */
  loops: number;
  apiPerSecond: number;
  deliverySeconds: number;
  perSecond: number;
  /** EHR transactions during the delivery, and the seconds the worker waited on them in all. */
  transactions: number;
  ehrSeconds: number;
  lagsMs: number[];
  missing: number;
}

async function measure(mode: string, workerEnv: Record<string, string>, ehr: EhrGateway, hapiUrl: string) {
  const dir = mkdtempSync(join(tmpdir(), 'kap-bench-outbox-'));
  const sqlite = { KAP_SQLITE_FILE: join(dir, 'kap.db') };
  const tag = `${run}-${mode.replace(/\W+/g, '')}`;
  const patients = await ehrPatients(ehr, tag);
  try {
    // Queued with no EHR configured: the worker does not run, the backlog builds.
    let kap = await startKapBridge(sqlite);
    await registerAll(kap.url, patients);
    let t = performance.now();
    await inParallel(CHANGES, 8, (i) => record(kap.url, patients, `${tag}-q${i}`, i));
    const apiPerSecond = CHANGES / ((performance.now() - t) / 1000);
    await kap.stop();
    // Checkpoints as a kap-bridge that had been running holds them (see the header).
    const store = await Store.open({ sqliteFile: sqlite.KAP_SQLITE_FILE });
    const now = new Date().toISOString();
    for (const type of KEPT_TYPES) await store.setCheckpoint(checkpointName(type), now);
    await store.close();

    kap = await startKapBridge({
      ...sqlite,
      ...workerEnv,
      KAP_EHR_BASE_URL: hapiUrl,
      KAP_SUBSCRIBE_ON_START: 'false',
    });
    try {
      t = performance.now();
      while ((await delivered(kap)) < CHANGES) await new Promise((r) => setTimeout(r, 100));
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
      await inParallel(LIVE, 8, async (i) => {
        const id = `${tag}-l${i}`;
        const at = performance.now();
        await record(kap.url, patients, id, i);
        if (i % SAMPLE_EVERY === 0) sent.set(id, at);
      });
      deadline = performance.now() + 120_000;
      recording = false;
      await watcher;
      return {
        mode,
        loops: Number(workerEnv.KAP_OUTBOX_CONCURRENCY ?? 2),
        apiPerSecond,
        deliverySeconds,
        perSecond: CHANGES / deliverySeconds,
        transactions,
        ehrSeconds,
        lagsMs: lagsMs.sort((a, b) => a - b),
        missing: sent.size,
      } satisfies Figures;
    } finally {
      await kap.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  const hapi = await startHapi();
  const ehr = new EhrGateway({ baseUrl: hapi.url, timeoutMs: 120_000 });
  const results: Figures[] = [];
  try {
    console.log(
      `${fmt(CHANGES)} changes over ${PATIENTS} patients per mode; lag sampled on ${LIVE / SAMPLE_EVERY} of ${fmt(LIVE)} live changes`,
    );
    results.push(await measure('batched (default)', {}, ehr, hapi.url));
    results.push(await measure('one per request', { KAP_OUTBOX_BATCH_SIZE: '1' }, ehr, hapi.url));
    // More worker loops: how far HAPI takes several patients' transactions at once, in both modes.
    const fourLoops = { KAP_OUTBOX_CONCURRENCY: '4' };
    results.push(await measure('batched, 4 loops', fourLoops, ehr, hapi.url));
    results.push(
      await measure('one per req, 4 loops', { ...fourLoops, KAP_OUTBOX_BATCH_SIZE: '1' }, ehr, hapi.url),
    );
  } finally {
    await hapi.stop();
  }
  console.log('');
  console.log(
    'mode                 API changes/s   delivery s   resources/s   lag p50 ms   lag p95 ms   not found',
  );
  for (const r of results) {
    console.log(
      `${r.mode.padEnd(20)} ${fmt(r.apiPerSecond).padStart(13)} ${fmt(r.deliverySeconds, 1).padStart(12)} ${fmt(r.perSecond).padStart(13)} ${fmt(percentile(r.lagsMs, 50)).padStart(12)} ${fmt(percentile(r.lagsMs, 95)).padStart(12)} ${String(r.missing).padStart(11)}`,
    );
  }
  console.log('');
  console.log('where the delivery time goes (worker loops waiting on the EHR, from /metrics):');
  console.log(
    'mode                 transactions   changes each   EHR ms each   EHR ms/change   wall ms/change x loops',
  );
  for (const r of results) {
    console.log(
      `${r.mode.padEnd(20)} ${fmt(r.transactions).padStart(12)} ${fmt(CHANGES / r.transactions, 1).padStart(14)} ${fmt((1000 * r.ehrSeconds) / r.transactions, 1).padStart(13)} ${fmt((1000 * r.ehrSeconds) / CHANGES, 1).padStart(15)} ${fmt((1000 * r.deliverySeconds * r.loops) / CHANGES, 1).padStart(24)}`,
    );
  }
  console.log('');
  for (const [batched, single] of [
    [results[0]!, results[1]!],
    [results[2]!, results[3]!],
  ] as const) {
    console.log(
      `ratio ${batched.mode} / ${single.mode}: ${fmt(batched.perSecond / single.perSecond, 1)}x resources per second (target >= 5x)`,
    );
  }
}

await main();
