/**
 * Time as FHIR carries it, compared as time. A `dateTime` with a clock time names an instant (FHIR
 * requires its offset); a date-only or partial value (`2026-12-03`, `2026-12`, `2026`) names a whole
 * day, month or year in the practice's time zone. Every value becomes a half-open span of
 * milliseconds, [start, end): an instant is one millisecond wide.
 */

export interface Span {
  start: number;
  end: number;
}

const PARTIAL = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$/;
const WITH_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})$/;

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** Whether `timeZone` is an IANA time zone name this runtime knows. */
export function isTimeZone(timeZone: string): boolean {
  try {
    formatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

const QUARTER_HOUR = 900_000;
const offsets = new Map<string, number>();

/**
 * The zone's offset from UTC at an instant, in ms (local time minus UTC). Offsets change only on a
 * quarter hour, so they are kept by quarter hour.
 */
function offsetAt(instant: number, timeZone: string): number {
  const key = `${timeZone}|${Math.floor(instant / QUARTER_HOUR)}`;
  const known = offsets.get(key);
  if (known !== undefined) return known;
  const offset = computeOffset(Math.floor(instant / QUARTER_HOUR) * QUARTER_HOUR, timeZone);
  if (offsets.size > 100_000) offsets.clear();
  offsets.set(key, offset);
  return offset;
}

function computeOffset(instant: number, timeZone: string): number {
  const parts: Record<string, number> = {};
  for (const p of formatter(timeZone).formatToParts(instant)) {
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  }
  const local = Date.UTC(
    parts.year!,
    parts.month! - 1,
    parts.day!,
    parts.hour!,
    parts.minute!,
    parts.second!,
  );
  return local - Math.floor(instant / 1000) * 1000;
}

const midnights = new Map<string, number>();

/** The instant a local calendar day begins in `timeZone` (month and day may overflow, as in Date.UTC). */
function midnight(year: number, month: number, day: number, timeZone: string): number {
  const key = `${timeZone}|${year}|${month}|${day}`;
  const cached = midnights.get(key);
  if (cached !== undefined) return cached;
  const wall = Date.UTC(year, month - 1, day);
  const first = wall - offsetAt(wall, timeZone);
  // Across a change of offset the first guess is off by the change: correct once. Where the clocks
  // skip midnight (America/Santiago, America/Havana) the corrected guess is still the day before:
  // the day begins at the skip, the first guess.
  const corrected = wall - offsetAt(first, timeZone);
  const instant = corrected + offsetAt(corrected, timeZone) < wall ? first : corrected;
  if (midnights.size > 100_000) midnights.clear();
  midnights.set(key, instant);
  return instant;
}

const spans = new Map<string, Span | null>();

/**
 * The span a FHIR date, dateTime or instant names; undefined when it is not one. Answers are kept
 * (the same few values are asked about on every readiness answer), and frozen, since they are shared.
 */
export function spanOf(value: string | undefined, timeZone: string): Span | undefined {
  if (value === undefined) return undefined;
  const key = `${timeZone}|${value}`;
  const known = spans.get(key);
  if (known !== undefined) return known ?? undefined;
  const span = parseSpan(value, timeZone);
  if (spans.size > 100_000) spans.clear();
  spans.set(key, span === undefined ? null : Object.freeze(span));
  return span;
}

function parseSpan(value: string, timeZone: string): Span | undefined {
  if (WITH_TIME.test(value)) {
    // Date.parse rolls a day past the month's end over (02-30 is 03-02): such a value is no instant.
    if (spanOf(value.slice(0, 10), 'UTC') === undefined) return undefined;
    // FHIR's pattern allows a leap second (:60), which Date.parse does not: it is the next minute's start.
    const leap = /T\d\d:\d\d:60/.test(value);
    const t = Date.parse(leap ? value.replace(/(T\d\d:\d\d):60/, '$1:59') : value) + (leap ? 1000 : 0);
    return Number.isNaN(t) ? undefined : { start: t, end: t + 1 };
  }
  const m = PARTIAL.exec(value);
  if (!m) return undefined;
  const year = Number(m[1]);
  if (m[2] === undefined)
    return { start: midnight(year, 1, 1, timeZone), end: midnight(year + 1, 1, 1, timeZone) };
  const month = Number(m[2]);
  if (month < 1 || month > 12) return undefined;
  if (m[3] === undefined) {
    return { start: midnight(year, month, 1, timeZone), end: midnight(year, month + 1, 1, timeZone) };
  }
  const day = Number(m[3]);
  if (day < 1 || day > new Date(Date.UTC(year, month, 0)).getUTCDate()) return undefined;
  return { start: midnight(year, month, day, timeZone), end: midnight(year, month, day + 1, timeZone) };
}

/** The calendar day (YYYY-MM-DD) an instant falls on in `timeZone`. */
export function dayOf(instant: number, timeZone: string): string {
  const local = new Date(instant + offsetAt(instant, timeZone));
  return local.toISOString().slice(0, 10);
}

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;
