/**
 * A second readiness, written from the README's "Medication status and readiness" section and its
 * "Readiness rules" table alone, to check src/domain/readiness.ts against. It is deliberately
 * plain: one function per rule, straight-line code, its own time handling. Where the README left a
 * choice, the fail-closed reading is taken and written down beside the code as "Reading:".
 */
import type {
  ClearanceDecision,
  Dispense,
  Episode,
  InformedConsent,
  KapObservation,
  Prescription,
  Session,
} from '../../src/domain/model.js';
import {
  type PatientRecord,
  REASONS,
  type ReadinessPolicy,
  type ReadinessQuery,
  type ReasonCode,
  type Verdict,
} from '../../src/domain/readiness.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** A stretch of time [start, end) in epoch milliseconds. An instant is [t, t + 1). */
interface When {
  start: number;
  end: number;
}

// ---------------------------------------------------------------------------------------------
// Time, by hand

/** The offset of `timeZone` from UTC at the instant `utc`, in milliseconds. */
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

function zoneOffset(utc: number, timeZone: string): number {
  const parts = formatter(timeZone).formatToParts(new Date(utc));
  const get = (type: string): number => Number(parts.find((p) => p.type === type)?.value);
  const wall = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  const ms = utc - Math.floor(utc / 1000) * 1000;
  return wall + ms - utc;
}

/** The instant the wall-clock midnight starting `y-m-d` happens in `timeZone`. */
function midnight(y: number, m: number, d: number, timeZone: string): number {
  const wall = Date.UTC(y, m - 1, d);
  const first = wall - zoneOffset(wall, timeZone);
  return wall - zoneOffset(first, timeZone);
}

const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;
const INSTANT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * When a FHIR date or dateTime happens. A date-only value is that whole day in the practice's zone;
 * an instant is itself. Anything else is undefined (each rule says what that means, failing closed).
 */
function when(value: string | undefined, timeZone: string): When | undefined {
  if (value === undefined) return undefined;
  const key = `${timeZone} ${value}`;
  if (!read.has(key)) read.set(key, readWhen(value, timeZone));
  return read.get(key);
}

/** What `when` has read, by zone and value: reading a date in a zone is slow. */
const read = new Map<string, When | undefined>();

function readWhen(value: string, timeZone: string): When | undefined {
  const day = DATE_ONLY.exec(value);
  if (day) {
    const y = Number(day[1]);
    const m = Number(day[2]);
    const d = Number(day[3]);
    const check = new Date(Date.UTC(y, m - 1, d));
    if (check.getUTCFullYear() !== y || check.getUTCMonth() !== m - 1 || check.getUTCDate() !== d)
      return undefined;
    const next = new Date(Date.UTC(y, m - 1, d + 1));
    return {
      start: midnight(y, m, d, timeZone),
      end: midnight(next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate(), timeZone),
    };
  }
  if (INSTANT.test(value)) {
    const t = Date.parse(value);
    if (Number.isNaN(t)) return undefined;
    return { start: t, end: t + 1 };
  }
  return undefined;
}

/** The session asked about, and the day it is on. */
interface Asked {
  /** Without `at` the session is the whole asked day; with it, the instant it starts. */
  session: When;
  day: When;
  now: number;
}

function askedOf(query: ReadinessQuery, policy: ReadinessPolicy): Asked {
  const day = DATE_ONLY.test(query.date) ? when(query.date, policy.timeZone) : undefined;
  if (day === undefined) throw new RangeError(`Not a date: ${query.date}`);
  let session = day;
  if (query.at !== undefined) {
    const at = INSTANT.test(query.at) ? when(query.at, policy.timeZone) : undefined;
    if (at === undefined) throw new RangeError(`Not an instant: ${query.at}`);
    session = at;
  }
  const now = when(query.now, policy.timeZone);
  return { session, day, now: now === undefined ? Number.NaN : now.start };
}

