/**
 * A small OpenID provider on 127.0.0.1 whose answers a test can bend: discovery, its JWK Set, an
 * authorization endpoint that approves at once (no pages) and a token endpoint that checks the code
 * (once only) and its PKCE verifier, then answers with an ID token and a JWT access token, either of
 * which `bend` may make wrong (another issuer, another nonce, no practice, the EHR's client).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWTPayload, SignJWT } from 'jose';

export interface Bend {
  idToken?: JWTPayload;
  accessToken?: JWTPayload;
}

export interface AuthorizationRequest {
  client_id?: string;
  redirect_uri?: string;
  state?: string;
  nonce?: string;
  code_challenge?: string;
  code_challenge_method?: string;
  scope?: string;
  response_type?: string;
}

export interface FakeIdp {
  issuer: string;
  /** The authorization requests received, latest last. */
  requests: AuthorizationRequest[];
  /** How the next token answers are bent (set before the code is exchanged). */
  bend: Bend;
  close(): Promise<void>;
}

const body = (req: IncomingMessage): Promise<URLSearchParams> =>
  new Promise((resolve) => {
    let text = '';
    req.on('data', (c) => {
      text += c;
    });
    req.on('end', () => resolve(new URLSearchParams(text)));
  });

export async function startFakeIdp({
  audience,
  person,
  tenant,
}: {
  audience: string;
  person: string;
  tenant: string;
}): Promise<FakeIdp> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'fake-idp-1', alg: 'ES256', use: 'sig' };
  const codes = new Map<string, AuthorizationRequest & { used?: boolean }>();
  const idp: FakeIdp = { issuer: '', requests: [], bend: {}, close: async () => {} };
  const sign = (claims: JWTPayload) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: 'fake-idp-1' })
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);

  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', idp.issuer);
    const json = (status: number, answer: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answer));
    };
    if (url.pathname === '/.well-known/openid-configuration')
      return json(200, {
        issuer: idp.issuer,
        authorization_endpoint: `${idp.issuer}/authorize`,
        token_endpoint: `${idp.issuer}/token`,
        jwks_uri: `${idp.issuer}/jwks`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['ES256'],
        code_challenge_methods_supported: ['S256'],
        token_endpoint_auth_methods_supported: ['none'],
      });
    if (url.pathname === '/jwks') return json(200, { keys: [jwk] });
    if (url.pathname === '/authorize') {
      const asked = Object.fromEntries(url.searchParams) as AuthorizationRequest;
      idp.requests.push(asked);
      const code = randomBytes(16).toString('base64url');
      codes.set(code, asked);
      const back = new URL(asked.redirect_uri ?? '');
      back.searchParams.set('code', code);
      back.searchParams.set('state', asked.state ?? '');
      res.writeHead(303, { location: back.href });
      return res.end();
    }
    if (url.pathname === '/token' && req.method === 'POST') {
      const form = await body(req);
      const granted = codes.get(form.get('code') ?? '');
      const verifier = form.get('code_verifier') ?? '';
      const challenge = createHash('sha256').update(verifier).digest('base64url');
      if (!granted || granted.used || granted.code_challenge !== challenge)
        return json(400, {
          error: 'invalid_grant',
          error_description: 'the code is unknown, used or not this verifier',
        });
      granted.used = true;
      const common = { iss: idp.issuer, sub: person };
      return json(200, {
        token_type: 'Bearer',
        expires_in: 300,
        id_token: await sign({
          ...common,
          aud: granted.client_id,
          nonce: granted.nonce,
          ...idp.bend.idToken,
        }),
        access_token: await sign({
          ...common,
          aud: audience,
          client_id: granted.client_id,
          scope: 'user/*.cruds',
          tenant,
          ...idp.bend.accessToken,
        }),
      });
    }
    json(404, { error: 'not_found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  idp.issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  idp.close = () => new Promise((resolve) => server.close(() => resolve()));
  return idp;
}
