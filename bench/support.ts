/**
 * What the benchmarks share: a kap-bridge server in its own process (so the load generator does
 * not share its event loop), a HAPI FHIR server (KAP_FHIR_BASE_URL, or the local sandbox started
 * here), percentiles and peak memory. Benchmarks print figures and assert nothing.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { provideFhirServer } from '../sandbox/fhir-server.mjs';
import { authEnv } from '../test/support/auth.js';
import { peerDataDir } from '../test/support/peer-data.js';
import { freePort } from '../test/support/sandbox.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const PEER = peerDataDir();

export { freePort };

async function waitFor(url: string, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not up yet
    }
    if (Date.now() > until) throw new Error(`${url} did not answer within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export interface Running {
  url: string;
  pid: number;
  /** Peak resident memory of the process so far, in MB (Linux VmHWM). */
  peakRssMb(): number;
  stop(): Promise<void>;
}

const peakRss = (pid: number) => (): number => {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : Number.NaN;
};

const stopChild = (child: ChildProcess) => () =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });

/**
 * Node options for the kap-bridge child only (BENCH_NODE_ARGS, space-separated), e.g.
 * `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile the server without the load generator.
 */
const childNodeArgs = (): string[] => (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);

/** `kap-bridge serve` in a child process with the given environment. */
export async function startKapBridge(env: Record<string, string>): Promise<Running> {
  const port = await freePort();
  const args = [...childNodeArgs(), '--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts'), 'serve'];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: {
      // The bench's own DATABASE_URL names the server its PostgreSQL runs use (benchDatabase), not
      // the store of every kap-bridge it starts: a run on PostgreSQL passes its database itself.
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'DATABASE_URL')),
      LOG_LEVEL: 'warn',
      KAP_SYNC_INTERVAL_SECONDS: '0',
      // The test suites' static tokens (test/support/auth.ts); no rate limit, one client is the whole load.
      ...authEnv(),
      ...env,
      PORT: String(port),
      HOST: '127.0.0.1',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${url}/healthz`, 30_000);
  return { url, pid: child.pid!, peakRssMb: peakRss(child.pid!), stop: stopChild(child) };
}

/**
 * The sandbox's JVM for a benchmark: an EHR sized for load, not the test run's quick start (1 GB
 * heap, C1 only). HAPI's H2 database lives in the heap, so a run that writes tens of thousands of
 * resources would otherwise measure HAPI's full collections. KAP_SANDBOX_JAVA_OPTS still wins.
 */
export const BENCH_HAPI_JAVA_OPTS = (
  process.env.KAP_SANDBOX_JAVA_OPTS ?? '-Xms2g -Xmx6g -XX:+UseParallelGC -Xss512k -Djava.awt.headless=true'
)
  .split(/\s+/)
  .filter(Boolean);

/**
 * The HAPI server to compare with: KAP_FHIR_BASE_URL, or the local sandbox started with
 * BENCH_HAPI_JAVA_OPTS. Its JVM's time in garbage collection is read at the end, so a heap-starved
 * EHR is seen, not mistaken for kap-bridge's cost.
 */
export async function startHapi(): Promise<Running & { gcSeconds(): number }> {
  const hapi = await provideFhirServer({
    timeoutMs: 240_000,
    javaOpts: BENCH_HAPI_JAVA_OPTS,
    log: (m: string) => process.stderr.write(`${m}\n`),
  });
  if (hapi.pid) process.stderr.write(`[bench] HAPI's JVM: ${BENCH_HAPI_JAVA_OPTS.join(' ')}\n`);
  return {
    url: hapi.baseUrl,
    pid: hapi.pid ?? 0,
    peakRssMb: hapi.pid ? peakRss(hapi.pid) : () => Number.NaN,
    gcSeconds: () => (hapi.pid ? jvmGcSeconds(hapi.pid) : Number.NaN),
    stop: () => hapi.stop(),
  };
}

/** Seconds a JVM has spent in garbage collection (the JDK's jstat, GCT), NaN when it cannot be read. */
function jvmGcSeconds(pid: number): number {
  const r = spawnSync('jstat', ['-gcutil', String(pid)], { encoding: 'utf8' });
  const [head, row] = (r.stdout ?? '').trim().split('\n');
  const column = head?.trim().split(/\s+/).indexOf('GCT') ?? -1;
  return column < 0 || !row ? Number.NaN : Number(row.trim().split(/\s+/)[column]);
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export const fmt = (n: number, digits = 0): string =>
  Number.isFinite(n)
    ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : 'n/a';

export async function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/fhir+json', 'cache-control': 'no-cache', ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** The connection pool each kap-bridge instance opens on PostgreSQL (src/store/sql.ts), for the reports. */
export const PG_POOL = 'pg.Pool, max 10 connections per instance';

/**
 * A fresh database for a PostgreSQL run, on the server DATABASE_URL names (its user must be allowed
 * to create databases); undefined when DATABASE_URL is not set. Dropped by `drop()`.
 */
export async function benchDatabase(): Promise<{ url: string; drop(): Promise<void> } | undefined> {
  const admin = process.env.DATABASE_URL;
  if (!admin) return undefined;
  const name = `kap_bench_${process.pid}_${Date.now().toString(36)}`;
  const run = async (sql: string) => {
    const c = new pg.Client({ connectionString: admin });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  await run(`CREATE DATABASE ${name}`);
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => run(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

/**
 * A round-robin balancer on loopback, at the TCP level as a layer-4 load balancer: each new
 * connection goes to the next instance in turn, and stays there (keep-alive requests with it).
 */
export async function startRoundRobin(urls: string[]): Promise<{ url: string; close(): Promise<void> }> {
  const targets = urls.map((u) => new URL(u));
  let next = 0;
  const open = new Set<{ destroy(): void }>();
  const server = createServer((client) => {
    const target = targets[next++ % targets.length]!;
    const upstream = connect(Number(target.port), target.hostname);
    open.add(client);
    open.add(upstream);
    client.pipe(upstream).pipe(client);
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop);
    upstream.on('error', drop);
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of open) socket.destroy();
      }),
  };
}
