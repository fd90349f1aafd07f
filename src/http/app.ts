/**
 * All HTTP in one place: express translates requests to the transport-free handlers of
 * src/fhir-endpoint and src/api, and every error to an OperationOutcome with its status. No stack
 * trace reaches a client; no body reaches the log. Every route is registered from the table in
 * ./routes.ts through one guard: authentication, rate limit, scopes, the tenancy check of the
 * path's id, and the audit record.
 */
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Bundle, OperationOutcome, Resource } from 'fhir/r4';
import { recordConsent } from '../api/consents.js';
import { recordDose } from '../api/doses.js';
import { changeEpisodeStatus, readinessOfEpisode, registerEpisode } from '../api/episodes.js';
import { recordAdverseEvent, sessionMonitoring, sessionReport } from '../api/medicine.js';
import { recordCourseObservation, recordObservation } from '../api/observations.js';
import {
  drift,
  dropMessage,
  OUTBOX_STATUSES,
  outboxEntries,
  retryMessage,
  syncState,
} from '../api/operator.js';
import { getPatient, medicationStatus, type PatientsDeps, registerPatient } from '../api/patients.js';
import type { CourseOutbox } from '../api/recording.js';
import { requestClearance, requestCourseClearance } from '../api/referrals.js';
import { checkAgainst } from '../api/request-validation.js';
import type { Answer, RequestSchemaName } from '../api/schemas.js';
import { moveSession, scheduleSession } from '../api/sessions.js';
import { practiceCourses, upcomingSessions } from '../api/this-week.js';
import { episodeTimeline } from '../api/timeline.js';
import { MAX_AUDIT_COUNT, withWriteAudit } from '../audit/trail.js';
import { authorize, ForbiddenError } from '../auth/access.js';
import { AuthenticationError, type Principal } from '../auth/authentication.js';
import { callService, takeFeedback } from '../cds/hooks.js';
import { discoveryDocument } from '../cds/services.js';
import { EhrError, ehrFailure } from '../ehr/gateway.js';
import { PATH_ID_PATTERN } from '../fhir/ids.js';
import { MAX_NESTING, nestedDeeperThan } from '../fhir/nesting.js';
import {
  type Answered,
  allOk,
  answered,
  badRequest,
  headersTooLarge,
  isClientErrorStatus,
  issue,
  notAcceptable,
  notFound,
  OperationOutcomeError,
  outcomeWithStatus,
  serverError,
  statusOf,
  timedOut,
  tooLarge,
  unavailable,
  unsupportedMediaType,
} from '../fhir/outcome.js';
import { pageLinks } from '../fhir/paging.js';
import { smartConfiguration } from '../fhir-endpoint/capability.js';
import {
  allowedMethods,
  entitiesOf,
  type FhirAnswer,
  type FhirEndpointDeps,
  handleFhir,
  interactionsOf,
  locationOf,
} from '../fhir-endpoint/handler.js';
import type { SearchParams } from '../fhir-endpoint/read.js';
import type { Logger } from '../log.js';
import type { Outbox, OutboxStatus } from '../outbox/outbox.js';
import { DEFAULT_PATIENT_LINK } from '../patient-link.js';
import { reconciliation } from '../reconcile/answer.js';
import { practiceView } from '../record.js';
import type { Metrics } from '../telemetry/metrics.js';
import { bindContext, requestSpan } from '../telemetry/tracing.js';
import {
  beginOidcSignIn,
  CONSOLE_CSP,
  type ConsoleDeps,
  type ConsoleStreams,
  finishOidcSignIn,
  loadConsoleAssets,
  signIn,
  signOut,
  whoIsSignedIn,
} from './console.js';
import { corsFor } from './cors.js';
import {
  audited,
  createBodyGuard,
  createGuard,
  type GuardDeps,
  principalOf,
  SUBSCRIPTION_CLIENT,
  writeAuditOf,
} from './guard.js';
import { openApiDocument } from './openapi.js';
import { parameterCheck } from './parameter-check.js';
import { FHIR_OTHER, ROUTES, type RouteAccess, type RouteName } from './routes.js';

