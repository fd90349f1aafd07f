/**
 * "May this patient dose on Thursday, and if not, why?" A pure function of the aligned record and
 * the question: no clock, no I/O.
 *
 * It fails closed. Every rule of RULES has three outcomes: it passes, it blocks (a reason), or it
 * cannot tell (a reason too: unknown is not ready). A day-of check is a rule that can only pass on
 * the day itself (the pre-dose blood pressure). `ready` is true only when every rule passes. Every
 * reason carries a machine code, a sentence and the FHIR source (`Type/id/_history/n`) it rests on.
 * The README's "Readiness rules" table states the same rules; a test keeps the two together.
 */
import type {
  Administration,
  ClearanceDecision,
  ClinicalFinding,
  Dispense,
  Episode,
  FhirSource,
  InformedConsent,
  KapAdverseEvent,
  KapObservation,
  PrescriberReview,
  Prescription,
  Session,
  UnreadableSource,
} from './model.js';
import { DAY, dayOf, HOUR, type Span, spanOf } from './time.js';

export interface ReadinessPolicy {
  /** A blood pressure above either value blocks. */
  systolicMax: number;
  diastolicMax: number;
  /** How long the EHR may stay silent before what kap-bridge holds of it is no longer trusted. */
  ehrFreshnessHours: number;
  /** The practice's IANA time zone: date-only values are days there. */
  timeZone: string;
  /** How long a clearance with no end of validity holds, in days from the decision. */
  clearanceMaxDays: number;
  /** Whether a completed dispense of the current order is required (the patient brings the medicine). */
  requireDispense: boolean;
  /** Whether an integration session is required between two medicine sessions. */
  requireIntegration: boolean;
}

export const DEFAULT_POLICY: ReadinessPolicy = {
  systolicMax: 140,
  diastolicMax: 90,
  ehrFreshnessHours: 24,
  timeZone: 'UTC',
  clearanceMaxDays: 180,
  requireDispense: true,
  requireIntegration: true,
};

/** Everything kap-bridge holds about one patient, as aligned from both sides. */
export interface PatientRecord {
  patientId: string;
  /** Whether the EHR has confirmed the practice's care relationship with this patient. */
  link: 'confirmed' | 'pending';
  episodes: Episode[];
  consents: InformedConsent[];
  clearances: ClearanceDecision[];
  prescriptions: Prescription[];
  dispenses: Dispense[];
  sessions: Session[];
  administrations: Administration[];
  observations: KapObservation[];
  findings: ClinicalFinding[];
  reviews: PrescriberReview[];
  adverseEvents: KapAdverseEvent[];
  unreadable: UnreadableSource[];
}

export const emptyRecord = (patientId: string): PatientRecord => ({
  patientId,
  link: 'confirmed',
  episodes: [],
  consents: [],
  clearances: [],
  prescriptions: [],
  dispenses: [],
  sessions: [],
  administrations: [],
  observations: [],
  findings: [],
  reviews: [],
  adverseEvents: [],
  unreadable: [],
});

export type RuleId =
  | 'link'
  | 'episode'
  | 'consent'
  | 'preparation'
  | 'integration'
  | 'clearance'
  | 'prescription'
  | 'dispense'
  | 'safety'
  | 'blood-pressure'
  | 'ehr-freshness'
  | 'couple';

/** What a reason does to the verdict: it blocks, the rule could not tell, or it is checked on the day. */
export type Outcome = 'block' | 'unknown' | 'day-of';

/** Every reason code, the rule that gives it and what it does to the verdict. */
export const REASONS = {
  'link-pending': { rule: 'link', outcome: 'unknown' },
  'no-episode': { rule: 'episode', outcome: 'block' },
  'episode-not-active': { rule: 'episode', outcome: 'block' },
  'no-consent': { rule: 'consent', outcome: 'block' },
  'consent-not-active': { rule: 'consent', outcome: 'block' },
  'consent-revoked': { rule: 'consent', outcome: 'block' },
  'consent-out-of-period': { rule: 'consent', outcome: 'block' },
  'no-preparation-session': { rule: 'preparation', outcome: 'block' },
  'no-integration-session': { rule: 'integration', outcome: 'block' },
  'no-clearance': { rule: 'clearance', outcome: 'block' },
  'clearance-not-final': { rule: 'clearance', outcome: 'block' },
  'clearance-not-cleared': { rule: 'clearance', outcome: 'block' },
  'clearance-expired': { rule: 'clearance', outcome: 'block' },
  'clearance-unreadable': { rule: 'clearance', outcome: 'unknown' },
  'no-prescription': { rule: 'prescription', outcome: 'block' },
  'prescription-not-active': { rule: 'prescription', outcome: 'block' },
  'prescription-not-yet-valid': { rule: 'prescription', outcome: 'block' },
  'prescription-expired': { rule: 'prescription', outcome: 'block' },
  'no-doses-left': { rule: 'prescription', outcome: 'block' },
  'doses-unknown': { rule: 'prescription', outcome: 'unknown' },
  'prescription-unreadable': { rule: 'prescription', outcome: 'unknown' },
  'no-dispense': { rule: 'dispense', outcome: 'block' },
  'dispense-not-completed': { rule: 'dispense', outcome: 'block' },
  'safety-phq9-item9': { rule: 'safety', outcome: 'block' },
  'safety-phq9-item9-unknown': { rule: 'safety', outcome: 'unknown' },
  'safety-cssrs-risk': { rule: 'safety', outcome: 'block' },
  'safety-contraindication': { rule: 'safety', outcome: 'block' },
  'safety-adverse-event': { rule: 'safety', outcome: 'block' },
  'safety-finding-unreadable': { rule: 'safety', outcome: 'unknown' },
  'safety-blood-pressure': { rule: 'blood-pressure', outcome: 'block' },
  'blood-pressure-unreadable': { rule: 'blood-pressure', outcome: 'unknown' },
  'predose-blood-pressure': { rule: 'blood-pressure', outcome: 'day-of' },
  'ehr-stale': { rule: 'ehr-freshness', outcome: 'unknown' },
  'partner-not-ready': { rule: 'couple', outcome: 'block' },
  'couple-unreadable': { rule: 'couple', outcome: 'unknown' },
} as const satisfies Record<string, { rule: RuleId; outcome: Outcome }>;

