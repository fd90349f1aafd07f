/**
 * The therapist API's episodes: a KAP course, individual or couples, and its readiness for a
 * medicine session on a date. A couples episode is ready only when both partners are.
 */
import { randomUUID } from 'node:crypto';
import type { Episode, EpisodeType } from '../domain/model.js';
import { type EpisodeReadiness, episodeReadiness } from '../domain/readiness.js';
import { issue, OperationOutcomeError } from '../fhir/outcome.js';
import { loadRecord } from '../record.js';
import type { PatientsDeps } from './patients.js';

export interface EpisodeRegistration {
  id?: string;
  type: EpisodeType;
  patients: string[];
  intention?: string;
  start?: string;
  plannedSessions?: Partial<Episode['plannedSessions']>;
}

const notFound = (id: string) =>
  new OperationOutcomeError(404, [issue('error', 'not-found', `No episode ${id} is registered.`)]);

export async function registerEpisode(input: EpisodeRegistration, deps: PatientsDeps): Promise<Episode> {
  const expected = input.type === 'couples' ? 2 : 1;
  if (input.patients.length !== expected || new Set(input.patients).size !== expected) {
    throw new OperationOutcomeError(400, [
      issue(
        'error',
        'invariant',
        `A ${input.type} episode has ${expected === 2 ? 'two different patients' : 'one patient'}.`,
        'patients',
      ),
    ]);
  }
  for (const [i, p] of input.patients.entries()) {
    if (!(await deps.store.getPatient(p))) {
      throw new OperationOutcomeError(422, [
        issue(
          'error',
          'not-found',
          `No patient ${p} is registered; register the patient first.`,
          `patients[${i}]`,
        ),
      ]);
    }
  }
  const id = input.id ?? randomUUID();
  if (await deps.store.getEpisode(id)) {
    throw new OperationOutcomeError(409, [
      issue('error', 'duplicate', `An episode ${id} is already registered.`, 'id'),
    ]);
  }
  const episode: Episode = {
    id,
    type: input.type,
    status: 'active',
    patients: input.patients,
    plannedSessions: { preparation: 2, medicine: 1, integration: 1, ...input.plannedSessions },
    ...(input.intention ? { intention: input.intention } : {}),
    ...(input.start ? { start: input.start } : {}),
  };
  await deps.store.saveEpisode(episode);
  return episode;
}

export async function getEpisode(id: string, deps: PatientsDeps): Promise<Episode> {
  const episode = await deps.store.getEpisode(id);
  if (!episode) throw notFound(id);
  return episode;
}

export async function readinessOfEpisode(
  id: string,
  date: string | undefined,
  deps: PatientsDeps,
): Promise<EpisodeReadiness> {
  const episode = await getEpisode(id, deps);
  const now = (deps.now?.() ?? new Date()).toISOString();
  const records = await Promise.all(
    episode.patients.map(async (p) => {
      const link = await deps.store.getPatient(p);
      return loadRecord(deps.store, link ?? { id: p, identifiers: [] });
    }),
  );
  const ehrLastHeardAt = await deps.store.getCheckpoint('ehr:last-heard');
  return episodeReadiness(
    episode,
    records,
    date ?? now.slice(0, 10),
    { now, ...(ehrLastHeardAt ? { ehrLastHeardAt } : {}) },
    deps.thresholds,
  );
}
