/**
 * The console's HTTP side: its page and assets (built by `npm run build` into generated/console),
 * sign-in and sign-out with the session cookie, and the event stream that tells an open page that
 * something it shows has changed. The pages themselves call /api/v1 like any therapist system, with
 * the cookie in place of a bearer token (src/http/guard.ts).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Request, Response } from 'express';
import { ForbiddenError } from '../auth/access.js';
import { type Authenticate, AuthenticationError, type Principal } from '../auth/authentication.js';
import { type ConsoleOidc, SIGN_IN_MINUTES, SignInRefused } from '../auth/console-oidc.js';
import {
  type ConsoleSession,
  type ConsoleSessions,
  SECURE_SESSION_COOKIE,
  SESSION_COOKIE,
} from '../auth/console-sessions.js';
import {
  allOk,
  badRequest,
  created,
  forbidden,
  noContent,
  notFound,
  OperationOutcomeError,
  seeOther,
  statusOf,
  unauthorized,
  unavailable,
} from '../fhir/outcome.js';
import { consoleSessionOf, cookieOf, sessionCookieOf } from './guard.js';

/** Where `npm run build` puts the console (console/ bundled by esbuild). */
export const CONSOLE_ASSETS = fileURLToPath(new URL('../../generated/console/', import.meta.url));

/** The console page's policy: its own scripts, styles and API only; nothing inline, nothing elsewhere. */
export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.map': 'application/json',
};

export interface Asset {
  type: string;
  body: Buffer;
}

/** The built console, read once: the page and each file under assets/. */
export function loadConsoleAssets(dir = CONSOLE_ASSETS): { page?: Asset; assets: Map<string, Asset> } {
  const assets = new Map<string, Asset>();
  if (!existsSync(join(dir, 'index.html'))) return { assets };
  for (const name of readdirSync(join(dir, 'assets'))) {
    const type = TYPES[extname(name)];
    if (type) assets.set(name, { type, body: readFileSync(join(dir, 'assets', name)) });
  }
  return { page: { type: TYPES['.html']!, body: readFileSync(join(dir, 'index.html')) }, assets };
}

const LOOPBACK_HOST = /^(localhost|127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\])$/;

/**
 * A cookie of the console's, HttpOnly; Secure (and named __Host-, pinned to this host) unless the
 * browser reached kap-bridge itself on a loopback address over plain http, where a browser would
 * not send it back.
 */
function consoleCookie(
  req: Request,
  [plain, secured]: readonly [string, string],
  value: string,
  { maxAge, sameSite = 'Strict' }: { maxAge?: number; sameSite?: 'Strict' | 'Lax' } = {},
): string {
  const secure = req.protocol === 'https' || !LOOPBACK_HOST.test(req.hostname);
  return [
    `${secure ? secured : plain}=${value}`,
    'Path=/',
    'HttpOnly',
    `SameSite=${sameSite}`,
    ...(secure ? ['Secure'] : []),
    ...(maxAge === undefined ? [] : [`Max-Age=${maxAge}`]),
  ].join('; ');
}

const SESSION_NAMES = [SESSION_COOKIE, SECURE_SESSION_COOKIE] as const;
const sessionCookie = (req: Request, value: string, maxAge?: number): string =>
  consoleCookie(req, SESSION_NAMES, value, maxAge === undefined ? {} : { maxAge });

/** What the page learns of its session: who is signed in, and the CSRF token for its writes. */
const describe = (session: Pick<ConsoleSession, 'principal'> & { csrf?: string }, idleMs: number) => ({
  client: session.principal.client,
  kind: session.principal.kind,
  ...(session.principal.tenant ? { tenant: session.principal.tenant } : {}),
  ...(session.csrf ? { csrf: session.csrf } : {}),
  idleMinutes: Math.round(idleMs / 60_000),
});

export interface ConsoleDeps {
  consoleSessions: ConsoleSessions;
  authenticate: Authenticate;
  /** Sign-in with the identity provider (jwt mode, KAP_CONSOLE_OIDC_CLIENT_ID); unset: tokens only. */
  consoleOidc?: ConsoleOidc;
}

/** POST /console/session: a token, or a one-time sign-in code, for a session cookie. */
export async function signIn(req: Request, res: Response, deps: ConsoleDeps): Promise<void> {
  const body = (req.body ?? {}) as { token?: unknown; code?: unknown };
  let principal: Principal | undefined;
  if (typeof body.code === 'string') {
    principal = deps.consoleSessions.redeem(body.code);
    if (!principal)
      throw new AuthenticationError('This sign-in link is unknown, used or expired; sign in with a token.');
  } else if (typeof body.token === 'string') {
    principal = await deps.authenticate(`Bearer ${body.token}`);
  } else {
    throw new OperationOutcomeError(
      badRequest('Send the token to sign in with ({"token": "..."}).', 'token', 'required'),
    );
  }
  if (principal.kind === 'ehr')
    throw new ForbiddenError('The console is for therapists and operators; this token is the EHR.');
  const session = deps.consoleSessions.open(principal);
  res.setHeader('Set-Cookie', sessionCookie(req, session.id));
  res.status(statusOf(created())).json(describe(session, deps.consoleSessions.idleMs));
}

/** The cookie that binds an OpenID Connect sign-in to the browser that began it. */
const OIDC_NAMES = ['kap-console-oidc', '__Host-kap-console-oidc'] as const;

