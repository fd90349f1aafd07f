/**
 * `npm run bench:status`: "may this patient dose?" answered by kap-bridge from its aligned record,
 * against the same answer put together by a therapist system querying HAPI directly, in one run.
 *
 * kap-bridge: 10,000 linked patients in SQLite, GET /api/v1/patients/{id}/medication-status at
 * 10 concurrent connections (autocannon). HAPI: the searches the therapist system would make
 * (clearance, prescriptions, dispenses, consent, sessions, observations, administrations), in
 * parallel per answer, by 10 concurrent clients, over patients loaded into HAPI the same way.
 * With DATABASE_URL (a PostgreSQL server whose user may create databases), the same patients in a
 * fresh PostgreSQL database too, measured with one kap-bridge instance, then two behind a
 * round-robin balancer on loopback, beside the SQLite figures.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import type { Bundle } from 'fhir/r4';
import { KAP_CODE, SYSTEM } from '../src/fhir/codes.js';
import { Store, type StoreOptions } from '../src/store/store.js';
import { bearer, CALLERS } from '../test/support/auth.js';
import { benchRecord, seedBenchPatient } from './course.js';
import {
  benchDatabase,
  fmt,
  PG_POOL,
  percentile,
  postJson,
  startHapi,
  startKapBridge,
  startRoundRobin,
} from './support.js';

const PATIENTS = Number(process.env.BENCH_PATIENTS ?? 10_000);
/** 0 leaves the HAPI path out (for profiling kap-bridge alone). */
const HAPI_PATIENTS = Number(process.env.BENCH_HAPI_PATIENTS ?? 100);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = 10;
const DATE = '2026-12-03';
/** The therapist system's token (test/support/auth.ts), as every real caller sends one. */
const KAP_HEADERS: Record<string, string> = bearer('therapist');

async function seedKapBridge(options: StoreOptions): Promise<void> {
  const store = await Store.open(options);
  const at = new Date().toISOString();
  for (let start = 0; start < PATIENTS; start += 500) {
    await store.transaction(async (tx) => {
      for (let i = start; i < Math.min(PATIENTS, start + 500); i++) {
        const id = `bench-${i}`;
        await tx.setCheckpoint('ehr:last-heard', at);
        await seedBenchPatient(tx, id, CALLERS.therapist.tenant, at);
      }
    });
  }
  await store.close();
}

const statusPath = (i: number) => `/api/v1/patients/bench-${i}/medication-status?date=${DATE}`;