export type ReasonCode = keyof typeof REASONS;

export interface Reason {
  code: ReasonCode;
  outcome: Outcome;
  message: string;
  /** The FHIR resource (with version) the reason rests on, when one exists. */
  source?: FhirSource;
  /** For couples: whose reason it is. */
  patientId?: string;
}

export type Verdict = 'ready' | 'pending-day-of-checks' | 'not-ready';

export interface MedicationStatus {
  clearance?: Pick<
    ClearanceDecision,
    'result' | 'status' | 'decidedAt' | 'validUntil' | 'prescriber' | 'source'
  >;
  prescription?: Pick<
    Prescription,
    | 'status'
    | 'medication'
    | 'dosePerSession'
    | 'route'
    | 'validUntil'
    | 'prescriber'
    | 'source'
    | 'statusReason'
  > & { dosesAuthorised?: number; dosesAdministered: number; dosesRemaining?: number };
  dispense?: Pick<Dispense, 'status' | 'whenHandedOver' | 'quantity' | 'source'>;
}

/** What the prescriber should know but does not block: another active medicine that interacts. */
export interface Warning {
  code: 'interacting-medication';
  message: string;
  source?: FhirSource;
}

export interface Readiness {
  patientId: string;
  date: string;
  /** The session start asked about, when one was given. */
  at?: string;
  /** The course the answer is for. */
  episodeId?: string;
  ready: boolean;
  verdict: Verdict;
  reasons: Reason[];
  /** Shown, never blocking: active orders for MAOIs, benzodiazepines and psychostimulants. */
  warnings: Warning[];
  status: MedicationStatus;
}

/**
 * The question: a medicine session on `date` (YYYY-MM-DD in the practice's time zone), or starting
 * at the instant `at` on that day; asked at `now`, with the EHR last heard from at `ehrLastHeardAt`.
 */
export interface ReadinessQuery {
  date: string;
  at?: string;
  now: string;
  ehrLastHeardAt?: string;
}

const verdictOf = (reasons: readonly Reason[]): Verdict =>
  reasons.length === 0
    ? 'ready'
    : reasons.every((r) => r.outcome === 'day-of')
      ? 'pending-day-of-checks'
      : 'not-ready';

const reason = (code: ReasonCode, message: string, source?: FhirSource): Reason => ({
  code,
  outcome: REASONS[code].outcome,
  message,
  ...(source === undefined ? {} : { source }),
});

/** The window the session needs covered: [from, to). A whole day, or the session's first instant. */
interface Window {
  dayStart: number;
  dayEnd: number;
  from: number;
  to: number;
}

/** What every rule is given. */
interface Facts {
  record: PatientRecord;
  episode: Episode | undefined;
  query: ReadinessQuery;
  policy: ReadinessPolicy;
  window: Window;
  span(value: string | undefined): Span | undefined;
  current: CurrentOrder;
  /** The prescriber's last review up to the session, as a span start; undefined when none. */
  reviewedAt: number | undefined;
}

const NEVER: Span = { start: Number.NEGATIVE_INFINITY, end: Number.NEGATIVE_INFINITY };

/**
 * Latest by start; undefined dates sort first. Of items that start at the same instant neither can
 * be told to be the later, so one that `fails` wins over one that does not (fail closed); otherwise
 * the first in `items`. An item with no readable time may be the latest: one that `fails` decides.
 */
function latestBy<T>(
  items: readonly T[],
  at: (t: T) => Span | undefined,
  fails: (t: T) => boolean = () => false,
): T | undefined {
  let best: T | undefined;
  let bestSpan = NEVER;
  for (const item of items) {
    const readable = at(item);
    if (readable === undefined && fails(item)) return item;
    const s = readable ?? NEVER;
    if (
      best === undefined ||
      s.start > bestSpan.start ||
      (s.start === bestSpan.start && fails(item) && !fails(best))
    ) {
      best = item;
      bestSpan = s;
    }
  }
  return best;
}

const idOfRef = (ref: string | undefined): string | undefined =>
  ref === undefined ? undefined : /(?:^|\/)[A-Za-z]+\/([^/]+)(?:\/_history\/[^/]+)?$/.exec(ref)?.[1];

/** Whether `ref` (`Type/id[/_history/n]`) points at a domain value with this id or FHIR source. */
const pointsAt = (ref: string | undefined, value: { id: string; source?: FhirSource }): boolean => {
  const id = idOfRef(ref);
  return id !== undefined && (id === value.id || id === idOfRef(value.source));
};

const ORDER_INTENTS = new Set(['order', 'original-order', 'instance-order', 'filler-order']);

interface CurrentOrder {
  rx: Prescription | undefined;
  /** Completed doses counted against it. */
  taken: number;
}

/**
 * Medicine sessions counted against an order: those with a completed dose under it, or under no
 * order. A booster is part of its session's dose, not another session.
 */
