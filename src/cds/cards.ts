/**
 * CDS Hooks cards from a KAP course's readiness: one card per reason the next medicine session
 * cannot go ahead (open safety flags first), one for the sessions the ketamine order authorises and
 * those taken, one per interacting medicine, one for a couples course's partner who is not ready,
 * and a plain "ready" card only when every rule passes (for both partners, in a couples course).
 * A pure function of the readiness answer: no clock, no I/O.
 *
 * Fails closed: a source kap-bridge holds but cannot read is a reason (readiness says so) and so a
 * card; a record that cannot be read at all is a critical card; "ready" is never said otherwise.
 */
import type { OutOfRangeReading } from '../domain/medicine-session.js';
import type { Readiness, Reason, ReasonCode, RuleId, Verdict, Warning } from '../domain/readiness.js';
import { REASONS } from '../domain/readiness.js';
import { CANONICAL_BASE } from '../fhir/codes.js';

export type Indicator = 'info' | 'warning' | 'critical';

export interface CdsAction {
  type: 'create' | 'update' | 'delete';
  description: string;
  resource?: { resourceType: string; [key: string]: unknown };
}

export interface Card {
  uuid: string;
  summary: string;
  detail: string;
  indicator: Indicator;
  source: { label: string; topic: { system: string; code: string; display: string } };
  suggestions?: { label: string; uuid: string; actions: CdsAction[] }[];
  selectionBehavior?: 'at-most-one' | 'any';
  links?: { label: string; url: string; type: 'absolute' }[];
}

/** The card kinds besides the readiness reasons, which are kinds of their own (their codes). */
export type CardKind =
  | ReasonCode
  | 'sessions'
  | 'last-medicine-session'
  | 'interacting-medication'
  | 'ready'
  | 'no-course'
  | 'record-unreadable';

/** Cards' topics: the card kind, under kap-bridge's canonical base (a CDS Hooks Coding, no FHIR code system). */
export const TOPIC_SYSTEM = `${CANONICAL_BASE}/cds-services/card-kind`;

/** One sentence under 140 characters per reason (CDS Hooks: `summary`). */
export const REASON_SUMMARIES: Record<ReasonCode, string> = {
  'link-pending': "KAP course: the EHR has not confirmed the practice's care of this patient yet",
  'no-episode': 'KAP: no treatment course is recorded for this patient',
  'episode-not-active': 'KAP: the treatment course is not active (on hold, finished or cancelled)',
  'no-consent': 'KAP: no informed consent is recorded for this course',
  'consent-not-active': 'KAP: the latest informed consent is not active',
  'consent-revoked': 'KAP: informed consent was revoked, rejected or withdrawn',
  'consent-out-of-period': 'KAP: the informed consent does not cover the session day',
  'no-preparation-session': 'KAP: no preparation session is done yet',
  'no-integration-session': 'KAP: integration session overdue since the last medicine session',
  'no-clearance': 'KAP: no medical clearance decision is recorded',
  'clearance-not-final': 'KAP: the medical clearance decision is not final',
  'clearance-not-cleared': 'KAP: the latest medical clearance decision is not "cleared"',
  'clearance-expired': 'KAP: the medical clearance has expired',
  'clearance-unreadable': 'KAP: a newer clearance decision could not be read',
  'no-prescription': 'KAP: there is no current ketamine order',
  'prescription-not-active': 'KAP: the current ketamine order is not active',
  'prescription-not-yet-valid': 'KAP: the current ketamine order is not valid yet',
  'prescription-expired': 'KAP: the current ketamine order has expired',
  'no-doses-left': 'KAP: every medicine session the ketamine order authorises is taken',
  'doses-unknown': 'KAP: the sessions the ketamine order authorises cannot be counted',
  'prescription-unreadable': 'KAP: a ketamine order could not be read; it may be the current one',
  'no-dispense': 'KAP: the ketamine of the current order has not been dispensed',
  'dispense-not-completed': 'KAP: the dispense of the current ketamine order is not completed',
  'safety-phq9-item9': 'Open safety flag: PHQ-9 item 9 (thoughts of self-harm) above 0, not reviewed yet',
  'safety-phq9-item9-unknown':
    'Safety: a PHQ-9 came without item 9 (thoughts of self-harm); its answer is unknown',
  'safety-cssrs-risk': 'Open safety flag: C-SSRS suicide risk moderate or high, not reviewed yet',
  'safety-contraindication': 'Open safety flag: a KAP contraindication is recorded, not reviewed yet',
  'safety-adverse-event': 'Open safety flag: a serious adverse event, not reviewed yet',
  'safety-finding-unreadable': 'Safety: a safety finding could not be read; treat it as an open flag',
  'safety-blood-pressure': 'KAP: the latest blood pressure is above the threshold',
  'blood-pressure-unreadable': 'KAP: a newer blood pressure reading could not be read',
  'predose-blood-pressure': 'KAP: the pre-dose blood pressure is checked on the session day',
  'ehr-stale': 'KAP: kap-bridge has not heard from the EHR for a while; its record may be behind',
  'partner-not-ready': 'KAP couples course: the partner is not ready',
  'couple-unreadable': "KAP couples course: the partner's record could not be read",
};

