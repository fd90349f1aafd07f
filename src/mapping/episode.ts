/**
 * EpisodeOfCare + CarePlan (+ Goal for the intention, + the couple's Group) <-> Episode.
 *
 * EpisodeOfCare has room for one patient: a couples (KARP) course names the first partner there,
 * and the CarePlan's subject is the couple, a `kap-couple` Group of both partners. The CarePlan
 * holds one activity per planned session, coded with its phase.
 */
import type { CarePlan, CarePlanActivity, EpisodeOfCare, Goal, Group, Reference } from 'fhir/r4';
import type { Episode, EpisodeStatus, EpisodeType, SessionPhase } from '../domain/model.js';
import { identifierSystem, KAP_CODE, SYSTEM } from '../fhir/codes.js';
import { type Issue, issue } from '../fhir/outcome.js';
import { domainIdOf, type MappingContext, type Read } from '../fhir/reference-context.js';
import { codesIn, concept, ownOpening } from './coding.js';

export const SESSION_PHASES: readonly SessionPhase[] = ['preparation', 'medicine', 'integration'];
export const PHASE_DISPLAY: Record<SessionPhase | 'joint', string> = {
  preparation: 'Preparation session',
  medicine: 'Medicine session',
  integration: 'Integration session',
  joint: 'Joint couples session',
};
const TYPE_DISPLAY: Record<EpisodeType, string> = { individual: 'Individual KAP', couples: 'Couples KARP' };
const EPISODE_STATUSES: readonly EpisodeStatus[] = [
  'planned',
  'active',
  'onhold',
  'finished',
  'cancelled',
  'entered-in-error',
];

/** The same course status in the words of CarePlan, Goal and CarePlan activities. */
const STATUS_AS: Record<
  EpisodeStatus,
  { carePlan: CarePlan['status']; goal: Goal['lifecycleStatus']; activity: string }
> = {
  planned: { carePlan: 'draft', goal: 'planned', activity: 'not-started' },
  active: { carePlan: 'active', goal: 'active', activity: 'scheduled' },
  onhold: { carePlan: 'on-hold', goal: 'on-hold', activity: 'on-hold' },
  finished: { carePlan: 'completed', goal: 'completed', activity: 'completed' },
  cancelled: { carePlan: 'revoked', goal: 'cancelled', activity: 'cancelled' },
  'entered-in-error': {
    carePlan: 'entered-in-error',
    goal: 'entered-in-error',
    activity: 'entered-in-error',
  },
};

export interface EpisodeResources {
  episodeOfCare: EpisodeOfCare;
  carePlan: CarePlan;
  /** Present when the episode has an intention. */
  goal?: Goal;
  /** Present for a couples course. */
  couple?: Group;
}

/** The couple of a couples course, keyed by the course: `Group/<episode id>` with the default context. */
export function coupleToFhir(episodeId: string, partners: readonly string[], ctx: MappingContext): Group {
  return {
    ...ownOpening(ctx, 'Group', episodeId, 'kap-couple'),
    type: 'person',
    actual: true,
    quantity: partners.length,
    member: partners.map((p) => ({ entity: { reference: ctx.ref('Patient', p) } })),
  };
}

/** The partners of a couple Group, in member order. */
export function coupleFromFhir(group: Group, ctx: MappingContext): Read<[string, string]> {
  const members = (group.member ?? []).map((m) => ctx.idOf('Patient', m.entity));
  const known = members.filter((m): m is string => m !== undefined);
  if (known.length !== 2 || members.length !== 2) {
    const said = `The couple Group has ${members.length} members, ${known.length} of them known patients; a couple is two.`;
    return { value: undefined, issues: [issue('error', 'structure', said, 'Group.member')] };
  }
  return { value: [known[0]!, known[1]!], issues: [] };
}