const takenUnder = (record: PatientRecord, rx: Prescription): number =>
  new Set(
    record.administrations
      .filter(
        (a) =>
          a.status === 'completed' &&
          (a.prescriptionId === undefined || pointsAt(`MedicationRequest/${a.prescriptionId}`, rx)),
      )
      // A dose the EHR holds without a session is a session of its own: never merged with another.
      .map((a) => a.sessionId ?? `no-session/${a.source ?? a.id}`),
  ).size;

/**
 * The current ketamine order, decided by supersession: an order another order names as its
 * priorPrescription is replaced; of the rest, the latest authored, then the latest version, wins;
 * on a tie the one that does not authorise wins: not active, not valid over `window` (when given),
 * or with no sessions known to be left. Drafts, proposals and plans never replace one.
 */
export function currentOrder(
  record: PatientRecord,
  span: (v: string | undefined) => Span | undefined,
  window?: Pick<Window, 'from' | 'to'>,
): CurrentOrder {
  const orders = record.prescriptions.filter(
    (p) =>
      p.medication.isKetamine &&
      ORDER_INTENTS.has(p.intent) &&
      p.status !== 'draft' &&
      p.status !== 'entered-in-error',
  );
  const replaced = (p: Prescription) => orders.some((o) => o !== p && pointsAt(o.priorPrescription, p));
  const standing = orders.filter((p) => !replaced(p));
  const authorises = (p: Prescription): boolean => {
    if (p.status !== 'active' || p.doNotPerform) return false;
    if (p.dosesAuthorised === undefined || takenUnder(record, p) >= p.dosesAuthorised) return false;
    if (window === undefined) return true;
    const from = p.validFrom === undefined ? undefined : span(p.validFrom);
    const until = p.validUntil === undefined ? undefined : span(p.validUntil);
    if (p.validFrom !== undefined && (from === undefined || from.start > window.from)) return false;
    if (p.validUntil !== undefined && (until === undefined || until.end < window.to)) return false;
    return true;
  };
  const key = (p: Prescription) => [
    span(p.authoredOn ?? p.validFrom)?.start ?? Number.NEGATIVE_INFINITY,
    span(p.versionTime)?.start ?? Number.NEGATIVE_INFINITY,
    authorises(p) ? 0 : 1,
  ];
  let rx: Prescription | undefined;
  for (const p of standing) {
    if (rx === undefined) {
      rx = p;
      continue;
    }
    const [a, b] = [key(p), key(rx)];
    const later = a[0]! !== b[0]! ? a[0]! > b[0]! : a[1]! !== b[1]! ? a[1]! > b[1]! : a[2]! > b[2]!;
    if (later) rx = p;
  }
  return { rx, taken: rx === undefined ? 0 : takenUnder(record, rx) };
}

const REVIEWING_STATUSES = new Set(['final', 'amended', 'corrected']);
const DECIDED = (c: ClearanceDecision) => REVIEWING_STATUSES.has(c.status);
const IGNORED_OBSERVATION = new Set(['cancelled', 'entered-in-error']);

/** The prescriber's last review up to the session: a decided clearance, or an explicit review. */
function lastReview(record: PatientRecord, span: Facts['span'], to: number): number | undefined {
  const times = [
    ...record.clearances.filter(DECIDED).map((c) => span(c.decidedAt)?.start),
    ...record.reviews.map((r) => span(r.reviewedAt)?.start),
  ].filter((t): t is number => t !== undefined && t < to);
  return times.length === 0 ? undefined : Math.max(...times);
}

/** A flag raised at `at` is open unless the prescriber reviewed after it; a flag with no readable time is open. */
const openFlag = (f: Facts, at: string | undefined): boolean => {
  const s = f.span(at);
  return s === undefined || f.reviewedAt === undefined || f.reviewedAt < s.end;
};

/**
 * When a flag was raised: the latest of its times up to the session, for a flag is raised when it
 * happens, again when it is recorded later and again when the EHR changes it. A first time that
 * cannot be read stays the time (an open flag).
 */
const raisedAt = (
  f: Facts,
  first: string | undefined,
  ...later: (string | undefined)[]
): string | undefined => {
  let raised = first;
  let start = f.span(first)?.start;
  if (start === undefined) return first;
  for (const t of later) {
    const s = f.span(t);
    if (s !== undefined && s.start < f.window.to && s.start > start) [raised, start] = [t, s.start];
  }
  return raised;
};

const dayText = (f: Facts, value: string | undefined): string => {
  const s = f.span(value);
  return s === undefined ? 'an unreadable date' : dayOf(s.start, f.policy.timeZone);
};

type Check = (f: Facts) => Reason[];

const linkRule: Check = (f) =>
  f.record.link === 'pending'
    ? [
        reason(
          'link-pending',
          "The prescriber's EHR has not confirmed this practice's care of the patient (an accepted referral or a care team naming the practice), so no EHR record is shown yet.",
        ),
      ]
    : [];

const episodeRule: Check = (f) => {
  if (f.episode === undefined) return [reason('no-episode', 'The patient has no KAP course on file.')];
  if (f.episode.status !== 'active') {
    return [
      reason(
        'episode-not-active',
        `The KAP course is ${f.episode.status}; only an active course can have a medicine session.`,
      ),
    ];
  }
  return [];
};

const REVOKED = new Set(['rejected', 'inactive', 'entered-in-error']);

