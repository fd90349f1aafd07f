/**
 * The therapist API's medicine session beyond doses and discharge: where each patient's monitoring
 * stands, and the adverse events of the session. Each partner of a joint session is monitored on
 * their own part of it (their own session). Transport-free; src/http translates.
 */

import { randomUUID } from 'node:crypto';
import type { Bundle } from 'fhir/r4';
import { monitoringAt } from '../domain/medicine-session.js';
import type { KapAdverseEvent, Session } from '../domain/model.js';
import { type Answered, answered, conflict, created, OperationOutcomeError } from '../fhir/outcome.js';
import { adverseEventToFhir } from '../mapping/adverse-event.js';
import { medicineOnly, partsOf, prescriberAlert, reportIdOf } from './discharge.js';
import { medicinePolicyOf } from './patients.js';
import {
  courseContext,
  type RecordingDeps,
  record,
  sourceOf,
  unprocessable,
  type Write,
} from './recording.js';
import type { AdverseEventRecording, Answer } from './schemas.js';
import { findSession, patientSession } from './sessions.js';

/** Where the monitoring of each patient in medicine session `id` stands at `at` (now when absent). */
export async function sessionMonitoring(
  id: string,
  question: { at?: string },
  deps: RecordingDeps,
  tenant: string,
): Promise<Answered<Answer<'Monitoring'>>> {
  const found = medicineOnly(await findSession(deps.store, id, tenant), id);
  const at = question.at ?? (deps.now?.() ?? new Date()).toISOString();
  const policy = medicinePolicyOf(deps);
  const parts = await partsOf(deps.store, found, deps);
  return answered({
    sessionId: id,
    at,
    patients: parts.map(({ facts }) => monitoringAt(facts, at, policy)),
  });
}

/**
 * Records an adverse event of a medicine session (AdverseEvent, `kap-adverse-event`), the session's
 * doses as its suspects. A serious one is also an alert to the prescriber, queued ahead of the rest,
 * and a safety flag: the patient is not ready for the next dose until the prescriber's review.
 */
export async function recordAdverseEvent(
  sessionId: string,
  input: AdverseEventRecording,
  deps: RecordingDeps,
  tenant: string,
): Promise<Answered<Answer<'Recorded'> & KapAdverseEvent & { source: string }>> {
  const event = await deps.store.transaction(async (tx) => {
    const found = await patientSession(tx, sessionId, input.patient, tenant, 'patient');
    medicineOnly(found, sessionId);
    if (found.own.start !== undefined && Date.parse(input.onset) < Date.parse(found.own.start)) {
      throw unprocessable(
        `The onset ${input.onset} is before session ${sessionId} began (${found.own.start}).`,
        'onset',
      );
    }
    const id = input.id ?? randomUUID();
    if (await tx.getOwn('AdverseEvent', id, tenant)) {
      throw new OperationOutcomeError(
        conflict(`An adverse event ${id} is already recorded.`, 'id', 'duplicate'),
      );
    }
    const part = (await partsOf(tx, found, deps)).find((p) => p.own.id === found.own.id)!;
    const now = (deps.now?.() ?? new Date()).toISOString();
    const event: KapAdverseEvent = {
      id,
      patientId: input.patient,
      sessionId: found.own.id,
      occurredAt: input.onset,
      recordedAt: now,
      serious: input.serious,
      event: input.event,
      severity: input.severity,
      outcome: input.outcome,
      ...(input.description === undefined ? {} : { description: input.description }),
      ...(input.actionTaken === undefined ? {} : { actionTaken: input.actionTaken }),
      suspects: part.facts.administrations.map((a) => `MedicationAdministration/${a.id}`),
    };
    const writes: Write[] = [
      { resource: adverseEventToFhir(event, courseContext(found.links)), queue: found.links[0]!.ehrPatient },
    ];
    if (input.serious) {
      writes.push(
        prescriberAlert(
          'serious-adverse-event',
          `ae-${id}`,
          part,
          found,
          {
            at: now,
            message: `A serious adverse event (${input.event}, ${input.severity}) began at ${input.onset} in the medicine session${input.description ? `: ${input.description}` : ''}. Action taken: ${input.actionTaken ?? 'none recorded'}. Outcome: ${input.outcome}. The next dose waits for your review.`,
            about: [`AdverseEvent/${id}`],
          },
          deps,
        ),
      );
    }
    await record(tx, writes, deps, tenant);
    return event;
  });
  const stored = await deps.store.getOwn('AdverseEvent', event.id, tenant);
  return answered({ ...event, source: await sourceOf(stored!, deps) }, created());
}

/**
 * The report of medicine session `id` for a patient: the patient's own when the session is a
 * couple's (`patient` names which partner), refused (422 `session`) before the session completed.
 */
export async function sessionReport(
  id: string,
  question: { patient?: string },
  deps: RecordingDeps,
  tenant: string,
): Promise<Answered<Answer<'SessionReport'> & Bundle>> {
  const found = medicineOnly(await findSession(deps.store, id, tenant), id);
  let own: Session;
  if (question.patient !== undefined) {
    own = (await patientSession(deps.store, id, question.patient, tenant, 'patient')).own;
  } else if (found.session.couple !== undefined) {
    throw unprocessable(
      `Session ${id} is a couple's: say whose report (patient), each partner has their own.`,
      'patient',
    );
  } else {
    own = found.session;
  }
  if (own.status !== 'finished') {
    throw unprocessable(
      `Session ${id} is ${own.status}: its report is written when it completes.`,
      'session',
    );
  }
  const stored = await deps.store.getOwn('Bundle', reportIdOf(own.id), tenant);
  if (!stored) {
    throw unprocessable(`Session ${id} completed without a report being written.`, 'session');
  }
  // The document kap-bridge wrote at discharge (sessionReportToFhir), read back as it was stored.
  return answered(stored.resource as Answer<'SessionReport'> & Bundle);
}
