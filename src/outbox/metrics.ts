/**
 * The outbox's Prometheus metrics (prom-client, on the service's registry): queue depth by status and
 * the oldest undelivered message's age, read from the store at scrape time, and the delivery and
 * failure counters. Counters are per process; the queue figures are the shared database's. The
 * EHR requests the worker makes are timed by the gateway, with every other EHR request
 * (`kap_ehr_request_duration_seconds`).
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { OutboxStatus } from './outbox.js';

export type OutboxDepth = { byStatus: Record<OutboxStatus, number>; oldestPendingAt?: string };

export class OutboxMetrics {
  readonly deliveries: Counter<'outcome'>;
  readonly failures: Counter<'outcome' | 'kind'>;

  constructor(
    private readonly registry: Registry,
    depth: () => Promise<OutboxDepth>,
    now: () => number = Date.now,
  ) {
    // Both gauges come from one read of the store per scrape.
    let reading: Promise<OutboxDepth> | undefined;
    const read = (): Promise<OutboxDepth> => {
      reading ??= depth().finally(() => setTimeout(() => (reading = undefined), 0));
      return reading;
    };
    new Gauge({
      name: 'kap_outbox_messages',
      help: 'Outbox messages by status',
      labelNames: ['status'] as const,
      registers: [registry],
      async collect() {
        for (const [status, n] of Object.entries((await read()).byStatus)) this.set({ status }, n);
      },
    });
    new Gauge({
      name: 'kap_outbox_oldest_pending_age_seconds',
      help: 'Age of the oldest message not yet delivered (0 when none)',
      registers: [registry],
      async collect() {
        const oldest = (await read()).oldestPendingAt;
        this.set(oldest ? Math.max(0, (now() - Date.parse(oldest)) / 1000) : 0);
      },
    });
    this.deliveries = new Counter({
      name: 'kap_outbox_deliveries_total',
      help: 'Changes the EHR accepted, by outcome (created, matched an existing one, updated)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    });
    this.failures = new Counter({
      name: 'kap_outbox_failures_total',
      help: 'Failed delivery attempts, by outcome (retry, dead, conflict) and EHR error kind',
      labelNames: ['outcome', 'kind'] as const,
      registers: [registry],
    });
  }

  /** The Prometheus text of the registry these are on. */
  render(): Promise<string> {
    return this.registry.metrics();
  }
}