export interface AppDeps extends FhirEndpointDeps, PatientsDeps, GuardDeps, ConsoleDeps {
  log: Logger;
  /** CDS Hooks: the EHR's FHIR base URL, the only `fhirServer` a hook request may name. */
  cdsFhirServer?: string;
  /** CDS Hooks: the web origins whose pages may call the CDS Services (CORS); none when unset. */
  cdsCorsOrigins?: readonly string[];
  bodyLimitBytes: number;
  /** Where the therapist API's writes are queued for the EHR (src/outbox). */
  outbox: CourseOutbox;
  /** The service's Prometheus metrics, shown at /metrics and fed by every request. */
  metrics?: Metrics;
  /** Says whether the service can serve (store reachable, schema current) and what it knows of the EHR. */
  probes?: Probes;
  /** The outbox itself, for the operator's pages. */
  outboxQueue: Outbox;
  /** The console's open event streams. */
  consoleStreams: ConsoleStreams;
}

export interface Probes {
  /** Readiness: undefined when ready, else why not (a short code). */
  notReady(): Promise<string | undefined>;
  /** Details for /healthz: the EHR as the last request found it, the subscriptions, the last catch-up. */
  health(): Record<string, unknown>;
}

const FHIR_JSON = 'application/fhir+json';

/** An outcome as the answer: its status from the outcome (statusOf), the outcome as the body. */
function sendOutcome(res: Response, outcome: OperationOutcome): void {
  res.status(statusOf(outcome)).type(FHIR_JSON).send(JSON.stringify(outcome));
}

/**
 * A therapist API answer: the status its outcome gives, the answer as JSON. Written without
 * res.json's charset negotiation, ETag and freshness checks (ETags are off, answers are no-store):
 * about 8% of the server's CPU per medication-status answer.
 */