const consentRule: Check = (f) => {
  const mine = f.record.consents.filter((c) => f.episode !== undefined && c.episodeId === f.episode.id);
  // One whose date cannot be read is not known to be signed, but may be the latest: it counts only against.
  const signed = mine.filter((c) => {
    const at = f.span(c.dateTime);
    return at === undefined ? consentReasons(f, c).length > 0 : at.start < f.window.to;
  });
  const consent = latestBy(
    signed,
    (c) => f.span(c.dateTime),
    (c) => consentReasons(f, c).length > 0,
  );
  if (!consent) return [reason('no-consent', 'No signed informed consent for this course is on file.')];
  return consentReasons(f, consent);
};

/** What one consent says against the session. */
const consentReasons = (f: Facts, consent: InformedConsent): Reason[] => {
  if (REVOKED.has(consent.status)) {
    return [
      reason(
        'consent-revoked',
        `The latest informed consent for this course is ${consent.status}.`,
        consent.source,
      ),
    ];
  }
  if (consent.status !== 'active') {
    return [
      reason(
        'consent-not-active',
        `The latest informed consent for this course is ${consent.status}, not active.`,
        consent.source,
      ),
    ];
  }
  const start = consent.period?.start;
  const end = consent.period?.end;
  const startSpan = f.span(start);
  const endSpan = f.span(end);
  if (
    (start !== undefined && (startSpan === undefined || startSpan.start > f.window.from)) ||
    (end !== undefined && (endSpan === undefined || endSpan.end < f.window.to))
  ) {
    return [
      reason(
        'consent-out-of-period',
        `The informed consent holds from ${start ?? 'its signing'} to ${end ?? 'no end'}, which does not cover the session.`,
        consent.source,
      ),
    ];
  }
  return [];
};

/** The finished sessions of this course of this phase, with when each ended (its end, else its start). */
const finishedSessions = (f: Facts, phase: Session['phase']): { session: Session; ended: Span }[] =>
  f.record.sessions.flatMap((s) => {
    if (
      f.episode === undefined ||
      s.episodeId !== f.episode.id ||
      s.phase !== phase ||
      s.status !== 'finished'
    )
      return [];
    const ended = f.span(s.end ?? s.start);
    return ended === undefined ? [] : [{ session: s, ended }];
  });

/** Dose statuses that say nothing was given. */
const NO_DOSE_GIVEN = new Set(['not-done', 'entered-in-error']);

/**
 * The medicine sessions of this course that call for integration, with when each ended (its end,
 * else its start, else its dose): those finished, and any other (but one entered in error) in which
 * a dose may have been given, such as one cancelled or left open after the dose.
 */
const medicineSessions = (f: Facts): { session: Session; ended: Span }[] =>
  f.record.sessions.flatMap((s) => {
    if (f.episode === undefined || s.episodeId !== f.episode.id || s.phase !== 'medicine') return [];
    if (s.status === 'entered-in-error') return [];
    const dose = f.record.administrations.find((a) => a.sessionId === s.id && !NO_DOSE_GIVEN.has(a.status));
    if (s.status !== 'finished' && dose === undefined) return [];
    const ended = f.span(s.end ?? s.start ?? dose?.administeredAt);
    return ended === undefined ? [] : [{ session: s, ended }];
  });

/**
 * A preparation session finished before the session starts: wholly before it, so a date-only end
 * on the day of the session (or, asked about a whole day, any end on that day) is not before it.
 */
const preparationRule: Check = (f) =>
  finishedSessions(f, 'preparation').some((s) => s.ended.end <= f.window.from)
    ? []
    : [reason('no-preparation-session', 'No preparation session of this course has been completed.')];

/**
 * After the last medicine session up to the session (finished, or one with a dose that may have
 * been given; one earlier on the asked day included), an integration session that began once it had ended and finished before the session.
 */
const integrationRule: Check = (f) => {
  if (!f.policy.requireIntegration) return [];
  const medicine = medicineSessions(f).filter((s) => s.ended.start < f.window.to);
  if (medicine.length === 0) return [];
  const last = medicine.reduce((a, b) => (b.ended.end > a.ended.end ? b : a));
  const integrated = finishedSessions(f, 'integration').some(
    (s) =>
      s.ended.end <= f.window.from &&
      (f.span(s.session.start ?? s.session.end)?.start ?? Number.NEGATIVE_INFINITY) >= last.ended.end,
  );
  return integrated
    ? []
    : [
        reason(
          'no-integration-session',
          `No integration session has been completed since the medicine session of ${dayOf(last.ended.start, f.policy.timeZone)}.`,
        ),
      ];
};

const clearanceRule: Check = (f) => {
  const decided = f.record.clearances.filter(
    (c) =>
      c.status !== 'cancelled' &&
      c.status !== 'entered-in-error' &&
      (f.span(c.decidedAt)?.start ?? 0) < f.window.to,
  );
  const c = latestBy(
    decided,
    (x) => f.span(x.decidedAt),
    (x) => clearanceReasons(f, x).length > 0,
  );
  const decidedAt = c === undefined ? undefined : f.span(c.decidedAt);
  const unreadable = f.record.unreadable.filter(
    (u) =>
      u.kind === 'clearance' &&
      (u.at === undefined || upTo(f, u.at)) &&
      (decidedAt === undefined || (f.span(u.at)?.start ?? Number.POSITIVE_INFINITY) >= decidedAt.start),
  );
  const reasons = unreadable.map((u) =>
    reason(
      'clearance-unreadable',
      `A clearance decision was received but cannot be read: ${u.problem}`,
      u.source,
    ),
  );
  if (!c) {
    return reasons.length > 0
      ? reasons
      : [reason('no-clearance', 'The prescriber has not recorded a medical clearance.')];
  }
  return [...reasons, ...clearanceReasons(f, c)];
};

