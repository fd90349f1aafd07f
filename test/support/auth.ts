/**
 * Who the suites call kap-bridge as: static tokens for two practices, the EHR and an operator, in a
 * tokens file written once per test process. `kapFetch` sends the token a real caller of that path
 * would hold (therapist system on /api/v1, EHR on /fhir, operator on /metrics and /audit); a test
 * that is about authentication passes its own Authorization header.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CALLERS = {
  therapist: {
    token: 'test-therapist-practice-a',
    client: 'therapy-a',
    kind: 'therapist',
    tenant: 'practice-a',
    scope: 'user/*.cruds',
  },
  otherPractice: {
    token: 'test-therapist-practice-b',
    client: 'therapy-b',
    kind: 'therapist',
    tenant: 'practice-b',
    scope: 'user/*.cruds',
  },
  ehr: { token: 'test-ehr', client: 'prescriber-ehr', kind: 'ehr', scope: 'system/*.cruds' },
  operator: { token: 'test-operator', client: 'on-call', kind: 'operator', scope: 'system/AuditEvent.rs' },
} as const;
export type Caller = keyof typeof CALLERS;

let tokensFile: string | undefined;

/** A static tokens file listing `entries` (by SHA-256, as kap-bridge wants them). */
export function writeTokensFile(entries: readonly { token: string; [k: string]: unknown }[]): string {
  const file = join(mkdtempSync(join(tmpdir(), 'kap-tokens-')), 'tokens.json');
  const tokens = entries.map(({ token, ...rest }) => ({
    sha256: createHash('sha256').update(token).digest('hex'),
    ...rest,
  }));
  writeFileSync(file, JSON.stringify({ tokens }));
  return file;
}

/** Environment for a kap-bridge under test: static tokens for CALLERS, no rate limit in the way. */
export function authEnv(): Record<string, string> {
  tokensFile ??= writeTokensFile(Object.values(CALLERS));
  return { KAP_AUTH_MODE: 'static', KAP_AUTH_STATIC_TOKENS_FILE: tokensFile, KAP_RATE_LIMIT_PER_SECOND: '0' };
}

export const bearer = (caller: Caller): Record<string, string> => ({
  authorization: `Bearer ${CALLERS[caller].token}`,
});

/** The caller a path is for. */
export const callerFor = (url: string): Caller => {
  const path = new URL(url).pathname;
  return path.startsWith('/fhir')
    ? 'ehr'
    : path.startsWith('/metrics') || path.startsWith('/audit')
      ? 'operator'
      : 'therapist';
};

/** fetch, as the caller that path is for; headers given win. */
export function kapFetch(url: string, init: RequestInit = {}): Promise<Response> {
  return fetch(url, {
    ...init,
    headers: { ...bearer(callerFor(url)), ...(init.headers as Record<string, string>) },
  });
}
