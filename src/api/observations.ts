/**
 * The therapist API's scores and vitals: PHQ-9 (with its items), GAD-7, PCL-5, C-SSRS, mental
 * status, blood pressure, heart rate, SpO2, CADSS and MOAA/S, each an Observation on its profile,
 * optionally taken in a session.
 */
import { randomUUID } from 'node:crypto';
import type { KapObservation, ObservationValue } from '../domain/model.js';
import {
  type Answered,
  answered,
  badRequest,
  conflict,
  created,
  notRegistered,
  OperationOutcomeError,
} from '../fhir/outcome.js';
import { observationToFhir } from '../mapping/observation.js';
import {
  courseContext,
  linkedPatient,
  namedIn,
  practiceOf,
  type RecordingDeps,
  record,
  sourceOf,
} from './recording.js';
import type { ObservationRecording } from './schemas.js';
import { patientSession } from './sessions.js';

export async function recordObservation(
  patientId: string,
  input: ObservationRecording,
  deps: RecordingDeps,
): Promise<Answered<KapObservation & { source: string }>> {
  const { value } = input;
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
    if (!(await tx.getPatient(patientId)))
      throw new OperationOutcomeError(notRegistered('patient', patientId));
    const link = await linkedPatient(tx, patientId, 'id');
    const id = input.id ?? randomUUID();
    if (await tx.getResource('Observation', id)) {
      throw new OperationOutcomeError(
        conflict(`An observation ${id} is already recorded.`, 'id', 'duplicate'),
      );
    }
    const session =
      input.session === undefined
        ? undefined
        : await patientSession(tx, input.session, patientId, 'session').catch(
            namedIn('session', input.session, 'session'),
          );
    const observation: KapObservation = {
      id,
      patientId,
      status: input.status ?? 'final',
      effective: input.effective,
      // The schema has taken the PHQ-9 items as exactly nine: the domain's tuple.
      value: value as ObservationValue,
      ...(session ? { sessionId: session.own.id } : {}),
      ...(input.performer ? { performer: input.performer } : {}),
    };
    // In a session it travels with the course; otherwise in the patient's own queue.
    const queue = session ? session.links[0]!.ehrPatient : link.ehrPatient;
    const resource = observationToFhir(observation, courseContext([link]));
    await record(tx, [{ resource, queue }], deps, await practiceOf(tx, 'patient', patientId));
    return observation;
  });
  const stored = await deps.store.getResource('Observation', observation.id);
  return answered({ ...observation, source: await sourceOf(stored!, deps) }, created());
}