/** What one clearance decision says against the session: the first check it fails. */
const clearanceReasons = (f: Facts, c: ClearanceDecision): Reason[] => {
  const reasons: Reason[] = [];
  const decidedAt = f.span(c.decidedAt);
  const when = dayText(f, c.decidedAt);
  if (!DECIDED(c)) {
    reasons.push(
      reason(
        'clearance-not-final',
        `The latest clearance decision (${when}) is ${c.status}, not final.`,
        c.source,
      ),
    );
  } else if (c.result !== 'cleared') {
    const what = c.result === 'not-cleared' ? 'did not clear' : 'has asked to review';
    reasons.push(reason('clearance-not-cleared', `The prescriber ${what} the patient on ${when}.`, c.source));
  } else if (c.validUntil !== undefined) {
    const until = f.span(c.validUntil);
    if (until === undefined || until.end < f.window.to) {
      reasons.push(
        reason('clearance-expired', `The medical clearance was valid until ${c.validUntil}.`, c.source),
      );
    }
  } else if ((decidedAt?.start ?? Number.NEGATIVE_INFINITY) + f.policy.clearanceMaxDays * DAY < f.window.to) {
    reasons.push(
      reason(
        'clearance-expired',
        `The medical clearance of ${when} gives no end of validity, and a clearance holds at most ${f.policy.clearanceMaxDays} days.`,
        c.source,
      ),
    );
  }
  return reasons;
};

const prescriptionRule: Check = (f) => {
  const { rx, taken } = f.current;
  const authored = rx === undefined ? undefined : f.span(rx.authoredOn ?? rx.validFrom);
  const reasons = f.record.unreadable
    .filter(
      (u) =>
        u.kind === 'prescription' &&
        (u.at === undefined || upTo(f, u.at)) &&
        (authored === undefined || (f.span(u.at)?.start ?? Number.POSITIVE_INFINITY) >= authored.start),
    )
    .map((u) =>
      reason(
        'prescription-unreadable',
        `A medication order was received but cannot be read: ${u.problem}`,
        u.source,
      ),
    );
  if (!rx) {
    const proposals = f.record.prescriptions.some(
      (p) => p.medication.isKetamine && p.status !== 'entered-in-error',
    );
    const why = proposals
      ? 'There is no ketamine order on file, only drafts, proposals or plans.'
      : 'There is no ketamine prescription on file.';
    return reasons.length > 0 ? reasons : [reason('no-prescription', why)];
  }
  if (rx.status !== 'active') {
    const why = rx.statusReason ? ` (${rx.statusReason})` : '';
    reasons.push(
      reason('prescription-not-active', `The current ketamine order is ${rx.status}${why}.`, rx.source),
    );
  }
  // A prohibition in force (MedicationRequest.doNotPerform, a modifier) stops the session, whichever order is current.
  for (const p of f.record.prescriptions) {
    if (!p.doNotPerform || !p.medication.isKetamine || p.status !== 'active') continue;
    reasons.push(
      reason('prescription-not-active', 'The EHR holds an order that ketamine must not be given.', p.source),
    );
  }
  if (rx.validFrom !== undefined) {
    const from = f.span(rx.validFrom);
    if (from === undefined || from.start > f.window.from) {
      reasons.push(
        reason(
          'prescription-not-yet-valid',
          `The ketamine prescription is valid from ${rx.validFrom}.`,
          rx.source,
        ),
      );
    }
  }
  if (rx.validUntil !== undefined) {
    const until = f.span(rx.validUntil);
    if (until === undefined || until.end < f.window.to) {
      reasons.push(
        reason(
          'prescription-expired',
          `The ketamine prescription was valid until ${rx.validUntil}.`,
          rx.source,
        ),
      );
    }
  }
  // A dose kept but not readable may be one taken under this order, whenever it was given.
  const unreadDoses = f.record.unreadable.filter((u) => u.kind === 'administration');
  // So may a dose the EHR holds with an unknown status, under this order or under none.
  const uncertainDoses = f.record.administrations.filter(
    (a) =>
      a.status === 'unknown' &&
      (a.prescriptionId === undefined || pointsAt(`MedicationRequest/${a.prescriptionId}`, rx)),
  );
  if (rx.dosesAuthorised === undefined) {
    reasons.push(
      reason(
        'doses-unknown',
        `How many medicine sessions the order supplies cannot be told: ${rx.sessionsUnknown ?? 'the supply or the dose per session is missing'}.`,
        rx.source,
      ),
    );
  } else if (unreadDoses.length > 0) {
    reasons.push(
      ...unreadDoses.map((u) =>
        reason(
          'doses-unknown',
          `A dose was received but cannot be read, so the sessions left under the order cannot be counted: ${u.problem}`,
          u.source,
        ),
      ),
    );
  } else if (uncertainDoses.length > 0) {
    reasons.push(
      ...uncertainDoses.map((a) =>
        reason(
          'doses-unknown',
          'The EHR records a dose whose status is unknown, so the sessions left under the order cannot be counted.',
          a.source,
        ),
      ),
    );
  } else if (taken >= rx.dosesAuthorised) {
    reasons.push(
      reason(
        'no-doses-left',
        `All ${rx.dosesAuthorised} authorised session doses have been taken.`,
        rx.source,
      ),
    );
  }
  return reasons;
};