/** Reasons the sessions card speaks for, so they are not said twice. */
const SESSION_REASONS: ReadonlySet<ReasonCode> = new Set(['no-doses-left', 'doses-unknown']);

const indicatorOf = (r: Reason): Indicator => {
  const { rule } = REASONS[r.code];
  if (rule === 'safety' || r.code === 'safety-blood-pressure') return 'critical';
  return r.outcome === 'day-of' ? 'info' : 'warning';
};

const RANK: Record<Indicator, number> = { critical: 0, warning: 1, info: 2 };

/**
 * The course's last medicine session that began (completed or still under way): its report, when
 * one is written, and the readings in it out of range.
 */
export interface LastMedicineSession {
  /** The session's Encounter: `Encounter/id/_history/n`. */
  session: string;
  /** The session the console's page shows (the joint session, in a couple). */
  sessionId: string;
  /** When it began (or ended, when no start is known). */
  at: string;
  completed: boolean;
  /**
   * Its session report: the EHR's `Bundle/id/_history/v` once delivered, else kap-bridge's
   * `Bundle/id`; absent while none is written.
   */
  report?: string;
  outOfRange: readonly OutOfRangeReading[];
}

/**
 * The other partner of a couples course, as far as the asked partner's cards may show them: whether
 * their record could be read, their verdict and their reasons (of which a card shows only the kinds
 * of rule that stop them: never the partner's ids, values, dates, messages or sources).
 */
export type PartnerReadiness =
  | { readable: true; verdict: Verdict; reasons: readonly Reason[] }
  | { readable: false };

export interface CourseQuestion {
  readiness: Readiness;
  lastMedicineSession?: LastMedicineSession;
  /** In a couples course: the other partner. */
  partner?: PartnerReadiness;
  /** The EHR Patient the hook is about (`context.patientId`). */
  ehrPatientId: string;
  /** kap-bridge's public base URL: the console's course page is under it. */
  publicBaseUrl: string;
  /** When the hook was called, for a suggested Task's `authoredOn`. */
  now: string;
  newId: () => string;
}

const sourceLabel = (source: string | undefined): string =>
  `kap-bridge readiness: ${source ?? 'the aligned record'}`;

function card(
  q: Pick<CourseQuestion, 'newId'>,
  kind: CardKind,
  summary: string,
  indicator: Indicator,
  detail: string,
  source: string | undefined,
): Card {
  return {
    uuid: q.newId(),
    summary,
    detail,
    indicator,
    source: { label: sourceLabel(source), topic: { system: TOPIC_SYSTEM, code: kind, display: kind } },
  };
}

function details(
  q: CourseQuestion,
  lines: string[],
  source: string | undefined,
  more: string[] = [],
): string {
  const { readiness } = q;
  return [
    ...lines,
    '',
    ...(source ? [`- Source: \`${source}\``] : []),
    ...more,
    ...(readiness.episodeId ? [`- Course: \`EpisodeOfCare/${readiness.episodeId}\``] : []),
    `- Asked about a medicine session on ${readiness.date}; readiness: **${readiness.verdict}**`,
  ].join('\n');
}

/** The Task a safety flag suggests: the prescriber's review, focused on the flagged resource. */
function reviewSuggestion(q: CourseQuestion, r: Reason): NonNullable<Card['suggestions']>[number] {
  return {
    label: 'Ask for a safety review',
    uuid: q.newId(),
    actions: [
      {
        type: 'create',
        description:
          'Create a Task for the prescriber to review this safety flag before the next medicine session',
        resource: {
          resourceType: 'Task',
          status: 'requested',
          intent: 'order',
          priority: 'urgent',
          description: `Review the KAP safety flag: ${REASON_SUMMARIES[r.code]}`,
          for: { reference: `Patient/${q.ehrPatientId}` },
          ...(r.source ? { focus: { reference: r.source } } : {}),
          authoredOn: q.now,
        },
      },
    ],
  };
}

