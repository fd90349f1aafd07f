import { OutboxMetrics } from './metrics.js';

test('the Prometheus text carries the queue, the counters and the latency histogram', () => {
  const m = new OutboxMetrics();
  m.count('kap_outbox_deliveries_total', { outcome: 'created' }, 3);
  m.count('kap_outbox_failures_total', { outcome: 'retry', kind: 'rate-limited' });
  m.observeEhr('transaction', 0.2);
  m.observeEhr('transaction', 3);
  const text = m.render(
    {
      byStatus: { pending: 2, delivering: 0, delivered: 3, dead: 1 },
      oldestPendingAt: '2026-01-01T00:00:00.000Z',
    },
    Date.parse('2026-01-01T00:01:30.000Z'),
  );
  expect(text).toContain('kap_outbox_messages{status="pending"} 2');
  expect(text).toContain('kap_outbox_messages{status="dead"} 1');
  expect(text).toContain('kap_outbox_oldest_pending_age_seconds 90');
  expect(text).toContain('kap_outbox_deliveries_total{outcome="created"} 3');
  expect(text).toContain('kap_outbox_failures_total{outcome="retry",kind="rate-limited"} 1');
  expect(text).toContain('kap_ehr_request_duration_seconds_bucket{operation="transaction",le="0.25"} 1');
  expect(text).toContain('kap_ehr_request_duration_seconds_bucket{operation="transaction",le="5"} 2');
  expect(text).toContain('kap_ehr_request_duration_seconds_bucket{operation="transaction",le="+Inf"} 2');
  expect(text).toContain('kap_ehr_request_duration_seconds_count{operation="transaction"} 2');
  expect(text).toContain('# TYPE kap_ehr_request_duration_seconds histogram');
  expect(text.endsWith('\n')).toBe(true);
});
