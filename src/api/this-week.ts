/**
 * The practice's courses, and its coming medicine sessions, each with its course's readiness at the session's start
 * (a couples course once, over both partners): what a therapist looks at first in the week.
 */

import type { PatientLink } from '../domain/model.js';
import { readinessOn } from './episodes.js';
import type { RecordingDeps } from './recording.js';
import type { Answer } from './schemas.js';
import { sessionsOf, viewOf } from './sessions.js';

const DAY_MS = 86_400_000;
const OPEN = new Set(['planned', 'in-progress']);

/** Medicine sessions planned or under way that start in [from, from + days), by start. */
export async function upcomingSessions(
  tenant: string,
  question: { from: string; days: number },
  deps: RecordingDeps,
): Promise<Answer<'Week'>> {
  const { store } = deps;
  const start = Date.parse(`${question.from}T00:00:00Z`);
  const end = start + question.days * DAY_MS;
  const found: Answer<'Week'>['sessions'] = [];
  for (const episode of await store.episodesOfPractice(tenant)) {
    const links = (await Promise.all(episode.patients.map((p) => store.getPatient(p, tenant)))).filter(
      (l): l is PatientLink => l !== undefined,
    );
    const coming = (await viewOf(await sessionsOf(store, episode, links, tenant), tenant, deps)).filter(
      (s) => {
        const at = Date.parse(s.start ?? '');
        return s.phase === 'medicine' && OPEN.has(s.status) && at >= start && at < end;
      },
    );
    for (const session of coming) {
      found.push({
        session,
        episodeId: episode.id,
        episodeType: episode.type,
        patients: links.map(({ id, identifiers }) => ({ id, identifiers })),
        readiness: await readinessOn(store, episode, tenant, { at: session.start! }, deps),
      });
    }
  }
  found.sort((a, b) => Date.parse(a.session.start!) - Date.parse(b.session.start!));
  return { from: question.from, to: new Date(end).toISOString().slice(0, 10), sessions: found };
}

/** The practice's courses, oldest first, each with its patients' identifiers. */
export async function practiceCourses(tenant: string, deps: RecordingDeps): Promise<Answer<'Courses'>> {
  const episodes = await deps.store.episodesOfPractice(tenant);
  return {
    episodes: await Promise.all(
      episodes.map(async (e) => ({
        ...e,
        patients: (await Promise.all(e.patients.map((p) => deps.store.getPatient(p, tenant))))
          .filter((l): l is PatientLink => l !== undefined)
          .map(({ id, identifiers }) => ({ id, identifiers })),
      })),
    ),
  };
}
