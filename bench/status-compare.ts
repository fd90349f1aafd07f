/**
 * `npm run bench:status:compare`: bench:status's kap-bridge figures now against a baseline commit
 * (BENCH_BASELINE, by default 57734aa, the last before the fail-closed readiness rules), measured
 * in one run on one host. The baseline is checked out in a temporary git worktree sharing this
 * checkout's node_modules and built there; the two are run in turns (baseline, current, baseline,
 * current) so that drift in the host's load falls on both. HAPI is left out (BENCH_HAPI_PATIENTS=0).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fmt, ROOT } from './support.js';

const BASELINE = process.env.BENCH_BASELINE ?? '57734aa';
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);

interface Figures {
  perSecond: number;
  p50: number;
  p99: number;
}

/** Runs bench/status.ts in `dir` and reads its "kap-bridge (one request)" line. */
function measure(dir: string): Figures {
  const run = spawnSync('npx', ['tsx', 'bench/status.ts'], {
    cwd: dir,
    env: { ...process.env, BENCH_HAPI_PATIENTS: '0' },
    encoding: 'utf8',
  });
  const line = run.stdout.split('\n').find((l) => l.startsWith('kap-bridge (one request)'));
  if (run.status !== 0 || line === undefined) {
    throw new Error(`bench:status in ${dir} failed (${run.status}):\n${run.stdout}\n${run.stderr}`);
  }
  const [perSecond, p50, p99] = line
    .slice('kap-bridge (one request)'.length)
    .trim()
    .split(/\s+/)
    .map((n) => Number(n.replace(/,/g, '')));
  return { perSecond: perSecond!, p50: p50!, p99: p99! };
}

const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();

function main() {
  const dir = mkdtempSync(join(tmpdir(), 'kap-bench-baseline-'));
  const worktree = join(dir, 'baseline');
  git('worktree', 'add', '--detach', worktree, BASELINE);
  try {
    symlinkSync(join(ROOT, 'node_modules'), join(worktree, 'node_modules'));
    execFileSync('npm', ['run', 'prepare'], { cwd: worktree, stdio: 'ignore' });
    const results: { baseline: Figures[]; current: Figures[] } = { baseline: [], current: [] };
    for (let i = 0; i < ROUNDS; i++) {
      results.baseline.push(measure(worktree));
      results.current.push(measure(ROOT));
    }
    const mean = (xs: Figures[], k: keyof Figures) => xs.reduce((a, x) => a + x[k], 0) / xs.length;
    console.log(`medication status, kap-bridge alone, ${ROUNDS} rounds each, in turns`);
    console.log('run                     answers/s    p50 ms    p99 ms');
    for (const [name, xs] of [
      [`baseline ${BASELINE}`, results.baseline],
      [`current ${git('rev-parse', '--short', 'HEAD')}`, results.current],
    ] as const) {
      for (const x of xs) {
        console.log(
          `${name.padEnd(22)} ${fmt(x.perSecond).padStart(10)} ${fmt(x.p50, 1).padStart(9)} ${fmt(x.p99, 1).padStart(9)}`,
        );
      }
    }
    const ratio = mean(results.current, 'perSecond') / mean(results.baseline, 'perSecond');
    console.log(`\nratio current / baseline: ${fmt(ratio, 2)}x answers per second`);
    const current = {
      perSecond: mean(results.current, 'perSecond'),
      p99: Math.max(...results.current.map((x) => x.p99)),
    };
    console.log(
      `targets: >= 3,500 answers/s (${current.perSecond >= 3500 ? 'met' : 'missed'}: ${fmt(current.perSecond)}), p99 <= 10 ms (${current.p99 <= 10 ? 'met' : 'missed'}: ${fmt(current.p99, 1)})`,
    );
  } finally {
    git('worktree', 'remove', '--force', worktree);
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
