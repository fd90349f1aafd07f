/**
 * What the operator's console pages read and do, free of HTTP: the outbox (its messages, retry,
 * drop), one patient's drift from the EHR with the healing the rules allow, and when the EHR was
 * last heard from, per type caught up and by notification.
 */
import { badRequest, conflict, notRegistered, OperationOutcomeError, unavailable } from '../fhir/outcome.js';
import { KEPT_TYPES, type ResourceValidator } from '../intake.js';
import type { Outbox, OutboxMessage, OutboxStatus } from '../outbox/outbox.js';
import {
  type PatientReport,
  type ReconcileDeps,
  reconcilePatient,
  UnknownPatientError,
} from '../reconcile/gather.js';
import { heal, type Repair } from '../reconcile/heal.js';
import type { Store } from '../store/store.js';
import { checkpointName } from '../sync.js';

/** An outbox message as the operator sees it: where it stands and why, not the resource it carries. */
export type OutboxEntry = Omit<OutboxMessage, 'resource'>;

export const OUTBOX_STATUSES: readonly OutboxStatus[] = ['pending', 'delivering', 'delivered', 'dead'];

export async function outboxEntries(
  outbox: Outbox,
  filter: { status?: OutboxStatus; limit: number },
): Promise<{ depth: Awaited<ReturnType<Outbox['depth']>>; messages: OutboxEntry[] }> {
  const messages = (await outbox.list(filter)).map(({ resource: _r, ...entry }) => entry);
  return { depth: await outbox.depth(), messages };
}

/** Puts a dead message back in its queue; 404 when there is no dead message with the id. */
export async function retryMessage(
  outbox: Outbox,
  id: string,
): Promise<{ id: string; status: OutboxStatus }> {
  if (!(await outbox.retry(id))) throw new OperationOutcomeError(notRegistered('dead outbox message', id));
  return { id, status: 'pending' };
}

/** Removes a pending or dead message; a delivered or delivering one stays (409 says why). */
export async function dropMessage(outbox: Outbox, id: string): Promise<{ id: string; status: 'dropped' }> {
  const outcome = await outbox.drop(id);
  if (outcome === 'not-found') throw new OperationOutcomeError(notRegistered('outbox message', id));
  if (outcome !== 'dropped')
    throw new OperationOutcomeError(
      conflict(`Message ${id} is ${outcome}: only a pending or dead message can be dropped.`),
    );
  return { id, status: 'dropped' };
}

export type DriftDeps = Omit<ReconcileDeps, 'ehr'> &
  Partial<Pick<ReconcileDeps, 'ehr'>> & { validator: ResourceValidator };

/**
 * One patient's drift, and with `fix` what was healed and what is left for a person. Each practice
 * has its own ids: the patient is the one of `practice`, or of the one practice that has the id.
 */
export async function drift(
  patient: string,
  fix: boolean,
  deps: DriftDeps,
  practice?: string,
): Promise<{ report: PatientReport; repairs?: Repair[] }> {
  if (!deps.ehr) throw new OperationOutcomeError(unavailable('No EHR is configured (KAP_EHR_BASE_URL).'));
  const full = { ...deps, ehr: deps.ehr };
  const practices =
    practice === undefined
      ? (await deps.store.patientIds()).filter((p) => p.id === patient).map((p) => p.tenant)
      : [practice];
  if (practices.length > 1) {
    throw new OperationOutcomeError(
      badRequest(`Patient ${patient} is registered by several practices: name the practice.`, 'practice'),
    );
  }
  let found: Awaited<ReturnType<typeof reconcilePatient>>;
  try {
    found = await reconcilePatient(patient, practices[0] ?? '', full);
  } catch (e) {
    if (e instanceof UnknownPatientError)
      throw new OperationOutcomeError(notRegistered('patient', patient, 'patient'));
    throw e;
  }
  const { report, gathered } = found;
  if (!fix || !gathered || report.drift.length === 0) return { report };
  return { report, repairs: await heal(report, gathered, full) };
}

/** When the EHR was last heard from (any notification, push or catch-up), and each type's catch-up checkpoint. */
export async function syncState(
  store: Store,
): Promise<{ ehrLastHeardAt?: string; types: { type: string; caughtUpTo?: string }[] }> {
  const last = await store.getCheckpoint('ehr:last-heard');
  const types = await Promise.all(
    KEPT_TYPES.map(async (type) => {
      const caughtUpTo = await store.getCheckpoint(checkpointName(type));
      return { type, ...(caughtUpTo ? { caughtUpTo } : {}) };
    }),
  );
  return { ...(last ? { ehrLastHeardAt: last } : {}), types };
}
