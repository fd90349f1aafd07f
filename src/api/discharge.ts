/**
 * A medicine session's parts and its discharge: each patient's own part of the session read from
 * their record, the discharge criteria that do not hold, and the alerts the prescriber gets at once
 * (a discharge against the criteria, a serious adverse event, a vital out of range), queued ahead of
 * the rest. Transport-free.
 */
import {
  type DischargeCheckCode,
  dischargeChecks,
  type Finding,
  firstDoseAt,
  medicineFacts,
  outOfRange,
} from '../domain/medicine-session.js';
import type { AlertKind, Episode, KapObservation, PatientLink, Session } from '../domain/model.js';
import { currentOrder, type PatientRecord } from '../domain/readiness.js';
import { spanOf } from '../domain/time.js';
import { CANONICAL_BASE } from '../fhir/codes.js';
import { alertToFhir } from '../mapping/prescriber-alert.js';
import { sessionReportToFhir } from '../mapping/session-report.js';
import { loadRecord } from '../record.js';
import { medicinePolicyOf } from './patients.js';
import { courseContext, type RecordingDeps, unprocessable, type Write } from './recording.js';

/** A session with its practice and course, as src/api/sessions.ts finds it. */
export interface SessionInCourse {
  tenant: string;
  session: Session;
  episode: Episode;
  links: (PatientLink & { ehrPatient: string })[];
  partners: Session[];
}

type CourseReader = Parameters<typeof loadRecord>[0];

/** Each patient's own session in a medicine session: the session itself, or a joint one's partner sessions. */
const ownSessions = ({ session, partners }: SessionInCourse): Session[] =>
  session.couple === undefined ? [session] : partners;

/** A medicine session, or a 422 saying it is not one. */
export function medicineOnly(found: SessionInCourse, id: string): SessionInCourse {
  if (found.session.phase !== 'medicine') {
    throw unprocessable(`Session ${id} is a ${found.session.phase} session, not a medicine session.`);
  }
  return found;
}

/** Each patient's part of the session, read from their record. */
export async function partsOf(
  reader: CourseReader,
  found: SessionInCourse,
  deps: Pick<RecordingDeps, 'patientLink'>,
) {
  const { tenant } = found;
  return Promise.all(
    ownSessions(found).map(async (own) => {
      const link = found.links.find((l) => l.id === own.patientId) as PatientLink;
      const record = await loadRecord(reader, link, tenant, deps.patientLink);
      return { own, link, record, facts: medicineFacts(record, own, own.patientId!) };
    }),
  );
}

export type DischargeFinding = Finding<DischargeCheckCode> & { patientId: string };

/** What stands between each patient of the session and discharge at `time`, with whose it is. */
export function dischargeFindings(
  parts: Awaited<ReturnType<typeof partsOf>>,
  discharge: { time: string; transport?: string },
  deps: Pick<RecordingDeps, 'policy' | 'medicine'>,
): DischargeFinding[] {
  const policy = medicinePolicyOf(deps);
  return parts.flatMap(({ own, facts }) =>
    dischargeChecks(facts, discharge, policy).map((f) => ({ ...f, patientId: own.patientId! })),
  );
}

/**
 * An alert to the prescriber of the patient's current order about `session`, queued ahead of the
 * rest of the course's queue. Its id is derived from what it is about, so recording the same thing
 * again does not alert twice.
 */
export function prescriberAlert(
  kind: AlertKind,
  id: string,
  part: { own: Session; link: PatientLink; record: PatientRecord },
  found: Pick<SessionInCourse, 'links'>,
  said: { message: string; about?: string[]; at: string },
  deps: Pick<RecordingDeps, 'policy'>,
): Write {
  const rx = currentOrder(part.record, (v) => spanOf(v, deps.policy.timeZone)).rx;
  const resource = alertToFhir(
    {
      id,
      kind,
      patientId: part.link.id,
      sessionId: part.own.id,
      sentAt: said.at,
      message: said.message,
      ...(rx?.prescriber === undefined ? {} : { prescriber: rx.prescriber }),
      ...(said.about === undefined ? {} : { about: said.about }),
    },
    courseContext(found.links),
  );
  return { resource, queue: found.links[0]!.ehrPatient!, priority: true };
}

/**
 * A vital sign out of range during a medicine session's monitoring (after the first dose) alerts
 * the prescriber at once; none otherwise.
 */
export async function vitalAlert(
  reader: CourseReader,
  found: SessionInCourse & { own: Session },
  observation: KapObservation,
  deps: Pick<RecordingDeps, 'policy' | 'medicine' | 'patientLink'>,
): Promise<Write[]> {
  if (found.own.phase !== 'medicine') return [];
  const policy = medicinePolicyOf(deps);
  const wrong = outOfRange(observation, policy);
  if (wrong === undefined) return [];
  const part = (await partsOf(reader, found, deps)).find((p) => p.own.id === found.own.id);
  const first = part === undefined ? undefined : firstDoseAt(part.facts);
  if (part === undefined || first === undefined || Date.parse(observation.effective) < first) return [];
  return [
    prescriberAlert(
      'vital-out-of-range',
      `vital-${observation.id}`,
      part,
      found,
      {
        at: observation.effective,
        message: `During the medicine session, at ${observation.effective}, ${wrong}.`,
        about: [`Observation/${observation.id}`],
      },
      deps,
    ),
  ];
}

/** The id of a patient's report of their own session. */
export const reportIdOf = (ownSessionId: string) => `report-${ownSessionId}`;

/**
 * Each patient's report of a medicine session completed at `input.time`: their part of it with the
 * session as it ends, their adverse events in it, their active orders for other medicines, the
 * discharge criteria that did not hold, the override and the therapist's note.
 */
export function completionReports(
  parts: Awaited<ReturnType<typeof partsOf>>,
  found: SessionInCourse,
  ended: (s: Session) => Session,
  discharge: { time: string; override?: string; note?: string },
  findings: readonly DischargeFinding[],
  deps: Pick<RecordingDeps, 'policy' | 'medicine'>,
): Write[] {
  return parts.map(({ own, link, record, facts }) => {
    const session = ended(own);
    const unmet = findings.filter((f) => f.patientId === own.patientId);
    const identifier = link.identifiers.find((i) => !i.system.startsWith(CANONICAL_BASE));
    const resource = sessionReportToFhir(
      {
        id: reportIdOf(own.id),
        issuedAt: discharge.time,
        facts: { ...facts, session },
        ...(identifier === undefined ? {} : { patientIdentifier: identifier }),
        adverseEvents: record.adverseEvents.filter((e) => e.sessionId === own.id),
        concomitant: record.prescriptions.filter((p) => p.status === 'active' && !p.medication.isKetamine),
        unmet,
        ...(unmet.length > 0 && discharge.override !== undefined ? { override: discharge.override } : {}),
        ...(discharge.note === undefined ? {} : { note: discharge.note }),
      },
      medicinePolicyOf(deps),
      courseContext(found.links),
    );
    return { resource, queue: found.links[0]!.ehrPatient! };
  });
}
