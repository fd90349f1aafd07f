/**
 * The Dockerfile cannot be built here (no Docker engine), so it is checked at the level of a linter:
 * its instructions, read as Docker reads them (continuation lines joined, comments dropped).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../support/fixtures.js';

interface Instruction {
  op: string;
  args: string;
}

function instructions(text: string): Instruction[] {
  return text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const [op = '', ...rest] = l.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(' ') };
    });
}

/** The instructions of each stage, from its FROM on. */
function stages(all: Instruction[]): Instruction[][] {
  const out: Instruction[][] = [];
  for (const i of all) {
    if (i.op === 'FROM') out.push([]);
    out.at(-1)?.push(i);
  }
  return out;
}

const dockerfile = stages(instructions(readFileSync(join(ROOT, 'Dockerfile'), 'utf8')));
const final = dockerfile.at(-1) ?? [];
const engines = (
  JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }
).engines.node;

test('every stage runs on the slim image of the Node release package.json names', () => {
  const major = /^>=(\d+)$/.exec(engines)?.[1];
  expect(major).toBeDefined();
  expect(dockerfile.length).toBeGreaterThanOrEqual(2);
  for (const stage of dockerfile) {
    expect(stage[0]?.args).toMatch(new RegExp(`^node:${major}-[a-z]+-slim( AS \\w+)?$`));
  }
});

test('the final stage builds nothing: the validator code made at build time is copied in and loaded once', () => {
  const runs = final.filter((i) => i.op === 'RUN').map((i) => i.args);
  expect(runs.join('\n')).not.toMatch(/npm (ci|install|run build)|generate\.js/);
  expect(final).toContainEqual({ op: 'COPY', args: '--from=build /app/generated ./generated' });
  expect(runs).toContainEqual(expect.stringContaining('dist/validation/generated.js'));
  const build = dockerfile[0]?.filter((i) => i.op === 'RUN').map((i) => i.args) ?? [];
  expect(build).toContainEqual(expect.stringContaining('npm run build'));
});

test('the build stage compiles nothing: better-sqlite3 brings its binding for both Linux architectures, loaded once', () => {
  const build = (dockerfile[0] ?? []).filter((i) => i.op === 'RUN').map((i) => i.args);
  expect(build.join('\n')).not.toMatch(/g\+\+|node-gyp|npm rebuild/);
  expect(build).toContainEqual(
    expect.stringMatching(/^npm ci --ignore-scripts && .*require\('better-sqlite3'\)/),
  );
  for (const arch of ['x64', 'arm64']) {
    expect(existsSync(join(ROOT, 'node_modules', 'better-sqlite3', 'prebuilds', `linux-${arch}.node`))).toBe(
      true,
    );
  }
});

test('it runs as a non-root user, with a healthcheck and an exec-form command', () => {
  const users = final.filter((i) => i.op === 'USER').map((i) => i.args);
  expect(users.at(-1)).toBe('node');
  const userAt = final.findIndex((i) => i.op === 'USER');
  expect(final.slice(userAt).filter((i) => i.op === 'RUN')).toEqual([]);
  expect(final.find((i) => i.op === 'HEALTHCHECK')?.args).toContain('/healthz');
  expect(JSON.parse(final.find((i) => i.op === 'CMD')?.args ?? 'null')).toEqual([
    'node',
    'bin/kap-bridge.js',
    'serve',
  ]);
});

test('what it writes is under the /data volume, so the root filesystem can be read-only', () => {
  expect(final).toContainEqual({ op: 'VOLUME', args: '/data' });
  const env = final.find((i) => i.op === 'ENV')?.args ?? '';
  expect(env).toMatch(/KAP_SQLITE_FILE=\/data\//);
});
