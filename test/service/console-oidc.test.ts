/**
 * The console's sign-in with the identity provider (OpenID Connect, authorization code with PKCE),
 * over HTTP against a provider on 127.0.0.1 whose answers can be bent: a sign-in opens the same
 * session cookie a token sign-in does; a wrong state, a replayed code, a wrong nonce, an ID token or
 * an access token from another issuer, a therapist's token naming no practice, the EHR's client:
 * each refused with a page saying why, and no session opened.
 */
import { type FakeIdp, startFakeIdp } from '../support/fake-idp.js';
import { startTestService, type TestService } from '../support/service.js';

const AUDIENCE = 'https://kap-bridge.practice.example';
let idp: FakeIdp;
let service: TestService;

beforeAll(async () => {
  idp = await startFakeIdp({ audience: AUDIENCE, person: 'dr-rivera', tenant: 'practice-a' });
  service = await startTestService({
    KAP_SUBSCRIBE_ON_START: 'false',
    KAP_AUTH_MODE: 'jwt',
    KAP_AUTH_STATIC_TOKENS_FILE: '',
    KAP_AUTH_JWKS: `${idp.issuer}/jwks`,
    KAP_AUTH_ISSUER: idp.issuer,
    KAP_AUTH_AUDIENCE: AUDIENCE,
    KAP_AUTH_EHR_CLIENTS: 'prescriber-ehr',
    KAP_CONSOLE_OIDC_CLIENT_ID: 'kap-console',
  });
}, 30_000);
afterAll(async () => {
  await service?.close();
  await idp?.close();
});
beforeEach(() => {
  idp.bend = {};
});

const cookiesOf = (res: Response): string[] => res.headers.getSetCookie();
const cookieValue = (setCookie: string): string => setCookie.split(';')[0]!;

/** A sign-in begun: the binding cookie, and the callback address the provider sent the browser to. */
async function begin(): Promise<{ binding: string; callback: URL }> {
  const begun = await fetch(`${service.url}/console/oidc/sign-in`, { redirect: 'manual' });
  expect(begun.status).toBe(303);
  const [binding] = cookiesOf(begun);
  expect(binding).toMatch(
    /^kap-console-oidc=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax; Max-Age=600$/,
  );
  const approved = await fetch(begun.headers.get('location')!, { redirect: 'manual' });
  return { binding: cookieValue(binding!), callback: new URL(approved.headers.get('location')!) };
}

const back = (callback: URL, binding: string) =>
  fetch(callback, { redirect: 'manual', headers: { cookie: binding } });

/** A refusal: its status, its page's sentence, and that no session cookie came with it. */
async function refused(res: Response): Promise<{ status: number; says: string }> {
  expect(cookiesOf(res).filter((c) => /^(__Host-)?kap-console=[^;]/.test(c))).toEqual([]);
  expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
  const page = await res.text();
  expect(page).toContain('<h1>Sign-in refused</h1>');
  return { status: res.status, says: /<p class="problem" role="alert">([^<]*)<\/p>/.exec(page)?.[1] ?? '' };
}

