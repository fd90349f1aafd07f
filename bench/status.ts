/**
 * `npm run bench:status`: "may this patient dose?" answered by kap-bridge from its aligned record,
 * against the same answer put together by a therapist system querying HAPI directly, in one run.
 *
 * kap-bridge: 10,000 linked patients in SQLite, GET /api/v1/patients/{id}/medication-status at
 * 10 concurrent connections (autocannon). HAPI: the searches the therapist system would make
 * (clearance, prescriptions, dispenses, consent, sessions, observations, administrations), in
 * parallel per answer, by 10 concurrent clients, over patients loaded into HAPI the same way.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import type { Bundle } from 'fhir/r4';
import { KAP_CODE, SYSTEM } from '../src/fhir/codes.js';
import { patientRefOf } from '../src/intake.js';
import { Store } from '../src/store/store.js';
import { bearer, CALLERS } from '../test/support/auth.js';
import { benchRecord } from './course.js';
import { fmt, percentile, postJson, startHapi, startKapBridge } from './support.js';

const PATIENTS = Number(process.env.BENCH_PATIENTS ?? 10_000);
const HAPI_PATIENTS = Number(process.env.BENCH_HAPI_PATIENTS ?? 100);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = 10;
const DATE = '2026-12-03';

async function seedKapBridge(file: string): Promise<void> {
  const store = await Store.open({ sqliteFile: file });
  const at = new Date().toISOString();
  for (let start = 0; start < PATIENTS; start += 500) {
    await store.transaction(async (tx) => {
      for (let i = start; i < Math.min(PATIENTS, start + 500); i++) {
        const id = `bench-${i}`;
        await tx.savePatient(
          {
            id,
            identifiers: [{ system: 'urn:bench:mrn', value: id }],
            ehrPatient: `Patient/${id}`,
          },
          CALLERS.therapist.tenant,
        );
        for (const r of benchRecord(id))
          await tx.putResource({
            resource: r,
            receivedAt: at,
            patientRef: patientRefOf(r) ?? `Patient/${id}`,
          });
      }
    });
  }
  await store.close();
}

async function benchKapBridge(file: string) {
  const kap = await startKapBridge({ KAP_SQLITE_FILE: file });
  try {
    // Warm up: the first requests compile and cache.
    await autocannon({
      url: kap.url,
      headers: bearer('therapist'),
      connections: CONNECTIONS,
      duration: 2,
      requests: [{ path: `/api/v1/patients/bench-0/medication-status?date=${DATE}` }],
    });
    const result = await autocannon({
      url: kap.url,
      headers: bearer('therapist'),
      connections: CONNECTIONS,
      duration: SECONDS,
      requests: [
        {
          setupRequest: (req) => ({
            ...req,
            path: `/api/v1/patients/bench-${Math.floor(Math.random() * PATIENTS)}/medication-status?date=${DATE}`,
          }),
        },
      ],
    });
    return {
      perSecond: result.requests.average,
      p50: result.latency.p50,
      p99: result.latency.p99,
      errors: result.errors + result.non2xx,
      total: result.requests.total,
      peakRssMb: kap.peakRssMb(),
    };
  } finally {
    await kap.stop();
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
  try {
    let t = performance.now();
    await seedKapBridge(file);
    console.log(
      `Seeded ${fmt(PATIENTS)} linked patients (8 resources each) into SQLite in ${fmt((performance.now() - t) / 1000, 1)} s`,
    );
    const kap = await benchKapBridge(file);
    t = performance.now();
    const hapi = await benchHapi();
    console.log(
      `HAPI loaded and measured in ${fmt((performance.now() - t) / 1000, 1)} s (${HAPI_PATIENTS} patients)`,
    );
    console.log('');
    console.log(`medication status, ${CONNECTIONS} concurrent connections, ${SECONDS} s each`);
    console.log('path                         answers/s    p50 ms    p99 ms   answers   errors');
    console.log(
      `kap-bridge (one request)  ${fmt(kap.perSecond).padStart(10)} ${fmt(kap.p50, 1).padStart(9)} ${fmt(kap.p99, 1).padStart(9)} ${fmt(kap.total).padStart(9)} ${String(kap.errors).padStart(8)}`,
    );
    console.log(
      `HAPI direct (7 searches)  ${fmt(hapi.perSecond).padStart(10)} ${fmt(hapi.p50, 1).padStart(9)} ${fmt(hapi.p99, 1).padStart(9)} ${fmt(hapi.total).padStart(9)}        0`,
    );
    console.log('');
    console.log(
      `ratio kap-bridge / HAPI direct: ${fmt(kap.perSecond / hapi.perSecond, 1)}x answers per second (target >= 20x)`,
    );
    console.log(
      `targets: >= 3,000 answers/s (${kap.perSecond >= 3000 ? 'met' : 'missed'}), p99 <= 10 ms (${kap.p99 <= 10 ? 'met' : 'missed'})`,
    );
    console.log(`kap-bridge peak RSS: ${fmt(kap.peakRssMb)} MB`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
