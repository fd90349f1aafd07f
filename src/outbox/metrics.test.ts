import { Registry } from 'prom-client';
import { parseMetrics, sampleValue } from '../../test/support/prometheus.js';
import { OutboxMetrics } from './metrics.js';

test('the outbox metrics carry the queue read at scrape time and the counters, label values intact', async () => {
  const registry = new Registry();
  const m = new OutboxMetrics(
    registry,
    async () => ({
      byStatus: { pending: 2, delivering: 0, delivered: 3, dead: 1 },
      oldestPendingAt: '2026-01-01T00:00:00.000Z',
    }),
    () => Date.parse('2026-01-01T00:01:30.000Z'),
  );
  m.deliveries.inc({ outcome: 'created' }, 3);
  m.failures.inc({ outcome: 'retry', kind: 'rate-limited' });
  // A label value with the characters the old exposition replaced by "_".
  m.failures.inc({ outcome: 'dead', kind: 'say "no"\\ twice' });
  const text = await m.render();
  const families = parseMetrics(text);
  expect(families.get('kap_outbox_messages')?.type).toBe('GAUGE');
  expect(sampleValue(families, 'kap_outbox_messages', { status: 'pending' })).toBe(2);
  expect(sampleValue(families, 'kap_outbox_messages', { status: 'dead' })).toBe(1);
  expect(sampleValue(families, 'kap_outbox_oldest_pending_age_seconds')).toBe(90);
  expect(sampleValue(families, 'kap_outbox_deliveries_total', { outcome: 'created' })).toBe(3);
  expect(sampleValue(families, 'kap_outbox_failures_total', { outcome: 'retry', kind: 'rate-limited' })).toBe(
    1,
  );
  expect(
    sampleValue(families, 'kap_outbox_failures_total', { outcome: 'dead', kind: 'say "no"\\ twice' }),
  ).toBe(1);
  expect(text.endsWith('\n')).toBe(true);
});
