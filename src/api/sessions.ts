/**
 * The therapist API's sessions: scheduled by phase on an episode, then started, completed or
 * cancelled. In a couples course a session is the joint session (subject: the couple) with one
 * session per partner `partOf` it, created and moved together.
 */
import { randomUUID } from 'node:crypto';
import type { Encounter, Group } from 'fhir/r4';
import type { Episode, PatientLink, Session, SessionStatus } from '../domain/model.js';
import {
  type Answered,
  answered,
  badRequest,
  conflict,
  created,
  notRegistered,
  OperationOutcomeError,
} from '../fhir/outcome.js';
import { identityContext } from '../fhir/reference-context.js';
import { sessionFromFhir, sessionToFhir } from '../mapping/session.js';
import type { StoreTx } from '../store/store.js';
import {
  completionReports,
  dischargeFindings,
  partsOf,
  prescriberAlert,
  type SessionInCourse,
} from './discharge.js';
import {
  courseContext,
  linksOf,
  type RecordingDeps,
  record,
  refusal,
  sourceOf,
  unprocessable,
  type Write,
} from './recording.js';
import type { Answer, SessionMove, SessionScheduling } from './schemas.js';

/** What the session operations read; a Store or a StoreTx. */
export type CourseReader = Pick<
  StoreTx,
  'getResource' | 'getOwn' | 'resourcesFor' | 'getEpisode' | 'getPatient' | 'episodesOf'
>;

export interface SessionView extends Session {
  source: string;
  /** A joint couples session: each partner's own session. */
  partners?: SessionView[];
}

const couple = async (reader: CourseReader, episode: Episode, tenant: string): Promise<Group | undefined> =>
  episode.type === 'couples'
    ? ((await reader.getOwn('Group', episode.id, tenant))?.resource as Group)
    : undefined;

/** Every session of the practice's course: its Encounters under the partners' records, joint ones by their id. */
export async function sessionsOf(
  reader: CourseReader,
  episode: Episode,
  links: readonly PatientLink[],
  tenant: string,
): Promise<Session[]> {
  const ctx = courseContext(links);
  const group = await couple(reader, episode, tenant);
  const ours = (await Promise.all(links.map((l) => reader.resourcesFor(l.ehrPatient ?? '', tenant)))).flat();
  const sessions = ours
    .filter((s) => s.ours && s.resource.resourceType === 'Encounter')
    .map((s) => sessionFromFhir(s.resource as Encounter, ctx).value)
    .filter((s): s is Session => s?.episodeId === episode.id);
  const jointIds = [...new Set(sessions.map((s) => s.jointSessionId).filter((id) => id !== undefined))];
  for (const id of jointIds) {
    const joint = await reader.getOwn('Encounter', id, tenant);
    const read = joint && sessionFromFhir(joint.resource as Encounter, ctx, group).value;
    if (read) sessions.push(read);
  }
  return sessions;
}

/** The practice's session: its own Encounter; the EHR's (another practice's among them) are not sessions here. */
export async function findSession(
  reader: CourseReader,
  id: string,
  tenant: string,
): Promise<SessionInCourse> {
  const stored = await reader.getOwn('Encounter', id, tenant);
  if (!stored) throw new OperationOutcomeError(notRegistered('session', id));
  const encounter = stored.resource as Encounter;
  const episodeId = identityContext.idOf('EpisodeOfCare', encounter.episodeOfCare?.[0]?.reference);
  const episode = episodeId === undefined ? undefined : await reader.getEpisode(episodeId, tenant);
  if (!episode) throw new OperationOutcomeError(notRegistered('session', id));
  const links = await linksOf(reader, episode, tenant);
  const session = sessionFromFhir(
    encounter,
    courseContext(links),
    await couple(reader, episode, tenant),
  ).value;
  if (!session) throw new OperationOutcomeError(notRegistered('session', id));
  const partners =
    session.couple === undefined
      ? []
      : (await sessionsOf(reader, episode, links, tenant)).filter((s) => s.jointSessionId === session.id);
  return { tenant, session, episode, links, partners };
}