/** Sorts after every date: a dispense not (yet) handed over is the latest. */
const PENDING: Span = { start: Number.POSITIVE_INFINITY, end: Number.POSITIVE_INFINITY };

/**
 * The latest dispense of the current order up to the session is completed. One handed over after
 * the session does not count for it; one with no handover time is the latest. With no current
 * order there is nothing dispensed for the session.
 */
const dispenseRule: Check = (f) => {
  const { rx } = f.current;
  if (!f.policy.requireDispense) return [];
  if (!rx)
    return [
      reason('no-dispense', 'There is no current ketamine order, so nothing has been dispensed for it.'),
    ];
  const forOrder = f.record.dispenses.filter(
    (d) =>
      pointsAt(`MedicationRequest/${d.prescriptionId}`, rx) &&
      (d.whenHandedOver === undefined || upTo(f, d.whenHandedOver)),
  );
  const d = latestBy(
    forOrder,
    (x) => f.span(x.whenHandedOver) ?? PENDING,
    (x) => x.status !== 'completed',
  );
  if (!d)
    return [reason('no-dispense', 'The pharmacy has not dispensed the current ketamine order.', rx.source)];
  if (d.status !== 'completed') {
    return [
      reason(
        'dispense-not-completed',
        `The latest dispense of the current ketamine order is ${d.status}.`,
        d.source,
      ),
    ];
  }
  return [];
};

/** Up to the session; a time that is missing or cannot be read may be, so it counts (fail closed). */
const upTo = (f: Facts, at: string | undefined) =>
  (f.span(at)?.start ?? Number.NEGATIVE_INFINITY) < f.window.to;

const safetyRule: Check = (f) => {
  const reasons: Reason[] = [];
  const observations = f.record.observations.filter(
    (o) => !IGNORED_OBSERVATION.has(o.status) && upTo(f, o.effective),
  );
  const after = "after the prescriber's last review";
  // Panels first: an item 9 a flagged panel has read through hasMember is not flagged twice.
  const readThrough = new Set<KapObservation>();
  const panelsFirst = [...observations].sort(
    (a, b) => (a.value.kind === 'phq9' ? 0 : 1) - (b.value.kind === 'phq9' ? 0 : 1),
  );
  for (const o of panelsFirst) {
    if (!openFlag(f, raisedAt(f, o.effective, o.issued, o.versionTime)) || readThrough.has(o)) continue;
    const v = o.value;
    const on = dayText(f, o.effective);
    if (v.kind === 'phq9') {
      // Item 9 wherever the panel carries it: as a component, among the items, or through
      // hasMember (a member travels with its panel). Any copy above 0 is a flag.
      const members = f.record.observations.filter(
        (m) =>
          !IGNORED_OBSERVATION.has(m.status) &&
          m.value.kind === 'phq9-item9' &&
          (v.members ?? []).some((ref) => pointsAt(ref, m)),
      );
      const answers = [
        v.item9,
        v.items?.[8],
        ...members.map((m) => (m.value.kind === 'phq9-item9' ? m.value.answer : undefined)),
      ].filter((a): a is number => a !== undefined);
      const item9 = Math.max(...answers);
      if (answers.length > 0) {
        if (item9 > 0) {
          for (const m of members) readThrough.add(m);
          reasons.push(
            reason(
              'safety-phq9-item9',
              `PHQ-9 item 9 (thoughts of self-harm) was answered ${item9} on ${on}, ${after}.`,
              o.source,
            ),
          );
        }
      } else {
        reasons.push(
          reason(
            'safety-phq9-item9-unknown',
            `The PHQ-9 of ${on} has no answer to item 9 (thoughts of self-harm), so suicidality is unknown.`,
            o.source,
          ),
        );
      }
    } else if (v.kind === 'phq9-item9' && v.answer > 0) {
      reasons.push(
        reason(
          'safety-phq9-item9',
          `PHQ-9 item 9 (thoughts of self-harm) was answered ${v.answer} on ${on}, ${after}.`,
          o.source,
        ),
      );
    } else if (v.kind === 'cssrs' && v.risk !== 'low') {
      reasons.push(
        reason('safety-cssrs-risk', `C-SSRS suicide risk was rated ${v.risk} on ${on}, ${after}.`, o.source),
      );
    }
  }
  for (const c of f.record.findings) {
    if (!c.active || c.contraindication === undefined) continue;
    if (!upTo(f, c.recorded) || !openFlag(f, raisedAt(f, c.recorded, c.versionTime))) continue;
    reasons.push(
      reason(
        'safety-contraindication',
        `The EHR records ${c.text} (${c.contraindication}), a contraindication to ketamine, ${c.recorded === undefined ? 'with no date' : `on ${dayText(f, c.recorded)}`}, ${after}.`,
        c.source,
      ),
    );
  }
  for (const e of f.record.adverseEvents) {
    if (!e.serious || !upTo(f, e.occurredAt) || !openFlag(f, raisedAt(f, e.occurredAt, e.recordedAt)))
      continue;
    reasons.push(
      reason(
        'safety-adverse-event',
        `A serious adverse event occurred on ${dayText(f, e.occurredAt)}, ${after}.`,
        e.source,
      ),
    );
  }
  for (const u of f.record.unreadable) {
    if (u.kind !== 'safety-finding' || (u.at !== undefined && !upTo(f, u.at)) || !openFlag(f, u.at)) continue;
    reasons.push(
      reason(
        'safety-finding-unreadable',
        `A safety finding was received but cannot be read: ${u.problem}`,
        u.source,
      ),
    );
  }
  return reasons;
};

