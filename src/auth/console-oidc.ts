/**
 * The console's sign-in with the identity provider (KAP_AUTH_MODE=jwt): OpenID Connect's
 * authorization code flow with PKCE (S256), through openid-client. The provider is found by
 * discovery (`{KAP_AUTH_ISSUER}/.well-known/openid-configuration`), once, at the first sign-in.
 *
 * A sign-in begins with a fresh state, nonce and code verifier, kept here under a random binding
 * that only the browser which began it holds (in a short-lived HttpOnly cookie); the callback is
 * taken once, for that binding, and then:
 * - the state must be the one sent, the code is exchanged with the code verifier;
 * - the ID token is checked: its signature by a key of the provider's JWK Set, its issuer, its
 *   audience (this client), its expiry and the nonce sent;
 * - the access token is checked exactly as the API checks a bearer token (KAP_AUTH_JWKS, issuer,
 *   audience, algorithms), and the person is signed in as what it stands for: a therapist of the
 *   practice its tenant claim names (refused without one), or an operator; never the EHR.
 * Anything else is refused with the reason, and no session is opened.
 */
import { randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import * as oidc from 'openid-client';
import type { Authenticate, Principal } from './authentication.js';

export interface ConsoleOidcConfig {
  /** KAP_AUTH_ISSUER: the identity provider the API's tokens come from. */
  issuer: string;
  clientId: string;
  /** A confidential client's secret (client_secret_basic); unset: a public client, PKCE alone. */
  clientSecret?: string;
  redirectUrl: string;
  scope: string;
  /** The claim that names a therapist's practice (KAP_AUTH_TENANT_CLAIM), for the refusal's words. */
  tenantClaim: string;
}

/** A sign-in refused: the message is shown to the person, and says what to do. */
export class SignInRefused extends Error {
  constructor(
    message: string,
    /** 'unavailable' when the identity provider could not be reached; 'refused' otherwise. */
    readonly kind: 'refused' | 'forbidden' | 'unavailable' = 'refused',
  ) {
    super(message);
    this.name = 'SignInRefused';
  }
}

interface Pending {
  state: string;
  nonce: string;
  verifier: string;
}

/** How long a browser may take at the identity provider's pages. */
export const SIGN_IN_MINUTES = 10;
/** Sign-ins begun and not finished that are kept at once; the oldest makes room. */
const PENDING_LIMIT = 10_000;

const LOOPBACK = /^(localhost|127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\])$/;

/**
 * What an openid-client error says, without any token: the OAuth error when there is one, its code,
 * and the check that failed (the message of its cause, e.g. `unexpected JWT "nonce" (nonce) claim value`).
 */
function reasonOf(e: unknown): string {
  const { code, error, message, cause } = e as {
    code?: string;
    error?: string;
    message?: string;
    cause?: unknown;
  };
  const detail = (cause as { message?: unknown } | undefined)?.message;
  return [error, code, typeof detail === 'string' && detail ? detail : message].filter(Boolean).join(': ');
}

export class ConsoleOidc {
  private discovered?: Promise<oidc.Configuration>;
  private readonly pending = new LRUCache<string, Pending>({
    max: PENDING_LIMIT,
    ttl: SIGN_IN_MINUTES * 60_000,
  });

  constructor(
    private readonly config: ConsoleOidcConfig,
    private readonly authenticate: Authenticate,
  ) {}

  /** The provider's metadata, by discovery; tried again at the next sign-in when it failed. */
  private configuration(): Promise<oidc.Configuration> {
    const { issuer, clientId, clientSecret } = this.config;
    const server = new URL(issuer);
    this.discovered ??= oidc
      .discovery(
        server,
        clientId,
        undefined,
        clientSecret === undefined ? oidc.None() : oidc.ClientSecretBasic(clientSecret),
        {
          timeout: 10,
          execute: [
            // The ID token's signature is checked too, against the provider's JWK Set.
            oidc.enableNonRepudiationChecks,
            // Plain http only for a provider on this machine (a test's, or a local one).
            ...(server.protocol === 'http:' && LOOPBACK.test(server.hostname)
              ? [oidc.allowInsecureRequests]
              : []),
          ],
        },
      )
      .catch((e: unknown) => {
        this.discovered = undefined;
        throw new SignInRefused(
          `The identity provider ${issuer} could not be reached for its OpenID configuration (${reasonOf(e)}); try again later.`,
          'unavailable',
        );
      });
    return this.discovered;
  }

  /** A new sign-in: where to send the browser, and the binding the browser keeps until it comes back. */
  async begin(): Promise<{ binding: string; location: string }> {
    const configuration = await this.configuration();
    const pending: Pending = {
      state: oidc.randomState(),
      nonce: oidc.randomNonce(),
      verifier: oidc.randomPKCECodeVerifier(),
    };
    const binding = randomBytes(32).toString('base64url');
    this.pending.set(binding, pending);
    const location = oidc.buildAuthorizationUrl(configuration, {
      redirect_uri: this.config.redirectUrl,
      scope: this.config.scope,
      state: pending.state,
      nonce: pending.nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(pending.verifier),
      code_challenge_method: 'S256',
    });
    return { binding, location: location.href };
  }

  /**
   * The provider's answer at the callback (its query string), for the sign-in `binding` began: the
   * principal to open a session for, or a SignInRefused. A binding is taken once, whatever comes of it.
   */
  async finish(binding: string | undefined, query: string): Promise<Principal> {
    const pending = binding === undefined ? undefined : this.pending.get(binding);
    if (binding !== undefined) this.pending.delete(binding);
    if (!pending)
      throw new SignInRefused(
        `This sign-in was not begun in this browser, was already used, or took longer than ${SIGN_IN_MINUTES} minutes; sign in again.`,
      );
    const configuration = await this.configuration();
    const callback = new URL(this.config.redirectUrl);
    callback.search = query;
    let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
    try {
      tokens = await oidc.authorizationCodeGrant(
        configuration,
        callback,
        {
          pkceCodeVerifier: pending.verifier,
          expectedState: pending.state,
          expectedNonce: pending.nonce,
          idTokenExpected: true,
        },
        { redirect_uri: this.config.redirectUrl },
      );
    } catch (e) {
      throw new SignInRefused(`The identity provider's answer was refused (${reasonOf(e)}); sign in again.`);
    }
    let principal: Principal;
    try {
      principal = await this.authenticate(`Bearer ${tokens.access_token}`);
    } catch (e) {
      throw new SignInRefused(
        `The access token the identity provider gave is not one kap-bridge accepts: ${(e as Error).message}`,
      );
    }
    if (principal.kind === 'ehr')
      throw new SignInRefused(
        'The console is for therapists and operators; this client is the EHR.',
        'forbidden',
      );
    if (principal.kind === 'therapist' && !principal.tenant)
      throw new SignInRefused(
        `The access token names no practice (no "${this.config.tenantClaim}" claim): a therapist signs in for a practice; ask the identity provider's administrator to add it.`,
        'forbidden',
      );
    const person = tokens.claims()?.sub;
    return principal.user || !person ? principal : { ...principal, user: person };
  }
}