/** The patient's own session in `id`: the session itself, or their partner session of a joint one. */
export async function patientSession(
  reader: CourseReader,
  id: string,
  patientId: string,
  tenant: string,
  expression: string,
): Promise<SessionInCourse & { own: Session }> {
  const found = await findSession(reader, id, tenant);
  const own =
    found.session.patientId === patientId
      ? found.session
      : found.partners.find((p) => p.patientId === patientId);
  if (!own) throw unprocessable(`Patient ${patientId} does not take part in session ${id}.`, expression);
  return { ...found, own };
}

export async function viewOf(
  sessions: readonly Session[],
  tenant: string,
  deps: RecordingDeps,
): Promise<SessionView[]> {
  const view = async (s: Session): Promise<SessionView> => {
    const stored = await deps.store.getOwn('Encounter', s.id, tenant);
    return { ...s, source: stored ? await sourceOf(stored, deps) : `Encounter/${s.id}` };
  };
  const joints = sessions.filter((s) => s.jointSessionId === undefined);
  return Promise.all(
    joints.map(async (s) => {
      const partners = sessions.filter((p) => p.jointSessionId === s.id);
      return {
        ...(await view(s)),
        ...(partners.length ? { partners: await Promise.all(partners.map(view)) } : {}),
      };
    }),
  );
}

const write = async (
  tx: StoreTx,
  sessions: Session[],
  { tenant, links }: Pick<SessionInCourse, 'tenant' | 'links'>,
  deps: RecordingDeps,
) =>
  record(
    tx,
    sessions.map((s) => ({ resource: sessionToFhir(s, courseContext(links)), queue: links[0]!.ehrPatient })),
    deps,
    tenant,
  );

export async function scheduleSession(
  episodeId: string,
  input: SessionScheduling,
  deps: RecordingDeps,
  tenant: string,
): Promise<Answered<Answer<'Session'> & SessionView>> {
  const sessions = await deps.store.transaction(async (tx) => {
    const episode = await tx.getEpisode(episodeId, tenant);
    if (!episode) throw new OperationOutcomeError(notRegistered('episode', episodeId));
    if (episode.status !== 'active' && episode.status !== 'planned') {
      throw unprocessable(`Episode ${episodeId} is ${episode.status}: no session can be scheduled in it.`);
    }
    if (input.mode === 'remote' && input.chaperone === undefined) {
      throw new OperationOutcomeError(
        badRequest('A remote medicine session names the chaperone in the room.', 'chaperone', 'required'),
      );
    }
    if ((input.mode !== undefined || input.chaperone !== undefined) && input.phase !== 'medicine') {
      throw unprocessable(
        'Only a medicine session is remote or in person with a chaperone.',
        input.mode !== undefined ? 'mode' : 'chaperone',
      );
    }
    if (input.chaperone !== undefined && input.mode !== 'remote') {
      throw unprocessable('A chaperone is named for a remote medicine session.', 'chaperone');
    }
    const links = await linksOf(tx, episode, tenant);
    const id = input.id ?? randomUUID();
    if (await tx.getOwn('Encounter', id, tenant)) {
      throw new OperationOutcomeError(conflict(`A session ${id} already exists.`, 'id', 'duplicate'));
    }
    const base: Omit<Session, 'id'> = {
      episodeId,
      phase: input.phase,
      status: 'planned',
      start: input.start,
      ...(input.end ? { end: input.end } : {}),
      ...(input.therapist ? { therapist: input.therapist } : {}),
      ...(input.mode === 'remote' ? { mode: 'remote' as const, chaperone: input.chaperone! } : {}),
    };
    const [first, second] = episode.patients as [string, string?];
    const sessions: Session[] =
      second === undefined
        ? [{ ...base, id, patientId: first }]
        : [
            { ...base, id, couple: [first, second] },
            ...[first, second].map((p) => ({ ...base, id: randomUUID(), patientId: p, jointSessionId: id })),
          ];
    await write(tx, sessions, { tenant, links }, deps);
    return sessions;
  });
  return answered((await viewOf(sessions, tenant, deps))[0]!, created());
}