const bloodPressureRule: Check = (f) => {
  const readings = f.record.observations.filter(
    (o) => o.value.kind === 'blood-pressure' && !IGNORED_OBSERVATION.has(o.status) && upTo(f, o.effective),
  );
  const bp = latestBy(
    readings,
    (o) => f.span(o.effective),
    (o) =>
      o.value.kind === 'blood-pressure' &&
      (o.value.systolic > f.policy.systolicMax || o.value.diastolic > f.policy.diastolicMax),
  );
  const taken = bp === undefined ? undefined : f.span(bp.effective);
  const reasons = f.record.unreadable
    .filter(
      (u) =>
        u.kind === 'blood-pressure' &&
        (u.at === undefined || upTo(f, u.at)) &&
        (taken === undefined || (f.span(u.at)?.start ?? Number.POSITIVE_INFINITY) >= taken.start),
    )
    .map((u) =>
      reason(
        'blood-pressure-unreadable',
        `A blood pressure reading was received but cannot be read: ${u.problem}`,
        u.source,
      ),
    );
  if (bp?.value.kind === 'blood-pressure') {
    const { systolic, diastolic } = bp.value;
    const { systolicMax, diastolicMax } = f.policy;
    if (systolic > systolicMax || diastolic > diastolicMax) {
      reasons.push(
        reason(
          'safety-blood-pressure',
          `The last blood pressure, ${systolic}/${diastolic} mmHg on ${dayText(f, bp.effective)}, is above ${systolicMax}/${diastolicMax}.`,
          bp.source,
        ),
      );
      return reasons;
    }
  }
  if (reasons.length === 0 && (taken === undefined || taken.start < f.window.dayStart)) {
    reasons.push(
      reason(
        'predose-blood-pressure',
        'A pre-dose blood pressure within limits is recorded on the day of the session.',
      ),
    );
  }
  return reasons;
};

const freshnessRule: Check = (f) => {
  const heardAt = f.query.ehrLastHeardAt;
  // A date-only checkpoint is its day in the practice's zone, heard from at its start at the latest.
  const heard = f.span(heardAt)?.start;
  const now = f.span(f.query.now)?.start;
  const age = heard === undefined || now === undefined ? Number.POSITIVE_INFINITY : now - heard;
  if (!(age <= f.policy.ehrFreshnessHours * HOUR)) {
    const when = heardAt === undefined ? 'has never been heard from' : `was last heard from at ${heardAt}`;
    return [
      reason('ehr-stale', `The prescriber's EHR ${when}; what kap-bridge holds of it may be out of date.`),
    ];
  }
  return [];
};

/** The rules one patient's readiness is made of, in the order their reasons are listed. */
export const PATIENT_RULES: readonly { id: RuleId; check: Check }[] = [
  { id: 'link', check: linkRule },
  { id: 'episode', check: episodeRule },
  { id: 'consent', check: consentRule },
  { id: 'preparation', check: preparationRule },
  { id: 'integration', check: integrationRule },
  { id: 'clearance', check: clearanceRule },
  { id: 'prescription', check: prescriptionRule },
  { id: 'dispense', check: dispenseRule },
  { id: 'safety', check: safetyRule },
  { id: 'blood-pressure', check: bloodPressureRule },
  { id: 'ehr-freshness', check: freshnessRule },
];

/** Every rule, the couple's included: the README table lists exactly these. */
export const RULE_IDS: readonly RuleId[] = [...PATIENT_RULES.map((r) => r.id), 'couple'];

function windowOf(query: ReadinessQuery, policy: ReadinessPolicy): Window {
  const day = spanOf(query.date, policy.timeZone);
  if (day === undefined || !/^\d{4}-\d{2}-\d{2}$/.test(query.date))
    throw new RangeError(`Not a date: ${query.date}`);
  if (query.at === undefined) return { dayStart: day.start, dayEnd: day.end, from: day.start, to: day.end };
  const at = spanOf(query.at, policy.timeZone);
  if (at === undefined || at.end - at.start !== 1) throw new RangeError(`Not an instant: ${query.at}`);
  return { dayStart: day.start, dayEnd: day.end, from: at.start, to: at.end };
}

/** The course a patient's readiness is for when none is named: the latest that is not entered in error. */
export const currentEpisode = (record: PatientRecord): Episode | undefined =>
  record.episodes.filter((e) => e.status !== 'entered-in-error').at(-1);

function statusOf(f: Facts): MedicationStatus {
  const status: MedicationStatus = {};
  const c = latestBy(
    f.record.clearances.filter((x) => x.status !== 'entered-in-error' && x.status !== 'cancelled'),
    (x) => f.span(x.decidedAt),
  );
  if (c) {
    const { result, status: s, decidedAt, validUntil, prescriber, source } = c;
    status.clearance = { result, status: s, decidedAt, validUntil, prescriber, source };
  }
  const { rx, taken } = f.current;
  if (rx) {
    status.prescription = {
      status: rx.status,
      medication: rx.medication,
      dosePerSession: rx.dosePerSession,
      route: rx.route,
      validUntil: rx.validUntil,
      prescriber: rx.prescriber,
      statusReason: rx.statusReason,
      source: rx.source,
      dosesAuthorised: rx.dosesAuthorised,
      dosesAdministered: taken,
      dosesRemaining: rx.dosesAuthorised === undefined ? undefined : Math.max(0, rx.dosesAuthorised - taken),
    };
    const d = latestBy(
      f.record.dispenses.filter((x) => pointsAt(`MedicationRequest/${x.prescriptionId}`, rx)),
      (x) => f.span(x.whenHandedOver),
    );
    if (d) {
      const { status: s, whenHandedOver, quantity, source } = d;
      status.dispense = { status: s, whenHandedOver, quantity, source };
    }
  }
  return status;
}

