/**
 * The running service: store, EHR gateway, validator and HTTP app put together from one Config;
 * subscriptions registered at start; the periodic catch-up; a clean stop that lets in-flight
 * requests finish and closes the store last.
 */

import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { AuditTrail } from './audit/trail.js';
import { type Authenticate, createAuthenticator } from './auth/authentication.js';
import { ConsoleOidc } from './auth/console-oidc.js';
import { ConsoleSessions } from './auth/console-sessions.js';
import { type AuthenticateCdsClient, createCdsAuthenticator } from './cds/authentication.js';
import { storeTokenLedger } from './cds/token-ledger.js';
import { type Config, ConfigError } from './config.js';
import { DEFAULT_MEDICINE_POLICY } from './domain/medicine-session.js';
import { noAuthentication, staticBearer } from './ehr/authentication.js';
import { BackendServices } from './ehr/backend-services.js';
import type { EhrConfig } from './ehr/config.js';
import { type EhrCall, EhrGateway } from './ehr/gateway.js';
import { privateKeyCheck } from './ehr/private-key-check.js';
import { readPrivateKey } from './ehr/signing-key.js';
import { registerSubscriptions } from './ehr/subscriptions.js';
import { statusOf } from './fhir/outcome.js';
import { answerClientError, createApp } from './http/app.js';
import { ConsoleStreams } from './http/console.js';
import { KEPT_TYPES } from './intake.js';
import { createLogger, type Logger } from './log.js';
import { loadContraindications } from './mapping/contraindications.js';
import { OutboxMetrics } from './outbox/metrics.js';
import { enqueue, Outbox } from './outbox/outbox.js';
import { OutboxWorker } from './outbox/worker.js';
import { Store } from './store/store.js';
import { catchUp, type SyncReport } from './sync.js';
import { Metrics } from './telemetry/metrics.js';
import { startTracing } from './telemetry/tracing.js';
import { createValidator } from './validation/validator.js';

export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

export interface Service {
  /** Where the service listens, e.g. http://127.0.0.1:8080. */
  url: string;
  store: Store;
  ehr?: EhrGateway;
  outbox: Outbox;
  metrics: Metrics;
  /** The console's signed-in people; a one-time sign-in link is a code issued here. */
  consoleSessions: ConsoleSessions;
  /** Runs one catch-up now (or joins the one running). */
  syncNow(): Promise<SyncReport | undefined>;
  close(): Promise<void>;
}

export function ehrGateway(config: EhrConfig, observer?: (call: EhrCall) => void): EhrGateway | undefined {
  if (!config.baseUrl) return undefined;
  // loadConfig has checked that what the chosen kind needs is set; the key is checked here, where it
  // is read (a command has run the same check at start, with the other variables).
  const keyProblems = privateKeyCheck(config);
  if (keyProblems.length) throw new ConfigError(keyProblems);
  const auth =
    config.auth === 'smart-backend'
      ? new BackendServices({
          tokenUrl: config.tokenUrl!,
          clientId: config.clientId!,
          key: readPrivateKey(config.privateKeyFile!).key,
          alg: config.signingAlg!,
          keyId: config.keyId!,
          scope: config.scopes,
          timeoutMs: config.timeoutMs,
        })
      : config.auth === 'bearer'
        ? staticBearer(config.bearerToken!)
        : noAuthentication;
  return new EhrGateway({
    baseUrl: config.baseUrl,
    timeoutMs: config.timeoutMs,
    auth,
    ...(observer ? { observer } : {}),
  });
}

