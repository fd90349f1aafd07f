/**
 * The guard in front of every route of the table (./routes.ts): who is calling (401), not too often
 * (429), of a kind and with a scope this route serves (403), about an object of their own practice
 * (404); and, for the routes that carry PHI, an audit record of the answer, whatever it was.
 */
import type { NextFunction, Request, Response } from 'express';
import type { AuditTrail, WriteAudit } from '../audit/trail.js';
import { authorize, ForbiddenError, type Owner, ownerCheck } from '../auth/access.js';
import { type Authenticate, AuthenticationError, type Principal } from '../auth/authentication.js';
import {
  type ConsoleSession,
  type ConsoleSessions,
  CSRF_HEADER,
  SECURE_SESSION_COOKIE,
  SESSION_COOKIE,
  sameText,
} from '../auth/console-sessions.js';
import { parseScopes } from '../auth/scopes.js';
import type { AuthenticateCdsClient } from '../cds/authentication.js';
import { PATH_ID_PATTERN } from '../fhir/ids.js';
import { CLIENT_WENT_AWAY, OperationOutcomeError, throttled, unknownReference } from '../fhir/outcome.js';
import { KEPT_TYPES } from '../intake.js';
import type { Store } from '../store/store.js';
import { parameterCheck } from './parameter-check.js';
import { RateLimiter } from './rate-limit.js';
import type { RouteAccess } from './routes.js';

export interface GuardDeps {
  store: Store;
  authenticate: Authenticate;
  audit: AuditTrail;
  /** Requests per second each client may make on average (twice that in a burst); 0: no limit. */
  rateLimitPerSecond: number;
  /** When set, the EHR's subscription deliveries may authenticate with it in X-Kap-Subscription-Secret. */
  subscriptionSecret?: string;
  /** The CDS client's JWT on the CDS Hooks routes; refused when unset. */
  authenticateCds?: AuthenticateCdsClient;
  /** How callers reach kap-bridge: a CDS client JWT's audience is this and the path called. */
  publicBaseUrl: string;
  /** The console's signed-in people: their session cookie stands in for a bearer token. */
  consoleSessions: ConsoleSessions;
}

/** The value of the first cookie the request carries under one of `names`, if any. */
export function cookieOf(req: Request, names: readonly string[]): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const at = part.indexOf('=');
    if (at > 0 && names.includes(part.slice(0, at).trim())) return part.slice(at + 1).trim();
  }
  return undefined;
}

/** The console session id the request's cookie carries, if any. */
export const sessionCookieOf = (req: Request): string | undefined =>
  cookieOf(req, [SESSION_COOKIE, SECURE_SESSION_COOKIE]);

const SAFE_METHODS = new Set(['GET', 'HEAD']);

/**
 * The console session a request without a bearer token comes with: unknown, tampered or idle too
 * long is a 401; a write without the session's CSRF token is a 403.
 */
export function consoleSessionOf(
  sessions: ConsoleSessions,
  req: Request,
  touch = true,
): ConsoleSession | undefined {
  const id = sessionCookieOf(req);
  if (id === undefined) return undefined;
  const session = sessions.get(id, touch);
  if (!session)
    throw new AuthenticationError(
      'The console session is unknown or has expired; sign in again.',
      'invalid_token',
    );
  if (!SAFE_METHODS.has(req.method) && !sameText(req.header(CSRF_HEADER) ?? '', session.csrf))
    throw new ForbiddenError(`A write from the console needs the session's CSRF token in ${CSRF_HEADER}.`);
  return session;
}

/** The caller, once the guard has let the request in. */
export const principalOf = (res: Response): Principal => res.locals.principal as Principal;

/** The audit record a write request's transactions carry (see createGuard); undefined for reads and unaudited routes. */
export const writeAuditOf = (res: Response): WriteAudit | undefined =>
  res.locals.writeAudit as WriteAudit | undefined;

/** Resources the answer created or named, for the audit record (the path's own object is added by the guard). */
export const audited = (res: Response, ...references: (string | undefined)[]): void => {
  for (const r of references) if (r) (res.locals.entities as string[]).push(r.split('/_history/')[0]!);
};

const ENTITY_TYPE: Record<Owner, string> = {
  patient: 'Patient',
  episode: 'EpisodeOfCare',
  session: 'Encounter',
};

/** The EHR's subscription deliveries, authenticated by the shared secret: writes of the kept types only. */
/** The client name of the EHR's REST-hook deliveries (the subscription secret's holder). */
export const SUBSCRIPTION_CLIENT = 'ehr-subscription';
const SUBSCRIPTION_PRINCIPAL: Principal = {
  client: SUBSCRIPTION_CLIENT,
  kind: 'ehr',
  scopes: parseScopes(KEPT_TYPES.map((t) => `system/${t}.cu`)),
};

const BODY_ID = new RegExp(PATH_ID_PATTERN);

/**
 * The tenancy check of the objects a body names (the table's `references`), once the body is read:
 * each must be the caller's practice's own, and another practice's is answered exactly as an id
 * nobody registered: 422, the field named, the same sentence. Values that are not ids are left to
 * the body's schema check.
 */
