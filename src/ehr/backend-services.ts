/**
 * SMART Backend Services (https://hl7.org/fhir/smart-app-launch/backend-services.html): kap-bridge
 * gets its own access tokens with the client_credentials grant, proving who it is with a JWT signed
 * by its private key (private_key_jwt); the EHR holds the public key. A token is kept until shortly
 * before it expires, and callers that need one at the same moment share one token request.
 * Neither the token nor the signed assertion ever appears in an error message.
 */

import type { KeyObject, webcrypto } from 'node:crypto';
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { tokenUrlProblem } from '../variables.js';
import type { EhrAuthentication } from './authentication.js';
import type { SigningAlg } from './config.js';
import { EhrError, type EhrErrorKind, parseRetryAfter } from './gateway.js';

export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/**
 * The specification caps an assertion's life at five minutes; four leave a minute for a token
 * server whose clock runs behind ours.
 */
const ASSERTION_LIFETIME_SECONDS = 240;

/** When the token response has no expires_in: the lifetime the specification recommends. */
const DEFAULT_TOKEN_LIFETIME_SECONDS = 300;

export interface BackendServicesOptions {
  /** The EHR's token endpoint; https unless on this machine. */
  tokenUrl: string;
  clientId: string;
  key: KeyObject | webcrypto.CryptoKey;
  alg: SigningAlg;
  /** The `kid` of the public key registered with the EHR. */
  keyId: string;
  /** Space-separated scopes, e.g. `system/Patient.rs system/Observation.crus`. */
  scope: string;
  timeoutMs?: number;
  /** How long before expiry a token is renewed; never more than half its lifetime. Default 60 s. */
  renewBeforeMs?: number;
  /** The clock a token's lifetime is counted on (milliseconds); the system's by default. */
  now?: () => number;
}

interface Token {
  authorization: string;
  /** From this moment on the token is renewed before use. */
  renewAt: number;
}

export class BackendServices implements EhrAuthentication {
  private readonly options: BackendServicesOptions;
  private token?: Token;
  private pending?: Promise<Token>;

  constructor(options: BackendServicesOptions) {
    const problem = tokenUrlProblem(options.tokenUrl);
    if (problem) throw new Error(`The token URL ${problem}`);
    this.options = options;
  }

  async authorization(): Promise<string> {
    if (this.token && this.now() < this.token.renewAt) return this.token.authorization;
    this.pending ??= this.requestToken().finally(() => {
      this.pending = undefined;
    });
    this.token = await this.pending;
    return this.token.authorization;
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  refused(authorization: string): boolean {
    // Only the refused token is dropped: a caller that was refused late must not discard the fresh one.
    if (this.token?.authorization === authorization) this.token = undefined;
    return true;
  }

  /** The signed JWT that stands for a client secret; a fresh `jti` each time, as the token server checks. */
  async assertion(): Promise<string> {
    const { clientId, tokenUrl, alg, keyId, key } = this.options;
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({})
      .setProtectedHeader({ alg, kid: keyId, typ: 'JWT' })
      .setIssuer(clientId)
      .setSubject(clientId)
      .setAudience(tokenUrl)
      .setJti(randomUUID())
      .setIssuedAt(now)
      .setExpirationTime(now + ASSERTION_LIFETIME_SECONDS)
      .sign(key);
  }

  private async requestToken(): Promise<Token> {
    const { tokenUrl, scope, timeoutMs = 30_000, renewBeforeMs = 60_000 } = this.options;
    const what = `Getting an access token from ${tokenUrl}`;
    const body = new URLSearchParams({
      grant_type: 'client_credentials',
      scope,
      client_assertion_type: CLIENT_ASSERTION_TYPE,
      client_assertion: await this.assertion(),
    });
    const startedAt = this.now();
    let response: Response;
    try {
      response = await fetch(tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body,
        // The token URL is configured; a redirect would send the assertion somewhere nobody chose.
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (e) {
      const err = e as Error & { cause?: { code?: string } };
      if (err.name === 'TimeoutError' || err.name === 'AbortError')
        throw new EhrError('network', `${what}: the token endpoint did not answer in time`);
      throw new EhrError(
        'network',
        `${what}: the token endpoint could not be reached (${err.cause?.code ?? err.message})`,
      );
    }
    const answer = await response.json().catch(() => undefined);
    if (!response.ok) throw tokenError(what, response, answer);
    const { access_token, token_type, expires_in } = (answer ?? {}) as Record<string, unknown>;
    if (typeof access_token !== 'string' || !access_token)
      throw new EhrError('malformed', `${what}: the token endpoint answered without an access_token`);
    if (typeof token_type !== 'string' || token_type.toLowerCase() !== 'bearer')
      throw new EhrError(
        'malformed',
        `${what}: the token endpoint answered with a token that is not a bearer token`,
      );
    const lifetimeMs =
      (typeof expires_in === 'number' && expires_in > 0 ? expires_in : DEFAULT_TOKEN_LIFETIME_SECONDS) * 1000;
    return {
      authorization: `Bearer ${access_token}`,
      // Counted from before the request: the token may have been issued at any moment of it.
      renewAt: startedAt + lifetimeMs - Math.min(renewBeforeMs, lifetimeMs / 2),
    };
  }
}

function tokenError(what: string, response: Response, answer: unknown): EhrError {
  const status = response.status;
  const { error, error_description } = (answer ?? {}) as Record<string, unknown>;
  // OAuth error codes are fixed words; the description is the server's own text, kept short.
  const code = typeof error === 'string' ? ` ${error.slice(0, 60)}` : '';
  const description =
    typeof error_description === 'string' && error_description ? `: ${error_description.slice(0, 200)}` : '';
  const kind: EhrErrorKind =
    status >= 300 && status < 400
      ? 'malformed'
      : status === 429
        ? 'rate-limited'
        : status >= 500
          ? 'unavailable'
          : 'unauthorized';
  const redirect = kind === 'malformed' ? ', a redirect; not followed' : '';
  const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'));
  return new EhrError(
    kind,
    `${what}: the token endpoint answered ${status}${redirect}${code}${description}`,
    {
      status,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    },
  );
}
