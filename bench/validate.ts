/**
 * `npm run bench:validate`: validation speed on the Synthea and US Core corpora of peer-data.
 * For each engine: cold start (a fresh process, from nothing to the first result), warm
 * throughput (resources per second, wall clock and CPU time of this one process) and peak memory.
 * A benchmark, not a test: it prints figures and asserts nothing.
 *
 * Engines: kap-bridge's own validator. A HAPI `$validate` engine goes in ENGINES below.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { peerDataDir } from '../test/support/peer-data.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const peer = peerDataDir();
const CORPORA = ['synthea', 'us-core-bundles'];
const TARGET = { warmPerSecond: 10_000, coldMs: 1_500 };

interface Cold {
  /** ms from process start to the first validation result. */
  ms: number;
  maxRssMb: number;
}

interface Engine {
  name: string;
  /** Measures a cold start in a fresh process; `variant` names how it was started. */
  cold(): { variant: string; result: Cold }[];
  /** Validates every resource once; returns the number of error issues. */
  prepare(): Promise<(resources: unknown[]) => number>;
}

function loadCorpus(folder: string): unknown[] {
  const dir = join(peer, folder);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .flatMap((f) =>
      (JSON.parse(readFileSync(join(dir, f), 'utf8')) as { entry: { resource: unknown }[] }).entry.map(
        (e) => e.resource,
      ),
    );
}

/** A fresh Node process that imports `module`, validates one resource and reports its timing. */
function coldRun(execArgv: string[], module: string): Cold {
  const first = JSON.stringify(join(peer, 'synthea', readdirSync(join(peer, 'synthea'))[0] as string));
  const code = `
    const { createValidator } = await import(${JSON.stringify(module)});
    const { readFileSync } = await import('node:fs');
    createValidator().validate(JSON.parse(readFileSync(${first}, 'utf8')).entry[0].resource);
    const ms = performance.now();
    console.log(JSON.stringify({ ms: Math.round(ms), maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024) }));`;
  const r = spawnSync(process.execPath, [...execArgv, '--input-type=module', '-e', code], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`cold run failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() as string) as Cold;
}

const kapBridge: Engine = {
  name: 'kap-bridge',
  cold() {
    const src = pathToFileURL(join(root, 'src', 'validation', 'validator.ts')).href;
    const dist = join(root, 'dist', 'validation', 'validator.js');
    const runs: { variant: string; result: Cold }[] = [];
    coldRun(['--import', 'tsx'], src); // makes generated/validation/ if it is stale
    if (existsSync(dist)) {
      runs.push({ variant: 'built dist/ (as the CLI runs)', result: coldRun([], pathToFileURL(dist).href) });
    }
    runs.push({ variant: 'src/ through tsx', result: coldRun(['--import', 'tsx'], src) });
    return runs;
  },
  async prepare() {
    const { createValidator } = await import('../src/validation/validator.js');
    const validator = createValidator();
    return (resources) => {
      let errors = 0;
      for (const r of resources) {
        for (const f of validator.validate(r)) if (f.severity === 'error' || f.severity === 'fatal') errors++;
      }
      return errors;
    };
  },
};

const ENGINES: Engine[] = [kapBridge];

/** HAPI FHIR `$validate` on the same resources (a sample: HAPI takes tens of ms each), 4 at a time. */
async function measureHapi(
  baseUrl: string,
  resources: unknown[],
): Promise<{ perSecond: number; n: number; errors: number }> {
  const { EhrGateway } = await import('../src/ehr/gateway.js');
  const ehr = new EhrGateway({ baseUrl, timeoutMs: 120_000 });
  const sample = resources.slice(0, Number(process.env.BENCH_HAPI_SAMPLE ?? 400)) as {
    resourceType: string;
  }[];
  const validateAll = async (list: typeof sample) => {
    let errors = 0;
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < list.length) {
          const r = list[next++]!;
          const outcome = await ehr.validate(r as never);
          errors += outcome.issue.filter((i) => i.severity === 'error' || i.severity === 'fatal').length;
        }
      }),
    );
    return errors;
  };
  await validateAll(sample.slice(0, 40)); // warm-up
  const start = process.hrtime.bigint();
  const errors = await validateAll(sample);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return { perSecond: sample.length / seconds, n: sample.length, errors };
}

async function measureWarm(engine: Engine, resources: unknown[]) {
  const validateAll = await engine.prepare();
  // Warm-up: compiles the validators and invariants this corpus needs and lets V8 optimise them;
  // a small corpus (US Core: 529 resources of 27 types) needs several passes for that.
  const rounds = Math.max(5, Math.ceil(20_000 / resources.length));
  for (let i = 0; i < rounds; i++) validateAll(resources);
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  let errors = 0;
  for (let i = 0; i < rounds; i++) errors = validateAll(resources);
  const wallS = Number(process.hrtime.bigint() - start) / 1e9;
  const used = process.cpuUsage(cpu);
  const cpuS = (used.user + used.system) / 1e6;
  const n = resources.length * rounds;
  return { wall: n / wallS, cpu: n / cpuS, errors };
}

async function main() {
  const warm = new Map<string, number>();
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  console.log(`Validation benchmark, Node ${process.version}, ${new Date().toISOString()}`);
  for (const engine of ENGINES) {
    console.log(`\n== ${engine.name}`);
    console.log('Cold start (fresh process, from nothing to the first result):');
    for (const { variant, result } of engine.cold()) {
      console.log(
        `  ${variant.padEnd(55)} ${fmt(result.ms).padStart(6)} ms  (target ${fmt(TARGET.coldMs)} ms: ${(result.ms / TARGET.coldMs).toFixed(2)}x)  peak RSS ${result.maxRssMb} MB`,
      );
    }
    console.log('Warm (one process; as many passes again as warm-up, at least 5 and 20,000 resources):');
    for (const folder of CORPORA) {
      const resources = loadCorpus(folder);
      const r = await measureWarm(engine, resources);
      warm.set(folder, r.wall);
      console.log(
        `  ${folder.padEnd(16)} ${fmt(resources.length).padStart(6)} resources  ${fmt(r.wall).padStart(7)} /s wall  ${fmt(r.cpu).padStart(7)} /s CPU  (target ${fmt(TARGET.warmPerSecond)}/s: ${(r.cpu / TARGET.warmPerSecond).toFixed(2)}x by CPU)  errors ${r.errors}`,
      );
    }
  }
  console.log(
    `\nPeak memory of this process: ${Math.round(process.resourceUsage().maxRSS / 1024)} MB (maxRSS)`,
  );

  console.log('\n== HAPI FHIR $validate (same resources, a sample, 4 requests at a time)');
  const { startHapi } = await import('./support.js');
  const hapi = await startHapi();
  try {
    for (const folder of CORPORA) {
      const h = await measureHapi(hapi.url, loadCorpus(folder));
      const ours = warm.get(folder) ?? Number.NaN;
      console.log(
        `  ${folder.padEnd(16)} ${fmt(h.n).padStart(6)} resources  ${h.perSecond.toFixed(1).padStart(7)} /s wall  errors ${h.errors}   kap-bridge/HAPI: ${fmt(ours / h.perSecond)}x (target 20x)`,
      );
    }
  } finally {
    await hapi.stop();
  }
}

await main();
