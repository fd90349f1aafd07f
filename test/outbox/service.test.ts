/** The outbox inside the running service: the worker delivers, /metrics shows it, close stops it. */
import type { Observation, Patient } from 'fhir/r4';
import { enqueue } from '../../src/outbox/outbox.js';
import { kapFetch } from '../support/auth.js';
import { eventually, sandboxBaseUrl, sandboxGateway, uniqueId } from '../support/sandbox.js';
import { startTestService } from '../support/service.js';

test('a queued change reaches the EHR and the metrics; the service stops cleanly', async () => {
  const service = await startTestService({
    KAP_EHR_BASE_URL: sandboxBaseUrl(),
    KAP_SUBSCRIBE_ON_START: 'false',
    KAP_SYNC_INTERVAL_SECONDS: '0',
    KAP_OUTBOX_POLL_MS: '50',
  });
  try {
    const patient = await sandboxGateway().create<Patient>({ resourceType: 'Patient' });
    const value = uniqueId('svc');
    const resource: Observation = {
      resourceType: 'Observation',
      identifier: [{ system: 'https://fhir.kap-bridge.org/test/outbox-service', value }],
      status: 'final',
      code: { text: 'PHQ-9 total' },
      subject: { reference: `Patient/${patient.id}` },
      valueInteger: 2,
    };
    const id = await service.store.transaction((tx) =>
      enqueue(tx, { patientRef: `Patient/${patient.id}`, resource }),
    );
    await eventually('delivery', async () =>
      (await service.outbox.get(id))?.status === 'delivered' ? true : undefined,
    );
    const metrics = await kapFetch(`${service.url}/metrics`);
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await metrics.text();
    expect(text).toContain('kap_outbox_messages{status="delivered"} 1');
    expect(text).toContain('kap_outbox_deliveries_total{outcome="created"} 1');
    expect(text).toMatch(/kap_ehr_request_duration_seconds_count\{operation="transaction"\} 1\n/);
  } finally {
    await service.close();
  }
});
