/**
 * `npm start` on a fresh checkout: no authentication configured, so kap-bridge makes its own tokens
 * file under ./data (hashes only), shows each token once, listens on loopback only and prints a
 * one-time sign-in link to the console. With NODE_ENV=production it refuses, as before.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BIN = join(process.cwd(), 'bin', 'kap-bridge.js');
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kap-first-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** The environment without any authentication setting, the store in the folder. */
const bareEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith('KAP_') && k !== 'NODE_ENV' && k !== 'HOST' && k !== 'PORT') env[k] = v;
  return { ...env, PORT: '0', LOG_LEVEL: 'silent', KAP_SUBSCRIBE_ON_START: 'false', ...extra };
};

/** Starts `kap-bridge serve` in the folder; resolves with what it printed once the sign-in link is out. */
function serve(env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; out: string; link: string }> {
  const child = spawn(process.execPath, [BIN, 'serve'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`no sign-in link within 20 s: ${out}`));
    }, 20_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const link = /Sign in to the console.*: (http:\/\/\S+)/.exec(out)?.[1];
      if (link) {
        clearTimeout(timer);
        resolve({ child, out, link });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited ${code}: ${out}`));
    });
  });
}

const stop = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    child.removeAllListeners('exit');
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });

test('first start: a tokens file of hashes, each token shown once, loopback only, a one-time sign-in link', async () => {
  const { child, out, link } = await serve(bareEnv());
  try {
    const url = new URL(link);
    expect(url.hostname).toBe('127.0.0.1');
    const file = JSON.parse(readFileSync(join(dir, 'data', 'tokens.json'), 'utf8'));
    expect(file.tokens.map((t: { kind: string }) => t.kind)).toEqual(['therapist', 'ehr', 'operator']);
    const shown = [...out.matchAll(/^\s+(therapist|ehr|operator)\s+\S+\s+([A-Za-z0-9_-]{43})$/gm)].map(
      (m) => m[2]!,
    );
    expect(shown).toHaveLength(3);
    // The file holds each token's SHA-256, never the token.
    const text = readFileSync(join(dir, 'data', 'tokens.json'), 'utf8');
    shown.forEach((token, i) => {
      expect(text).not.toContain(token);
      expect(file.tokens[i].sha256).toBe(createHash('sha256').update(token).digest('hex'));
    });

    const code = url.hash.replace('#code=', '');
    const signIn = () =>
      fetch(`${url.origin}/console/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ code }),
      });
    const first = await signIn();
    expect(first.status).toBe(201);
    expect(((await first.json()) as { kind: string }).kind).toBe('therapist');
    const cookie = first.headers.get('set-cookie')!.split(';')[0]!;
    expect((await fetch(`${url.origin}/api/v1/sessions`, { headers: { cookie } })).status).toBe(200);
    // The link works once.
    expect((await signIn()).status).toBe(401);
    const therapist = await fetch(`${url.origin}/api/v1/sessions`, {
      headers: { authorization: `Bearer ${shown[0]}` },
    });
    expect(therapist.status).toBe(200);
  } finally {
    await stop(child);
  }

  // The next start keeps the file and shows no token again; a new link is printed.
  const again = await serve(bareEnv());
  try {
    expect(again.out).not.toMatch(/^\s+(therapist|ehr|operator)\s/m);
    expect(again.out).not.toContain('made');
    expect(again.link).toContain('#code=');
  } finally {
    await stop(again.child);
  }
}, 60_000);

test.each([
  [{ NODE_ENV: 'production' }, 'KAP_AUTH_JWKS must be set'],
  [{ HOST: '0.0.0.0' }, 'listens on loopback only'],
])(
  'with %j the start is refused and no tokens are made',
  async (extra, says) => {
    const child = spawn(process.execPath, [BIN, 'serve'], {
      cwd: dir,
      env: bareEnv(extra),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(2);
    expect(err).toContain(says);
    expect(() => readFileSync(join(dir, 'data', 'tokens.json'))).toThrow();
  },
  30_000,
);
