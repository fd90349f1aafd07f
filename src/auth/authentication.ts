/**
 * Who is calling: an OAuth 2 bearer token turned into a Principal. Two ways to check a token:
 * - `jwt`: a JWT verified with jose against the configured JWKS (file or URL): signature, issuer,
 *   audience, expiry, and an allow-list of algorithms;
 * - `static`: for one practice without an identity provider, tokens listed (by SHA-256) in a file.
 * Either way a Principal names the client, its kind (the EHR, a therapist system, an operator), its
 * practice (tenant) and its SMART scopes. A verified JWT is remembered until it expires, so the
 * signature is checked once per token, not once per request.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, createRemoteJWKSet, type JWTPayload, jwtVerify } from 'jose';
import { LRUCache } from 'lru-cache';
import { OperationOutcomeError, unauthorized } from '../fhir/outcome.js';
import { parseScopes, type Scope } from './scopes.js';

/** The EHR writes to /fhir; therapist systems use /api/v1; operators read metrics and the audit trail. */
export type ClientKind = 'ehr' | 'therapist' | 'operator';
export const CLIENT_KINDS: readonly ClientKind[] = ['ehr', 'therapist', 'operator'];

export interface Principal {
  client: string;
  kind: ClientKind;
  /** The practice a therapist system acts for; the EHR and operators act for none. */
  tenant?: string;
  /** The person behind the client, when the token names one (`fhirUser`, or a `sub` apart from the client). */
  user?: string;
  scopes: Scope[];
}

export interface InboundAuthConfig {
  mode: 'jwt' | 'static';
  /** jwt: a JWKS file path or an https URL. */
  jwks?: string;
  issuer?: string;
  audience?: string;
  algorithms: string[];
  /** jwt: the claim that names the practice. */
  tenantClaim: string;
  ehrClients: string[];
  operatorClients: string[];
  /** static: the tokens file. */
  staticTokensFile?: string;
}

export type Authenticate = (authorization: string | undefined) => Promise<Principal>;

/** A 401 that tells the client how to authenticate (RFC 6750). */
export class AuthenticationError extends OperationOutcomeError {
  readonly challenge: string;
  constructor(message: string, error?: 'invalid_token' | 'invalid_request') {
    super(unauthorized(message));
    this.challenge = `Bearer realm="kap-bridge"${error ? `, error="${error}"` : ''}`;
  }
}

/** The token of an `Authorization: Bearer` header; a 401 when there is none or it is not one. */
export const bearerOf = (authorization: string | undefined): string => {
  if (!authorization)
    throw new AuthenticationError('This request needs a bearer token (Authorization: Bearer ...).');
  const m = /^Bearer\s+([A-Za-z0-9\-._~+/]+=*)$/i.exec(authorization.trim());
  if (!m) throw new AuthenticationError('The Authorization header is not a bearer token.', 'invalid_request');
  return m[1]!;
};

export const sha256 = (text: string): Buffer => createHash('sha256').update(text).digest();

/** One entry of the static tokens file. */
interface StaticToken {
  sha256: string;
  client: string;
  kind: ClientKind;
  tenant?: string;
  scope: string;
}

/** Reads the static tokens file; every mistake is named with the file and the fix. */
export function readStaticTokens(file: string): StaticToken[] {
  const problem = (what: string) =>
    new Error(
      `${file}: ${what}. Expected {"tokens": [{"sha256": "<hex SHA-256 of the token>", "client": "...", "kind": "therapist|ehr|operator", "tenant": "...", "scope": "user/*.cruds"}]}`,
    );
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw problem(`cannot be read as JSON (${(e as Error).message.split('\n')[0]})`);
  }
  const tokens = (parsed as { tokens?: unknown })?.tokens;
  if (!Array.isArray(tokens) || tokens.length === 0) throw problem('has no "tokens" list');
  return tokens.map((t, i) => {
    const entry = t as Partial<StaticToken>;
    if (typeof entry.sha256 !== 'string' || !/^[0-9a-f]{64}$/i.test(entry.sha256))
      throw problem(`tokens[${i}].sha256 is not 64 hex digits (printf %s "$TOKEN" | sha256sum)`);
    if (typeof entry.client !== 'string' || !entry.client) throw problem(`tokens[${i}].client is missing`);
    if (!CLIENT_KINDS.includes(entry.kind as ClientKind))
      throw problem(`tokens[${i}].kind must be one of ${CLIENT_KINDS.join(', ')}`);
    if (entry.kind === 'therapist' && (typeof entry.tenant !== 'string' || !entry.tenant))
      throw problem(`tokens[${i}] is a therapist system and needs its practice in "tenant"`);
    if (typeof entry.scope !== 'string') throw problem(`tokens[${i}].scope is missing`);
    return entry as StaticToken;
  });
}

