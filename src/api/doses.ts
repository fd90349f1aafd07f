/**
 * The therapist API's in-session doses: a ketamine dose the patient takes in a medicine session
 * (MedicationAdministration, the patient as performer, the session as context). Refused (422,
 * every reason) unless the course is ready on that day: consent, clearance, an active
 * prescription with doses left, preparation done, no open safety flag; both partners in a couple.
 */
import { randomUUID } from 'node:crypto';
import type { Administration, Dose, Route } from '../domain/model.js';
import { currentOrder, type EpisodeReadiness } from '../domain/readiness.js';
import { spanOf } from '../domain/time.js';
import { doseInMg } from '../fhir/dosage.js';
import {
  type Answered,
  answered,
  businessRule,
  conflict,
  created,
  issue,
  OperationOutcomeError,
} from '../fhir/outcome.js';
import { parseReference } from '../fhir/reference-context.js';
import { administrationToFhir } from '../mapping/administration.js';
import { loadRecord } from '../record.js';
import { readinessOn } from './episodes.js';
import { courseContext, type RecordingDeps, record, sourceOf, unprocessable } from './recording.js';
import { patientSession } from './sessions.js';

export interface DoseRecording {
  id?: string;
  patient: string;
  dose: Dose;
  /** The route taken; the prescription's when absent. */
  route?: Route;
  time: string;
}

/** The readiness reasons as a 422: one issue per reason, its code in `details`, the record it rests on in the sentence. */
function notReady(readiness: EpisodeReadiness): OperationOutcomeError {
  const { reasons } = readiness;
  const error = new OperationOutcomeError(
    businessRule(
      reasons.map((r) => {
        const whose = r.patientId ? `Patient ${r.patientId}: ` : '';
        return issue(
          'error',
          'business-rule',
          `${whose}${r.message}${r.source ? ` (${r.source})` : ''}`,
          'patient',
        );
      }),
    ),
  );
  error.outcome.issue.forEach((i, n) => {
    i.details = { text: reasons[n]!.code };
  });
  return error;
}

export async function recordDose(
  sessionId: string,
  input: DoseRecording,
  deps: RecordingDeps,
  tenant: string,
): Promise<Answered<Administration & { source: string }>> {
  const administration = await deps.store.transaction(async (tx) => {
    const { own, episode, links } = await patientSession(tx, sessionId, input.patient, tenant, 'patient');
    if (own.phase !== 'medicine') {
      throw unprocessable(
        `Session ${sessionId} is a ${own.phase} session: doses are taken in a medicine session.`,
      );
    }
    if (own.status !== 'in-progress') {
      throw unprocessable(
        `Session ${sessionId} is ${own.status}: a dose is recorded while the session is in progress.`,
      );
    }
    const id = input.id ?? randomUUID();
    if (await tx.getOwn('MedicationAdministration', id, tenant)) {
      throw new OperationOutcomeError(conflict(`A dose ${id} is already recorded.`, 'id', 'duplicate'));
    }
    // The verdict at the instant of the dose: every day-of check must have been recorded by then.
    const readiness = await readinessOn(tx, episode, tenant, { at: input.time }, deps);
    if (!readiness.ready) throw notReady(readiness);
    const link = links.find((l) => l.id === input.patient)!;
    const { timeZone } = deps.policy;
    const rx = currentOrder(await loadRecord(tx, link, tenant, deps.patientLink), (v) => spanOf(v, timeZone))
      .rx!;
    const prescribed = rx.dosePerSession;
    if (prescribed !== undefined) {
      const [given, allowed] = [doseInMg(input.dose), doseInMg(prescribed)];
      const comparable = given !== undefined && allowed !== undefined;
      if (!comparable && !(input.dose.unit === prescribed.unit)) {
        throw unprocessable(
          `The dose in "${input.dose.unit}" cannot be compared with the prescribed ${prescribed.value} ${prescribed.unit} per session.`,
          'dose.unit',
        );
      }
      if (comparable ? given! > allowed! + 1e-9 : input.dose.value > prescribed.value) {
        throw unprocessable(
          `The dose ${input.dose.value} ${input.dose.unit} is above the prescribed ${prescribed.value} ${prescribed.unit} per session.`,
          'dose.value',
        );
      }
    }
    const route = input.route ?? rx.route;
    if (!route)
      throw unprocessable('The prescription names no route: say which route the dose was taken by.', 'route');
    const administration: Administration = {
      id,
      patientId: input.patient,
      sessionId: own.id,
      // The prescription as the EHR holds it (its resource id), whatever business id it carries.
      prescriptionId: parseReference(rx.source)?.id ?? rx.id,
      status: 'completed',
      medication: rx.medication,
      dose: input.dose,
      route,
      administeredAt: input.time,
    };
    const resource = administrationToFhir(administration, courseContext(links));
    await record(tx, [{ resource, queue: links[0]!.ehrPatient }], deps, tenant);
    return administration;
  });
  const stored = await deps.store.getOwn('MedicationAdministration', administration.id, tenant);
  return answered({ ...administration, source: await sourceOf(stored!, deps) }, created());
}
