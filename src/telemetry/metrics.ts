/**
 * kap-bridge's Prometheus metrics, one registry per running service (prom-client): the default
 * process metrics; HTTP request durations by route template and status; intake by type and outcome;
 * catch-up sync; subscriptions; readiness answers by verdict and reason code; every EHR request by
 * operation and outcome; and the outbox's own (src/outbox/metrics.ts), registered here too.
 * Label values are the route table's templates, FHIR type names and codes: never an id or a name.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** Seconds, from a fast local answer to the EHR timeout. */
export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class Metrics {
  readonly registry = new Registry();
  readonly contentType = this.registry.contentType;

  readonly httpDuration = new Histogram({
    name: 'kap_http_request_duration_seconds',
    help: 'HTTP requests answered, by method, route template and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });

  readonly intake = new Counter({
    name: 'kap_intake_resources_total',
    help: 'EHR resources taken in, by type, outcome (stored, duplicate, stale, acknowledged, rejected) and path (push, catch-up)',
    labelNames: ['type', 'outcome', 'path'] as const,
    registers: [this.registry],
  });

  readonly syncDuration = new Histogram({
    name: 'kap_sync_duration_seconds',
    help: 'Catch-up sync runs, by outcome (ok, failed)',
    labelNames: ['outcome'] as const,
    buckets: [0.1, 0.5, 1, 5, 10, 30, 60, 300, 900],
    registers: [this.registry],
  });

  readonly syncResources = new Counter({
    name: 'kap_sync_resources_total',
    help: 'Resources read by catch-up sync, by outcome (stored, unchanged, rejected)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly syncLastSuccess = new Gauge({
    name: 'kap_sync_last_success_timestamp_seconds',
    help: 'When the last catch-up sync finished without error (Unix time; 0 before the first)',
    registers: [this.registry],
  });

  readonly subscriptionsRegistered = new Gauge({
    name: 'kap_subscriptions_registered',
    help: 'Whether the REST-hook Subscriptions are registered in the EHR (1) or not yet (0)',
    registers: [this.registry],
  });

  readonly subscriptionAttempts = new Counter({
    name: 'kap_subscription_registrations_total',
    help: 'Attempts to register the REST-hook Subscriptions, by outcome (ok, failed)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly notifications = new Counter({
    name: 'kap_subscription_notifications_total',
    help: 'REST-hook notifications received from the EHR, by status answered',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });

  readonly readiness = new Counter({
    name: 'kap_readiness_answers_total',
    help: 'Readiness answers given, by verdict (ready, pending-day-of-checks, not-ready)',
    labelNames: ['verdict'] as const,
    registers: [this.registry],
  });

  readonly readinessReasons = new Counter({
    name: 'kap_readiness_reasons_total',
    help: 'Reasons given in readiness answers, by verdict and reason code',
    labelNames: ['verdict', 'code'] as const,
    registers: [this.registry],
  });

  readonly readyz = new Counter({
    name: 'kap_readyz_answers_total',
    help: 'Answers of the /readyz probe, by verdict (ready, not-ready) and reason code',
    labelNames: ['verdict', 'reason'] as const,
    registers: [this.registry],
  });

  readonly ehrDuration = new Histogram({
    name: 'kap_ehr_request_duration_seconds',
    help: 'EHR requests, by operation (read, search, transaction, ...), whoever made them',
    labelNames: ['operation'] as const,
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });

  readonly ehrRequests = new Counter({
    name: 'kap_ehr_requests_total',
    help: 'EHR requests, by operation and outcome (ok, or the EhrError kind)',
    labelNames: ['operation', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly ehrUp = new Gauge({
    name: 'kap_ehr_up',
    help: 'Whether the last EHR request got an answer from the EHR (1), failed to reach it or found it failing (0); absent before the first',
    registers: [this.registry],
  });

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** The Prometheus text exposition of everything registered. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  /** A readiness answer: its verdict and each reason's code. */
  countReadiness(answer: { verdict: string; reasons: readonly { code: string }[] }): void {
    this.readiness.inc({ verdict: answer.verdict });
    for (const r of answer.reasons) this.readinessReasons.inc({ verdict: answer.verdict, code: r.code });
  }
}
