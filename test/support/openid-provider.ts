/**
 * A real OpenID provider on 127.0.0.1: oidc-provider (panva, an OpenID Certified implementation),
 * configured in this process with one client, the console (public, PKCE), and its own login and
 * consent pages (devInteractions: any login name is a person, any password). Access tokens are JWTs
 * for kap-bridge's audience, carrying the person's practice in the `tenant` claim.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

export interface OpenIdProvider {
  issuer: string;
  /** Registers the console client with its redirect URI (once kap-bridge's address is known), and opens. */
  register(redirectUri: string): void;
  close(): Promise<void>;
}

export const CONSOLE_CLIENT = 'kap-console';
export const THERAPIST_SCOPE = 'user/*.cruds';

export async function startOpenIdProvider({
  audience,
  practices,
}: {
  audience: string;
  /** The practice each person (login name) is a therapist of. */
  practices: Record<string, string>;
}): Promise<OpenIdProvider> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: 'test-op-1', alg: 'RS256', use: 'sig' };
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const configure = (redirectUri: string) =>
    new Provider(issuer, {
      clients: [
        {
          client_id: CONSOLE_CLIENT,
          token_endpoint_auth_method: 'none',
          grant_types: ['authorization_code'],
          response_types: ['code'],
          redirect_uris: [redirectUri],
        },
      ],
      jwks: { keys: [jwk] },
      cookies: { keys: ['a-test-provider-cookie-key'] },
      findAccount: (_ctx: unknown, sub: string) => ({ accountId: sub, claims: () => ({ sub }) }),
      pkce: { required: () => true },
      ttl: { Interaction: 600, Session: 600, Grant: 600, AccessToken: 300, IdToken: 300 },
      features: {
        devInteractions: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => audience,
          useGrantedResource: () => true,
          getResourceServerInfo: () => ({
            scope: THERAPIST_SCOPE,
            audience,
            accessTokenFormat: 'jwt',
            accessTokenTTL: 300,
            jwt: { sign: { alg: 'RS256' } },
          }),
        },
      },
      extraTokenClaims: (_ctx: unknown, token: { accountId?: string }) => {
        const practice = token.accountId ? practices[token.accountId] : undefined;
        return practice ? { tenant: practice } : {};
      },
    });
  return {
    issuer,
    register: (redirectUri) => {
      server.on('request', configure(redirectUri).callback());
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