function sendJson(res: Response, { outcome, answer }: Answered<unknown>): void {
  const body = JSON.stringify(answer);
  res.writeHead(statusOf(outcome), {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

const fail = (outcome: OperationOutcome) => new OperationOutcomeError(outcome);

/** What `_format` may say for the one format /fhir speaks. */
const JSON_FORMATS = new Set(['json', 'application/json', FHIR_JSON]);

/**
 * /fhir speaks FHIR JSON only: a request that asks for another format (`_format=xml`, or an Accept
 * header without JSON) is a 406, never JSON under a 200 it did not ask for.
 */
function acceptsFhirJson(req: Request): void {
  const format = req.query._format;
  if (format !== undefined) {
    const asked = typeof format === 'string' ? format.split(';')[0]!.trim().toLowerCase() : '';
    if (!JSON_FORMATS.has(asked))
      throw fail(notAcceptable(`kap-bridge speaks ${FHIR_JSON} only; _format asked for another.`, '_format'));
  }
  if (req.headers.accept !== undefined && !req.accepts([FHIR_JSON, 'application/json']))
    throw fail(notAcceptable(`kap-bridge speaks ${FHIR_JSON} only; Accept asked for another.`));
}

/** `Prefer: return=...` (FHIR's minimal, representation or OperationOutcome); undefined when not said. */
function preferredReturn(req: Request): 'minimal' | 'representation' | 'OperationOutcome' | undefined {
  const m = /(?:^|[;,\s])return=(minimal|representation|OperationOutcome)\b/.exec(
    String(req.headers.prefer ?? ''),
  );
  return m?.[1] as 'minimal' | 'representation' | 'OperationOutcome' | undefined;
}

/**
 * The FHIR endpoint's answer: a create or update says where the resource now lives (Location),
 * its version (ETag) and when it changed (Last-Modified), and answers with what Prefer asks for.
 */
function sendFhir(req: Request, res: Response, answer: FhirAnswer, publicBaseUrl: string): void {
  const held = answer.written;
  const version = held ?? answer.read;
  if (version) {
    const where = locationOf(publicBaseUrl, version);
    if (held) res.setHeader('Location', where.location);
    if (where.etag) res.setHeader('ETag', where.etag);
    if (where.lastModified) res.setHeader('Last-Modified', new Date(where.lastModified).toUTCString());
  }
  const prefer = held ? preferredReturn(req) : undefined;
  res.status(statusOf(answer.outcome));
  if (prefer === 'minimal') {
    res.end();
    return;
  }
  const body =
    prefer === 'representation' ? held : prefer === 'OperationOutcome' ? answer.outcome : answer.resource;
  res.type(FHIR_JSON).send(JSON.stringify((body ?? answer.resource) satisfies Resource));
}

/** Express 4 does not pass a rejected promise on: every async route goes through here. */
const answer =
  (handle: (req: Request, res: Response) => Promise<unknown>) =>
  (req: Request, res: Response, next: NextFunction): void => {
    const write = writeAuditOf(res);
    (write ? withWriteAudit(write, () => handle(req, res)) : handle(req, res)).catch(next);
  };

const sentBody = (req: Request): boolean =>
  Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;

/** Only JSON bodies are accepted; a PUT or POST with anything else is refused (unsupportedMediaType). */
function requireJson(req: Request, _res: Response, next: NextFunction): void {
  if (
    (req.method === 'PUT' || req.method === 'POST') &&
    sentBody(req) &&
    !req.is(['application/json', FHIR_JSON])
  ) {
    next(
      fail(
        unsupportedMediaType(
          `Send ${FHIR_JSON} (or application/json); got ${req.headers['content-type'] ?? 'no content type'}.`,
        ),
      ),
    );
    return;
  }
  next();
}

/** A route's optional query parameters, each checked (a 400 naming it); those absent are left out. */
const optionalQuery =
  <K extends string>(checks: Record<K, (value: unknown) => void>) =>
  (req: Request): Partial<Record<K, string>> => {
    const found: Partial<Record<K, string>> = {};
    for (const [name, check] of Object.entries(checks) as [K, (value: unknown) => void][]) {
      const value = req.query[name];
      if (value === undefined) continue;
      check(value);
      found[name] = value as string;
    }
    return found;
  };

const FORM = 'application/x-www-form-urlencoded';

/** A form route takes a form body only (FHIR's POST search); anything else is refused (unsupportedMediaType). */
function requireForm(req: Request, _res: Response, next: NextFunction): void {
  if (sentBody(req) && !req.is(FORM)) {
    next(
      fail(unsupportedMediaType(`Send ${FORM}; got ${req.headers['content-type'] ?? 'no content type'}.`)),
    );
    return;
  }
  next();
}

const SECURITY_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Cache-Control': 'no-store',
  'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'",
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Strict-Transport-Security': 'max-age=31536000; includeSubDomains',
};

export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  // Answers are computed per request and marked no-store; hashing each body for an ETag buys nothing.
  app.set('etag', false);
  app.set('query parser', 'simple');
  const guarded = createGuard(deps);
  const checkBody = createBodyGuard(deps);
  const guard = (name: RouteName | 'fhirOther') => guarded(name === 'fhirOther' ? FHIR_OTHER : ROUTES[name]);

  app.use((req, res, next) => {
    const id = randomUUID();
    const started = process.hrtime.bigint();
    res.setHeader('X-Request-Id', id);
    res.set(SECURITY_HEADERS);
    // A span per request, continuing the caller's trace (`traceparent`); named once the route is known.
    const span = requestSpan(req.method, req.headers);
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const who = res.locals.principal as Principal | undefined;
      // The route's template, never the path: the ids in it are the client's, often an MRN.
      const route = res.locals.route as string | undefined;
      span.end(route, res.statusCode);
      deps.metrics?.httpDuration.observe(
        { method: req.method, route: route ?? 'unmatched', status: String(res.statusCode) },
        seconds,
      );
      if (who?.client === SUBSCRIPTION_CLIENT)
        deps.metrics?.notifications.inc({ status: String(res.statusCode) });
      deps.log.info(
        {
          requestId: id,
          method: req.method,
          route,
          status: res.statusCode,
          ms: Math.round(seconds * 1e4) / 10,
          ...(who ? { client: who.client } : {}),
          ...(span.traceId ? { traceId: span.traceId } : {}),
        },
        'request',
      );
    });
    span.run(next);
  });

  // Browser-based CDS clients: CORS on the CDS Hooks endpoints, preflight answered before any guard.
  app.use('/cds-services', corsFor(deps.cdsCorsOrigins ?? []));

  /** Registers a route of the table: the guard, a JSON body where one is sent, then the handler. */
  const route = (name: RouteName, handle: (req: Request, res: Response) => Promise<unknown>): void => {
    const access: RouteAccess = ROUTES[name];
    const verb = access.method.toLowerCase() as 'get' | 'post' | 'put';
    app[verb](
      access.path,
      guard(name),
      ...(access.method === 'GET'
        ? []
        : access.body === 'form'
          ? [requireForm, form]
          : [requireJson, json, checkBody(access)]),
      answer(handle),
    );
  };

  // Liveness, with what the service knows of its surroundings; no request to the EHR is made for it.
  app.get('/healthz', guard('healthz'), (_req, res) => {
    res.json({ status: 'ok', ...(deps.probes?.health() ?? {}) });
  });
  // Ready when the therapist side can be served: the store answers and its schema is current. An EHR
  // outage is not a reason: the outbox keeps the therapist's writes until the EHR is back.
  app.get(
    '/readyz',
    guard('readyz'),
    answer(async (_req, res) => {
      let reason: string | undefined;
      try {
        reason = await (deps.probes?.notReady() ?? deps.store.ping().then(() => undefined));
      } catch {
        reason = 'store-unreachable';
      }
      deps.metrics?.readyz.inc({ verdict: reason ? 'not-ready' : 'ready', reason: reason ?? 'none' });
      res
        .status(statusOf(reason ? unavailable('Not ready.') : allOk()))
        .json(reason ? { status: 'not ready', reason } : { status: 'ready', checks: { store: 'ok' } });
    }),
  );

  const parseJson = express.json({
    limit: deps.bodyLimitBytes,
    type: ['application/json', FHIR_JSON],
    strict: false,
  });
  // A form's fields are flat strings (a repeated one an array, refused by the parameter's own check).
  const form = express.urlencoded({ extended: false, limit: deps.bodyLimitBytes, type: FORM });
  /** The one place a body is read: parsed, then measured before anything walks it. */
  const json = (req: Request, res: Response, next: NextFunction): void =>
    // The body arrives on the socket's events: the request's trace context is bound to what follows.
    parseJson(
      req,
      res,
      bindContext((err?: unknown) => {
        if (err === undefined && nestedDeeperThan(req.body))
          return next(
            fail(
              badRequest(`The body is nested more than ${MAX_NESTING} levels deep.`, undefined, 'too-costly'),
            ),
          );
        next(err);
      }),
    );

  route('metrics', async (_req, res) => {
    if (!deps.metrics) throw fail(notFound('Metrics are not enabled.'));
    res.type(deps.metrics.contentType).send(await deps.metrics.render());
  });

  const instant = parameterCheck('instant', {
    type: 'string',
    pattern: '^\\d{4}-\\d{2}-\\d{2}(T\\d{2}:\\d{2}(:\\d{2}(\\.\\d+)?)?(Z|[+-]\\d{2}:\\d{2}))?$',
  });
  const count = parameterCheck('_count', { type: 'string', pattern: '^[1-9][0-9]{0,5}$' });
  const offset = parameterCheck('_offset', { type: 'string', pattern: '^[0-9]{1,9}$' });
  // A repeated parameter arrives as an array: each search parameter is taken once, as one string.
  const searchText = Object.fromEntries(
    (['entity', 'client', 'tenant'] as const).map((name) => [
      name,
      parameterCheck(name, { type: 'string', maxLength: 256 }),
    ]),
  );
  /**
   * The audit trail searched by the criteria of the query (GET) or of the form body (POST _search).
   * The links of a POST search carry only the page (`_count`, `_offset`), never the criteria (often
   * a patient's id): the next page is the same body posted to the link's address.
   */
  const searchAudit = async (q: Record<string, string | undefined>, res: Response, byPost = false) => {
    for (const key of ['since', 'until'] as const) if (q[key] !== undefined) instant(q[key]);
    for (const [name, check] of Object.entries(searchText)) if (q[name] !== undefined) check(q[name]);
    if (q._count !== undefined) count(q._count);
    if (q._offset !== undefined) offset(q._offset);
    // A larger _count is answered with the most the trail gives, as FHIR servers do.
    const page = {
      count: Math.min(Number(q._count ?? 100), MAX_AUDIT_COUNT),
      offset: Number(q._offset ?? 0),
    };
    const bundle = await deps.audit.search({
      ...(q.entity ? { entity: q.entity } : {}),
      ...(q.client ? { client: q.client } : {}),
      ...(q.tenant ? { tenant: q.tenant } : {}),
      ...(q.since ? { since: q.since } : {}),
      ...(q.until ? { until: q.until } : {}),
      count: page.count,
      offset: page.offset,
    });
    const asked = byPost
      ? []
      : (['entity', 'client', 'tenant', 'since', 'until'] as const).flatMap((k) =>
          q[k] === undefined ? [] : [[k, q[k]] as const],
        );
    bundle.link = pageLinks(
      `${deps.publicBaseUrl}${(byPost ? ROUTES.auditSearch : ROUTES.auditEvents).path}`,
      asked,
      page,
      bundle.total ?? 0,
    );
    res.type(FHIR_JSON).send(JSON.stringify(bundle));
  };
  route('auditEvents', (req, res) => searchAudit(req.query as Record<string, string | undefined>, res));
  route('auditSearch', (req, res) =>
    searchAudit(
      {
        ...((sentBody(req) ? req.body : {}) as Record<string, string | undefined>),
        ...pagingOf(req.query as Record<string, string | undefined>),
      },
      res,
      true,
    ),
  );

  /** `_count` and `_offset` of a query: a POST search's page, named by its links' address. */
  const pagingOf = (q: Record<string, string | undefined>) =>
    Object.fromEntries(
      (['_count', '_offset'] as const).flatMap((k) => (q[k] === undefined ? [] : [[k, q[k]]])),
    );

  /** The FHIR endpoint: one handler; the scopes it needs depend on the type in the path or in the Bundle. */
  const fhir = async (req: Request, res: Response) => {
    const segments = req.path
      .replace(/^\/fhir/, '')
      .split('/')
      .filter(Boolean)
      .map(decodeURIComponent);
    const body = sentBody(req) ? req.body : undefined;
    const request = { method: req.method === 'HEAD' ? 'GET' : req.method, segments, body };
    const allowed = allowedMethods(segments);
    if (allowed && !allowed.includes(request.method)) res.setHeader('Allow', allowed.join(', '));
    const principal = res.locals.principal as Principal | undefined;
    // The guard has checked the kind of client; the scopes depend on the types the request names.
    if (principal) authorize(principal, [principal.kind], interactionsOf(request));
    audited(res, ...entitiesOf(request));
    acceptsFhirJson(req);
    const answer = await handleFhir(
      {
        ...request,
        query: req.query as SearchParams,
        ...(req.headers['if-match'] ? { ifMatch: req.headers['if-match'] } : {}),
        ...(principal?.tenant ? { tenant: principal.tenant } : {}),
      },
      deps,
    );
    // What a search found is in the audit record of the search.
    const bundle = answer.resource as Bundle;
    if (bundle.resourceType === 'Bundle' && bundle.type === 'searchset')
      audited(res, ...(bundle.entry ?? []).map((e) => `${e.resource?.resourceType}/${e.resource?.id}`));
    sendFhir(req, res, answer, deps.publicBaseUrl);
  };
  route('smartConfiguration', async (_req, res) => {
    if (!deps.tokenUrl)
      throw fail(notFound('kap-bridge is given no token endpoint to tell of (KAP_AUTH_TOKEN_URL).'));
    res.json(smartConfiguration(deps.tokenUrl));
  });
  route('fhirMetadata', fhir);
  route('fhirBatch', fhir);
  route('fhirCreate', fhir);
  route('fhirUpdate', fhir);
  route('fhirSearch', fhir);
  route('fhirRead', fhir);
  route('fhirVread', fhir);
  // Anything else under /fhir is answered by the endpoint itself (404 or 405), to an authenticated EHR.
  app.all(/^\/fhir(\/.*)?$/, guard('fhirOther'), requireJson, json, answer(fhir));

  route('openApi', async (_req, res) => {
    res.json(openApiDocument);
  });
  const checkDate = parameterCheck('date', { type: 'string', format: 'date' });
  /** The path's id, checked by the guard (a well-formed id of the caller's practice). */
  const idParam = (req: Request): string => req.params.id as string;
  const checkInstant = parameterCheck('at', {
    type: 'string',
    pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}(:\\d{2}(\\.\\d+)?)?(Z|[+-]\\d{2}:\\d{2})$',
  });
  const dateQuery = optionalQuery({ date: checkDate });
  /** The readiness question: a day, or a session start instant with its offset, or both. */
  const questionParams = optionalQuery({ date: checkDate, at: checkInstant });
  const tenantOf = (res: Response): string => principalOf(res).tenant!;
  route('registerPatient', async (req, res) => {
    checkAgainst('PatientRegistration', req.body);
    const registered = await registerPatient(req.body, deps, tenantOf(res));
    audited(res, `Patient/${registered.answer.id}`);
    res.location(`/api/v1/patients/${registered.answer.id}`);
    sendJson(res, registered);
  });
  route('patient', async (req, res) => {
    sendJson(res, await getPatient(idParam(req), deps, tenantOf(res)));
  });
  route('medicationStatus', async (req, res) => {
    const status = await medicationStatus(idParam(req), questionParams(req), deps, tenantOf(res));
    deps.metrics?.countReadiness(status.answer);
    sendJson(res, status);
  });
  route('patientReconcile', async (req, res) => {
    sendJson(res, await reconciliation(idParam(req), deps, tenantOf(res)));
  });
  route('registerEpisode', async (req, res) => {
    checkAgainst('EpisodeRegistration', req.body);
    const registered = await registerEpisode(req.body, deps, tenantOf(res));
    const episode = registered.answer;
    audited(res, `EpisodeOfCare/${episode.id}`, ...episode.patients.map((p) => `Patient/${p}`));
    res.location(`/api/v1/episodes/${episode.id}`);
    sendJson(res, registered);
  });
  route('episodeTimeline', async (req, res) => {
    sendJson(res, await episodeTimeline(idParam(req), dateQuery(req).date, deps, tenantOf(res)));
  });
  route('episodeReadiness', async (req, res) => {
    const readiness = await readinessOfEpisode(idParam(req), questionParams(req), deps, tenantOf(res));
    deps.metrics?.countReadiness(readiness.answer);
    sendJson(res, readiness);
  });
  /** A write on the course: the body checked against its schema, the answer what was recorded and its FHIR source. */
  const recordingRoute = (
    name: RouteName,
    schema: RequestSchemaName,
    write: (id: string, body: never, tenant: string) => Promise<Answered<Answer<'Recorded'>>>,
    /** What the body names that the audit record is to carry with the write. */
    about?: (body: never) => string,
  ) =>
    route(name, async (req, res) => {
      const id = idParam(req);
      const body = sentBody(req) ? req.body : {};
      checkAgainst(schema, body);
      if (about) audited(res, about(body as never));
      const written = await write(id, body as never, tenantOf(res));
      audited(res, written.answer.source, ...Object.values(written.answer.sources ?? {}));
      sendJson(res, written);
    });
  recordingRoute('changeEpisodeStatus', 'EpisodeStatusChange', (id, b, t) =>
    changeEpisodeStatus(id, b, deps, t),
  );
  recordingRoute('recordConsent', 'ConsentRecording', (id, b, t) => recordConsent(id, b, deps, t));
  recordingRoute('scheduleSession', 'SessionScheduling', (id, b, t) => scheduleSession(id, b, deps, t));
  for (const [name, action] of [
    ['startSession', 'start'],
    ['completeSession', 'complete'],
    ['cancelSession', 'cancel'],
  ] as const) {
    recordingRoute(name, 'SessionMove', (id, b, t) => moveSession(id, action, b, deps, t));
  }
  recordingRoute('recordDose', 'DoseRecording', (id, b, t) => recordDose(id, b, deps, t));
  recordingRoute('recordAdverseEvent', 'AdverseEventRecording', (id, b, t) =>
    recordAdverseEvent(id, b, deps, t),
  );
  const monitoringQuery = optionalQuery({ at: checkInstant });
  route('sessionMonitoring', async (req, res) => {
    sendJson(res, await sessionMonitoring(idParam(req), monitoringQuery(req), deps, tenantOf(res)));
  });
  const reportQuery = optionalQuery({
    patient: parameterCheck('patient', { type: 'string', pattern: PATH_ID_PATTERN }),
  });
  route('sessionReport', async (req, res) => {
    sendJson(res, await sessionReport(idParam(req), reportQuery(req), deps, tenantOf(res)));
  });
  recordingRoute('recordObservation', 'ObservationRecording', (id, b, t) =>
    recordObservation(id, b, deps, t),
  );
  recordingRoute('requestClearance', 'ReferralRecording', (id, b, t) => requestClearance(id, b, deps, t));
  // On a course, the patient named in the body is in the audit record as the patient route's address is.
  const patientIn = (b: { patient: string }) => `Patient/${b.patient}`;
  recordingRoute(
    'recordCourseObservation',
    'CourseObservationRecording',
    (id, b, t) => recordCourseObservation(id, b, deps, t),
    patientIn,
  );
  recordingRoute(
    'requestCourseClearance',
    'CourseReferralRecording',
    (id, b, t) => requestCourseClearance(id, b, deps, t),
    patientIn,
  );

  route('practiceCourses', async (_req, res) => {
    const courses = await practiceCourses(tenantOf(res), deps);
    audited(res, ...courses.episodes.map((e) => `EpisodeOfCare/${e.id}`));
    sendJson(res, answered(courses));
  });
  const weekQuery = optionalQuery({
    date: checkDate,
    days: parameterCheck('days', { type: 'string', pattern: '^([1-9]|[12][0-9]|3[01])$' }),
  });
  route('upcomingSessions', async (req, res) => {
    const { date, days } = weekQuery(req);
    const from = date ?? (deps.now?.() ?? new Date()).toISOString().slice(0, 10);
    const week = await upcomingSessions(tenantOf(res), { from, days: Number(days ?? 7) }, deps);
    audited(res, ...week.sessions.map((s) => `EpisodeOfCare/${s.episodeId}`));
    sendJson(res, answered(week));
  });

  const status = parameterCheck('status', { enum: [...OUTBOX_STATUSES] });
  const limit = parameterCheck('limit', { type: 'string', pattern: '^[1-9][0-9]{0,3}$' });
  const patientParam = parameterCheck('patient', { type: 'string', pattern: PATH_ID_PATTERN });
  route('operatorOutbox', async (req, res) => {
    const q = req.query as Record<string, string | undefined>;
    if (q.status !== undefined) status(q.status);
    if (q.limit !== undefined) limit(q.limit);
    sendJson(
      res,
      answered(
        await outboxEntries(deps.outboxQueue, {
          ...(q.status ? { status: q.status as OutboxStatus } : {}),
          limit: Number(q.limit ?? 200),
        }),
      ),
    );
  });
  route('operatorRetry', async (req, res) => {
    audited(res, `outbox/${idParam(req)}`);
    sendJson(res, answered(await retryMessage(deps.outboxQueue, idParam(req))));
  });
  route('operatorDrop', async (req, res) => {
    audited(res, `outbox/${idParam(req)}`);
    sendJson(res, answered(await dropMessage(deps.outboxQueue, idParam(req))));
  });
  // The patient travels in the body, never in an address.
  const fixParam = parameterCheck('fix', { type: 'boolean' });
  const practiceParam = parameterCheck('practice', { type: 'string', minLength: 1, maxLength: 200 });
  route('operatorReconcile', async (req, res) => {
    const {
      patient,
      fix = false,
      practice,
    } = (req.body ?? {}) as {
      patient?: unknown;
      fix?: unknown;
      practice?: unknown;
    };
    patientParam(patient);
    fixParam(fix);
    if (practice !== undefined) practiceParam(practice);
    audited(res, `Patient/${patient as string}`);
    const deliver = { ...deps, outbox: deps.outboxQueue };
    sendJson(
      res,
      answered(await drift(patient as string, fix as boolean, deliver, practice as string | undefined)),
    );
  });
  route('operatorSync', async (_req, res) => {
    sendJson(res, answered(await syncState(deps.store)));
  });

  const built = loadConsoleAssets();
  const send = (res: Response, asset: { type: string; body: Buffer } | undefined) => {
    if (!asset) throw fail(notFound('The console is not built here (npm run build).'));
    res.writeHead(statusOf(allOk()), {
      'Content-Type': asset.type,
      'Content-Length': asset.body.length,
      'Content-Security-Policy': CONSOLE_CSP,
    });
    res.end(asset.body);
  };
  // The page says whether the identity provider's sign-in is offered (jwt mode with a console client).
  const page =
    built.page && deps.consoleOidc
      ? {
          ...built.page,
          body: Buffer.from(
            built.page.body
              .toString('utf8')
              .replace('</head>', '<meta name="kap-sign-in" content="oidc">\n</head>'),
          ),
        }
      : built.page;
  route('consolePage', async (_req, res) => send(res, page));
  route('consoleAsset', async (req, res) => send(res, built.assets.get(req.params.file as string)));
  route('consoleSignIn', (req, res) => signIn(req, res, deps));
  route('consoleSession', async (req, res) => whoIsSignedIn(req, res, principalOf(res), deps));
  route('consoleSignOut', async (req, res) => signOut(req, res, deps));
  route('consoleOidcSignIn', (req, res) => beginOidcSignIn(req, res, deps));
  route('consoleOidcCallback', (req, res) => finishOidcSignIn(req, res, deps));
  // Whether the EHR confirms a practice's care changes only with the records' counters: each
  // stream's tick reads a patient's record again only when one of them moved.
  const confirmedAt = new Map<string, { counters: string; confirmed: boolean }>();
  route('consoleEvents', (req, res) =>
    deps.consoleStreams.stream(req, res, deps.consoleSessions, () =>
      deps.store.practiceChanges(tenantOf(res), async (ehrPatient, counters) => {
        const key = `${tenantOf(res)}|${ehrPatient}`;
        const known = confirmedAt.get(key);
        if (known?.counters === counters) return known.confirmed;
        const view = await practiceView(
          deps.store,
          ehrPatient,
          tenantOf(res),
          deps.patientLink ?? DEFAULT_PATIENT_LINK,
        );
        if (confirmedAt.size > 100_000) confirmedAt.clear();
        confirmedAt.set(key, { counters, confirmed: view.confirmed });
        return view.confirmed;
      }),
    ),
  );

  // CDS Hooks for the prescriber's EHR (src/cds): discovery, the services, their feedback.
  const note = (event: string, fields: Record<string, string | number>) => deps.log.info(fields, event);
  route('cdsDiscovery', async (_req, res) => {
    sendJson(res, answered(discoveryDocument()));
  });
  route('cdsService', async (req, res) => {
    const answer = await callService(idParam(req), req.body, { ...deps, note });
    audited(res, ...answer.patients);
    sendJson(res, answered({ cards: answer.cards }));
  });
  route('cdsFeedback', async (req, res) => {
    takeFeedback(idParam(req), req.body, { note });
    res.status(statusOf(allOk())).end();
  });

  app.use((_req, _res, next) => next(fail(notFound('There is nothing at this path.'))));

  // The one place an error becomes an answer.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof AuthenticationError || err instanceof ForbiddenError) {
      res.setHeader('WWW-Authenticate', err.challenge);
    }
    const outcome = outcomeOfError(err, deps.bodyLimitBytes);
    if (outcome) return sendOutcome(res, outcome);
    deps.log.error(
      { err: { name: (err as Error)?.name, message: (err as Error)?.message } },
      'unexpected error',
    );
    return sendOutcome(res, serverError('kap-bridge failed to answer; the error is logged.'));
  });

  return app;
}

