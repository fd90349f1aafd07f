/**
 * The therapist API's clearance referral: the therapist asks the prescriber for a medical
 * clearance (ServiceRequest) and a Task tracks the prescriber's work on it.
 */
import { randomUUID } from 'node:crypto';
import type { ClearanceReferral } from '../domain/model.js';
import {
  type Answered,
  answered,
  conflict,
  created,
  notRegistered,
  OperationOutcomeError,
} from '../fhir/outcome.js';
import { referralToFhir } from '../mapping/referral.js';
import { findEpisode } from './episodes.js';
import {
  courseContext,
  linkedPatient,
  linksOf,
  namedIn,
  type RecordingDeps,
  record,
  sourceOf,
  unprocessable,
} from './recording.js';
import type { Answer, CourseReferralRecording, ReferralRecording } from './schemas.js';

/**
 * Asks for patient `patientId`'s clearance, for the course `input.episode` when given (422 `episode`
 * when the patient is not in it; `named`: the field that names the patient instead, when the course
 * is the address's).
 */
export async function requestClearance(
  patientId: string,
  input: ReferralRecording,
  deps: RecordingDeps,
  tenant: string,
  named: 'episode' | 'patient' = 'episode',
): Promise<
  Answered<Answer<'Recorded'> & ClearanceReferral & { sources: { serviceRequest: string; task: string } }>
> {
  const referral = await deps.store.transaction(async (tx) => {
    if (!(await tx.getPatient(patientId, tenant)))
      throw new OperationOutcomeError(notRegistered('patient', patientId));
    const episode =
      input.episode === undefined
        ? undefined
        : await findEpisode(tx, input.episode, tenant).catch(namedIn('episode', input.episode, 'episode'));
    if (episode !== undefined && !episode.patients.includes(patientId)) {
      throw unprocessable(`Patient ${patientId} is not in episode ${input.episode}.`, named);
    }
    const link = await linkedPatient(tx, patientId, tenant, 'id');
    // For a course, in the course's queue; otherwise in the patient's own.
    const queue = episode ? (await linksOf(tx, episode, tenant))[0]!.ehrPatient : link.ehrPatient;
    const id = input.id ?? randomUUID();
    if (await tx.getOwn('ServiceRequest', id, tenant)) {
      throw new OperationOutcomeError(conflict(`A referral ${id} already exists.`, 'id', 'duplicate'));
    }
    const referral: ClearanceReferral = {
      id,
      patientId,
      authoredOn: input.authoredOn ?? (deps.now?.() ?? new Date()).toISOString(),
      taskStatus: 'requested',
      ...(input.episode ? { episodeId: input.episode } : {}),
      ...(input.reason ? { reason: input.reason } : {}),
      ...(input.requester ? { requester: input.requester } : {}),
      ...(input.performer ? { performer: input.performer } : {}),
    };
    const { serviceRequest, task } = referralToFhir(referral, courseContext([link]));
    await record(
      tx,
      [serviceRequest, task].map((resource) => ({ resource, queue })),
      deps,
      tenant,
    );
    return referral;
  });
  const [sr, task] = await Promise.all([
    deps.store.getOwn('ServiceRequest', referral.id, tenant),
    deps.store.getOwn('Task', referral.id, tenant),
  ]);
  return answered(
    {
      ...referral,
      sources: { serviceRequest: await sourceOf(sr!, deps), task: await sourceOf(task!, deps) },
    },
    created(),
  );
}

/** A clearance asked for on course `episodeId`, the patient named in the body (never in the address). */
export const requestCourseClearance = (
  episodeId: string,
  { patient, ...input }: CourseReferralRecording,
  deps: RecordingDeps,
  tenant: string,
) => requestClearance(patient, { ...input, episode: episodeId }, deps, tenant, 'patient');
