/**
 * What the end-to-end suites share when they play a course against the HAPI sandbox: the therapist
 * API as a client calls it, a prescriber's cleared patient, and waiting for the outbox.
 */
import type { MedicationRequest, Observation, Patient } from 'fhir/r4';
import type { EhrGateway } from '../../src/ehr/gateway.js';
import type { Service } from '../../src/service.js';
import { kapFetch } from './auth.js';
import { fixture } from './fixtures.js';
import { eventually, uniqueId } from './sandbox.js';

// biome-ignore lint/suspicious/noExplicitAny: tests read answers field by field, as a client would
export type Json = any;

/** POST to the therapist API; a 3xx-5xx answer fails the test with its OperationOutcome. */
export async function post(service: Service, path: string, body: unknown = {}): Promise<Json> {
  const res = await kapFetch(`${service.url}/api/v1${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const answer = await res.json();
  if (res.status >= 300) throw new Error(`POST ${path}: ${res.status} ${JSON.stringify(answer)}`);
  return answer;
}

/**
 * An EHR Patient whom the prescriber cleared and prescribed ketamine for (written into the EHR),
 * and the therapist's patient linked to it. `beforeRegister` runs between the two (e.g. a catch-up).
 */
export async function clearedPatient(
  deps: { ehr: EhrGateway; service: Service; prescriber: string; beforeRegister?: () => Promise<unknown> },
  name: string,
): Promise<string> {
  const { ehr, service, prescriber } = deps;
  const id = uniqueId(`e2e-${name}`);
  await ehr.update<Patient & { id: string }>({
    resourceType: 'Patient',
    id,
    identifier: [{ system: 'urn:e2e:mrn', value: id }],
  });
  const { meta: _c, ...clearance } = fixture<Observation>('prescriber/clearance-cleared.fhir.json');
  await ehr.create({
    ...clearance,
    id: undefined,
    identifier: [{ system: 'urn:ehr:clearance', value: uniqueId('clr') }],
    subject: { reference: `Patient/${id}` },
    performer: [{ reference: `Practitioner/${prescriber}` }],
  } as Observation);
  const { meta: _r, ...rx } = fixture<MedicationRequest>('prescriber/prescription-ketamine-troche.fhir.json');
  await ehr.create({
    ...rx,
    id: undefined,
    identifier: [{ system: 'urn:ehr:rx', value: uniqueId('rx') }],
    subject: { reference: `Patient/${id}` },
    requester: { reference: `Practitioner/${prescriber}` },
  } as MedicationRequest);
  await deps.beforeRegister?.();
  await post(service, '/patients', {
    id,
    identifiers: [{ system: 'urn:e2e:mrn', value: id }],
    ehrPatient: `Patient/${id}`,
  });
  return id;
}

/** Waits until the outbox has delivered everything; fails with the first dead message. */
export async function outboxDelivered(service: Service): Promise<void> {
  await eventually(
    'the outbox to deliver',
    async () => {
      const dead = await service.outbox.list({ status: 'dead' });
      if (dead.length) throw new Error(`Not delivered: ${JSON.stringify(dead[0])}`);
      const open = [
        ...(await service.outbox.list({ status: 'pending' })),
        ...(await service.outbox.list({ status: 'delivering' })),
      ];
      return open.length === 0 ? true : undefined;
    },
    120_000,
  );
}
