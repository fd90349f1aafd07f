/**
 * The outbox's Prometheus metrics, in the text exposition format (version 0.0.4): queue depth by
 * status and the oldest undelivered message's age (read from the store at scrape time), delivery
 * and failure counters, and a histogram of the EHR requests the worker makes. Counters and the
 * histogram are per process; the queue figures are the shared database's.
 */
import type { OutboxStatus } from './outbox.js';

const BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

type Labels = Record<string, string>;
const labelText = (labels: Labels): string => {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, '_')}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
};

const COUNTERS = {
  kap_outbox_deliveries_total:
    'Changes the EHR accepted, by outcome (created, matched an existing one, updated)',
  kap_outbox_failures_total:
    'Failed delivery attempts, by outcome (retry, dead, conflict) and EHR error kind',
} as const;
export type CounterName = keyof typeof COUNTERS;

export class OutboxMetrics {
  private readonly counters = new Map<CounterName, Map<string, number>>();
  private readonly latency = new Map<string, { buckets: number[]; sum: number; count: number }>();

  count(name: CounterName, labels: Labels, n = 1): void {
    const series = this.counters.get(name) ?? new Map<string, number>();
    this.counters.set(name, series);
    const key = labelText(labels);
    series.set(key, (series.get(key) ?? 0) + n);
  }

  /** One EHR request's duration. */
  observeEhr(operation: string, seconds: number): void {
    const key = labelText({ operation });
    const h = this.latency.get(key) ?? { buckets: BUCKETS.map(() => 0), sum: 0, count: 0 };
    this.latency.set(key, h);
    BUCKETS.forEach((le, i) => {
      if (seconds <= le) h.buckets[i] = (h.buckets[i] ?? 0) + 1;
    });
    h.sum += seconds;
    h.count += 1;
  }

  /** Times an EHR request, whether it succeeds or fails. */
  async timed<T>(operation: string, request: () => Promise<T>): Promise<T> {
    const started = process.hrtime.bigint();
    try {
      return await request();
    } finally {
      this.observeEhr(operation, Number(process.hrtime.bigint() - started) / 1e9);
    }
  }

  render(
    depth: { byStatus: Record<OutboxStatus, number>; oldestPendingAt?: string },
    now = Date.now(),
  ): string {
    const lines = [
      '# HELP kap_outbox_messages Outbox messages by status',
      '# TYPE kap_outbox_messages gauge',
      ...Object.entries(depth.byStatus).map(
        ([status, n]) => `kap_outbox_messages${labelText({ status })} ${n}`,
      ),
      '# HELP kap_outbox_oldest_pending_age_seconds Age of the oldest message not yet delivered (0 when none)',
      '# TYPE kap_outbox_oldest_pending_age_seconds gauge',
      `kap_outbox_oldest_pending_age_seconds ${
        depth.oldestPendingAt ? Math.max(0, (now - Date.parse(depth.oldestPendingAt)) / 1000) : 0
      }`,
    ];
    for (const [name, help] of Object.entries(COUNTERS) as [CounterName, string][]) {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
      for (const [labels, n] of this.counters.get(name) ?? []) lines.push(`${name}${labels} ${n}`);
    }
    const h = 'kap_ehr_request_duration_seconds';
    lines.push(`# HELP ${h} Duration of the EHR requests the outbox worker makes`, `# TYPE ${h} histogram`);
    for (const [labels, v] of this.latency) {
      const inner = labels.slice(1, -1);
      for (const [i, le] of BUCKETS.entries()) lines.push(`${h}_bucket{${inner},le="${le}"} ${v.buckets[i]}`);
      lines.push(
        `${h}_bucket{${inner},le="+Inf"} ${v.count}`,
        `${h}_sum${labels} ${v.sum}`,
        `${h}_count${labels} ${v.count}`,
      );
    }
    return `${lines.join('\n')}\n`;
  }
}