/** The console's page of the course (and of the medicine session, for the last session card). */
function withCourseLink(q: CourseQuestion, c: Card): Card {
  const episode = q.readiness.episodeId;
  if (!episode) return c;
  const course = encodeURIComponent(episode);
  const session = c.source.topic.code === 'last-medicine-session' ? q.lastMedicineSession : undefined;
  return {
    ...c,
    links: [
      ...(session
        ? [
            {
              label: `Open the medicine session${session.report ? ' and its report' : ''} in the KAP console`,
              url: `${q.publicBaseUrl}/console#/session/${course}/${encodeURIComponent(session.sessionId)}`,
              type: 'absolute' as const,
            },
          ]
        : []),
      {
        label: 'Open the course in the KAP console',
        url: `${q.publicBaseUrl}/console#/course/${course}`,
        type: 'absolute',
      },
    ],
  };
}

function reasonCard(q: CourseQuestion, r: Reason): Card {
  const indicator = indicatorOf(r);
  const c = card(q, r.code, REASON_SUMMARIES[r.code], indicator, details(q, [r.message], r.source), r.source);
  if (REASONS[r.code].rule === 'safety') {
    c.suggestions = [reviewSuggestion(q, r)];
    c.selectionBehavior = 'at-most-one';
  }
  return c;
}

/** Sessions authorised by the current ketamine order against those taken. */
function sessionsCard(q: CourseQuestion): Card | undefined {
  const rx = q.readiness.status.prescription;
  if (!rx) return undefined;
  const reasons = q.readiness.reasons.filter((r) => SESSION_REASONS.has(r.code));
  const { dosesAuthorised, dosesAdministered, dosesRemaining } = rx;
  const summary =
    dosesAuthorised === undefined
      ? `Ketamine order: ${dosesAdministered} medicine sessions taken; sessions authorised cannot be counted`
      : `Ketamine order: ${dosesAdministered} of ${dosesAuthorised} medicine sessions taken, ${dosesRemaining ?? 0} left`;
  const indicator: Indicator =
    dosesAuthorised === undefined || (dosesRemaining ?? 0) <= 0 ? 'warning' : 'info';
  const lines = [
    `Order status: ${rx.status}${rx.validUntil ? `, valid until ${rx.validUntil}` : ''}.`,
    ...reasons.map((r) => r.message),
  ];
  return card(q, 'sessions', summary, indicator, details(q, lines, rx.source), rx.source);
}

const warningCard = (q: CourseQuestion, w: Warning): Card =>
  card(
    q,
    'interacting-medication',
    'KAP: an active order for a medicine that interacts with ketamine',
    'warning',
    details(q, [w.message], w.source),
    w.source,
  );

/** What the last medicine session card says of the session's report. */
const reportState = (last: LastMedicineSession): { summary: string; line: string } => {
  if (last.report) return { summary: 'report written', line: `Session report: \`${last.report}\`.` };
  return last.completed
    ? {
        summary: 'no report yet',
        line: 'The session was completed, but no session report is written for it yet.',
      }
    : {
        summary: 'not completed, no report yet',
        line: 'The session is not completed yet, so it has no session report yet.',
      };
};

/**
 * The last medicine session: its report (the card's source), or that it has none yet, and its
 * readings out of range, or that there were none.
 */
