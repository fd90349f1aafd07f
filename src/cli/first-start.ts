/**
 * The first start on a person's own machine, as Jupyter does it: with no authentication configured
 * and NODE_ENV not production, `kap-bridge serve` listens on loopback only, makes a tokens file
 * under ./data with fresh random tokens for a therapist, the EHR and an operator (their SHA-256
 * only in the file; each token shown once, when made), and prints a one-time link that signs the
 * therapist in to the console.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Principal, readStaticTokens, sha256 } from '../auth/authentication.js';
import { parseScopes } from '../auth/scopes.js';
import { ConfigError } from '../config.js';

/** The variables that say how callers authenticate; with none of them set, it is a first start. */
const AUTH_VARIABLES = [
  'KAP_AUTH_MODE',
  'KAP_AUTH_JWKS',
  'KAP_AUTH_ISSUER',
  'KAP_AUTH_AUDIENCE',
  'KAP_AUTH_STATIC_TOKENS_FILE',
] as const;

export const isFirstStart = (env: Record<string, string | undefined>): boolean =>
  env.NODE_ENV !== 'production' && AUTH_VARIABLES.every((name) => !env[name]);

const LOCAL_TOKENS = [
  { client: 'local-therapist', kind: 'therapist', tenant: 'local-practice', scope: 'user/*.cruds' },
  { client: 'local-ehr', kind: 'ehr', scope: 'system/*.cruds' },
  { client: 'local-operator', kind: 'operator', scope: 'system/AuditEvent.rs' },
] as const;

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost|::1)$/;

const tokensFile = (dataDir: string) => join(dataDir, 'tokens.json');

/**
 * What a first start adds to the environment: static tokens from the local file. A HOST other
 * than a loopback address is refused: without real authentication, kap-bridge is reachable from
 * this machine only.
 */
export function firstStartEnv(
  env: Record<string, string | undefined>,
  dataDir = './data',
): Record<string, string> {
  if (env.HOST && !LOOPBACK.test(env.HOST))
    throw new ConfigError([
      `HOST=${env.HOST}: with no authentication configured kap-bridge listens on loopback only; set KAP_AUTH_MODE and its variables (README, "Security") to listen elsewhere`,
    ]);
  return { KAP_AUTH_MODE: 'static', KAP_AUTH_STATIC_TOKENS_FILE: tokensFile(dataDir) };
}

/**
 * Makes the local tokens file if there is none, telling each token once; returns the therapist
 * the one-time sign-in link is for.
 */
export function localTokens(say: (line: string) => void, dataDir = './data'): Principal {
  const file = tokensFile(dataDir);
  if (!existsSync(file)) {
    mkdirSync(dataDir, { recursive: true });
    const made = LOCAL_TOKENS.map((t) => ({ ...t, token: randomBytes(32).toString('base64url') }));
    const tokens = made.map(({ token, ...t }) => ({ sha256: sha256(token).toString('hex'), ...t }));
    writeFileSync(file, `${JSON.stringify({ tokens }, null, 2)}\n`, { mode: 0o600 });
    say(`No authentication was configured: made ${file} with a token for each caller.`);
    say('Each token is shown this once; the file keeps only its SHA-256.');
    for (const t of made) say(`  ${t.kind.padEnd(9)} ${t.client.padEnd(16)} ${t.token}`);
  }
  const therapist = readStaticTokens(file).find((t) => t.kind === 'therapist');
  if (!therapist?.tenant)
    throw new ConfigError([`${file} names no therapist with a practice; remove it to have it made again`]);
  return {
    client: therapist.client,
    kind: 'therapist',
    tenant: therapist.tenant,
    scopes: parseScopes(therapist.scope),
  };
}