const CLASS_NAME: Record<string, string> = {
  maoi: 'a monoamine oxidase inhibitor',
  benzodiazepine: 'a benzodiazepine',
  psychostimulant: 'a psychostimulant',
};

/** Active orders up to the session for a medicine that interacts with ketamine: shown, not blocking. */
function warningsOf(f: Facts): Warning[] {
  return f.record.prescriptions
    .filter(
      (p) =>
        p.interactingClass !== undefined &&
        p.status === 'active' &&
        (f.span(p.authoredOn ?? p.validFrom)?.start ?? Number.NEGATIVE_INFINITY) < f.window.to,
    )
    .map((p) => ({
      code: 'interacting-medication' as const,
      message: `${p.medication.text} is ${CLASS_NAME[p.interactingClass!] ?? p.interactingClass} and is actively prescribed.`,
      ...(p.source === undefined ? {} : { source: p.source }),
    }));
}

function facts(
  record: PatientRecord,
  episode: Episode | undefined,
  query: ReadinessQuery,
  policy: ReadinessPolicy,
): Facts {
  const window = windowOf(query, policy);
  const span = (v: string | undefined) => spanOf(v, policy.timeZone);
  return {
    record,
    episode,
    query,
    policy,
    window,
    span,
    current: currentOrder(record, span, window),
    reviewedAt: lastReview(record, span, window.to),
  };
}

/** The medication status of a patient: clearance, the current order with sessions left, its dispense. */
export function medicationStatus(
  record: PatientRecord,
  query: ReadinessQuery,
  policy: ReadinessPolicy = DEFAULT_POLICY,
): MedicationStatus {
  return statusOf(facts(record, currentEpisode(record), query, policy));
}

/**
 * Readiness of one patient for a medicine session of `episode` (the patient's current course when
 * absent). Throws RangeError when the question's date or instant is not one.
 */
export function patientReadiness(
  record: PatientRecord,
  query: ReadinessQuery,
  policy: ReadinessPolicy = DEFAULT_POLICY,
  episode: Episode | undefined = currentEpisode(record),
): Readiness {
  const f = facts(record, episode, query, policy);
  const reasons = PATIENT_RULES.flatMap((r) => r.check(f));
  return {
    patientId: record.patientId,
    date: query.date,
    ...(query.at === undefined ? {} : { at: query.at }),
    ...(episode === undefined ? {} : { episodeId: episode.id }),
    ready: reasons.length === 0,
    verdict: verdictOf(reasons),
    reasons,
    warnings: warningsOf(f),
    status: statusOf(f),
  };
}

/**
 * One partner's answer in a couples course: their own reasons, and the course's that stop them
 * (`partner-not-ready` told to them, `couple-unreadable`). Anything else is the partner's own.
 */
export function inCourse(own: Readiness, course: EpisodeReadiness): Readiness {
  const more = course.reasons
    .filter(
      (r) =>
        r.code === 'couple-unreadable' || (r.code === 'partner-not-ready' && r.patientId === own.patientId),
    )
    .map(({ patientId: _, ...r }) => r);
  if (more.length === 0) return own;
  const reasons = [...own.reasons, ...more];
  return { ...own, ready: false, verdict: verdictOf(reasons), reasons };
}

export interface EpisodeReadiness {
  episodeId: string;
  date: string;
  at?: string;
  ready: boolean;
  verdict: Verdict;
  patients: Readiness[];
  reasons: Reason[];
}

/**
 * A couples course is ready only when both partners are; an individual one when its patient is.
 * `records` holds each partner's record; a partner whose record could not be read is missing
 * from it, and the course is then not ready.
 */
export function episodeReadiness(
  episode: Episode,
  records: readonly PatientRecord[],
  query: ReadinessQuery,
  policy: ReadinessPolicy = DEFAULT_POLICY,
): EpisodeReadiness {
  const patients: Readiness[] = [];
  const reasons: Reason[] = [];
  for (const id of episode.patients) {
    const record = records.find((r) => r.patientId === id);
    if (record === undefined) {
      reasons.push({
        ...reason(
          'couple-unreadable',
          "A partner's record cannot be read, so the course cannot be said to be ready.",
        ),
        patientId: id,
      });
      continue;
    }
    const p = patientReadiness(record, query, policy, episode);
    patients.push(p);
    reasons.push(...p.reasons.map((r) => ({ ...r, patientId: p.patientId })));
  }
  if (episode.type === 'couples') {
    if (episode.patients.length !== 2 || new Set(episode.patients).size !== 2) {
      reasons.push(
        reason('couple-unreadable', 'A couples course must name two different partners; this one does not.'),
      );
    }
    for (const p of patients.filter((x) => x.verdict === 'not-ready')) {
      for (const partner of patients.filter((x) => x.patientId !== p.patientId)) {
        reasons.push({
          ...reason(
            'partner-not-ready',
            'This is a couples course and the other partner is not ready, so the joint medicine session cannot go ahead.',
          ),
          patientId: partner.patientId,
        });
      }
    }
  }
  if (episode.patients.length === 0) reasons.push(reason('no-episode', 'The course names no patient.'));
  return {
    episodeId: episode.id,
    date: query.date,
    ...(query.at === undefined ? {} : { at: query.at }),
    ready: reasons.length === 0,
    verdict: verdictOf(reasons),
    patients,
    reasons,
  };
}