function staticAuthenticator(file: string): Authenticate {
  const known = readStaticTokens(file).map((t) => ({
    digest: Buffer.from(t.sha256, 'hex'),
    principal: {
      client: t.client,
      kind: t.kind,
      ...(t.tenant ? { tenant: t.tenant } : {}),
      scopes: parseScopes(t.scope),
    } satisfies Principal,
  }));
  return async (authorization) => {
    const digest = sha256(bearerOf(authorization));
    // Every entry is compared, in constant time, so the answer's timing says nothing of the list.
    let found: Principal | undefined;
    for (const k of known) if (timingSafeEqual(k.digest, digest)) found ??= k.principal;
    if (!found) throw new AuthenticationError('The bearer token is not known.', 'invalid_token');
    return found;
  };
}

const CACHE_LIMIT = 10_000;

function jwtAuthenticator(config: InboundAuthConfig): Authenticate {
  const { jwks, issuer, audience } = config;
  if (!jwks || !issuer || !audience)
    throw new Error('jwt authentication needs a JWKS, an issuer and an audience');
  const keys = /^https?:\/\//.test(jwks)
    ? createRemoteJWKSet(new URL(jwks), { timeoutDuration: 5000, cooldownDuration: 30_000 })
    : createLocalJWKSet(JSON.parse(readFileSync(jwks, 'utf8')));
  // The least recently used token makes room, as in the other caches (src/record.ts, src/auth/access.ts).
  const verified = new LRUCache<string, { principal: Principal; expiresAt: number }>({ max: CACHE_LIMIT });

  const principalOf = (payload: JWTPayload): Principal => {
    const claims = payload as JWTPayload & Record<string, unknown>;
    const text = (v: unknown) => (typeof v === 'string' && v ? v : undefined);
    const client = text(claims.client_id) ?? text(claims.azp) ?? text(claims.sub);
    if (!client)
      throw new AuthenticationError('The token names no client (client_id, azp or sub).', 'invalid_token');
    const kind: ClientKind = config.ehrClients.includes(client)
      ? 'ehr'
      : config.operatorClients.includes(client)
        ? 'operator'
        : 'therapist';
    const tenant = text(claims[config.tenantClaim]);
    const user = text(claims.fhirUser) ?? (text(claims.sub) !== client ? text(claims.sub) : undefined);
    const scope = claims.scope ?? claims.scp;
    return {
      client,
      kind,
      ...(tenant ? { tenant } : {}),
      ...(user ? { user } : {}),
      scopes: parseScopes(
        typeof scope === 'string' || Array.isArray(scope) ? (scope as string | string[]) : undefined,
      ),
    };
  };

  return async (authorization) => {
    const token = bearerOf(authorization);
    const now = Date.now();
    const hit = verified.get(token);
    if (hit && hit.expiresAt > now) return hit.principal;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer,
        audience,
        algorithms: config.algorithms,
        requiredClaims: ['exp'],
        clockTolerance: 30,
      }));
    } catch (e) {
      // jose's codes say what failed (expired, wrong audience, bad signature) without echoing the token.
      const { code = 'ERR_JWT_INVALID', claim } = e as { code?: string; claim?: string };
      throw new AuthenticationError(
        `The bearer token was refused (${code}${claim ? ` on claim ${claim}` : ''}).`,
        'invalid_token',
      );
    }
    const principal = principalOf(payload);
    verified.set(token, { principal, expiresAt: Math.min((payload.exp ?? 0) * 1000, now + 3_600_000) });
    return principal;
  };
}

export const createAuthenticator = (config: InboundAuthConfig): Authenticate =>
  config.mode === 'static' ? staticAuthenticator(config.staticTokensFile ?? '') : jwtAuthenticator(config);