export function episodeToFhir(episode: Episode, ctx: MappingContext): EpisodeResources {
  const episodeRef = { reference: ctx.ref('EpisodeOfCare', episode.id) };
  const couples = episode.type === 'couples';
  const subject: Reference = couples
    ? { reference: ctx.ref('Group', episode.id) }
    : { reference: ctx.ref('Patient', episode.patients[0] ?? '') };
  const period =
    episode.start === undefined && episode.end === undefined
      ? undefined
      : {
          ...(episode.start === undefined ? {} : { start: episode.start }),
          ...(episode.end === undefined ? {} : { end: episode.end }),
        };
  const episodeOfCare: EpisodeOfCare = {
    ...ownOpening(ctx, 'EpisodeOfCare', episode.id, 'kap-episode'),
    status: episode.status,
    type: [concept(SYSTEM.episodeType, episode.type, TYPE_DISPLAY[episode.type])],
    patient: { reference: ctx.ref('Patient', episode.patients[0] ?? '') },
    ...(period === undefined ? {} : { period }),
    ...(episode.therapist === undefined ? {} : { careManager: { reference: episode.therapist } }),
  };

  const activity: CarePlanActivity[] = SESSION_PHASES.flatMap((phase) =>
    Array.from({ length: episode.plannedSessions[phase] }, () => ({
      detail: {
        code: concept(SYSTEM.sessionPhase, phase, PHASE_DISPLAY[phase]),
        status: STATUS_AS[episode.status].activity as NonNullable<CarePlanActivity['detail']>['status'],
      },
    })),
  );
  const carePlan: CarePlan = {
    ...ownOpening(ctx, 'CarePlan', episode.id, 'kap-care-plan'),
    status: STATUS_AS[episode.status].carePlan,
    intent: 'plan',
    category: [concept(SYSTEM.kap, KAP_CODE.kapCourse, 'Ketamine-assisted psychotherapy course')],
    title: couples ? 'Couples KARP course' : 'Individual KAP course',
    subject,
    ...(period === undefined ? {} : { period }),
    supportingInfo: [episodeRef],
    ...(episode.intention === undefined ? {} : { goal: [{ reference: ctx.ref('Goal', episode.id) }] }),
    ...(activity.length === 0 ? {} : { activity }),
    // Why the course is on hold, finished or cancelled: the CarePlan's note (EpisodeOfCare has no reason).
    ...(episode.statusReason === undefined ? {} : { note: [{ text: episode.statusReason }] }),
  };

  const resources: EpisodeResources = { episodeOfCare, carePlan };
  if (episode.intention !== undefined) {
    resources.goal = {
      ...ownOpening(ctx, 'Goal', episode.id, 'kap-goal'),
      lifecycleStatus: STATUS_AS[episode.status].goal,
      description: { text: episode.intention },
      subject,
    };
  }
  if (couples) resources.couple = coupleToFhir(episode.id, episode.patients, ctx);
  return resources;
}

/** What is known of one course; any part may be missing, the EpisodeOfCare or CarePlan at least. */
export interface EpisodeInput {
  episodeOfCare?: EpisodeOfCare;
  carePlan?: CarePlan;
  goal?: Goal;
  couple?: Group;
}

function readStatus(input: EpisodeInput, issues: Issue[]): EpisodeStatus | undefined {
  const said = input.episodeOfCare?.status;
  const known = EPISODE_STATUSES.find((s) => s === said);
  if (known !== undefined) return known;
  if (said === 'waitlist') {
    issues.push(
      issue('warning', 'value', 'The waitlisted episode was read as planned.', 'EpisodeOfCare.status'),
    );
    return 'planned';
  }
  const fromPlan = EPISODE_STATUSES.find((s) => STATUS_AS[s].carePlan === input.carePlan?.status);
  if (fromPlan !== undefined) return fromPlan;
  issues.push(
    issue('error', 'required', 'The episode has no status that can be read.', 'EpisodeOfCare.status'),
  );
  return undefined;
}