test('a sign-in through the provider opens the session a token sign-in opens, for the practice its token names', async () => {
  const { binding, callback } = await begin();
  const asked = idp.requests.at(-1)!;
  expect(asked).toMatchObject({
    client_id: 'kap-console',
    response_type: 'code',
    code_challenge_method: 'S256',
    redirect_uri: `${service.url}/console/oidc/callback`,
    scope: 'openid',
  });
  expect(asked.code_challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
  expect(asked.nonce).toMatch(/^[A-Za-z0-9_-]{43}$/);
  const done = await back(callback, binding);
  expect(done.status).toBe(303);
  expect(done.headers.get('location')).toBe('/console');
  const cookies = cookiesOf(done);
  expect(cookies[0]).toBe('kap-console-oidc=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0');
  expect(cookies[1]).toMatch(/^kap-console=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict$/);
  const who = await fetch(`${service.url}/console/session`, {
    headers: { cookie: cookieValue(cookies[1]!) },
  });
  expect(who.status).toBe(200);
  expect(await who.json()).toMatchObject({ client: 'kap-console', kind: 'therapist', tenant: 'practice-a' });

  // The same answer again (a replayed callback) finds its sign-in spent.
  const again = await refused(await back(callback, binding));
  expect(again).toEqual({ status: 401, says: expect.stringContaining('already used') });
});

test('the page offers the sign-in with the identity provider', async () => {
  const page = await (await fetch(`${service.url}/console`)).text();
  expect(page).toContain('<meta name="kap-sign-in" content="oidc">');
});

test('a wrong state is refused, and the sign-in is spent', async () => {
  const { binding, callback } = await begin();
  const forged = new URL(callback);
  forged.searchParams.set('state', 'not-the-state-sent');
  expect(await refused(await back(forged, binding))).toEqual({
    status: 401,
    says: expect.stringContaining('state'),
  });
  expect((await refused(await back(callback, binding))).says).toContain('already used');
});

test('a callback without the binding cookie (another browser) is refused', async () => {
  const { callback } = await begin();
  expect((await refused(await fetch(callback, { redirect: 'manual' }))).says).toContain(
    'not begun in this browser',
  );
});

test('a code used once is refused the second time, under a new sign-in', async () => {
  const first = await begin();
  expect((await back(first.callback, first.binding)).status).toBe(303);
  const second = await begin();
  const replay = new URL(second.callback);
  replay.searchParams.set('code', first.callback.searchParams.get('code')!);
  expect(await refused(await back(replay, second.binding))).toEqual({
    status: 401,
    says: expect.stringContaining('invalid_grant'),
  });
});

test('an ID token with another nonce, or from another issuer, is refused', async () => {
  idp.bend = { idToken: { nonce: 'another-nonce' } };
  let { binding, callback } = await begin();
  expect(await refused(await back(callback, binding))).toEqual({
    status: 401,
    says: expect.stringContaining('nonce'),
  });
  idp.bend = { idToken: { iss: 'https://idp.elsewhere.example' } };
  ({ binding, callback } = await begin());
  expect(await refused(await back(callback, binding))).toEqual({
    status: 401,
    says: expect.stringContaining('(issuer) claim value'),
  });
});

test('an access token from another issuer or for another audience is refused as the API refuses it', async () => {
  idp.bend = { accessToken: { iss: 'https://idp.elsewhere.example' } };
  let { binding, callback } = await begin();
  expect(await refused(await back(callback, binding))).toEqual({
    status: 401,
    says: expect.stringContaining('ERR_JWT_CLAIM_VALIDATION_FAILED on claim iss'),
  });
  idp.bend = { accessToken: { aud: 'https://another-service.example' } };
  ({ binding, callback } = await begin());
  expect((await refused(await back(callback, binding))).says).toContain('on claim aud');
});

test("a therapist whose token names no practice, and the EHR's client, are refused", async () => {
  idp.bend = { accessToken: { tenant: undefined } };
  let { binding, callback } = await begin();
  expect(await refused(await back(callback, binding))).toEqual({
    status: 403,
    says: expect.stringContaining('names no practice'),
  });
  idp.bend = { accessToken: { client_id: 'prescriber-ehr' } };
  ({ binding, callback } = await begin());
  expect(await refused(await back(callback, binding))).toEqual({
    status: 403,
    says: expect.stringContaining('this client is the EHR'),
  });
});

test('an identity provider that cannot be reached is said so, and nothing is begun', async () => {
  const down = await startTestService({
    KAP_SUBSCRIBE_ON_START: 'false',
    KAP_AUTH_MODE: 'jwt',
    KAP_AUTH_STATIC_TOKENS_FILE: '',
    KAP_AUTH_JWKS: `${idp.issuer}/jwks`,
    KAP_AUTH_ISSUER: 'http://127.0.0.1:9/nobody',
    KAP_AUTH_AUDIENCE: AUDIENCE,
    KAP_CONSOLE_OIDC_CLIENT_ID: 'kap-console',
  });
  try {
    const res = await fetch(`${down.url}/console/oidc/sign-in`, { redirect: 'manual' });
    expect(cookiesOf(res)).toEqual([]);
    expect(await refused(res)).toEqual({
      status: 503,
      says: expect.stringContaining('could not be reached'),
    });
  } finally {
    await down.close();
  }
});

test('without a console client the sign-in with an identity provider is not offered', async () => {
  const plain = await startTestService({ KAP_SUBSCRIBE_ON_START: 'false' });
  try {
    expect((await fetch(`${plain.url}/console/oidc/sign-in`, { redirect: 'manual' })).status).toBe(404);
    expect(await (await fetch(`${plain.url}/console`)).text()).not.toContain('kap-sign-in');
  } finally {
    await plain.close();
  }
});
