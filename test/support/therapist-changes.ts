/**
 * Therapist changes for load: scores and vital signs as the therapist API takes them
 * (POST /patients/{id}/observations), the i-th of a run. The outbox fault tests and
 * `npm run bench:outbox` record the same mix, so what the one proves the other measures.
 */
import type { Observation } from 'fhir/r4';
import type { EhrGateway } from '../../src/ehr/gateway.js';
import { identifierSystem } from '../../src/fhir/codes.js';
import { ehrIdentifierValue } from '../../src/fhir/ids.js';
import { CALLERS } from './auth.js';

const OBSERVATION = identifierSystem('Observation');

const VALUES = [
  (_: number) => ({ kind: 'phq9', total: 11, items: [2, 2, 1, 2, 1, 1, 1, 1, 0] }),
  (i: number) => ({ kind: 'gad7', total: i % 21 }),
  (i: number) => ({ kind: 'blood-pressure', systolic: 110 + (i % 30), diastolic: 70 + (i % 15) }),
  (i: number) => ({ kind: 'heart-rate', perMinute: 60 + (i % 40) }),
  (_: number) => ({ kind: 'cssrs', risk: 'low' }),
];

/** The body of the i-th change, under kap-bridge id `id`: a distinct effective time per change. */
export const therapistObservation = (id: string, i: number) => ({
  id,
  value: VALUES[i % VALUES.length]!(i),
  effective: new Date(Date.UTC(2026, 2, 2, 9, 0, 0) + i * 1000).toISOString(),
});

/** Runs `task` for 0..n-1 with `concurrency` at once, as several therapists of a practice would. */
export async function inParallel(
  n: number,
  concurrency: number,
  task: (i: number) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await task(next++);
    }),
  );
}

/**
 * How many Observations the EHR holds for each of the practice's ids (searched 50 at a time, by the
 * identifier value the practice writes them with).
 */
export async function countInEhr(
  ehr: EhrGateway,
  ids: readonly string[],
  tenant: string = CALLERS.therapist.tenant,
): Promise<Map<string, number>> {
  const counts = new Map<string, number>(ids.map((id) => [id, 0]));
  const idOf = new Map(ids.map((id) => [ehrIdentifierValue(tenant, id), id]));
  for (let i = 0; i < ids.length; i += 50) {
    const identifier = ids
      .slice(i, i + 50)
      .map((id) => `${OBSERVATION}|${ehrIdentifierValue(tenant, id)}`)
      .join(',');
    for await (const o of ehr.search<Observation>('Observation', { identifier, _count: '100' })) {
      const id = idOf.get(o.identifier?.find((x) => x.system === OBSERVATION)?.value ?? '');
      if (id !== undefined) counts.set(id, counts.get(id)! + 1);
    }
  }
  return counts;
}
