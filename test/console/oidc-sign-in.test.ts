/// <reference lib="dom" />
/**
 * Sign-in with the identity provider in headless Chromium: kap-bridge in jwt mode with a console
 * client, a real OpenID provider (oidc-provider) on 127.0.0.1 with its login and consent pages. A
 * therapist signs in through them and lands in the console, for the practice their token names,
 * holding nothing but the HttpOnly session cookie; a person whose token names no practice is shown
 * why they were refused, and is not signed in.
 */
import type { Browser, Page } from 'puppeteer-core';
import { launchBrowser, openPage, screenshot, seriousViolations } from '../support/console.js';
import {
  CONSOLE_CLIENT,
  type OpenIdProvider,
  startOpenIdProvider,
  THERAPIST_SCOPE,
} from '../support/openid-provider.js';
import { startTestService, type TestService } from '../support/service.js';

const AUDIENCE = 'https://kap-bridge.practice.example';
let op: OpenIdProvider;
let service: TestService;
let browser: Browser;

beforeAll(async () => {
  op = await startOpenIdProvider({ audience: AUDIENCE, practices: { 'dr-rivera': 'practice-a' } });
  [service, browser] = await Promise.all([
    startTestService({
      KAP_SUBSCRIBE_ON_START: 'false',
      KAP_AUTH_MODE: 'jwt',
      KAP_AUTH_STATIC_TOKENS_FILE: '',
      KAP_AUTH_JWKS: `${op.issuer}/jwks`,
      KAP_AUTH_ISSUER: op.issuer,
      KAP_AUTH_AUDIENCE: AUDIENCE,
      KAP_AUTH_ALGORITHMS: 'RS256',
      KAP_CONSOLE_OIDC_CLIENT_ID: CONSOLE_CLIENT,
      KAP_CONSOLE_OIDC_SCOPE: `openid ${THERAPIST_SCOPE}`,
    }),
    launchBrowser(),
  ]);
  op.register(`${service.url}/console/oidc/callback`);
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await service?.close();
  await op?.close();
});

/** A fresh browser context; every request it makes stays on this machine. */
async function loopbackPage(): Promise<{ page: Page; seen: string[] }> {
  const opened = await openPage(browser);
  await opened.page.setRequestInterception(true);
  opened.page.on('request', (r) => {
    if (new URL(r.url()).hostname === '127.0.0.1') void r.continue();
    else void r.abort();
  });
  return opened;
}

/** From the console's sign-in page through the provider's login and consent pages. */
async function signInAs(page: Page, person: string): Promise<void> {
  await page.goto(`${service.url}/console`);
  await page.waitForSelector('#oidc-sign-in');
  await Promise.all([page.waitForNavigation(), page.click('#oidc-sign-in')]);
  expect(page.url().startsWith(`${op.issuer}/`)).toBe(true);
  await page.type('input[name=login]', person);
  await page.type('input[name=password]', 'any password');
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  // The consent page: kap-bridge's console asks for the person's identity and the therapist scopes.
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
}

test('a therapist signs in through the identity provider and lands in the console, holding only the session cookie', async () => {
  const { page, seen } = await loopbackPage();
  await page.goto(`${service.url}/console`);
  await page.waitForSelector('#oidc-sign-in');
  expect(await seriousViolations(page)).toEqual([]);
  await screenshot(page, 'sign-in-oidc');

  await signInAs(page, 'dr-rivera');
  await page.waitForSelector('nav[aria-label="Pages"]');
  expect(page.url()).toBe(`${service.url}/console`);
  expect(await page.$eval('.who', (w) => w.textContent)).toBe(`${CONSOLE_CLIENT} · practice-a`);
  // This week answers: the session stands for the access token, with its practice and scopes.
  await page.waitForSelector('main h1');
  expect(await page.$eval('main', (m) => m.textContent)).not.toContain('refused');
  expect(await page.evaluate(() => [localStorage.length, sessionStorage.length, document.cookie])).toEqual([
    0,
    0,
    '',
  ]);
  const cookies = await page.browserContext().cookies();
  expect(cookies.filter((c) => c.domain === '127.0.0.1').map((c) => [c.name, c.httpOnly])).toContainEqual([
    'kap-console',
    true,
  ]);
  // Only the provider's own pages saw the authorization request; the console's addresses carry no code.
  expect(seen.filter((s) => s.startsWith(`${service.url}/console#`) || s.includes('/console?'))).toEqual([]);
  await page.close();
}, 90_000);

test('a person whose token names no practice is shown why, and is not signed in', async () => {
  const { page } = await loopbackPage();
  await signInAs(page, 'no-practice');
  await page.waitForSelector('h1');
  expect(await page.$eval('h1', (h) => h.textContent)).toBe('Sign-in refused');
  expect(await page.$eval('.problem', (p) => p.textContent)).toContain('names no practice');
  expect(await seriousViolations(page)).toEqual([]);
  await screenshot(page, 'sign-in-oidc-refused');
  expect((await page.browserContext().cookies()).map((c) => c.name)).not.toContain('kap-console');
  await page.goto(`${service.url}/console`);
  await page.waitForSelector('#oidc-sign-in');
  await page.close();
}, 90_000);
