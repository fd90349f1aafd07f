/**
 * Who is calling a CDS Service: the CDS client's JWT, as CDS Hooks 2.0 ("Trusting CDS Clients")
 * asks. The token is signed (asymmetric algorithms only) with a key of the configured JWK Set, its
 * `iss` is on the allow-list, its `aud` is the URL of the endpoint called, it carries `exp`, `iat`
 * and a `jti` never seen before by any instance on the database (./token-ledger.ts: a replayed
 * token is refused), and a `jku`, when sent, is the configured JWK Set's URL: no other key location
 * is ever fetched.
 */
import { readFileSync } from 'node:fs';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeProtectedHeader,
  type JWTVerifyGetKey,
  jwtVerify,
} from 'jose';
import { AuthenticationError, bearerOf, type Principal } from '../auth/authentication.js';
import type { TokenLedger } from './token-ledger.js';

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
/** The longest `iss` and `jti` remembered together; a longer pair is refused, never cut short. */
const MAX_KEY_LENGTH = 512;

const refused = (why: string) =>
  new AuthenticationError(`The CDS client JWT was refused (${why}).`, 'invalid_token');

export function createCdsAuthenticator(trust: CdsClientTrust, ledger: TokenLedger): AuthenticateCdsClient {
  const remote = trust.jwks !== undefined && /^https?:\/\//.test(trust.jwks);
  const keys: JWTVerifyGetKey | undefined =
    trust.jwks === undefined
      ? undefined
      : remote
        ? createRemoteJWKSet(new URL(trust.jwks), { timeoutDuration: 5000, cooldownDuration: 30_000 })
        : createLocalJWKSet(JSON.parse(readFileSync(trust.jwks, 'utf8')));

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
    const acceptableUntil = ((payload.exp ?? 0) + CLOCK_TOLERANCE_SECONDS) * 1000;
    if (acceptableUntil - Date.now() > (MAX_LIFETIME_SECONDS + CLOCK_TOLERANCE_SECONDS) * 1000)
      throw refused(
        `ERR_JWT_CLAIM_VALIDATION_FAILED on claim exp: more than ${MAX_LIFETIME_SECONDS} s ahead`,
      );
    const key = JSON.stringify([payload.iss, String(payload.jti)]);
    if (key.length > MAX_KEY_LENGTH)
      throw refused(`ERR_JWT_CLAIM_VALIDATION_FAILED on claim jti: longer than ${MAX_KEY_LENGTH} characters`);
    // Kept until the token could no longer be accepted anyway; a store that cannot say fails the call.
    if (!(await ledger.take(key, acceptableUntil)))
      throw refused('ERR_JWT_REPLAYED on claim jti: its jti was used before');
    return { client: String(payload.iss), kind: 'ehr', scopes: [] };
  };
}
