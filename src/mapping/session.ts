/**
 * Encounter <-> Session. A patient's session is a `kap-session` coded with its phase; in a couples
 * course each partner's session is `partOf` the couple's `kap-joint-session`, whose subject is the
 * couple Group and whose types are `joint` plus the phase.
 *
 * A CPT code is added only where the session itself justifies it: a finished joint session is
 * conjoint psychotherapy (90847); a finished individual session is billed by its length (38-52
 * minutes 90834, 53 minutes or more 90837, as CPT's time rules say). Partner sessions carry none:
 * the joint session is the one billed.
 */
import type { CodeableConcept, Encounter, Group } from 'fhir/r4';
import type { Session, SessionPhase, SessionStatus } from '../domain/model.js';
import { CPT, HL7_CODE, identifierSystem, SYSTEM } from '../fhir/codes.js';
import { type Issue, issue } from '../fhir/outcome.js';
import { domainIdOf, type MappingContext, type Read } from '../fhir/reference-context.js';
import { codesIn, concept, ownOpening, readStatus } from './coding.js';
import { coupleFromFhir, PHASE_DISPLAY, SESSION_PHASES } from './episode.js';

const STATUSES: readonly SessionStatus[] = [
  'planned',
  'in-progress',
  'finished',
  'cancelled',
  'entered-in-error',
];
/** Encounter statuses the domain has no word for, read as the nearest one. */
const NEAREST_STATUS: Record<string, SessionStatus> = {
  arrived: 'in-progress',
  triaged: 'in-progress',
  onleave: 'in-progress',
};

/** The participant type of a remote session's chaperone, in words (no standard code says chaperone). */
const CHAPERONE = 'chaperone';

const phaseConcept = (phase: SessionPhase | 'joint'): CodeableConcept =>
  concept(SYSTEM.sessionPhase, phase, PHASE_DISPLAY[phase]);

function cptFor(session: Session): CodeableConcept | undefined {
  if (session.status !== 'finished') return undefined;
  if (session.couple !== undefined) return concept(SYSTEM.cpt, CPT.couples);
  if (session.jointSessionId !== undefined || session.start === undefined || session.end === undefined) {
    return undefined;
  }
  const minutes = (Date.parse(session.end) - Date.parse(session.start)) / 60_000;
  if (minutes >= 53) return concept(SYSTEM.cpt, CPT.psychotherapy60);
  if (minutes >= 38) return concept(SYSTEM.cpt, CPT.psychotherapy45);
  return undefined;
}

export function sessionToFhir(session: Session, ctx: MappingContext): Encounter {
  const joint = session.couple !== undefined;
  const cpt = cptFor(session);
  const type = [
    ...(joint ? [phaseConcept('joint')] : []),
    phaseConcept(session.phase),
    ...(cpt ? [cpt] : []),
  ];
  const encounter: Encounter = {
    ...ownOpening(ctx, 'Encounter', session.id, joint ? 'kap-joint-session' : 'kap-session'),
    status: session.status,
    class:
      session.mode === 'remote'
        ? { system: SYSTEM.actCode, code: HL7_CODE.virtual, display: 'virtual' }
        : { system: SYSTEM.actCode, code: HL7_CODE.ambulatory, display: 'ambulatory' },
    type,
    subject: {
      reference: joint ? ctx.ref('Group', session.episodeId) : ctx.ref('Patient', session.patientId ?? ''),
    },
    episodeOfCare: [{ reference: ctx.ref('EpisodeOfCare', session.episodeId) }],
  };
  const participant = [
    ...(session.therapist === undefined ? [] : [{ individual: { reference: session.therapist } }]),
    // The chaperone is named, not registered: a display with no reference.
    ...(session.chaperone === undefined
      ? []
      : [{ type: [{ text: CHAPERONE }], individual: { display: session.chaperone } }]),
  ];
  if (participant.length > 0) encounter.participant = participant;
  if (session.transport !== undefined)
    encounter.hospitalization = { dischargeDisposition: { text: session.transport } };
  if (session.start !== undefined || session.end !== undefined) {
    encounter.period = {
      ...(session.start === undefined ? {} : { start: session.start }),
      ...(session.end === undefined ? {} : { end: session.end }),
    };
  }
  if (session.jointSessionId !== undefined) {
    encounter.partOf = { reference: ctx.ref('Encounter', session.jointSessionId) };
  }
  return encounter;
}