export async function startService(
  config: Config,
  log: Logger = createLogger(config.telemetry.logLevel),
): Promise<Service> {
  let authenticate: Authenticate;
  try {
    authenticate = createAuthenticator(config.auth);
  } catch (e) {
    throw new ConfigError([(e as Error).message]);
  }
  const { http, ehr: ehrConfig, sync, outbox: outboxConfig, cds } = config;
  const tracing = config.telemetry.otlpEndpoint
    ? startTracing({ endpoint: config.telemetry.otlpEndpoint, version: VERSION })
    : undefined;
  const store = await Store.open(config.store);
  let authenticateCds: AuthenticateCdsClient;
  try {
    authenticateCds = createCdsAuthenticator(
      {
        issuers: cds.issuers,
        ...(cds.jwks ? { jwks: cds.jwks } : {}),
        algorithms: config.auth.algorithms,
      },
      storeTokenLedger(store),
    );
  } catch (e) {
    await store.close();
    throw new ConfigError([`KAP_CDS_JWKS cannot be read as a JWK Set: ${(e as Error).message}`]);
  }
  const cdsFhirServer = cds.fhirServer ?? ehrConfig.baseUrl;
  const audit = new AuditTrail(store, log);
  const metrics = new Metrics();
  // The EHR's state comes from the requests kap-bridge makes anyway: metrics, and a log line when it changes.
  let ehrUp: boolean | undefined;
  const ehr = ehrGateway(ehrConfig, (call) => {
    metrics.ehrDuration.observe({ operation: call.operation }, call.seconds);
    metrics.ehrRequests.inc({ operation: call.operation, outcome: call.outcome });
    metrics.ehrUp.set(call.up ? 1 : 0);
    if (call.up !== ehrUp) {
      if (call.up) log.info({ operation: call.operation }, 'the EHR answers');
      else log.warn({ operation: call.operation, kind: call.outcome }, 'the EHR is failing');
      ehrUp = call.up;
    }
  });
  const validator = createValidator();
  // The contraindication ValueSet is read now: a missing or broken one stops the start.
  loadContraindications();
  const outbox = new Outbox(store);
  const outboxMetrics = new OutboxMetrics(metrics.registry, () => outbox.depth());
  // Listen first, so that the address (port 0 picks a free one) is known to the app and the subscriptions.
  // A slow or stalled client cannot hold a connection open: the headers and the whole request each
  // have a limit, checked twice a second (Node checks every 30 s by default, so a limit held late).
  const server: Server = createServer({
    headersTimeout: http.headersTimeoutMs,
    requestTimeout: http.requestTimeoutMs,
    keepAliveTimeout: 5_000,
    connectionsCheckingInterval: 500,
  });
  server.on('clientError', answerClientError);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(http.port, http.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${http.host}:${port}`;
  const publicBaseUrl = http.publicBaseUrl ?? url;
  const worker = ehr
    ? new OutboxWorker({
        ...outboxConfig,
        outbox,
        ehr,
        // Stable across restarts of this instance, so that it takes back at once what it held when killed.
        owner: outboxConfig.owner ?? `${hostname()}:${port}`,
        // A lease outlives the slowest EHR request, so a slow answer never lets a second instance in.
        leaseMs: outboxConfig.leaseMs ?? Math.max(60_000, 3 * ehrConfig.timeoutMs),
        metrics: outboxMetrics,
        audit,
        log,
        practiceSystem: config.patientLink.practiceSystem,
      })
    : undefined;
  const consoleSessions = new ConsoleSessions(config.auth.consoleIdleMinutes * 60_000);
  const { auth } = config;
  const consoleOidc =
    auth.mode === 'jwt' && auth.consoleOidcClientId && auth.issuer
      ? new ConsoleOidc(
          {
            issuer: auth.issuer,
            clientId: auth.consoleOidcClientId,
            ...(auth.consoleOidcClientSecret ? { clientSecret: auth.consoleOidcClientSecret } : {}),
            redirectUrl: auth.consoleOidcRedirectUrl ?? `${publicBaseUrl}/console/oidc/callback`,
            scope: auth.consoleOidcScope,
            tenantClaim: auth.tenantClaim,
          },
          authenticate,
        )
      : undefined;
  const consoleStreams = new ConsoleStreams();
  const app = createApp({
    consoleSessions,
    ...(consoleOidc ? { consoleOidc } : {}),
    consoleStreams,
    outboxQueue: outbox,
    store,
    validator,
    log,
    policy: config.readiness,
    medicine: { ...DEFAULT_MEDICINE_POLICY, ...config.medicine },
    patientLink: config.patientLink,
    version: VERSION,
    publicBaseUrl,
    bodyLimitBytes: http.bodyLimitBytes,
    maxBundleEntries: http.maxBundleEntries,
    ...(config.auth.tokenUrl ? { tokenUrl: config.auth.tokenUrl } : {}),
    timeZone: config.readiness.timeZone,
    authenticate,
    audit,
    rateLimitPerSecond: http.rateLimitPerSecond,
    metrics,
    probes: {
      notReady: async () => {
        await store.ping();
        return (await store.schemaCurrent()) ? undefined : 'schema-not-current';
      },
      health: () => ({
        ehr: ehr ? ehr.health() : { state: 'not configured' },
        subscriptions:
          !ehr || !sync.subscribeOnStart || !sync.subscriptionSecret
            ? 'off'
            : subscribed
              ? 'registered'
              : 'pending',
        lastSyncAt: lastSyncAt ?? null,
      }),
    },
    onIntake: (type, outcome) => metrics.intake.inc({ type, outcome, path: 'push' }),
    outbox: { enqueue, ehrRefOf: (type, identifier) => outbox.ehrRefOf(type, identifier) },
    ...(ehr ? { ehr, fetchFromEhr: (type: string, id: string) => ehr.read(type as never, id) } : {}),
    ...(sync.subscriptionSecret ? { subscriptionSecret: sync.subscriptionSecret } : {}),
    authenticateCds,
    ...(cdsFhirServer ? { cdsFhirServer } : {}),
    cdsCorsOrigins: cds.corsOrigins,
  });
  server.on('request', app);
  log.info({ url, engine: store.engine, ehr: ehrConfig.baseUrl ?? null }, 'kap-bridge listening');

  // Registration at start is retried with backoff until it succeeds (or the service stops), not left
  // until the next catch-up: notifications are the fast path, and the EHR may start after us.
  let subscribed = false;
  let lastSyncAt: string | undefined;
  let subscribeTimer: NodeJS.Timeout | undefined;
  let closing = false;
  const wantsSubscriptions = Boolean(ehr && sync.subscribeOnStart && sync.subscriptionSecret);
  metrics.subscriptionsRegistered.set(0);
  let subscribing: Promise<boolean> | undefined;
  // One registration at a time: the start's retries and a catch-up may both ask.
  const subscribe = (): Promise<boolean> => {
    subscribing ??= register().finally(() => {
      subscribing = undefined;
    });
    return subscribing;
  };
  const register = async (): Promise<boolean> => {
    if (!ehr || !wantsSubscriptions || subscribed) return subscribed;
    const endpoint = `${publicBaseUrl}/fhir`;
    try {
      const result = await registerSubscriptions(ehr, {
        endpoint,
        secret: sync.subscriptionSecret!,
        types: KEPT_TYPES,
      });
      subscribed = true;
      metrics.subscriptionAttempts.inc({ outcome: 'ok' });
      metrics.subscriptionsRegistered.set(1);
      log.info({ subscriptions: result.map((r) => `${r.type}:${r.action}`) }, 'subscriptions registered');
    } catch (e) {
      metrics.subscriptionAttempts.inc({ outcome: 'failed' });
      log.warn(
        { err: { name: (e as Error).name, message: (e as Error).message } },
        'subscriptions not registered yet',
      );
    }
    return subscribed;
  };
  const subscribeWithBackoff = (attempt: number): void => {
    void subscribe().then((done) => {
      if (done || closing) return;
      const delay = Math.min(sync.subscribeRetryMaxMs, sync.subscribeRetryBaseMs * 2 ** attempt);
      log.info({ retryInMs: delay, attempt: attempt + 1 }, 'subscription registration retried with backoff');
      subscribeTimer = setTimeout(() => subscribeWithBackoff(attempt + 1), delay);
      subscribeTimer.unref();
    });
  };

  let running: Promise<SyncReport | undefined> | undefined;
  const syncNow = (): Promise<SyncReport | undefined> => {
    if (!ehr) return Promise.resolve(undefined);
    running ??= (async () => {
      await subscribe();
      const started = performance.now();
      try {
        const report = await catchUp({
          ehr,
          store,
          validator,
          overlapSeconds: sync.overlapSeconds,
          onRejected: (r, e) =>
            log.warn(
              { resource: `${r.resourceType}/${r.id}`, status: statusOf(e.outcome) },
              'EHR resource rejected',
            ),
          onIntake: (type, outcome) => metrics.intake.inc({ type, outcome, path: 'catch-up' }),
        });
        log.info(
          { fetched: report.fetched, stored: report.stored, rejected: report.rejected },
          'catch-up done',
        );
        metrics.syncDuration.observe({ outcome: 'ok' }, (performance.now() - started) / 1000);
        metrics.syncResources.inc({ outcome: 'stored' }, report.stored);
        metrics.syncResources.inc({ outcome: 'unchanged' }, report.unchanged);
        metrics.syncResources.inc({ outcome: 'rejected' }, report.rejected);
        lastSyncAt = new Date().toISOString();
        metrics.syncLastSuccess.set(Date.parse(lastSyncAt) / 1000);
        return report;
      } catch (e) {
        metrics.syncDuration.observe({ outcome: 'failed' }, (performance.now() - started) / 1000);
        log.warn({ err: { message: (e as Error).message } }, 'catch-up failed; retried at the next interval');
        return undefined;
      } finally {
        running = undefined;
      }
    })();
    return running;
  };

  const timer =
    sync.intervalSeconds > 0 ? setInterval(() => void syncNow(), sync.intervalSeconds * 1000) : undefined;
  if (wantsSubscriptions) subscribeWithBackoff(0);
  if (ehr) void syncNow();
  worker?.start();

  return {
    url,
    store,
    ...(ehr ? { ehr } : {}),
    outbox,
    syncNow,
    metrics,
    consoleSessions,
    async close() {
      closing = true;
      if (timer) clearInterval(timer);
      if (subscribeTimer) clearTimeout(subscribeTimer);
      consoleStreams.closeAll();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await running;
      await worker?.stop();
      await audit.flushed();
      await store.close();
      await tracing?.shutdown();
      log.info('kap-bridge stopped');
    },
  };
}