/** Every patient once, in random order. */
function shuffled(n: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

type Cannon = Awaited<ReturnType<typeof autocannon>>;
const figures = (r: Cannon, perSecond: number) => ({
  perSecond,
  p50: r.latency.p50,
  p99: r.latency.p99,
  errors: r.errors + r.non2xx,
  total: r.requests.total,
});

/**
 * Two figures: each patient's first answer (the record read from the database and mapped), then
 * answers for patients drawn at random, as a therapist system polls them (the record mapped once
 * and checked against the database on every answer).
 */
async function benchKapBridge(instances: Record<string, string>[]) {
  const running = await Promise.all(instances.map((env) => startKapBridge(env)));
  // Several instances: behind a round-robin balancer on loopback, as a practice would run them.
  const balancer = running.length > 1 ? await startRoundRobin(running.map((r) => r.url)) : undefined;
  const kap = { url: balancer?.url ?? running[0]!.url };
  const cannon = (options: Omit<autocannon.Options, 'url' | 'connections' | 'headers'>) =>
    autocannon({ url: kap.url, connections: CONNECTIONS, headers: KAP_HEADERS, ...options });
  try {
    // Every rule is evaluated in full only on a ready record: the bench refuses to measure anything else.
    const sample = (await (await fetch(`${kap.url}${statusPath(0)}`, { headers: KAP_HEADERS })).json()) as {
      verdict?: string;
      reasons?: { code: string }[];
    };
    if (sample.verdict !== 'ready') {
      throw new Error(`The bench record is not ready: ${JSON.stringify(sample.reasons ?? sample)}`);
    }
    // Warm up: the first requests compile.
    await cannon({ duration: 2, requests: [{ path: statusPath(0) }] });
    const order = shuffled(PATIENTS);
    let next = 0;
    const first = await cannon({
      amount: PATIENTS,
      requests: [{ setupRequest: (req) => ({ ...req, path: statusPath(order[next++ % PATIENTS]!) }) }],
    });
    const polled = await cannon({
      duration: SECONDS,
      requests: [
        { setupRequest: (req) => ({ ...req, path: statusPath(Math.floor(Math.random() * PATIENTS)) }) },
      ],
    });
    return {
      first: figures(first, first.requests.total / first.duration),
      polled: figures(polled, polled.requests.average),
      peakRssMb: Math.max(...running.map((r) => r.peakRssMb())),
    };
  } finally {
    await balancer?.close();
    await Promise.all(running.map((r) => r.stop()));
  }
}

const CLEARANCE = `${SYSTEM.kap}|${KAP_CODE.clearanceDecision}`;

/** What a therapist system asks HAPI for one patient's answer. */
const searchesFor = (p: string): string[] => [
  `Observation?subject=Patient/${p}&code=${encodeURIComponent(CLEARANCE)}&_sort=-date&_count=1`,
  `MedicationRequest?subject=Patient/${p}&_sort=-authoredon`,
  `MedicationDispense?subject=Patient/${p}`,
  `MedicationAdministration?subject=Patient/${p}`,
  `Consent?patient=Patient/${p}&status=active`,
  `Encounter?subject=Patient/${p}&status=finished`,
  `Observation?subject=Patient/${p}&code=${encodeURIComponent('http://loinc.org|85354-9,http://loinc.org|44249-1,http://loinc.org|93245-9')}&_sort=-date`,
];

async function benchHapi() {
  const hapi = await startHapi();
  try {
    for (let start = 0; start < HAPI_PATIENTS; start += 25) {
      const entry = [];
      for (let i = start; i < Math.min(HAPI_PATIENTS, start + 25); i++) {
        for (const r of benchRecord(`hapibench-${i}`)) {
          const { meta: _, ...resource } = r;
          entry.push({ resource, request: { method: 'PUT' as const, url: `${r.resourceType}/${r.id}` } });
        }
      }
      const res = await postJson(hapi.url, {
        resourceType: 'Bundle',
        type: 'transaction',
        entry,
      } satisfies Bundle);
      if (res.status !== 200)
        throw new Error(`Loading HAPI failed: ${res.status} ${JSON.stringify(res.body).slice(0, 400)}`);
    }
    const answer = async (p: string) => {
      const pages = await Promise.all(
        searchesFor(p).map(async (q) => {
          const r = await fetch(`${hapi.url}/${q}`, {
            headers: { accept: 'application/fhir+json', 'cache-control': 'no-cache' },
          });
          if (!r.ok) throw new Error(`${q}: ${r.status}`);
          return r.json();
        }),
      );
      return pages.length;
    };
    const run = async (seconds: number) => {
      const latencies: number[] = [];
      const until = Date.now() + seconds * 1000;
      await Promise.all(
        Array.from({ length: CONNECTIONS }, async () => {
          while (Date.now() < until) {
            const t = performance.now();
            await answer(`hapibench-${Math.floor(Math.random() * HAPI_PATIENTS)}`);
            latencies.push(performance.now() - t);
          }
        }),
      );
      return latencies.sort((a, b) => a - b);
    };
    await run(2);
    const latencies = await run(SECONDS);
    return {
      perSecond: latencies.length / SECONDS,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      total: latencies.length,
    };
  } finally {
    await hapi.stop();
  }
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'kap-bench-status-'));
  const file = join(dir, 'kap.db');
  const pgDb = await benchDatabase();
  try {
    let t = performance.now();
    await seedKapBridge({ sqliteFile: file });
    console.log(
      `Seeded ${fmt(PATIENTS)} linked patients (8 resources each) into SQLite in ${fmt((performance.now() - t) / 1000, 1)} s`,
    );
    const runs: [string, Awaited<ReturnType<typeof benchKapBridge>>][] = [
      ['kap-bridge (one request)', await benchKapBridge([{ KAP_SQLITE_FILE: file }])],
    ];
    if (pgDb) {
      t = performance.now();
      await seedKapBridge({ databaseUrl: pgDb.url });
      console.log(
        `Seeded the same into PostgreSQL in ${fmt((performance.now() - t) / 1000, 1)} s (${PG_POOL})`,
      );
      runs.push(['PostgreSQL, 1 instance', await benchKapBridge([{ DATABASE_URL: pgDb.url }])]);
      runs.push([
        'PostgreSQL, 2 instances',
        await benchKapBridge(
          ['a', 'b'].map((owner) => ({ DATABASE_URL: pgDb.url, KAP_OUTBOX_OWNER: `bench-${owner}` })),
        ),
      ]);
    }
    const kap = runs[0]![1];
    t = performance.now();
    const hapi =
      HAPI_PATIENTS > 0
        ? await benchHapi()
        : { perSecond: Number.NaN, p50: Number.NaN, p99: Number.NaN, total: 0 };
    if (HAPI_PATIENTS > 0)
      console.log(
        `HAPI loaded and measured in ${fmt((performance.now() - t) / 1000, 1)} s (${HAPI_PATIENTS} patients)`,
      );
    console.log('');
    console.log(
      `medication status, ${CONNECTIONS} concurrent connections, ${SECONDS} s each (first answers: one per patient)`,
    );
    console.log('path                          answers/s    p50 ms    p99 ms   answers   errors');
    const line = (
      name: string,
      r: { perSecond: number; p50: number; p99: number; total: number; errors?: number },
    ) =>
      console.log(
        `${name.padEnd(26)} ${fmt(r.perSecond).padStart(10)} ${fmt(r.p50, 1).padStart(9)} ${fmt(r.p99, 1).padStart(9)} ${fmt(r.total).padStart(9)} ${String(r.errors ?? 0).padStart(8)}`,
      );
    for (const [name, r] of runs) {
      line(name, r.polled);
      line("  each patient's first", r.first);
    }
    line('HAPI direct (7 searches)', hapi);
    if (runs.length > 1)
      console.log(`(PostgreSQL rows: ${PG_POOL}; two instances behind a round-robin on loopback)`);
    console.log('');
    console.log(
      `ratio kap-bridge / HAPI direct: ${fmt(kap.polled.perSecond / hapi.perSecond, 1)}x answers per second (target >= 20x)`,
    );
    console.log(
      `targets: >= 3,500 answers/s (${kap.polled.perSecond >= 3500 ? 'met' : 'missed'}), p99 <= 10 ms (${kap.polled.p99 <= 10 ? 'met' : 'missed'})`,
    );
    console.log(`kap-bridge peak RSS: ${fmt(kap.peakRssMb)} MB`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await pgDb?.drop();
  }
}

await main();
