/**
 * Who is calling a CDS Service: the CDS client's JWT, as CDS Hooks 2.0 ("Trusting CDS Clients")
 * asks. The token is signed (asymmetric algorithms only) with a key of the configured JWK Set, its
 * `iss` is on the allow-list, its `aud` is the URL of the endpoint called, it carries `exp`, `iat`
 * and a `jti` never seen before (a replayed token is refused), and a `jku`, when sent, is the
 * configured JWK Set's URL: no other key location is ever fetched.
 */
import { readFileSync } from 'node:fs';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeProtectedHeader,
  type JWTVerifyGetKey,
  jwtVerify,
} from 'jose';
import { LRUCache } from 'lru-cache';
import { AuthenticationError, bearerOf, type Principal } from '../auth/authentication.js';
import { OperationOutcomeError, unavailable } from '../fhir/outcome.js';

export interface CdsClientTrust {
  /** The `iss` values accepted. */
  issuers: readonly string[];
  /** The CDS client's JWK Set: a file path or an https URL. */
  jwks?: string;
  algorithms: readonly string[];
}

/** Verifies the Authorization header of a call to `audience` (the endpoint's public URL). */
export type AuthenticateCdsClient = (
  authorization: string | undefined,
  audience: string,
) => Promise<Principal>;

/** How long after `exp` a token may still arrive (clock skew between the EHR and kap-bridge). */
const CLOCK_TOLERANCE_SECONDS = 30;
/** Tokens are short-lived; one living longer than this is refused rather than remembered for long. */
const MAX_LIFETIME_SECONDS = 3600;
const SEEN_LIMIT = 200_000;

const refused = (why: string) =>
  new AuthenticationError(`The CDS client JWT was refused (${why}).`, 'invalid_token');

export function createCdsAuthenticator(trust: CdsClientTrust): AuthenticateCdsClient {
  const remote = trust.jwks !== undefined && /^https?:\/\//.test(trust.jwks);
  const keys: JWTVerifyGetKey | undefined =
    trust.jwks === undefined
      ? undefined
      : remote
        ? createRemoteJWKSet(new URL(trust.jwks), { timeoutDuration: 5000, cooldownDuration: 30_000 })
        : createLocalJWKSet(JSON.parse(readFileSync(trust.jwks, 'utf8')));
  // Every jti seen, kept until its token could no longer be accepted anyway.
  const seen = new LRUCache<string, true>({ max: SEEN_LIMIT + 1 });

  return async (authorization, audience) => {
    const token = bearerOf(authorization);
    if (keys === undefined || trust.issuers.length === 0)
      throw new AuthenticationError(
        'CDS Hooks is not configured here (KAP_CDS_ISSUERS, KAP_CDS_JWKS).',
        'invalid_token',
      );
    let jku: unknown;
    try {
      jku = decodeProtectedHeader(token).jku;
    } catch {
      throw refused('ERR_JWS_INVALID');
    }
    if (jku !== undefined && (!remote || jku !== trust.jwks))
      throw refused('jku is not the allow-listed JWK Set');
    let payload: Awaited<ReturnType<typeof jwtVerify>>['payload'];
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer: [...trust.issuers],
        audience,
        algorithms: [...trust.algorithms],
        typ: 'JWT',
        requiredClaims: ['iss', 'aud', 'exp', 'iat', 'jti'],
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        maxTokenAge: MAX_LIFETIME_SECONDS,
      }));
    } catch (e) {
      // jose's codes say what failed (expired, audience, signature) without echoing the token.
      const { code = 'ERR_JWT_INVALID', claim } = e as { code?: string; claim?: string };
      throw refused(`${code}${claim ? ` on claim ${claim}` : ''}`);
    }
    const remainingMs = ((payload.exp ?? 0) + CLOCK_TOLERANCE_SECONDS) * 1000 - Date.now();
    if (remainingMs > (MAX_LIFETIME_SECONDS + CLOCK_TOLERANCE_SECONDS) * 1000)
      throw refused(
        `ERR_JWT_CLAIM_VALIDATION_FAILED on claim exp: more than ${MAX_LIFETIME_SECONDS} s ahead`,
      );
    const key = JSON.stringify([payload.iss, String(payload.jti)]);
    if (seen.has(key)) throw refused('ERR_JWT_REPLAYED: its jti was used before');
    // A jti forgotten while its token could still be accepted would open a replay: refuse instead.
    if (seen.size >= SEEN_LIMIT) seen.purgeStale();
    if (seen.size >= SEEN_LIMIT)
      throw new OperationOutcomeError(
        unavailable('Too many CDS Hooks calls at once to keep their tokens single-use; try again.'),
      );
    seen.set(key, true, { ttl: Math.max(1, remainingMs) });
    return { client: String(payload.iss), kind: 'ehr', scopes: [] };
  };
}
