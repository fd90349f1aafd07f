/**
 * `npm run bench:ingest`: the Synthea and US Core transaction Bundles of peer-data POSTed to
 * kap-bridge's /fhir and, in the same run, to HAPI: resources per second for both and the ratio.
 * kap-bridge validates every entry, keeps the types KAP needs and acknowledges the rest; HAPI
 * stores everything. Each Bundle is sent once to each, one at a time, as an EHR export would.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bundle } from 'fhir/r4';
import { bearer } from '../test/support/auth.js';
import { fmt, PEER, postJson, startHapi, startKapBridge } from './support.js';

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

async function send(base: string, bundles: Sent[], run: string, headers: Record<string, string> = {}) {
  let resources = 0;
  const failures: string[] = [];
  const t = performance.now();
  for (const { name, bundle } of bundles) {
    const res = await postJson(base, fresh(bundle, run), headers);
    if (res.status === 200) resources += bundle.entry?.length ?? 0;
    else {
      const diag = (res.body as { issue?: { diagnostics?: string }[] })?.issue?.[0]?.diagnostics ?? '';
      failures.push(`${name}: ${res.status} ${diag.slice(0, 160)}`);
    }
  }
  const seconds = (performance.now() - t) / 1000;
  return { resources, seconds, perSecond: resources / seconds, failures };
}

async function main() {
  const bundles = corpus();
  const total = bundles.reduce((n, b) => n + (b.bundle.entry?.length ?? 0), 0);
  console.log(`${bundles.length} transaction Bundles, ${fmt(total)} resources`);
  const dir = mkdtempSync(join(tmpdir(), 'kap-bench-ingest-'));
  const kap = await startKapBridge({
    KAP_SQLITE_FILE: join(dir, 'kap.db'),
    KAP_BODY_LIMIT_BYTES: '50000000',
  });
  let ours: Awaited<ReturnType<typeof send>>;
  try {
    await send(`${kap.url}/fhir`, bundles.slice(0, 1), 'warmup', bearer('ehr'));
    ours = await send(`${kap.url}/fhir`, bundles, 'kap', bearer('ehr'));
  } finally {
    await kap.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const hapi = await startHapi();
  let theirs: Awaited<ReturnType<typeof send>>;
  try {
    await send(hapi.url, bundles.slice(0, 1), `warm${Date.now()}`);
    theirs = await send(hapi.url, bundles, `run${Date.now()}`);
  } finally {
    await hapi.stop();
  }
  console.log('');
  console.log('server        resources   seconds   resources/s   failed Bundles');
  for (const [name, r] of [
    ['kap-bridge', ours],
    ['HAPI', theirs],
  ] as const) {
    console.log(
      `${name.padEnd(12)} ${fmt(r.resources).padStart(10)} ${fmt(r.seconds, 1).padStart(9)} ${fmt(r.perSecond).padStart(13)} ${String(r.failures.length).padStart(16)}`,
    );
  }
  for (const f of [
    ...ours.failures.map((f) => `kap-bridge ${f}`),
    ...theirs.failures.map((f) => `HAPI ${f}`),
  ])
    console.log(`  ${f}`);
  console.log('');
  console.log(`ratio kap-bridge / HAPI: ${fmt(ours.perSecond / theirs.perSecond, 1)}x resources per second`);
}

await main();
