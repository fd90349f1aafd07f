/**
 * All HTTP in one place: express translates requests to the transport-free handlers of
 * src/fhir-endpoint and src/api, and every error to an OperationOutcome with its status. No stack
 * trace reaches a client; no body reaches the log.
 */
import { randomUUID, timingSafeEqual } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Resource } from 'fhir/r4';
import { recordConsent } from '../api/consents.js';
import { recordDose } from '../api/doses.js';
import { readinessOfEpisode, registerEpisode } from '../api/episodes.js';
import { recordObservation } from '../api/observations.js';
import { ID_PATTERN, openApiDocument } from '../api/openapi.js';
import { getPatient, medicationStatus, type PatientsDeps, registerPatient } from '../api/patients.js';
import type { CourseOutbox } from '../api/recording.js';
import { requestClearance } from '../api/referrals.js';
import { checkAgainst, parameterCheck } from '../api/request-validation.js';
import { moveSession, scheduleSession } from '../api/sessions.js';
import { episodeTimeline } from '../api/timeline.js';
import { EhrError } from '../ehr/gateway.js';
import { issue, OperationOutcomeError, toOutcome } from '../fhir/outcome.js';
import { type FhirEndpointDeps, handleFhir } from '../fhir-endpoint/handler.js';
import type { Logger } from '../log.js';
import { reconciliation } from '../reconcile.js';

export interface AppDeps extends FhirEndpointDeps, PatientsDeps {
  log: Logger;
  bodyLimitBytes: number;
  /** Where the therapist API's writes are queued for the EHR (src/outbox). */
  outbox: CourseOutbox;
  /** When set, every write to /fhir must carry it in X-Kap-Subscription-Secret. */
  subscriptionSecret?: string;
  /** Prometheus text for /metrics. */
  metrics?: () => Promise<string>;
}

const FHIR_JSON = 'application/fhir+json';

function sendOutcome(res: Response, status: number, outcome: object): void {
  res.status(status).type(FHIR_JSON).send(JSON.stringify(outcome));
}

/**
 * JSON for the hot read routes, without res.json's charset negotiation, ETag and freshness checks
 * (ETags are off, answers are no-store): about 8% of the server's CPU per medication-status answer.
 */