/** The phase among the encounter's types, and whether one of them marks a joint session. */
function readPhase(encounter: Encounter, issues: Issue[]): { phase?: SessionPhase; joint: boolean } {
  let phase: SessionPhase | undefined;
  let joint = false;
  (encounter.type ?? []).forEach((type, i) => {
    for (const code of codesIn(type, SYSTEM.sessionPhase)) {
      const known = SESSION_PHASES.find((p) => p === code);
      if (code === 'joint') joint = true;
      else if (known !== undefined) phase ??= known;
      else
        issues.push(
          issue('error', 'code-invalid', `"${code}" is not a KAP session phase.`, `Encounter.type[${i}]`),
        );
    }
  });
  if (phase === undefined) {
    issues.push(
      issue(
        'error',
        'required',
        'The encounter has no preparation, medicine or integration phase.',
        'Encounter.type',
      ),
    );
  }
  return phase === undefined ? { joint } : { phase, joint };
}

/**
 * Reads a session. A joint session's partners come from its couple Group: pass it, or let
 * `ctx.resolve` find it.
 */
export function sessionFromFhir(encounter: Encounter, ctx: MappingContext, couple?: Group): Read<Session> {
  const issues: Issue[] = [];
  const id = domainIdOf(ctx, encounter, 'Encounter', identifierSystem('Encounter'));
  if (id === undefined) issues.push(issue('error', 'required', 'The encounter has no id.', 'Encounter.id'));
  const status = readStatus(
    encounter.status,
    { known: STATUSES, nearest: NEAREST_STATUS, what: 'session status', expression: 'Encounter.status' },
    issues,
  );
  const { phase, joint } = readPhase(encounter, issues);
  const episodeId = (encounter.episodeOfCare ?? [])
    .map((e) => ctx.idOf('EpisodeOfCare', e))
    .find((e) => e !== undefined);
  if (episodeId === undefined) {
    issues.push(
      issue('error', 'required', 'The session names no known KAP episode.', 'Encounter.episodeOfCare'),
    );
  }
  const patientId = ctx.idOf('Patient', encounter.subject);
  const subjectIsGroup = ctx.idOf('Group', encounter.subject) !== undefined;
  let partners: [string, string] | undefined;
  if (joint || subjectIsGroup) {
    const resolved = ctx.resolve?.(encounter.subject?.reference ?? '');
    const group = couple ?? (resolved?.resourceType === 'Group' ? (resolved as Group) : undefined);
    if (group === undefined) {
      issues.push(
        issue(
          'error',
          'not-found',
          'The joint session names a couple Group that is not at hand.',
          'Encounter.subject',
        ),
      );
    } else {
      const read = coupleFromFhir(group, ctx);
      issues.push(...read.issues);
      partners = read.value;
    }
  } else if (patientId === undefined) {
    issues.push(issue('error', 'required', 'The session names no known patient.', 'Encounter.subject'));
  }
  if (id === undefined || status === undefined || phase === undefined || episodeId === undefined) {
    return { value: undefined, issues };
  }
  if (patientId === undefined && partners === undefined) return { value: undefined, issues };

  const value: Session = { id, episodeId, phase, status };
  if (partners !== undefined) value.couple = partners;
  else if (patientId !== undefined) value.patientId = patientId;
  const jointSessionId = ctx.idOf('Encounter', encounter.partOf);
  if (jointSessionId !== undefined) value.jointSessionId = jointSessionId;
  if (encounter.period?.start !== undefined) value.start = encounter.period.start;
  if (encounter.period?.end !== undefined) value.end = encounter.period.end;
  const therapist = encounter.participant
    ?.map((p) => p.individual?.reference)
    .find((r) => r?.includes('Practitioner'));
  if (therapist !== undefined) value.therapist = therapist;
  if (encounter.class?.code === HL7_CODE.virtual) value.mode = 'remote';
  const chaperone = encounter.participant?.find((p) => p.type?.some((t) => t.text === CHAPERONE))?.individual
    ?.display;
  if (chaperone !== undefined) value.chaperone = chaperone;
  const transport = encounter.hospitalization?.dischargeDisposition?.text;
  if (transport !== undefined) value.transport = transport;
  return { value, issues };
}