export function createBodyGuard(deps: Pick<GuardDeps, 'store'>) {
  const checkOwner = ownerCheck(deps.store);
  const check = async (access: RouteAccess, body: unknown, principal: Principal): Promise<void> => {
    for (const { field, owner, list } of access.references ?? []) {
      const value = (body as Record<string, unknown> | null)?.[field];
      const named: [unknown, string][] = list
        ? Array.isArray(value)
          ? value.map((v, i) => [v, `${field}[${i}]`])
          : []
        : [[value, field]];
      for (const [id, expression] of named) {
        if (typeof id !== 'string' || !BODY_ID.test(id)) continue;
        try {
          await checkOwner(principal, owner, id);
        } catch (e) {
          if (!(e instanceof OperationOutcomeError) || e.kind !== 'not-found') throw e;
          throw new OperationOutcomeError(unknownReference(owner, id, expression));
        }
      }
    }
  };
  return (access: RouteAccess) =>
    (req: Request, res: Response, next: NextFunction): void => {
      if (!access.references?.length) next();
      else check(access, req.body, principalOf(res)).then(() => next(), next);
    };
}

export function createGuard(deps: GuardDeps) {
  const checkId = parameterCheck('id', { type: 'string', pattern: PATH_ID_PATTERN });
  const checkOwner = ownerCheck(deps.store);
  const limiter = deps.rateLimitPerSecond > 0 ? new RateLimiter(deps.rateLimitPerSecond) : undefined;

  /** Who is calling: the subscription secret on /fhir, else the bearer token; undefined and why when neither. */
  const identify = async (
    access: RouteAccess,
    req: Request,
  ): Promise<{ principal?: Principal; refused?: unknown }> => {
    const secret = req.header('x-kap-subscription-secret');
    try {
      if (access.credential === 'cds-hooks') {
        if (!deps.authenticateCds)
          throw new AuthenticationError('CDS Hooks is not configured here (KAP_CDS_ISSUERS, KAP_CDS_JWKS).');
        // The endpoint's own URL, whatever spelling of it (a trailing slash) reached express.
        const path = access.path.replace(':id', encodeURIComponent(req.params.id ?? ''));
        return {
          principal: await deps.authenticateCds(req.header('authorization'), `${deps.publicBaseUrl}${path}`),
        };
      }
      if (deps.subscriptionSecret !== undefined && secret !== undefined && req.path.startsWith('/fhir')) {
        if (!sameText(secret, deps.subscriptionSecret))
          throw new AuthenticationError('The subscription secret is not the one kap-bridge was given.');
        return { principal: SUBSCRIPTION_PRINCIPAL };
      }
      const authorization = req.header('authorization');
      const session = authorization === undefined ? consoleSessionOf(deps.consoleSessions, req) : undefined;
      if (session) return { principal: session.principal };
      return { principal: await deps.authenticate(authorization) };
    } catch (refused) {
      return { refused };
    }
  };

  const admit = async (access: RouteAccess, req: Request, res: Response): Promise<void> => {
    if (access.clients === 'public') return;
    const { principal, refused } = await identify(access, req);
    const wait = limiter?.take(
      principal ? `client:${principal.client}` : `address:${req.socket.remoteAddress}`,
    );
    if (wait) {
      res.setHeader('Retry-After', String(wait));
      throw new OperationOutcomeError(throttled(`Too many requests; try again in ${wait} s.`));
    }
    if (!principal) throw refused;
    res.locals.principal = principal;
    const { scope } = access;
    authorize(
      principal,
      access.clients,
      scope === undefined || scope === 'per-resource'
        ? []
        : [{ resourceType: scope[0], interaction: scope[1] }],
    );
    // A malformed path id is a 400 naming the field, before any handler (or the EHR) sees it; a
    // well-formed one must be the practice's own.
    if (req.params.id !== undefined) checkId(req.params.id);
    if (access.owner) await checkOwner(principal, access.owner, req.params.id as string);
  };

  return (access: RouteAccess) =>
    (req: Request, res: Response, next: NextFunction): void => {
      res.locals.entities = [];
      res.locals.route = access.path;
      if (access.audit) {
        const action = access.audit;
        const route = `${req.method} ${access.path}`;
        const entry = () => ({
          principal: res.locals.principal as Principal | undefined,
          action,
          route,
          entities: res.locals.entities as string[],
          ...(req.socket.remoteAddress ? { address: req.socket.remoteAddress } : {}),
        });
        // A write's record goes in the transaction that commits the write (the handler runs with it:
        // writeAuditOf); a read's, or a write's that committed nothing, after the answer.
        const write: WriteAudit | undefined = SAFE_METHODS.has(req.method) ? undefined : { entry };
        res.locals.writeAudit = write;
        // 'close' comes whether the answer was sent or the client went away first (recorded as CLIENT_WENT_AWAY).
        res.once('close', () => {
          const status = res.writableFinished ? res.statusCode : CLIENT_WENT_AWAY;
          // A client gone while its write runs: the write's transaction may still commit, carrying the record.
          void (write?.handled ?? Promise.resolve()).then(() => {
            if (write) write.closed = true;
            if (!write?.stored) deps.audit.record({ ...entry(), status });
          });
        });
      }
      // The object named in the path, so that refused attempts on it are in its trail too.
      if (access.owner) audited(res, `${ENTITY_TYPE[access.owner]}/${req.params.id ?? ''}`);
      admit(access, req, res).then(() => next(), next);
    };
}
