/**
 * `npm run bench:cds`: the prescriber's EHR asking kap-bridge's CDS Hooks `patient-view` service, at
 * 10 concurrent connections, against a baseline measured in the same run on the same server and
 * records: the therapist's medication-status route, which answers the same readiness question.
 *
 * Each CDS call carries its own CDS client JWT (ES384, a fresh jti: a replay would be refused), all
 * signed before the clock starts, so the figures are kap-bridge's. Three runs of BENCH_REQUESTS
 * requests each (bounded; each stops by itself): the baseline, the service without prefetch (the
 * aligned record, cached), and the service with prefetch (the EHR's copies laid over the record,
 * which is then built anew on each call). Target: p99 under 100 ms.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import type { Bundle, Resource } from 'fhir/r4';
import { PREFETCH_TYPES } from '../src/cds/services.js';
import { Store } from '../src/store/store.js';
import { bearer, CALLERS } from '../test/support/auth.js';
import { CDS_ISSUER, CdsClient, cdsClientKeys } from '../test/support/cds-client.js';
import { benchRecord, seedBenchPatient } from './course.js';
import { fmt, startKapBridge } from './support.js';

const PATIENTS = Number(process.env.BENCH_PATIENTS ?? 1_000);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 3_000);
const CONNECTIONS = 10;
const TARGET_P99_MS = 100;
const SERVICE = '/cds-services/kap-patient-view';

async function seed(file: string): Promise<void> {
  const store = await Store.open({ sqliteFile: file });
  const at = new Date().toISOString();
  await store.transaction(async (tx) => {
    await tx.setCheckpoint('ehr:last-heard', at);
    for (let i = 0; i < PATIENTS; i++) {
      const id = `bench-${i}`;
      await seedBenchPatient(tx, id, CALLERS.therapist.tenant, at);
    }
  });
  await store.close();
}

/** What the EHR would prefetch for a patient: its copies of the record, one searchset per template type. */
function prefetchOf(id: string): Record<string, Bundle> {
  const byType = new Map<string, Resource[]>();
  for (const r of benchRecord(id)) {
    if (!PREFETCH_TYPES.has(r.resourceType)) continue;
    // The EHR's own copies: no kap-bridge identifier, so they are laid over the stored ones.
    const { identifier: _i, ...copy } = r as Resource & { identifier?: unknown };
    byType.set(r.resourceType, [...(byType.get(r.resourceType) ?? []), copy as Resource]);
  }
  return Object.fromEntries(
    [...byType].map(([type, resources]) => [
      type,
      { resourceType: 'Bundle', type: 'searchset', entry: resources.map((resource) => ({ resource })) },
    ]),
  );
}

type Cannon = Awaited<ReturnType<typeof autocannon>>;
const figures = (r: Cannon) => ({
  perSecond: r.requests.total / r.duration,
  p50: r.latency.p50,
  p99: r.latency.p99,
  errors: r.errors + r.non2xx,
  total: r.requests.total,
});

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'kap-bench-cds-'));
  const file = join(dir, 'kap.db');
  try {
    let t = performance.now();
    await seed(file);
    console.log(
      `Seeded ${fmt(PATIENTS)} linked patients into SQLite in ${fmt((performance.now() - t) / 1000, 1)} s`,
    );
    const { keys, jwks } = await cdsClientKeys();
    writeFileSync(join(dir, 'ehr-jwks.json'), JSON.stringify(jwks));
    const kap = await startKapBridge({
      KAP_SQLITE_FILE: file,
      KAP_CDS_ISSUERS: CDS_ISSUER,
      KAP_CDS_JWKS: join(dir, 'ehr-jwks.json'),
      KAP_RATE_LIMIT_PER_SECOND: '0',
    });
    try {
      const client = new CdsClient(kap.url, keys.privateKey);
      t = performance.now();
      const tokens = await Promise.all(
        Array.from({ length: 2 * REQUESTS + 20 }, () => client.sign(SERVICE, { expiresIn: 600 })),
      );
      console.log(
        `Signed ${fmt(tokens.length)} CDS client JWTs in ${fmt((performance.now() - t) / 1000, 1)} s`,
      );
      let next = 0;
      const patient = () => `bench-${Math.floor(Math.random() * PATIENTS)}`;
      const hookBody = (id: string, prefetch: boolean) =>
        JSON.stringify({
          hook: 'patient-view',
          hookInstance: randomUUID(),
          context: { userId: 'Practitioner/bench-prescriber', patientId: id },
          ...(prefetch ? { prefetch: prefetchOf(id) } : {}),
        });
      const cds = (prefetch: boolean, amount: number) =>
        autocannon({
          url: kap.url,
          connections: CONNECTIONS,
          amount,
          requests: [
            {
              method: 'POST',
              path: SERVICE,
              setupRequest: (req) => ({
                ...req,
                headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens[next++]}` },
                body: hookBody(patient(), prefetch),
              }),
            },
          ],
        });
      const baseline = (amount: number) =>
        autocannon({
          url: kap.url,
          connections: CONNECTIONS,
          amount,
          headers: bearer('therapist'),
          requests: [
            {
              setupRequest: (req) => ({ ...req, path: `/api/v1/patients/${patient()}/medication-status` }),
            },
          ],
        });
      const sample = await client.send('POST', SERVICE, JSON.parse(hookBody('bench-0', false)));
      if (sample.status !== 200)
        throw new Error(`The CDS service answered ${sample.status}: ${JSON.stringify(sample.body)}`);
      console.log(
        `A sample answer: ${sample.body.cards.length} cards (${sample.body.cards.map((c: { source: { topic: { code: string } } }) => c.source.topic.code).join(', ')})`,
      );
      // Warm up every path: the first requests compile.
      await baseline(200);
      await cds(false, 10);
      await cds(true, 10);
      const base = figures(await baseline(REQUESTS));
      const plain = figures(await cds(false, REQUESTS));
      const prefetched = figures(await cds(true, REQUESTS));
      console.log('');
      console.log(
        `${CONNECTIONS} concurrent connections, ${fmt(REQUESTS)} requests each, ${fmt(PATIENTS)} patients at random`,
      );
      console.log(
        'path                                   req/s    p50 ms    p99 ms  p99 / baseline   errors',
      );
      const line = (name: string, r: ReturnType<typeof figures>) =>
        console.log(
          `${name.padEnd(34)} ${fmt(r.perSecond).padStart(8)} ${fmt(r.p50, 1).padStart(9)} ${fmt(r.p99, 1).padStart(9)} ${`${fmt(r.p99 / base.p99, 2)}x`.padStart(15)} ${String(r.errors).padStart(8)}`,
        );
      line('baseline: medication-status', base);
      line('patient-view, no prefetch', plain);
      line('patient-view, with prefetch', prefetched);
      console.log('');
      for (const [name, r] of [
        ['no prefetch', plain],
        ['with prefetch', prefetched],
      ] as const)
        console.log(
          `target p99 < ${TARGET_P99_MS} ms, ${name}: ${r.p99 < TARGET_P99_MS && r.errors === 0 ? 'met' : 'missed'} (${fmt(r.p99, 1)} ms)`,
        );
      console.log(`kap-bridge peak RSS: ${fmt(kap.peakRssMb())} MB`);
    } finally {
      await kap.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