/**
 * "Facts dated after the session do not count for it."
 * Reading: a fact is dated after the session when it starts at or after the session's end, so a
 * fact on the asked day counts when no `at` is given, and a fact at the very instant `at` counts.
 * A fact with no readable date cannot be shown to be before the session.
 */
function notAfter(fact: When | undefined, asked: Asked): boolean {
  return fact !== undefined && fact.start < asked.session.end;
}

/** "A validity must cover the whole asked day; with `at`, the session's start." */
function covers(from: When | undefined, until: When | undefined, asked: Asked): boolean {
  if (from !== undefined && from.start > asked.session.start) return false;
  if (until !== undefined && until.end < asked.session.end) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------
// The rules, one function each

function linkRule(record: PatientRecord): ReasonCode[] {
  if (record.link === 'confirmed') return [];
  return ['link-pending'];
}

/**
 * Reading: "else the patient's latest" is the last episode of the record, the record keeping them
 * in the order they arrived; an episode entered in error never was one and is passed over.
 */
function defaultEpisode(record: PatientRecord): Episode | undefined {
  let latest: Episode | undefined;
  for (const e of record.episodes) {
    if (e.status !== 'entered-in-error') latest = e;
  }
  return latest;
}

function episodeRule(episode: Episode | undefined): ReasonCode[] {
  if (episode === undefined) return ['no-episode'];
  if (episode.status !== 'active') return ['episode-not-active'];
  return [];
}

/**
 * Reading: of several candidates dated at the same instant, the one that fails decides (a tie
 * cannot be told apart, so it fails closed). Returns the codes of the latest, or undefined.
 */
function latestDecides<T>(
  items: T[],
  timeOf: (item: T) => When | undefined,
  codesOf: (item: T) => ReasonCode[],
): ReasonCode[] | undefined {
  // Reading: one whose time cannot be read may be the latest; when it fails, it decides.
  for (const item of items) {
    if (timeOf(item) !== undefined) continue;
    const codes = codesOf(item);
    if (codes.length > 0) return codes;
  }
  let best: number | undefined;
  for (const item of items) {
    const t = timeOf(item);
    if (t !== undefined && (best === undefined || t.start > best)) best = t.start;
  }
  if (best === undefined) return undefined;
  const tied = items.filter((item) => timeOf(item)?.start === best);
  // One that blocks or cannot tell wins over one that only waits on the day (first written as
  // "any that fails", which let a day-of check hide a high blood pressure at the same instant).
  for (const item of tied) {
    const codes = codesOf(item);
    if (codes.some((c) => REASONS[c].outcome !== 'day-of')) return codes;
  }
  for (const item of tied) {
    const codes = codesOf(item);
    if (codes.length > 0) return codes;
  }
  return [];
}

function consentRule(
  record: PatientRecord,
  episode: Episode | undefined,
  asked: Asked,
  tz: string,
): ReasonCode[] {
  // Reading: with no course there is no consent of the course. A consent naming no course is not
  // this course's.
  const mine: InformedConsent[] = [];
  for (const c of record.consents) {
    if (episode === undefined || c.episodeId !== episode.id) continue;
    const signed = when(c.dateTime, tz);
    if (signed !== undefined && !notAfter(signed, asked)) continue;
    mine.push(c);
  }
  const codes = latestDecides(
    mine,
    (c) => when(c.dateTime, tz),
    (c): ReasonCode[] => {
      if (c.status === 'rejected' || c.status === 'inactive' || c.status === 'entered-in-error') {
        return ['consent-revoked'];
      }
      if (c.status !== 'active') return ['consent-not-active'];
      const from = c.period?.start === undefined ? undefined : when(c.period.start, tz);
      const until = c.period?.end === undefined ? undefined : when(c.period.end, tz);
      // Reading: a period bound that is given but cannot be read covers nothing.
      if (c.period?.start !== undefined && from === undefined) return ['consent-out-of-period'];
      if (c.period?.end !== undefined && until === undefined) return ['consent-out-of-period'];
      if (!covers(from, until, asked)) return ['consent-out-of-period'];
      return [];
    },
  );
  if (codes === undefined) return ['no-consent'];
  return codes;
}

/** The sessions of this course for this patient. A partner session or joint session counts. */
function courseSessions(record: PatientRecord, episode: Episode | undefined): Session[] {
  if (episode === undefined) return [];
  return record.sessions.filter(
    (s) =>
      s.episodeId === episode.id &&
      (s.patientId === record.patientId || s.couple?.includes(record.patientId) === true),
  );
}

/** When a session ended: its end, else its start. */
function endedAt(s: Session, tz: string): When | undefined {
  return when(s.end ?? s.start, tz);
}

function preparationRule(
  record: PatientRecord,
  episode: Episode | undefined,
  asked: Asked,
  tz: string,
): ReasonCode[] {
  for (const s of courseSessions(record, episode)) {
    if (s.phase !== 'preparation' || s.status !== 'finished') continue;
    // Reading: "finished before the session": it ended before the session starts; a date-only end
    // is the whole day, so it must be over by then. (First read as "not after the session"; the
    // README means before it, and asking about a whole day the session may start at its first instant.)
    const ended = endedAt(s, tz);
    if (ended !== undefined && ended.end <= asked.session.start) return [];
  }
  return ['no-preparation-session'];
}

function integrationRule(
  record: PatientRecord,
  episode: Episode | undefined,
  asked: Asked,
  policy: ReadinessPolicy,
): ReasonCode[] {
  if (!policy.requireIntegration) return [];
  const tz = policy.timeZone;
  const sessions = courseSessions(record, episode);
  // The last finished medicine session up to the session asked about (one earlier on the asked
  // day counts: a second medicine session that day needs an integration session between).
  let lastMedicine: number | undefined;
  for (const s of sessions) {
    if (s.phase !== 'medicine' || s.status === 'entered-in-error') continue;
    // Reading: a medicine session in which a dose may have been given calls for integration,
    // whatever its status (one cancelled or left open after the dose); it ended when it did, else
    // when the dose was given.
    const dose = record.administrations.find(
      (a) => a.sessionId === s.id && a.status !== 'not-done' && a.status !== 'entered-in-error',
    );
    if (s.status !== 'finished' && dose === undefined) continue;
    const ended = endedAt(s, tz) ?? when(dose?.administeredAt, tz);
    if (!notAfter(ended, asked) || ended === undefined) continue;
    if (lastMedicine === undefined || ended.end > lastMedicine) lastMedicine = ended.end;
  }
  if (lastMedicine === undefined) return [];
  for (const s of sessions) {
    if (s.phase !== 'integration' || s.status !== 'finished') continue;
    const started = when(s.start ?? s.end, tz);
    const ended = endedAt(s, tz);
    // Reading: "after the last finished medicine session": it began once that one had ended (a
    // date-only medicine session is over at the end of its day), and like the preparation session
    // it finished before the session asked about starts.
    if (started === undefined || started.start < lastMedicine) continue;
    if (ended !== undefined && ended.end <= asked.session.start) return [];
  }
  return ['no-integration-session'];
}

function clearanceCodes(c: ClearanceDecision, asked: Asked, policy: ReadinessPolicy): ReasonCode[] {
  // Reading (as README now says): the first check the latest decision fails is its reason: not
  // final, else not cleared, else expired. (First read as every check it fails.)
  if (c.status !== 'final' && c.status !== 'amended' && c.status !== 'corrected')
    return ['clearance-not-final'];
  if (c.result !== 'cleared') return ['clearance-not-cleared'];
  const codes: ReasonCode[] = [];
  let validEnd: number;
  if (c.validUntil !== undefined) {
    const until = when(c.validUntil, policy.timeZone);
    validEnd = until === undefined ? Number.NEGATIVE_INFINITY : until.end;
  } else {
    const decided = when(c.decidedAt, policy.timeZone);
    validEnd =
      decided === undefined ? Number.NEGATIVE_INFINITY : decided.start + policy.clearanceMaxDays * DAY_MS;
  }
  if (validEnd < asked.session.end) codes.push('clearance-expired');
  return codes;
}

function clearanceRule(record: PatientRecord, asked: Asked, policy: ReadinessPolicy): ReasonCode[] {
  const tz = policy.timeZone;
  const usable = record.clearances.filter(
    (c) =>
      c.status !== 'cancelled' &&
      c.status !== 'entered-in-error' &&
      (when(c.decidedAt, tz) === undefined || notAfter(when(c.decidedAt, tz), asked)),
  );
  let latest: number | undefined;
  for (const c of usable) {
    const t = when(c.decidedAt, tz);
    if (t !== undefined && (latest === undefined || t.start > latest)) latest = t.start;
  }
  // Reading: an unreadable clearance is newer when it is dated at or after the latest readable one,
  // or has no date that could be read; then the rule cannot tell. What the latest readable one
  // says is said too; with none readable, only that the rule cannot tell. (First read as saying
  // only that it cannot tell.)
  const out: ReasonCode[] = [];
  for (const u of record.unreadable) {
    if (u.kind !== 'clearance') continue;
    const at = when(u.at, tz);
    if (at !== undefined && !notAfter(at, asked)) continue;
    if (at === undefined || latest === undefined || at.start >= latest) out.push('clearance-unreadable');
  }
  const codes = latestDecides(
    usable,
    (c) => when(c.decidedAt, tz),
    (c) => clearanceCodes(c, asked, policy),
  );
  if (codes === undefined) return out.length > 0 ? out : ['no-clearance'];
  return [...out, ...codes];
}

const ORDER_INTENTS = ['order', 'original-order', 'instance-order', 'filler-order'];

/** Medicine sessions with a completed dose against an order: under it, or under no order, up to the session. */
function dosesTaken(record: PatientRecord, rx: Prescription): number {
  const sessions = new Set<string>();
  for (const a of record.administrations) {
    if (a.status !== 'completed') continue;
    if (a.prescriptionId !== undefined && a.prescriptionId !== rx.id) continue;
    // Reading (as README now says): every completed dose counts, whenever given: fewer are left.
    // (First read as only doses up to the session.) A booster is its session's, not another session;
    // a dose the EHR holds in no session is a session of its own.
    sessions.add(a.sessionId ?? `dose ${a.id}`);
  }
  return sessions.size;
}

function orderCodes(record: PatientRecord, rx: Prescription, asked: Asked, tz: string): ReasonCode[] {
  // Reading: every way the current order fails is a reason of its own.
  const codes: ReasonCode[] = [];
  if (rx.status !== 'active' || rx.doNotPerform) codes.push('prescription-not-active');
  const from = rx.validFrom === undefined ? undefined : when(rx.validFrom, tz);
  const until = rx.validUntil === undefined ? undefined : when(rx.validUntil, tz);
  if (rx.validFrom !== undefined && (from === undefined || from.start > asked.session.start)) {
    codes.push('prescription-not-yet-valid');
  }
  if (rx.validUntil !== undefined && (until === undefined || until.end < asked.session.end)) {
    codes.push('prescription-expired');
  }
  // Reading: a dose the EHR records with an unknown status, under this order or under none, may
  // have been taken, so the doses left cannot be counted.
  const uncertain = record.administrations.some(
    (a) => a.status === 'unknown' && (a.prescriptionId === undefined || a.prescriptionId === rx.id),
  );
  if (rx.dosesAuthorised === undefined || uncertain) {
    codes.push('doses-unknown');
  } else if (rx.dosesAuthorised - dosesTaken(record, rx) <= 0) {
    codes.push('no-doses-left');
  }
  return codes;
}

/** The ketamine orders that could be current. */
function orders(record: PatientRecord): Prescription[] {
  return record.prescriptions.filter((rx) => {
    if (!rx.medication.isKetamine) return false;
    if (!ORDER_INTENTS.includes(rx.intent)) return false;
    // Reading (as README now says): an order entered in error never was one, neither current nor
    // replacing another. (First read as counting: the table said only "not draft".)
    if (rx.status === 'draft' || rx.status === 'entered-in-error') return false;
    // Reading (as README now says): the order stands as it does now; one authored after the
    // session still decides which is current. (First read as not counting.)
    return true;
  });
}

/**
 * The current order and the reasons it gives. Current by supersession: an order another order
 * names as its priorPrescription is replaced; then the latest authored time; then the latest
 * version time; a tie goes to the one that does not authorise.
 * Reading: a missing authored time is the start of validity (as README now says); a missing time
 * sorts before any time.
 */
function currentOrderCodes(
  record: PatientRecord,
  asked: Asked,
  tz: string,
): { rx: Prescription | undefined; codes: ReasonCode[] } {
  const candidates = orders(record);
  const replaced = new Set<string>();
  for (const rx of candidates) {
    // Reading: an order naming itself as its prior replaces nothing.
    if (rx.priorPrescription !== undefined && rx.priorPrescription !== `MedicationRequest/${rx.id}`) {
      replaced.add(rx.priorPrescription);
    }
  }
  const standing = candidates.filter((rx) => !replaced.has(`MedicationRequest/${rx.id}`));
  if (standing.length === 0) return { rx: undefined, codes: ['no-prescription'] };
  const authored = (rx: Prescription): number =>
    when(rx.authoredOn ?? rx.validFrom, tz)?.start ?? Number.NEGATIVE_INFINITY;
  const version = (rx: Prescription): number => when(rx.versionTime, tz)?.start ?? Number.NEGATIVE_INFINITY;
  let bestAuthored = Number.NEGATIVE_INFINITY;
  for (const rx of standing) bestAuthored = Math.max(bestAuthored, authored(rx));
  const byAuthored = standing.filter((rx) => authored(rx) === bestAuthored);
  let bestVersion = Number.NEGATIVE_INFINITY;
  for (const rx of byAuthored) bestVersion = Math.max(bestVersion, version(rx));
  const tied = byAuthored.filter((rx) => version(rx) === bestVersion);
  for (const rx of tied) {
    const codes = orderCodes(record, rx, asked, tz);
    if (codes.length > 0) return { rx, codes };
  }
  const rx = tied[0] as Prescription;
  return { rx, codes: [] };
}

function prescriptionRule(record: PatientRecord, asked: Asked, tz: string): ReasonCode[] {
  const { rx, codes } = currentOrderCodes(record, asked, tz);
  // Reading (as README now says): an unreadable order counts when it may be newer than the current
  // one: dated at or after its authored time, or with no date, or when there is no current order;
  // one dated after the session does not count. (First read as "any unreadable order": but one
  // older than the current order cannot be current, since the latest authored is.)
  const authored = rx === undefined ? undefined : when(rx.authoredOn ?? rx.validFrom, tz);
  const out: ReasonCode[] = [];
  for (const u of record.unreadable) {
    if (u.kind !== 'prescription') continue;
    const at = when(u.at, tz);
    if (at !== undefined && !notAfter(at, asked)) continue;
    if (at === undefined || authored === undefined || at.start >= authored.start) {
      out.push('prescription-unreadable');
      break;
    }
  }
  // Reading: an active ketamine order that says it must not be given (doNotPerform) stops the
  // session, whichever order is current.
  if (rx === undefined) return out.length > 0 ? out : codes;
  if (record.prescriptions.some((p) => p.doNotPerform && p.medication.isKetamine && p.status === 'active'))
    out.push('prescription-not-active');
  return [...out, ...codes];
}

function dispenseRule(record: PatientRecord, asked: Asked, policy: ReadinessPolicy): ReasonCode[] {
  if (!policy.requireDispense) return [];
  const tz = policy.timeZone;
  const { rx } = currentOrderCodes(record, asked, tz);
  // Reading: with no current order there is no dispense of it.
  if (rx === undefined) return ['no-dispense'];
  const mine: Dispense[] = [];
  for (const d of record.dispenses) {
    if (d.prescriptionId !== rx.id) continue;
    // Reading: a dispense handed over after the session does not count for it; one with no
    // handover time is still under way (or says no more than its status) and is the latest.
    if (d.whenHandedOver !== undefined && !notAfter(when(d.whenHandedOver, tz), asked)) continue;
    mine.push(d);
  }
  if (mine.length === 0) return ['no-dispense'];
  const undated = mine.filter((d) => when(d.whenHandedOver, tz) === undefined);
  const codes = latestDecides(
    undated.length > 0 ? undated : mine,
    (d) => when(d.whenHandedOver, tz) ?? { start: 0, end: 0 },
    (d): ReasonCode[] => (d.status === 'completed' ? [] : ['dispense-not-completed']),
  );
  return codes ?? ['dispense-not-completed'];
}

function ignored(o: KapObservation): boolean {
  return o.status === 'cancelled' || o.status === 'entered-in-error';
}

/** The prescriber's last review up to the session, or undefined when there is none. */
function lastReview(record: PatientRecord, asked: Asked, tz: string): number | undefined {
  let last: number | undefined;
  for (const c of record.clearances) {
    if (c.status !== 'final' && c.status !== 'amended' && c.status !== 'corrected') continue;
    const t = when(c.decidedAt, tz);
    if (t === undefined || !notAfter(t, asked)) continue;
    if (last === undefined || t.start > last) last = t.start;
  }
  for (const r of record.reviews) {
    const t = when(r.reviewedAt, tz);
    if (t === undefined || !notAfter(t, asked)) continue;
    if (last === undefined || t.start > last) last = t.start;
  }
  return last;
}

/**
 * Whether a flag dated `at` is still open. Reading: a flag the review is not wholly after stays
 * open (the same instant; a review during the day of a date-only flag: first read as closed by it,
 * which fails open); so does a flag with no date that can be read. A flag dated after the session
 * does not count.
 */
function open(at: string | undefined, review: number | undefined, asked: Asked, tz: string): boolean {
  const t = when(at, tz);
  if (t !== undefined && !notAfter(t, asked)) return false;
  if (t === undefined) return true;
  return review === undefined || review < t.end;
}

/**
 * Reading: "a finding is raised when recorded, and again when the EHR changes it", for scores and
 * adverse events too: one made available or changed after it happened (up to the session) is
 * raised then. An unreadable first time stays (its flag is open).
 */
function raised(first: string | undefined, later: (string | undefined)[], asked: Asked, tz: string) {
  const t0 = when(first, tz);
  if (t0 === undefined) return first;
  let best = first;
  let bestStart = t0.start;
  for (const v of later) {
    const t = when(v, tz);
    if (t !== undefined && notAfter(t, asked) && t.start > bestStart) [best, bestStart] = [v, t.start];
  }
  return best;
}

/** Item 9 of a PHQ-9 wherever it arrives: on the panel, in its items, or through hasMember. */
function item9Answers(record: PatientRecord, o: KapObservation): number[] {
  if (o.value.kind !== 'phq9') return [];
  const answers: number[] = [];
  if (o.value.item9 !== undefined) answers.push(o.value.item9);
  if (o.value.items !== undefined) answers.push(o.value.items[8]);
  for (const ref of o.value.members ?? []) {
    for (const m of record.observations) {
      if (`Observation/${m.id}` !== ref || ignored(m)) continue;
      if (m.value.kind === 'phq9-item9') answers.push(m.value.answer);
    }
  }
  return answers;
}

function safetyRule(record: PatientRecord, asked: Asked, tz: string): ReasonCode[] {
  const review = lastReview(record, asked, tz);
  const codes = new Set<ReasonCode>();
  for (const o of record.observations) {
    if (ignored(o)) continue;
    const t = when(o.effective, tz);
    if (t !== undefined && !notAfter(t, asked)) continue;
    if (!open(raised(o.effective, [o.issued, o.versionTime], asked, tz), review, asked, tz)) continue;
    if (o.value.kind === 'phq9') {
      const answers = item9Answers(record, o);
      if (answers.length === 0) codes.add('safety-phq9-item9-unknown');
      // Reading: item 9 above 0 wherever it is said is a flag, even if another copy says 0.
      if (answers.some((a) => a > 0)) codes.add('safety-phq9-item9');
    }
    if (o.value.kind === 'phq9-item9' && o.value.answer > 0) codes.add('safety-phq9-item9');
    if (o.value.kind === 'cssrs' && (o.value.risk === 'moderate' || o.value.risk === 'high')) {
      codes.add('safety-cssrs-risk');
    }
  }
  for (const f of record.findings) {
    if (!f.active || f.contraindication === undefined) continue;
    const recordedAt = when(f.recorded, tz);
    if (recordedAt !== undefined && !notAfter(recordedAt, asked)) continue;
    // Reading: the EHR changing a finding after recording it (up to the session) raises it again.
    const changedAt = when(f.versionTime, tz);
    const changedLater =
      changedAt !== undefined &&
      recordedAt !== undefined &&
      changedAt.start > recordedAt.start &&
      notAfter(changedAt, asked);
    if (open(changedLater ? f.versionTime : f.recorded, review, asked, tz))
      codes.add('safety-contraindication');
  }
  for (const e of record.adverseEvents) {
    if (!e.serious) continue;
    const t = when(e.occurredAt, tz);
    if (t !== undefined && !notAfter(t, asked)) continue;
    if (open(raised(e.occurredAt, [e.recordedAt], asked, tz), review, asked, tz))
      codes.add('safety-adverse-event');
  }
  for (const u of record.unreadable) {
    if (u.kind !== 'safety-finding') continue;
    if (open(u.at, review, asked, tz)) codes.add('safety-finding-unreadable');
  }
  return [...codes];
}

function bloodPressureRule(record: PatientRecord, asked: Asked, policy: ReadinessPolicy): ReasonCode[] {
  const tz = policy.timeZone;
  const readings = record.observations.filter(
    (o) => o.value.kind === 'blood-pressure' && !ignored(o) && notAfter(when(o.effective, tz), asked),
  );
  let latest: number | undefined;
  for (const o of readings) {
    const t = when(o.effective, tz);
    if (t !== undefined && (latest === undefined || t.start > latest)) latest = t.start;
  }
  // Reading: as for clearance, an unreadable reading at or after the latest readable one, or not
  // dated, is newer; the rule then cannot tell, and whether the latest readable one was high is
  // said too. (First read as saying only that it cannot tell.)
  const unreadable: ReasonCode[] = [];
  for (const u of record.unreadable) {
    if (u.kind !== 'blood-pressure') continue;
    const at = when(u.at, tz);
    if (at !== undefined && !notAfter(at, asked)) continue;
    if (at === undefined || latest === undefined || at.start >= latest) {
      unreadable.push('blood-pressure-unreadable');
    }
  }
  const codes = latestDecides(
    readings,
    (o) => when(o.effective, tz),
    (o): ReasonCode[] => {
      if (o.value.kind !== 'blood-pressure') return [];
      // Reading (as README now says): the latest reading above the thresholds blocks whatever day
      // it was taken, and that is its only reason. (First read as also the missing pre-dose check.)
      if (o.value.systolic > policy.systolicMax || o.value.diastolic > policy.diastolicMax) {
        return ['safety-blood-pressure'];
      }
      if (unreadable.length > 0) return [];
      const t = when(o.effective, tz);
      if (t === undefined || t.start < asked.day.start || t.end > asked.day.end)
        return ['predose-blood-pressure'];
      return [];
    },
  );
  if (unreadable.length > 0) return [...unreadable, ...(codes ?? [])];
  return codes ?? ['predose-blood-pressure'];
}

function ehrFreshnessRule(query: ReadinessQuery, asked: Asked, policy: ReadinessPolicy): ReasonCode[] {
  const heard = when(query.ehrLastHeardAt, policy.timeZone);
  if (heard === undefined) return ['ehr-stale'];
  // Reading: "within" counts from when the question is asked; the boundary itself is within.
  if (asked.now - heard.start > policy.ehrFreshnessHours * HOUR_MS) return ['ehr-stale'];
  return [];
}

// ---------------------------------------------------------------------------------------------

export function verdictOfCodes(codes: readonly ReasonCode[]): Verdict {
  if (codes.length === 0) return 'ready';
  if (codes.every((c) => REASONS[c].outcome === 'day-of')) return 'pending-day-of-checks';
  return 'not-ready';
}

export function referenceReadiness(
  record: PatientRecord,
  query: ReadinessQuery,
  policy: ReadinessPolicy,
  episode?: Episode,
): { codes: ReasonCode[]; verdict: Verdict } {
  const tz = policy.timeZone;
  const asked = askedOf(query, policy);
  const course = episode ?? defaultEpisode(record);
  const codes = new Set<ReasonCode>([
    ...linkRule(record),
    ...episodeRule(course),
    ...consentRule(record, course, asked, tz),
    ...preparationRule(record, course, asked, tz),
    ...integrationRule(record, course, asked, policy),
    ...clearanceRule(record, asked, policy),
    ...prescriptionRule(record, asked, tz),
    ...dispenseRule(record, asked, policy),
    ...safetyRule(record, asked, tz),
    ...bloodPressureRule(record, asked, policy),
    ...ehrFreshnessRule(query, asked, policy),
  ]);
  const sorted = [...codes].sort();
  return { codes: sorted, verdict: verdictOfCodes(sorted) };
}

/**
 * A course: each partner's own readiness, and the course's reasons. Reading (as README now says):
 * each partner is told `partner-not-ready` when the other is not ready; a partner who waits only
 * on day-of checks makes the course wait on them too, and the course's verdict is over every
 * partner's reasons.
 * A couples course not naming two different partners, or a partner with no record, is
 * `couple-unreadable`; a course naming no patient has no episode to speak of.
 */
export function referenceEpisodeReadiness(
  episode: Episode,
  records: readonly PatientRecord[],
  query: ReadinessQuery,
  policy: ReadinessPolicy,
): {
  codes: ReasonCode[];
  verdict: Verdict;
  patients: { patientId: string; codes: ReasonCode[]; verdict: Verdict }[];
} {
  const patients: { patientId: string; codes: ReasonCode[]; verdict: Verdict }[] = [];
  const codes = new Set<ReasonCode>();
  for (const id of episode.patients) {
    const record = records.find((r) => r.patientId === id);
    if (record === undefined) {
      codes.add('couple-unreadable');
      continue;
    }
    const own = referenceReadiness(record, query, policy, episode);
    patients.push({ patientId: id, ...own });
  }
  if (episode.type === 'couples') {
    if (episode.patients.length !== 2 || new Set(episode.patients).size !== 2) codes.add('couple-unreadable');
    const someoneNotReady = patients.some((p) => p.verdict === 'not-ready');
    if (someoneNotReady && patients.length > 1) codes.add('partner-not-ready');
  }
  if (episode.patients.length === 0) codes.add('no-episode');
  const all = [...codes, ...patients.flatMap((p) => p.codes)];
  const sorted = [...codes].sort();
  return { codes: sorted, verdict: verdictOfCodes(all), patients };
}