export type SessionAction = 'start' | 'complete' | 'cancel';

const MOVES: Record<SessionAction, { from: SessionStatus[]; to: SessionStatus }> = {
  start: { from: ['planned'], to: 'in-progress' },
  complete: { from: ['in-progress'], to: 'finished' },
  cancel: { from: ['planned', 'in-progress'], to: 'cancelled' },
};

/**
 * Whether each patient of a medicine session may go home at `time`: refused (422, every unmet
 * criterion of every partner) unless the criteria hold, or an override says why; an override that
 * passes over unmet criteria is reported to the prescriber (one alert per patient concerned). Each
 * patient's session report is written with it.
 */
async function discharge(
  tx: StoreTx,
  found: SessionInCourse,
  input: SessionMove & { time: string },
  ended: (s: Session) => Session,
  deps: RecordingDeps,
): Promise<Write[]> {
  const parts = await partsOf(tx, found, deps);
  const findings = dischargeFindings(parts, input, deps);
  if (findings.length > 0 && input.override === undefined) throw refusal(findings);
  const reports = completionReports(parts, found, ended, input, findings, deps);
  const alerts = parts.flatMap((part) => {
    const unmet = findings.filter((f) => f.patientId === part.own.patientId);
    if (unmet.length === 0) return [];
    return [
      prescriberAlert(
        'discharge-override',
        `discharge-${part.own.id}`,
        part,
        found,
        {
          at: input.time,
          message: `Discharged at ${input.time} although ${unmet.map((f) => f.message.replace(/\.$/, '')).join('; ')}. The therapist's reason: ${input.override}`,
        },
        deps,
      ),
    ];
  });
  return [...alerts, ...reports];
}

/** Moves a session (and a joint session's partner sessions) along: planned, in progress, finished or cancelled. */
export async function moveSession(
  id: string,
  action: SessionAction,
  input: SessionMove,
  deps: RecordingDeps,
  tenant: string,
): Promise<Answered<Answer<'Session'> & SessionView>> {
  const moved = await deps.store.transaction(async (tx) => {
    const found = await findSession(tx, id, tenant);
    const { session, links, partners } = found;
    if (session.jointSessionId !== undefined) {
      throw unprocessable(
        `Session ${id} is one partner's part of joint session ${session.jointSessionId}: move the joint session.`,
      );
    }
    const move = MOVES[action];
    if (!move.from.includes(session.status)) {
      throw unprocessable(
        `Session ${id} is ${session.status}; only a ${move.from.join(' or ')} session can be ${action === 'cancel' ? 'cancelled' : `${action}ed`}.`,
      );
    }
    const time = input.time ?? (deps.now?.() ?? new Date()).toISOString();
    if (
      action === 'complete' &&
      session.start !== undefined &&
      Date.parse(time) < Date.parse(session.start)
    ) {
      throw unprocessable(`Session ${id} started at ${session.start}; it cannot end before.`, 'time');
    }
    const medicineOnly = (['transport', 'override', 'note'] as const).find((f) => input[f] !== undefined);
    if (medicineOnly !== undefined && !(action === 'complete' && session.phase === 'medicine')) {
      throw unprocessable(
        'Transport home, a discharge override and a note for the report are said when completing a medicine session.',
        medicineOnly,
      );
    }
    const next = (s: Session): Session => ({
      ...s,
      status: move.to,
      ...(action === 'start' ? { start: time } : {}),
      ...(action === 'complete' ? { end: time } : {}),
      ...(action === 'complete' && input.transport !== undefined ? { transport: input.transport } : {}),
    });
    const alerts =
      action === 'complete' && session.phase === 'medicine'
        ? await discharge(tx, found, { ...input, time }, next, deps)
        : [];
    const sessions = [session, ...partners].map(next);
    await write(tx, sessions, { tenant, links }, deps);
    await record(tx, alerts, deps, tenant);
    return sessions;
  });
  return answered((await viewOf(moved, tenant, deps))[0]!);
}
