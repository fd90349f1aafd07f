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
import { ConsoleSessions } from './auth/console-sessions.js';
import { type AuthenticateCdsClient, createCdsAuthenticator } from './cds/authentication.js';
import { type Config, ConfigError, inboundAuth } from './config.js';
import type { ReadinessPolicy } from './domain/readiness.js';
import { noAuthentication, staticBearer } from './ehr/authentication.js';
import { BackendServices } from './ehr/backend-services.js';
import { EhrGateway } from './ehr/gateway.js';
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
  /** The console's signed-in people; a one-time sign-in link is a code issued here. */
  consoleSessions: ConsoleSessions;
  /** Runs one catch-up now (or joins the one running). */
  syncNow(): Promise<SyncReport | undefined>;
  close(): Promise<void>;
}

export function ehrGateway(config: Config): EhrGateway | undefined {
  if (!config.ehrBaseUrl) return undefined;
  // loadConfig has checked that what the chosen kind needs is set; the key is checked here, where it
  // is read (a command has run the same check at start, with the other variables).
  const keyProblems = privateKeyCheck(config);
  if (keyProblems.length) throw new ConfigError(keyProblems);
  const auth =
    config.ehrAuth === 'smart-backend'
      ? new BackendServices({
          tokenUrl: config.ehrTokenUrl!,
          clientId: config.ehrClientId!,
          key: readPrivateKey(config.ehrPrivateKeyFile!).key,
          alg: config.ehrSigningAlg!,
          keyId: config.ehrKeyId!,
          scope: config.ehrScopes,
          timeoutMs: config.ehrTimeoutMs,
        })
      : config.ehrAuth === 'bearer'
        ? staticBearer(config.ehrBearerToken!)
        : noAuthentication;
  return new EhrGateway({ baseUrl: config.ehrBaseUrl, timeoutMs: config.ehrTimeoutMs, auth });
}

export const openStore = (config: Config): Promise<Store> =>
  Store.open({
    sqliteFile: config.sqliteFile,
    ...(config.databaseUrl ? { databaseUrl: config.databaseUrl } : {}),
  });

