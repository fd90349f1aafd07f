/**
 * `npm run bench:ingest`: the Synthea and US Core transaction Bundles of peer-data POSTed to
 * kap-bridge's /fhir and, in the same run, to HAPI: resources per second for both and the ratio.
 * kap-bridge validates every entry, keeps the types KAP needs and acknowledges the rest; HAPI
 * stores everything. Each Bundle is sent once to each, one at a time, as an EHR export would.
 * With DATABASE_URL (a PostgreSQL server whose user may create databases), kap-bridge on a fresh
 * PostgreSQL database too: one instance, then two behind a round-robin balancer on loopback, the
 * Bundles sent two at a time so that both instances work.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bundle } from 'fhir/r4';
import { bearer } from '../test/support/auth.js';
import {
  benchDatabase,
  fmt,
  PEER,
  PG_POOL,
  postJson,
  startHapi,
  startKapBridge,
  startRoundRobin,
} from './support.js';

interface Sent {
  name: string;
  bundle: Bundle;
}

function corpus(): Sent[] {
  return ['synthea', 'us-core-bundles'].flatMap((folder) =>
    readdirSync(join(PEER, folder))
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((f) => ({
        name: `${folder}/${f}`,
        bundle: JSON.parse(readFileSync(join(PEER, folder, f), 'utf8')) as Bundle,
      })),
  );
}

/** Gives each run its own ids (PUT entries and every literal reference), so a second run creates, not updates. */
function fresh(bundle: Bundle, run: string): Bundle {
  const text = JSON.stringify(bundle).replace(
    /"reference":"([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]+)"/g,
    (_m, type: string, id: string) => `"reference":"${type}/${`${run}-${id}`.slice(0, 64)}"`,
  );
  const copy = JSON.parse(text) as Bundle;
  for (const e of copy.entry ?? []) {
    if (e.request?.method === 'PUT' && e.resource?.id) {
      e.resource.id = `${run}-${e.resource.id}`.slice(0, 64);
      e.request.url = `${e.resource.resourceType}/${e.resource.id}`;
    }
  }
  return copy;
}

async function send(
  base: string,
  bundles: Sent[],
  run: string,
  headers: Record<string, string> = {},
  parallel = 1,
) {
  let resources = 0;
  const failures: string[] = [];
  const t = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < bundles.length) {
        const { name, bundle } = bundles[next++]!;
        const res = await postJson(base, fresh(bundle, run), headers);
        if (res.status === 200) resources += bundle.entry?.length ?? 0;
        else {
          const diag = (res.body as { issue?: { diagnostics?: string }[] })?.issue?.[0]?.diagnostics ?? '';
          failures.push(`${name}: ${res.status} ${diag.slice(0, 160)}`);
        }
      }
    }),
  );
  const seconds = (performance.now() - t) / 1000;
  return { resources, seconds, perSecond: resources / seconds, failures };
}

/** kap-bridge instances with `envs` (behind a round-robin when several) take the corpus. */
async function sendToKapBridge(bundles: Sent[], envs: Record<string, string>[], parallel: number) {
  const running = await Promise.all(
    envs.map((env) => startKapBridge({ ...env, KAP_BODY_LIMIT_BYTES: '50000000' })),
  );
  const balancer = running.length > 1 ? await startRoundRobin(running.map((r) => r.url)) : undefined;
  const url = balancer?.url ?? running[0]!.url;
  try {
    await send(`${url}/fhir`, bundles.slice(0, 1), `warmup${Date.now()}`, bearer('ehr'));
    return await send(`${url}/fhir`, bundles, `kap${Date.now()}`, bearer('ehr'), parallel);
  } finally {
    await balancer?.close();
    await Promise.all(running.map((r) => r.stop()));
  }
}

async function main() {
  const bundles = corpus().slice(0, Number(process.env.BENCH_INGEST_BUNDLES ?? Number.POSITIVE_INFINITY));
  const total = bundles.reduce((n, b) => n + (b.bundle.entry?.length ?? 0), 0);
  console.log(`${bundles.length} transaction Bundles, ${fmt(total)} resources`);
  const dir = mkdtempSync(join(tmpdir(), 'kap-bench-ingest-'));
  const runs: [string, Awaited<ReturnType<typeof send>>][] = [];
  try {
    runs.push(['kap-bridge', await sendToKapBridge(bundles, [{ KAP_SQLITE_FILE: join(dir, 'kap.db') }], 1)]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const pgDb = await benchDatabase();
  if (pgDb) {
    try {
      runs.push(['PG, 1 instance', await sendToKapBridge(bundles, [{ DATABASE_URL: pgDb.url }], 2)]);
      runs.push([
        'PG, 2 instances',
        await sendToKapBridge(
          bundles,
          ['a', 'b'].map((o) => ({ DATABASE_URL: pgDb.url, KAP_OUTBOX_OWNER: `bench-${o}` })),
          2,
        ),
      ]);
    } finally {
      await pgDb.drop();
    }
  }
  const ours = runs[0]![1];
  const hapi = await startHapi();
  let theirs: Awaited<ReturnType<typeof send>>;
  try {
    await send(hapi.url, bundles.slice(0, 1), `warm${Date.now()}`);
    theirs = await send(hapi.url, bundles, `run${Date.now()}`);
  } finally {
    await hapi.stop();
  }
  console.log('');
  console.log('server            resources   seconds   resources/s   failed Bundles');
  for (const [name, r] of [...runs, ['HAPI', theirs] as const]) {
    console.log(
      `${name.padEnd(16)} ${fmt(r.resources).padStart(10)} ${fmt(r.seconds, 1).padStart(9)} ${fmt(r.perSecond).padStart(13)} ${String(r.failures.length).padStart(16)}`,
    );
  }
  if (runs.length > 1)
    console.log(
      `(PG: ${PG_POOL}; Bundles sent two at a time; two instances behind a round-robin on loopback)`,
    );
  for (const f of [
    ...runs.flatMap(([name, r]) => r.failures.map((f) => `${name} ${f}`)),
    ...theirs.failures.map((f) => `HAPI ${f}`),
  ])
    console.log(`  ${f}`);
  console.log('');
  console.log(`ratio kap-bridge / HAPI: ${fmt(ours.perSecond / theirs.perSecond, 1)}x resources per second`);
}

await main();
