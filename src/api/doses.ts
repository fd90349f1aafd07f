/**
 * The therapist API's in-session doses: a ketamine dose the patient takes in a medicine session
 * (MedicationAdministration, the patient as performer, the session as context). Refused (422,
 * every reason, nothing written) unless the patient is ready at the instant of the dose (consent,
 * clearance, an active prescription with sessions left, preparation done, no open safety flag) and
 * the day-of checks hold: the pre-dose vitals recorded in this session within the window and
 * within range; a booster within the order's dose per session and the time allowed after the first
 * dose. In a couple the joint session needs both partners: a partner who is not ready at that
 * instant (their doses in this joint session aside) stops the other's dose too (`partner-not-ready`).
 */
import { randomUUID } from 'node:crypto';
import { doseChecks, medicineFacts } from '../domain/medicine-session.js';
import type { Administration } from '../domain/model.js';
import { currentOrder, patientReadiness } from '../domain/readiness.js';
import { spanOf } from '../domain/time.js';
import { doseInMg } from '../fhir/dosage.js';
import { parseReference } from '../fhir/ids.js';
import { type Answered, answered, conflict, created, OperationOutcomeError } from '../fhir/outcome.js';
import { administrationToFhir } from '../mapping/administration.js';
import { currentRecord } from '../record.js';
import { medicinePolicyOf, readinessQuery, withPartner } from './patients.js';
import { courseContext, type RecordingDeps, record, refusal, sourceOf, unprocessable } from './recording.js';
import type { Answer, DoseRecording } from './schemas.js';
import { patientSession } from './sessions.js';

export async function recordDose(
  sessionId: string,
  input: DoseRecording,
  deps: RecordingDeps,
  tenant: string,
): Promise<Answered<Answer<'Recorded'> & Administration & { source: string }>> {
  const administration = await deps.store.transaction(async (tx) => {
    const { own, episode, links, partners } = await patientSession(
      tx,
      sessionId,
      input.patient,
      tenant,
      'patient',
    );
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
    const link = links.find((l) => l.id === input.patient)!;
    const current = (await currentRecord(tx, link.id, tenant, 'ehr:last-heard', deps.patientLink))!;
    const full = current.record;
    // A booster is part of the session already counted against the order, not another session.
    const others = { ...full, administrations: full.administrations.filter((a) => a.sessionId !== own.id) };
    // The verdict at the instant of the dose: every day-of check must have been recorded by then.
    const query = readinessQuery({ at: input.time }, deps, current.checkpoint);
    let readiness = patientReadiness(others, query, deps.policy, episode);
    if (episode.type === 'couples') {
      // Each partner's doses in this joint session are part of it, not sessions taken before it.
      const joint = new Set([own.id, ...partners.map((p) => p.id)]);
      readiness = await withPartner(tx, readiness, episode, full, query, deps, tenant, (r) => ({
        ...r,
        administrations: r.administrations.filter((a) => !joint.has(a.sessionId ?? '')),
      }));
    }
    const rx = currentOrder(others, (v) => spanOf(v, deps.policy.timeZone)).rx;
    const findings = doseChecks(
      medicineFacts(full, own, input.patient, rx?.dosePerSession),
      input,
      medicinePolicyOf(deps),
    );
    // The session's own pre-dose checks say more than readiness's "a blood pressure on the day";
    // a reading readiness already refuses is not told twice.
    const reasons = [
      ...readiness.reasons.filter((r) => r.code !== 'predose-blood-pressure'),
      ...findings.filter(
        (f) => f.source === undefined || !readiness.reasons.some((r) => r.source === f.source),
      ),
    ];
    if (reasons.length > 0) throw refusal(reasons, input.patient);
    const prescribed = rx!.dosePerSession;
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
    const route = input.route ?? rx!.route;
    if (!route)
      throw unprocessable('The prescription names no route: say which route the dose was taken by.', 'route');
    const administration: Administration = {
      id,
      patientId: input.patient,
      sessionId: own.id,
      // The prescription as the EHR holds it (its resource id), whatever business id it carries.
      prescriptionId: parseReference(rx!.source)?.id ?? rx!.id,
      status: 'completed',
      medication: rx!.medication,
      dose: input.dose,
      route,
      administeredAt: input.time,
      ...(input.lotNumber === undefined ? {} : { lotNumber: input.lotNumber }),
    };
    const resource = administrationToFhir(administration, courseContext(links));
    await record(tx, [{ resource, queue: links[0]!.ehrPatient }], deps, tenant);
    return administration;
  });
  const stored = await deps.store.getOwn('MedicationAdministration', administration.id, tenant);
  return answered({ ...administration, source: await sourceOf(stored!, deps) }, created());
}