function readType(input: EpisodeInput, issues: Issue[]): EpisodeType {
  const codes = codesIn(input.episodeOfCare?.type, SYSTEM.episodeType);
  const type = (['individual', 'couples'] as const).find((t) => codes.includes(t));
  if (type !== undefined) return type;
  const guessed = input.couple !== undefined || input.carePlan?.subject?.reference?.includes('Group/');
  const read: EpisodeType = guessed ? 'couples' : 'individual';
  issues.push(
    issue(
      'warning',
      'code-invalid',
      `The episode has no kap-episode-type; read as ${read}.`,
      'EpisodeOfCare.type',
    ),
  );
  return read;
}

function readPatients(
  input: EpisodeInput,
  type: EpisodeType,
  ctx: MappingContext,
  issues: Issue[],
): string[] {
  const first = ctx.idOf('Patient', input.episodeOfCare?.patient ?? input.carePlan?.subject);
  if (type === 'individual') {
    if (first !== undefined) return [first];
    issues.push(issue('error', 'required', 'The episode names no known patient.', 'EpisodeOfCare.patient'));
    return [];
  }
  const resolved = ctx.resolve?.(input.carePlan?.subject?.reference ?? '');
  const group = input.couple ?? (resolved?.resourceType === 'Group' ? (resolved as Group) : undefined);
  if (group !== undefined) {
    const couple = coupleFromFhir(group, ctx);
    issues.push(...couple.issues);
    if (couple.value !== undefined) return [...couple.value];
  } else {
    issues.push(
      issue(
        'warning',
        'not-found',
        'The couple Group is not at hand: only the first partner is known.',
        'CarePlan.subject',
      ),
    );
  }
  return first === undefined ? [] : [first];
}

function readPlannedSessions(carePlan: CarePlan | undefined, issues: Issue[]): Record<SessionPhase, number> {
  const planned: Record<SessionPhase, number> = { preparation: 0, medicine: 0, integration: 0 };
  if (carePlan === undefined) {
    issues.push(
      issue('warning', 'not-found', 'No CarePlan: no sessions are known to be planned.', 'CarePlan'),
    );
    return planned;
  }
  (carePlan.activity ?? []).forEach((a, i) => {
    const phase = SESSION_PHASES.find((p) => codesIn(a.detail?.code, SYSTEM.sessionPhase).includes(p));
    if (phase !== undefined) planned[phase] += 1;
    else
      issues.push(
        issue(
          'warning',
          'code-invalid',
          'A planned activity has no KAP session phase; it was not counted.',
          `CarePlan.activity[${i}].detail.code`,
        ),
      );
  });
  return planned;
}

export function episodeFromFhir(input: EpisodeInput, ctx: MappingContext): Read<Episode> {
  const issues: Issue[] = [];
  const { episodeOfCare, carePlan, goal } = input;
  const id =
    (episodeOfCare && domainIdOf(ctx, episodeOfCare, 'EpisodeOfCare', identifierSystem('EpisodeOfCare'))) ??
    (carePlan && domainIdOf(ctx, carePlan, 'CarePlan', identifierSystem('CarePlan')));
  if (id === undefined) issues.push(issue('error', 'required', 'The episode has no id.', 'EpisodeOfCare.id'));
  const status = readStatus(input, issues);
  const type = readType(input, issues);
  const patients = readPatients(input, type, ctx, issues);
  const plannedSessions = readPlannedSessions(carePlan, issues);
  if (id === undefined || status === undefined || patients.length === 0) return { value: undefined, issues };

  const value: Episode = { id, type, status, patients, plannedSessions };
  const therapist = episodeOfCare?.careManager?.reference;
  if (therapist !== undefined) value.therapist = therapist;
  const period = episodeOfCare?.period ?? carePlan?.period;
  if (period?.start !== undefined) value.start = period.start;
  if (period?.end !== undefined) value.end = period.end;
  const intention = goal?.description?.text ?? carePlan?.description;
  if (intention !== undefined) value.intention = intention;
  const reason = carePlan?.note?.find((n) => typeof n?.text === 'string')?.text;
  if (reason !== undefined) value.statusReason = reason;
  return { value, issues };
}