function sendJson(res: Response, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(200, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

const fail = (status: number, code: Parameters<typeof issue>[1], message: string, expression?: string) =>
  new OperationOutcomeError(status, [issue('error', code, message, expression)]);

const sameSecret = (given: string | undefined, expected: string): boolean => {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
};

/** Express 4 does not pass a rejected promise on: every async route goes through here. */
const answer =
  (handle: (req: Request, res: Response) => Promise<unknown>) =>
  (req: Request, res: Response, next: NextFunction): void => {
    handle(req, res).catch(next);
  };

const sentBody = (req: Request): boolean =>
  Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;

/** Only JSON bodies are accepted; a PUT or POST with anything else is a 415. */
function requireJson(req: Request, _res: Response, next: NextFunction): void {
  if (
    (req.method === 'PUT' || req.method === 'POST') &&
    sentBody(req) &&
    !req.is(['application/json', FHIR_JSON])
  ) {
    next(
      fail(
        415,
        'not-supported',
        `Send ${FHIR_JSON} (or application/json); got ${req.headers['content-type'] ?? 'no content type'}.`,
      ),
    );
    return;
  }
  next();
}

export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  // Answers are computed per request and marked no-store; hashing each body for an ETag buys nothing.
  app.set('etag', false);
  app.set('query parser', 'simple');

  app.use((req, res, next) => {
    const id = randomUUID();
    const started = process.hrtime.bigint();
    res.setHeader('X-Request-Id', id);
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      deps.log.info(
        {
          requestId: id,
          method: req.method,
          path: req.path,
          status: res.statusCode,
          ms: Math.round(ms * 10) / 10,
        },
        'request',
      );
    });
    next();
  });
  app.use((_req, res, next) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Cache-Control', 'no-store');
    next();
  });

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    const checks: Record<string, unknown> = {};
    let ready = true;
    try {
      await deps.store.ping();
      checks.store = 'ok';
    } catch {
      checks.store = 'unreachable';
      ready = false;
    }
    if (deps.ehr) {
      try {
        await deps.ehr.capabilities();
        checks.ehr = 'ok';
      } catch (e) {
        checks.ehr = e instanceof EhrError ? e.kind : 'unreachable';
        ready = false;
      }
    } else {
      checks.ehr = 'not configured';
    }
    checks.ehrLastHeardAt = (await deps.store.getCheckpoint('ehr:last-heard').catch(() => undefined)) ?? null;
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', checks });
  });

  app.get(
    '/metrics',
    answer(async (_req, res) => {
      if (!deps.metrics) throw fail(404, 'not-found', 'Metrics are not enabled.');
      res.type('text/plain; version=0.0.4').send(await deps.metrics());
    }),
  );

  const json = express.json({
    limit: deps.bodyLimitBytes,
    type: ['application/json', FHIR_JSON],
    strict: false,
  });

  app.use(
    '/fhir',
    requireJson,
    json,
    answer(async (req, res) => {
      if (req.method !== 'GET' && deps.subscriptionSecret !== undefined) {
        if (!sameSecret(req.header('x-kap-subscription-secret'), deps.subscriptionSecret)) {
          throw fail(401, 'login', 'This endpoint needs the shared secret in X-Kap-Subscription-Secret.');
        }
      }
      const segments = req.path.split('/').filter(Boolean).map(decodeURIComponent);
      const body = sentBody(req) ? req.body : undefined;
      const answer = await handleFhir(
        {
          method: req.method,
          segments,
          body,
          ...(req.headers['if-match'] ? { ifMatch: req.headers['if-match'] } : {}),
        },
        deps,
      );
      for (const [k, v] of Object.entries(answer.headers ?? {})) res.setHeader(k, v);
      res
        .status(answer.status)
        .type(FHIR_JSON)
        .send(JSON.stringify(answer.resource satisfies Resource));
    }),
  );

  const api = express.Router();
  api.use(requireJson, json);
  api.get('/openapi.json', (_req, res) => {
    res.json(openApiDocument);
  });
  const checkId = parameterCheck('id', { type: 'string', pattern: ID_PATTERN });
  const checkDate = parameterCheck('date', { type: 'string', format: 'date' });
  const idParam = (req: Request): string => {
    const id = req.params.id;
    checkId(id);
    return id as string;
  };
  const dateParam = (req: Request): string | undefined => {
    const date = req.query.date;
    if (date !== undefined) checkDate(date);
    return date as string | undefined;
  };
  api.post(
    '/patients',
    answer(async (req, res) => {
      checkAgainst('PatientRegistration', req.body);
      const { created, patient } = await registerPatient(req.body, deps);
      res
        .status(created ? 201 : 200)
        .location(`/api/v1/patients/${patient.id}`)
        .json(patient);
    }),
  );
  api.get(
    '/patients/:id',
    answer(async (req, res) => {
      res.json(await getPatient(idParam(req), deps));
    }),
  );
  api.get(
    '/patients/:id/medication-status',
    answer(async (req, res) => {
      sendJson(res, await medicationStatus(idParam(req), dateParam(req), deps));
    }),
  );
  api.get(
    '/patients/:id/reconcile',
    answer(async (req, res) => {
      res.json(await reconciliation(idParam(req), deps));
    }),
  );
  api.post(
    '/episodes',
    answer(async (req, res) => {
      checkAgainst('EpisodeRegistration', req.body);
      const episode = await registerEpisode(req.body, deps);
      res.status(201).location(`/api/v1/episodes/${episode.id}`).json(episode);
    }),
  );
  api.get(
    '/episodes/:id',
    answer(async (req, res) => {
      res.json(await episodeTimeline(idParam(req), dateParam(req), deps));
    }),
  );
  api.get(
    '/episodes/:id/readiness',
    answer(async (req, res) => {
      res.json(await readinessOfEpisode(idParam(req), dateParam(req), deps));
    }),
  );
  /** A write on the course: the body checked against its schema, the answer what was recorded and its FHIR source. */
  const recordingRoute = (
    path: string,
    schema: string,
    write: (id: string, body: never) => Promise<object>,
    status = 201,
  ) =>
    api.post(
      path,
      answer(async (req, res) => {
        const id = idParam(req);
        const body = sentBody(req) ? req.body : {};
        checkAgainst(schema, body);
        res.status(status).json(await write(id, body as never));
      }),
    );
  recordingRoute('/episodes/:id/consents', 'ConsentRecording', (id, b) => recordConsent(id, b, deps));
  recordingRoute('/episodes/:id/sessions', 'SessionScheduling', (id, b) => scheduleSession(id, b, deps));
  for (const action of ['start', 'complete', 'cancel'] as const) {
    recordingRoute(
      `/sessions/:id/${action}`,
      'SessionMove',
      (id, b) => moveSession(id, action, b, deps),
      200,
    );
  }
  recordingRoute('/sessions/:id/doses', 'DoseRecording', (id, b) => recordDose(id, b, deps));
  recordingRoute('/patients/:id/observations', 'ObservationRecording', (id, b) =>
    recordObservation(id, b, deps),
  );
  recordingRoute('/patients/:id/referrals', 'ReferralRecording', (id, b) => requestClearance(id, b, deps));
  app.use('/api/v1', api);

  app.use((_req, _res, next) => next(fail(404, 'not-found', 'There is nothing at this path.')));

  // The one place an error becomes an answer.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof OperationOutcomeError) return sendOutcome(res, err.status, err.outcome);
    if (err instanceof EhrError) {
      const status =
        err.kind === 'network' || err.kind === 'unavailable' || err.kind === 'rate-limited' ? 503 : 502;
      return sendOutcome(
        res,
        status,
        toOutcome([issue('error', 'transient', `The prescriber's EHR could not answer: ${err.kind}.`)]),
      );
    }
    const e = err as { type?: string; status?: number; expose?: boolean };
    if (e.type === 'entity.too.large') {
      return sendOutcome(
        res,
        413,
        toOutcome([issue('error', 'too-costly', `The body is larger than ${deps.bodyLimitBytes} bytes.`)]),
      );
    }
    if (e.type === 'entity.parse.failed') {
      return sendOutcome(res, 400, toOutcome([issue('fatal', 'structure', 'The body is not valid JSON.')]));
    }
    if (e.expose && typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
      return sendOutcome(
        res,
        e.status,
        toOutcome([issue('error', 'invalid', 'The request could not be read.')]),
      );
    }
    deps.log.error(
      { err: { name: (err as Error)?.name, message: (err as Error)?.message } },
      'unexpected error',
    );
    return sendOutcome(
      res,
      500,
      toOutcome([issue('error', 'exception', 'kap-bridge failed to answer; the error is logged.')]),
    );
  });

  return app;
}