function lastSessionCard(q: CourseQuestion): Card | undefined {
  const last = q.lastMedicineSession;
  if (!last) return undefined;
  const day = last.at.slice(0, 10);
  const n = last.outOfRange.length;
  const report = reportState(last);
  const summary =
    n === 0
      ? `Last medicine session (${day}), ${report.summary}: every vital sign reading within range`
      : `Last medicine session (${day}), ${report.summary}: ${n} vital sign reading${n === 1 ? '' : 's'} out of range`;
  const lines = [
    report.line,
    '',
    ...(n === 0
      ? ['No blood pressure, heart rate or SpO2 reading of the session was out of range.']
      : last.outOfRange.map((r) => `- ${r.at}: ${r.message}${r.source ? ` (\`${r.source}\`)` : ''}`)),
  ];
  const source = last.report ?? last.session;
  const detail = details(q, lines, source, last.report ? [`- Session: \`${last.session}\``] : []);
  return card(q, 'last-medicine-session', summary, n === 0 ? 'info' : 'warning', detail, source);
}

/** What stops the partner, by the kind of rule: all a partner card says of the partner's record. */
export const PARTNER_RULES: Record<RuleId, string> = {
  link: "the EHR's confirmation of the practice's care",
  episode: 'the course itself',
  consent: 'informed consent',
  preparation: 'the preparation session',
  integration: 'an integration session',
  clearance: 'medical clearance',
  prescription: 'the ketamine order',
  dispense: 'the ketamine dispense',
  safety: 'an open safety flag, not reviewed yet',
  'blood-pressure': 'blood pressure',
  'ehr-freshness': 'how recently kap-bridge heard from the EHR',
  couple: 'the couples course',
};

export const PARTNER_SAFETY_SUMMARY =
  'KAP couples course: the partner has an open safety flag; the joint medicine session cannot go ahead';

const PARTNER_SOURCE = 'the partner in the couples course';

/**
 * The other partner of a couples course, when not ready: one card, as urgent as the partner's most
 * urgent reason (critical for an open safety flag, or a record that cannot be read), saying which
 * kinds of rule stop them. Nothing else of the partner is shown: their own care sees the rest.
 */
function partnerCard(q: CourseQuestion, partner: PartnerReadiness): Card | undefined {
  if (partner.readable && partner.verdict === 'ready') return undefined;
  const { readiness } = q;
  const lines = [
    'This is a couples course: the joint medicine session goes ahead only when both partners are ready.',
  ];
  const course = readiness.episodeId ? [`- Course: \`EpisodeOfCare/${readiness.episodeId}\``] : [];
  if (!partner.readable) {
    return card(
      q,
      'couple-unreadable',
      REASON_SUMMARIES['couple-unreadable'],
      'critical',
      [
        ...lines,
        "The partner's record could not be read, so their safety flags and readiness are unknown: treat the joint session as not ready.",
        '',
        ...course,
      ].join('\n'),
      PARTNER_SOURCE,
    );
  }
  const indicator = partner.reasons.map(indicatorOf).sort((a, b) => RANK[a] - RANK[b])[0] ?? 'warning';
  const rules = [...new Set(partner.reasons.map((r) => REASONS[r.code].rule))];
  const safety = rules.includes('safety');
  return card(
    q,
    'partner-not-ready',
    safety ? PARTNER_SAFETY_SUMMARY : REASON_SUMMARIES['partner-not-ready'],
    indicator,
    [
      ...lines,
      `What stops the partner (${partner.verdict}), by kind; the partner's own prescriber and therapist see the rest:`,
      ...rules.map((rule) => `- ${PARTNER_RULES[rule]}`),
      '',
      ...course,
      `- Asked about a joint medicine session on ${readiness.date}`,
    ].join('\n'),
    PARTNER_SOURCE,
  );
}

/** Every card for one course, most urgent first. */
export function courseCards(q: CourseQuestion): Card[] {
  const { readiness } = q;
  const cards: Card[] = [
    ...readiness.reasons.filter((r) => !SESSION_REASONS.has(r.code)).map((r) => reasonCard(q, r)),
    ...readiness.warnings.map((w) => warningCard(q, w)),
  ];
  const sessions = sessionsCard(q);
  if (sessions) cards.push(sessions);
  const last = lastSessionCard(q);
  if (last) cards.push(last);
  const partner = q.partner && partnerCard(q, q.partner);
  if (partner) cards.push(partner);
  if (readiness.verdict === 'ready' && !partner) {
    cards.push(
      card(
        q,
        'ready',
        `KAP: ready for a medicine session on ${readiness.date}; every readiness rule passes`,
        'info',
        details(q, ['Clearance, order, dispense, consent, sessions and safety flags all pass.'], undefined),
        undefined,
      ),
    );
  }
  return cards.map((c) => withCourseLink(q, c)).sort((a, b) => RANK[a.indicator] - RANK[b.indicator]);
}

/** A ketamine order for a patient in no KAP course kap-bridge knows of. */
export const noCourseCard = (newId: () => string, ehrPatientId: string): Card =>
  card(
    { newId },
    'no-course',
    'Ketamine order: kap-bridge knows no KAP course for this patient',
    'warning',
    [
      'No practice using kap-bridge has linked this patient to a KAP course, so nothing here says',
      'the patient is cleared, consented or free of open safety flags.',
      '',
      `- Patient: \`Patient/${ehrPatientId}\``,
    ].join('\n'),
    undefined,
  );

/** A course whose record could not be read: never silence, never "all clear". */
export const unreadableRecordCard = (newId: () => string, patientId: string): Card =>
  card(
    { newId },
    'record-unreadable',
    "KAP: kap-bridge could not read this course's record; treat the patient as not ready",
    'critical',
    [
      'The aligned record of this KAP course could not be read, so open safety flags and readiness',
      'are unknown. Ask again shortly; the error is logged without patient data.',
      '',
      `- kap-bridge patient: \`${patientId}\``,
    ].join('\n'),
    undefined,
  );
