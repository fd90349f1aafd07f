/**
 * The therapist API's scores and vitals: PHQ-9 (with its items), GAD-7, PCL-5, C-SSRS, mental
 * status, blood pressure, heart rate, SpO2, CADSS and MOAA/S, each an Observation on its profile,
 * optionally taken in a session.
 */
import { randomUUID } from 'node:crypto';
import type { KapObservation, ObservationValue, Session } from '../domain/model.js';
import {
  type Answered,
  answered,
  badRequest,
  businessRule,
  conflict,
  created,
  notRegistered,
  OperationOutcomeError,
} from '../fhir/outcome.js';
import { observationToFhir } from '../mapping/observation.js';
import { vitalAlert } from './discharge.js';
import { courseOf } from './episodes.js';
import {
  courseContext,
  linkedPatient,
  namedIn,
  type RecordingDeps,
  record,
  sourceOf,
  unprocessable,
} from './recording.js';
import type { Answer, CourseObservationRecording, ObservationRecording } from './schemas.js';
import { patientSession } from './sessions.js';

/** Readings only a medicine session has: effects of the dose, and a remote session's check-ins. */
const MEDICINE_ONLY: readonly ObservationValue['kind'][] = ['sedation', 'dissociation', 'check-in'];

/**
 * A reading in a medicine session is taken while it runs: not before it began nor after it ended. Effects of
 * the dose are taken in a medicine session, a chaperone's check-in in a remote one.
 */
function inSessionTime(
  input: ObservationRecording,
  value: ObservationValue,
  session: Session | undefined,
): void {
  if (MEDICINE_ONLY.includes(value.kind) && session?.phase !== 'medicine') {
    throw new OperationOutcomeError(
      businessRule(
        session === undefined
          ? `A ${value.kind} reading is taken in a medicine session: name the session.`
          : `Session ${input.session} is a ${session.phase} session: a ${value.kind} reading is taken in a medicine session.`,
        'session',
      ),
    );
  }
  if (value.kind === 'check-in' && session?.mode !== 'remote') {
    throw new OperationOutcomeError(
      businessRule(
        `Session ${input.session} is in person: chaperones check in during a remote session.`,
        'value.kind',
      ),
    );
  }
  // Questionnaires of other sessions may be filled in around them; a medicine session's readings are its monitoring.
  if (session?.phase !== 'medicine') return;
  const t = Date.parse(input.effective);
  if (session.start !== undefined && t < Date.parse(session.start)) {
    throw new OperationOutcomeError(
      businessRule(
        `The reading at ${input.effective} is before session ${input.session} began (${session.start}).`,
        'effective',
      ),
    );
  }
  if (session.end !== undefined && session.status === 'finished' && t > Date.parse(session.end)) {
    throw new OperationOutcomeError(
      businessRule(
        `The reading at ${input.effective} is after session ${input.session} ended (${session.end}).`,
        'effective',
      ),
    );
  }
}

/**
 * Records a reading of patient `patientId`; in `course`, when given, the patient must be a partner
 * of it (422 `patient`) and the session one of its sessions (422 `session`).
 */
export async function recordObservation(
  patientId: string,
  input: ObservationRecording,
  deps: RecordingDeps,
  tenant: string,
  course?: string,
): Promise<Answered<Answer<'Recorded'> & KapObservation & { source: string }>> {
  // The schema has taken the PHQ-9 items as exactly nine: the domain's tuple.
  const value = input.value as ObservationValue;
  if (value.kind === 'phq9' && value.items && value.items.reduce((a, b) => a + b, 0) !== value.total) {
    throw new OperationOutcomeError(
      badRequest('The PHQ-9 total is not the sum of its items.', 'value.total', 'invariant'),
    );
  }
  if (value.kind === 'phq9' && value.items && value.item9 !== undefined && value.items[8] !== value.item9) {
    throw new OperationOutcomeError(
      badRequest('value.item9 is not the ninth of value.items.', 'value.item9', 'invariant'),
    );
  }
  const observation = await deps.store.transaction(async (tx) => {
    if (!(await tx.getPatient(patientId, tenant)))
      throw new OperationOutcomeError(notRegistered('patient', patientId));
    if (course !== undefined) await courseOf(tx, course, patientId, tenant);
    const link = await linkedPatient(tx, patientId, tenant, 'id');
    const id = input.id ?? randomUUID();
    if (await tx.getOwn('Observation', id, tenant)) {
      throw new OperationOutcomeError(
        conflict(`An observation ${id} is already recorded.`, 'id', 'duplicate'),
      );
    }
    const session =
      input.session === undefined
        ? undefined
        : await patientSession(tx, input.session, patientId, tenant, 'session').catch(
            namedIn('session', input.session, 'session'),
          );
    if (course !== undefined && session !== undefined && session.episode.id !== course) {
      throw unprocessable(`Session ${input.session} is not a session of episode ${course}.`, 'session');
    }
    inSessionTime(input, value, session?.own);
    const observation: KapObservation = {
      id,
      patientId,
      status: input.status ?? 'final',
      effective: input.effective,
      value,
      ...(session ? { sessionId: session.own.id } : {}),
      ...(input.performer ? { performer: input.performer } : {}),
    };
    // In a session it travels with the course; otherwise in the patient's own queue.
    const queue = session ? session.links[0]!.ehrPatient : link.ehrPatient;
    const resource = observationToFhir(observation, courseContext([link]));
    await record(tx, [{ resource, queue }], deps, tenant);
    // Kept first, so the alert about it reads it in the record.
    if (session) await record(tx, await vitalAlert(tx, session, observation, deps), deps, tenant);
    return observation;
  });
  const stored = await deps.store.getOwn('Observation', observation.id, tenant);
  return answered({ ...observation, source: await sourceOf(stored!, deps) }, created());
}

/** A reading recorded on course `episodeId`, the patient named in the body (never in the address). */
export const recordCourseObservation = (
  episodeId: string,
  { patient, ...input }: CourseObservationRecording,
  deps: RecordingDeps,
  tenant: string,
) => recordObservation(patient, input, deps, tenant, episodeId);