export async function startService(
  config: Config,
  log: Logger = createLogger(config.logLevel),
): Promise<Service> {
  let authenticate: Authenticate;
  try {
    authenticate = createAuthenticator(inboundAuth(config));
  } catch (e) {
    throw new ConfigError([(e as Error).message]);
  }
  let authenticateCds: AuthenticateCdsClient;
  try {
    authenticateCds = createCdsAuthenticator({
      issuers: config.cdsIssuers,
      ...(config.cdsJwks ? { jwks: config.cdsJwks } : {}),
      algorithms: config.authAlgorithms,
    });
  } catch (e) {
    throw new ConfigError([`KAP_CDS_JWKS cannot be read as a JWK Set: ${(e as Error).message}`]);
  }
  const cdsFhirServer = config.cdsFhirServer ?? config.ehrBaseUrl;
  const store = await openStore(config);
  const audit = new AuditTrail(store, log);
  const ehr = ehrGateway(config);
  const validator = createValidator();
  // The contraindication ValueSet is read now: a missing or broken one stops the start.
  loadContraindications();
  const outbox = new Outbox(store);
  const outboxMetrics = new OutboxMetrics();
  // Listen first, so that the address (port 0 picks a free one) is known to the app and the subscriptions.
  // A slow or stalled client cannot hold a connection open: the headers and the whole request each
  // have a limit, checked twice a second (Node checks every 30 s by default, so a limit held late).
  const server: Server = createServer({
    headersTimeout: config.headersTimeoutMs,
    requestTimeout: config.requestTimeoutMs,
    keepAliveTimeout: 5_000,
    connectionsCheckingInterval: 500,
  });
  server.on('clientError', answerClientError);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${config.host}:${port}`;
  const publicBaseUrl = config.publicBaseUrl ?? url;
  const worker = ehr
    ? new OutboxWorker({
        outbox,
        ehr,
        pollMs: config.outboxPollMs,
        maxAttempts: config.outboxMaxAttempts,
        backoffBaseMs: config.outboxBackoffBaseMs,
        backoffMaxMs: config.outboxBackoffMaxMs,
        batchSize: config.outboxBatchSize,
        concurrency: config.outboxConcurrency,
        // Stable across restarts of this instance, so that it takes back at once what it held when killed.
        owner: config.outboxOwner ?? `${hostname()}:${port}`,
        // A lease outlives the slowest EHR request, so a slow answer never lets a second instance in.
        leaseMs: config.outboxLeaseMs ?? Math.max(60_000, 3 * config.ehrTimeoutMs),
        metrics: outboxMetrics,
        audit,
        log,
      })
    : undefined;
  const policy: ReadinessPolicy = {
    systolicMax: config.systolicMax,
    diastolicMax: config.diastolicMax,
    ehrFreshnessHours: config.ehrFreshnessHours,
    timeZone: config.practiceTimeZone,
    clearanceMaxDays: config.clearanceMaxDays,
    requireDispense: config.requireDispense,
    requireIntegration: config.requireIntegration,
  };
  const consoleSessions = new ConsoleSessions(config.consoleIdleMinutes * 60_000);
  const consoleStreams = new ConsoleStreams();
  const app = createApp({
    consoleSessions,
    consoleStreams,
    store,
    validator,
    log,
    policy,
    patientLink: { mode: config.patientLink, practiceSystem: config.practiceIdentifierSystem },
    version: VERSION,
    publicBaseUrl,
    bodyLimitBytes: config.bodyLimitBytes,
    maxBundleEntries: config.maxBundleEntries,
    ...(config.authTokenUrl ? { tokenUrl: config.authTokenUrl } : {}),
    timeZone: config.practiceTimeZone,
    authenticate,
    audit,
    rateLimitPerSecond: config.rateLimitPerSecond,
    metrics: async () => outboxMetrics.render(await outbox.depth()),
    outbox: { enqueue, ehrRefOf: (type, identifier) => outbox.ehrRefOf(type, identifier) },
    ...(ehr ? { ehr, fetchFromEhr: (type: string, id: string) => ehr.read(type as never, id) } : {}),
    ...(config.subscriptionSecret ? { subscriptionSecret: config.subscriptionSecret } : {}),
    authenticateCds,
    ...(cdsFhirServer ? { cdsFhirServer } : {}),
  });
  server.on('request', app);
  log.info({ url, engine: store.engine, ehr: config.ehrBaseUrl ?? null }, 'kap-bridge listening');

  let subscribed = false;
  const subscribe = async () => {
    if (!ehr || !config.subscribeOnStart || !config.subscriptionSecret || subscribed) return;
    const endpoint = `${publicBaseUrl}/fhir`;
    try {
      const result = await registerSubscriptions(ehr, {
        endpoint,
        secret: config.subscriptionSecret,
        types: KEPT_TYPES,
      });
      subscribed = true;
      log.info({ subscriptions: result.map((r) => `${r.type}:${r.action}`) }, 'subscriptions registered');
    } catch (e) {
      log.warn(
        { err: { message: (e as Error).message } },
        'subscriptions not registered yet; retried with the next catch-up',
      );
    }
  };

  let running: Promise<SyncReport | undefined> | undefined;
  const syncNow = (): Promise<SyncReport | undefined> => {
    if (!ehr) return Promise.resolve(undefined);
    running ??= (async () => {
      await subscribe();
      try {
        const report = await catchUp({
          ehr,
          store,
          validator,
          overlapSeconds: config.syncOverlapSeconds,
          onRejected: (r, e) =>
            log.warn(
              { resource: `${r.resourceType}/${r.id}`, status: statusOf(e.outcome) },
              'EHR resource rejected',
            ),
        });
        log.info(
          { fetched: report.fetched, stored: report.stored, rejected: report.rejected },
          'catch-up done',
        );
        return report;
      } catch (e) {
        log.warn({ err: { message: (e as Error).message } }, 'catch-up failed; retried at the next interval');
        return undefined;
      } finally {
        running = undefined;
      }
    })();
    return running;
  };

  const timer =
    config.syncIntervalSeconds > 0
      ? setInterval(() => void syncNow(), config.syncIntervalSeconds * 1000)
      : undefined;
  if (ehr) void syncNow();
  worker?.start();

  return {
    url,
    store,
    ...(ehr ? { ehr } : {}),
    outbox,
    syncNow,
    consoleSessions,
    async close() {
      if (timer) clearInterval(timer);
      consoleStreams.closeAll();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await running;
      await worker?.stop();
      await audit.flushed();
      await store.close();
      log.info('kap-bridge stopped');
    },
  };
}