/** What a thrown error says to the client, as an outcome; undefined for an error nobody foresaw. */
function outcomeOfError(err: unknown, bodyLimitBytes: number): OperationOutcome | undefined {
  if (err instanceof OperationOutcomeError) return err.outcome;
  if (err instanceof EhrError) return ehrFailure(err);
  // A path whose percent-encoding does not decode (express's params, or the FHIR endpoint's segments).
  if (err instanceof URIError) return badRequest('The path is not valid percent-encoding (RFC 3986).');
  const e = err as { type?: string; status?: number; expose?: boolean };
  if (e.type === 'entity.too.large') return tooLarge(`The body is larger than ${bodyLimitBytes} bytes.`);
  if (e.type === 'entity.parse.failed')
    return badRequest([issue('fatal', 'structure', 'The body is not valid JSON.')]);
  // Anything else body-parser refuses as the client's fault (a charset it cannot decode, say).
  if (e.expose && typeof e.status === 'number' && isClientErrorStatus(e.status))
    return outcomeWithStatus(e.status, 'The request could not be read.');
  return undefined;
}

/**
 * Requests Node cannot parse (headers beyond its size limit, a malformed request line) never reach
 * the app; Node would answer them with an empty body. They get an OperationOutcome like any other.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  // An answer already under way on this socket (Node's own check) cannot be followed by another.
  const answering = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent;
  if (err.code === 'ECONNRESET' || !socket.writable || answering) {
    socket.destroy();
    return;
  }
  const outcome =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? headersTooLarge('The request line and headers are larger than kap-bridge reads.')
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? timedOut('The request did not arrive in time.', undefined, 'structure')
        : badRequest('The request is not valid HTTP.', undefined, 'structure');
  const status = statusOf(outcome);
  const body = JSON.stringify(outcome);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: ${FHIR_JSON}\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n${body}`,
  );
}
