/**
 * The therapist API's episodes: a KAP course, individual or couples, kept as EpisodeOfCare +
 * CarePlan (+ Goal for the intention, + the couple's Group) and sent to the EHR; its readiness
 * for a medicine session on a date (a couples episode is ready only when both partners are).
 */
import { randomUUID } from 'node:crypto';
import type { Episode } from '../domain/model.js';
import { type EpisodeReadiness, episodeReadiness } from '../domain/readiness.js';
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
import { episodeToFhir } from '../mapping/episode.js';
import { currentRecord } from '../record.js';
import { type PatientsDeps, readinessQuery } from './patients.js';
import { courseContext, linksOf, type RecordingDeps, record, unprocessable } from './recording.js';
import type { Answer, EpisodeRegistration, EpisodeStatusChange } from './schemas.js';
import type { CourseReader } from './sessions.js';

/** Registers a course of `tenant`'s practice; its patients must be the practice's own. */
export async function registerEpisode(
  input: EpisodeRegistration,
  deps: RecordingDeps,
  tenant: string,
): Promise<Answered<Answer<'Episode'> & Episode>> {
  const expected = input.type === 'couples' ? 2 : 1;
  if (input.patients.length !== expected || new Set(input.patients).size !== expected) {
    throw new OperationOutcomeError(
      badRequest(
        `A ${input.type} episode has ${expected === 2 ? 'two different patients' : 'one patient'}.`,
        'patients',
        'invariant',
      ),
    );
  }
  const id = input.id ?? randomUUID();
  const episode: Episode = {
    id,
    type: input.type,
    status: 'active',
    patients: input.patients,
    plannedSessions: { preparation: 2, medicine: 1, integration: 1, ...input.plannedSessions },
    ...(input.intention ? { intention: input.intention } : {}),
    ...(input.start ? { start: input.start } : {}),
  };
  await deps.store.transaction(async (tx) => {
    // The patients are the practice's own: another practice's with the same id are other patients.
    const links = await linksOf(tx, episode, tenant);
    if (await tx.getEpisode(id, tenant)) {
      throw new OperationOutcomeError(conflict(`An episode ${id} is already registered.`, 'id', 'duplicate'));
    }
    await tx.saveEpisode(episode, tenant);
    const { episodeOfCare, carePlan, goal, couple } = episodeToFhir(episode, courseContext(links));
    // What is pointed at goes first: the couple Group, the EpisodeOfCare and the Goal before the CarePlan.
    const resources = [couple, episodeOfCare, goal, carePlan].filter((r) => r !== undefined);
    await record(
      tx,
      resources.map((resource) => ({ resource, queue: links[0]!.ehrPatient })),
      deps,
      tenant,
    );
  });
  return answered(episode, created());
}

/** Statuses a course does not leave: a finished or cancelled course is closed. */
const CLOSED: readonly Episode['status'][] = ['finished', 'cancelled', 'entered-in-error'];

/**
 * Puts a course on hold, finishes or cancels it (or takes it off hold), with the reason, and writes
 * the change to the EHR's EpisodeOfCare and CarePlan. Only an active course can be ready.
 */
export async function changeEpisodeStatus(
  id: string,
  input: EpisodeStatusChange,
  deps: RecordingDeps & { now?: () => Date },
  tenant: string,
): Promise<Answered<Answer<'Episode'> & Episode & { source: string }>> {
  return deps.store.transaction(async (tx) => {
    const current = await findEpisode(tx, id, tenant);
    if (CLOSED.includes(current.status) && input.status !== current.status) {
      throw new OperationOutcomeError(
        businessRule(`Episode ${id} is ${current.status}: a closed course does not change.`, 'status'),
      );
    }
    const time = input.time ?? (deps.now?.() ?? new Date()).toISOString();
    const { statusReason: _, ...rest } = current;
    const episode: Episode = {
      ...rest,
      status: input.status,
      ...(input.reason === undefined ? {} : { statusReason: input.reason }),
      ...(CLOSED.includes(input.status) ? { end: time.slice(0, 10) } : {}),
    };
    const links = await linksOf(tx, episode, tenant);
    await tx.saveEpisode(episode, tenant);
    const { episodeOfCare, carePlan } = episodeToFhir(episode, courseContext(links));
    await record(
      tx,
      [episodeOfCare, carePlan].map((resource) => ({ resource, queue: links[0]!.ehrPatient })),
      deps,
      tenant,
    );
    return answered({ ...episode, source: `EpisodeOfCare/${id}` });
  });
}

/** The practice's course with this id. */
export async function findEpisode(
  reader: Pick<CourseReader, 'getEpisode'>,
  id: string,
  tenant: string,
): Promise<Episode> {
  const episode = await reader.getEpisode(id, tenant);
  if (!episode) throw new OperationOutcomeError(notRegistered('episode', id));
  return episode;
}

/**
 * The course `id` with `patient` a partner of it: a body naming someone outside the course is
 * refused (422 naming the body's `patient`).
 */
export async function courseOf(
  reader: Pick<CourseReader, 'getEpisode'>,
  id: string,
  patient: string,
  tenant: string,
): Promise<Episode> {
  const episode = await findEpisode(reader, id, tenant);
  if (!episode.patients.includes(patient)) {
    throw unprocessable(`Patient ${patient} is not in episode ${id}.`, 'patient');
  }
  return episode;
}

/**
 * Readiness of `tenant`'s course for a session on `date` (today when absent) or starting `at`, from
 * the partners' aligned records in `reader`, read as every readiness answer reads them
 * (`currentRecord`). A partner whose record cannot be read is left out, and the course is then
 * not ready.
 */
export async function readinessOn(
  reader: Parameters<typeof currentRecord>[0] & Pick<PatientsDeps['store'], 'getCheckpoint'>,
  episode: Episode,
  tenant: string,
  question: { date?: string; at?: string },
  deps: PatientsDeps,
): Promise<EpisodeReadiness> {
  const current = (
    await Promise.all(
      episode.patients.map((p) => currentRecord(reader, p, tenant, 'ehr:last-heard', deps.patientLink)),
    )
  ).filter((c) => c !== undefined);
  // Each record's head carries the checkpoint; a course with no readable record asks for it alone.
  const lastHeard =
    current.length > 0 ? current[0]!.checkpoint : await reader.getCheckpoint('ehr:last-heard');
  return episodeReadiness(
    episode,
    current.map((c) => c.record),
    readinessQuery(question, deps, lastHeard),
    deps.policy,
  );
}

export async function readinessOfEpisode(
  id: string,
  question: { date?: string; at?: string },
  deps: PatientsDeps,
  tenant: string,
): Promise<Answered<Answer<'EpisodeReadiness'> & EpisodeReadiness>> {
  return answered(
    await readinessOn(deps.store, await findEpisode(deps.store, id, tenant), tenant, question, deps),
  );
}