const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A page that says why a sign-in was refused (the console's stylesheet, nothing inline). */
function refusalPage(res: Response, refused: SignInRefused): void {
  const outcome =
    refused.kind === 'unavailable'
      ? unavailable(refused.message)
      : refused.kind === 'forbidden'
        ? forbidden(refused.message)
        : unauthorized(refused.message);
  const body = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign-in refused · kap-bridge console</title><link rel="stylesheet" href="/console/assets/console.css"></head>
<body><main id="main" class="sign-in"><h1>Sign-in refused</h1>
<p class="problem" role="alert">${escapeHtml(refused.message)}</p>
<p>No session was opened. <a href="/console">Back to the console</a></p></main></body></html>
`;
  res.writeHead(statusOf(outcome), {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Content-Security-Policy': CONSOLE_CSP,
  });
  res.end(body);
}

const oidcOf = (deps: ConsoleDeps): ConsoleOidc => {
  if (!deps.consoleOidc)
    throw new OperationOutcomeError(
      notFound('Sign-in with an identity provider is not configured here (KAP_CONSOLE_OIDC_CLIENT_ID).'),
    );
  return deps.consoleOidc;
};

/** GET /console/oidc/sign-in: a new sign-in, the browser sent to the identity provider. */
export async function beginOidcSignIn(req: Request, res: Response, deps: ConsoleDeps): Promise<void> {
  let begun: { binding: string; location: string };
  try {
    begun = await oidcOf(deps).begin();
  } catch (e) {
    if (e instanceof SignInRefused) return refusalPage(res, e);
    throw e;
  }
  // Lax: the browser comes back from the identity provider's site, a cross-site navigation.
  res.setHeader(
    'Set-Cookie',
    consoleCookie(req, OIDC_NAMES, begun.binding, { sameSite: 'Lax', maxAge: SIGN_IN_MINUTES * 60 }),
  );
  res.setHeader('Location', begun.location);
  res.status(statusOf(seeOther())).end();
}

/**
 * GET /console/oidc/callback: the identity provider's answer, checked (src/auth/console-oidc.ts);
 * then the same session cookie a sign-in with a token opens, and on to the console. A refusal is a
 * page saying why, and no session.
 */
export async function finishOidcSignIn(req: Request, res: Response, deps: ConsoleDeps): Promise<void> {
  const oidc = oidcOf(deps);
  const query = req.originalUrl.includes('?') ? req.originalUrl.slice(req.originalUrl.indexOf('?')) : '';
  const cleared = consoleCookie(req, OIDC_NAMES, '', { sameSite: 'Lax', maxAge: 0 });
  let principal: Principal;
  try {
    principal = await oidc.finish(cookieOf(req, OIDC_NAMES), query);
  } catch (e) {
    if (!(e instanceof SignInRefused)) throw e;
    res.setHeader('Set-Cookie', cleared);
    return refusalPage(res, e);
  }
  const session = deps.consoleSessions.open(principal);
  res.setHeader('Set-Cookie', [cleared, sessionCookie(req, session.id)]);
  res.setHeader('Location', '/console');
  res.status(statusOf(seeOther())).end();
}

/** GET /console/session: who is signed in (with the CSRF token when it is a console session). */
export function whoIsSignedIn(req: Request, res: Response, principal: Principal, deps: ConsoleDeps): void {
  const session = req.header('authorization') ? undefined : consoleSessionOf(deps.consoleSessions, req);
  res.json(describe(session ?? { principal }, deps.consoleSessions.idleMs));
}

/** POST /console/session/end: the session is forgotten and the cookie cleared. */
export function signOut(req: Request, res: Response, deps: ConsoleDeps): void {
  const id = sessionCookieOf(req);
  if (id !== undefined) deps.consoleSessions.close(id);
  res.setHeader('Set-Cookie', sessionCookie(req, '', 0));
  res.status(statusOf(noContent())).end();
}

/**
 * The open event streams: each sends `change` when the practice's records change (an EHR push, a
 * notification, a recording), and ends when its session does. All are ended when the service stops.
 */
export class ConsoleStreams {
  private readonly open = new Set<() => void>();

  constructor(private readonly tickMs = 1000) {}

  /** GET /console/events, for a signed-in console page only (a system polls the API instead). */
  stream(
    req: Request,
    res: Response,
    sessions: ConsoleSessions,
    changes: () => Promise<string>,
  ): Promise<void> {
    const id = req.header('authorization') ? undefined : sessionCookieOf(req);
    if (id === undefined)
      throw new OperationOutcomeError(
        badRequest(
          'The event stream is for a signed-in console page; a system polls the API.',
          undefined,
          'not-supported',
        ),
      );
    return changes().then((first) => {
      let last = first;
      res.writeHead(statusOf(allOk()), { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store' });
      res.write('retry: 2000\n\n');
      let busy = false;
      const end = () => {
        clearInterval(timer);
        this.open.delete(end);
        res.end();
      };
      const timer = setInterval(() => {
        if (busy) return;
        if (!sessions.get(id, false)) return end();
        busy = true;
        changes()
          .then((now) => {
            res.write(now === last ? ': still here\n\n' : 'event: change\ndata: {}\n\n');
            last = now;
          })
          .catch(() => end())
          .finally(() => {
            busy = false;
          });
      }, this.tickMs);
      this.open.add(end);
      req.on('close', end);
    });
  }

  closeAll(): void {
    for (const end of [...this.open]) end();
  }
}
