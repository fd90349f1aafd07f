/**
 * The demo's readable timeline: one line per event (elapsed time, course day, who, what, and the
 * FHIR resource it is kept as), the readiness answers with their reasons, and the episode timeline
 * and HAPI's counts at the end.
 */
import type { Json } from '../test/support/course.js';

const STARTED = Date.now();

/** Seconds since the demo started. */
export const elapsed = (): number => Math.round((Date.now() - STARTED) / 1000);

const clock = (): string => {
  const s = (Date.now() - STARTED) / 1000;
  return `${String(Math.floor(s / 60)).padStart(2, ' ')}:${(s % 60).toFixed(1).padStart(4, '0')}`;
};
export const say = (text = '') => process.stdout.write(`${text}\n`);
export const heading = (text: string) => say(`\n== ${text}`);
const DAY_FMT = new Intl.DateTimeFormat('en-GB', {
  weekday: 'short',
  day: '2-digit',
  month: 'short',
  timeZone: 'UTC',
});
export const dayOf = (iso: string): string => DAY_FMT.format(new Date(iso));
/** A course time as `Thu 19 Nov 10:15` (UTC); blank for what happens in the replay itself. */
const whenOf = (iso?: string): string => (iso ? `${dayOf(iso)} ${iso.slice(11, 16)}` : '');
/** One timeline line: wall clock, course day, who, what, and the FHIR resource it is kept as. */
export function event(at: string | undefined, who: string, what: string, resource?: string): void {
  say(`${clock()}  ${whenOf(at).padEnd(16)} ${who.padEnd(10)} ${what}${resource ? `  -> ${resource}` : ''}`);
}
/** A line under the event it belongs to. */
export const note = (text: string) => say(`${' '.repeat(37)}${text}`);

/** A resource as HAPI holds that version of it: `Type/id/_history/v`. */
export const versioned = (r: Json): string => `${r.resourceType}/${r.id}/_history/${r.meta?.versionId}`;

/** A readiness answer: ready, ready but for the day-of checks, or not yet with every reason. */
export function readinessLines(answer: Json, nameOf: (id: string) => string): void {
  if (answer.ready) {
    note(`READY: both partners may dose on ${dayOf(answer.date)}`);
    return;
  }
  note(
    answer.verdict === 'pending-day-of-checks'
      ? `READY BUT FOR THE DAY-OF CHECKS on ${dayOf(answer.date)}:`
      : `NOT YET for ${dayOf(answer.date)}:`,
  );
  for (const r of answer.reasons) {
    note(`- ${nameOf(r.patientId)}: ${r.message}${r.source ? ` [${r.source}]` : ''}`);
  }
}

/** The answer of `GET /api/v1/episodes/{id}`: consents, phases and sessions, doses, observations, readiness. */
export function episodeLines(tl: Json, nameOf: (id: string) => string): void {
  say(
    `${tl.type} course ${tl.id} (${tl.status}) for ${tl.patients.map(nameOf).join(' and ')}  [${tl.source}]`,
  );
  for (const c of tl.consents) say(`  consent    ${nameOf(c.patientId)} signed ${c.dateTime}  [${c.source}]`);
  for (const ph of tl.phases) {
    say(`  ${ph.phase.padEnd(11)}${ph.sessions.length} of ${ph.planned} planned`);
    for (const s of ph.sessions) {
      say(`    ${s.status} ${s.start ?? ''}  [${s.source}]`);
      for (const part of s.partners ?? []) say(`      ${nameOf(part.patientId).padEnd(6)} [${part.source}]`);
    }
  }
  for (const d of tl.doses) {
    say(
      `  dose       ${nameOf(d.patientId).padEnd(6)} ${d.dose?.value} ${d.dose?.unit} ${d.route ?? ''} ${d.administeredAt ?? ''}  [${d.source}]`,
    );
  }
  for (const o of tl.observations) {
    const { kind, ...value } = o.value;
    say(
      `  ${String(kind).padEnd(15)}${nameOf(o.patientId).padEnd(6)} ${JSON.stringify(value)} ${o.effective ?? ''}  [${o.source}]`,
    );
  }
  say(`  readiness on ${tl.readiness.date}: ${tl.readiness.ready ? 'ready' : 'not ready'}`);
  for (const r of tl.readiness.reasons)
    say(`    - ${nameOf(r.patientId)}: ${r.code}${r.source ? ` [${r.source}]` : ''}`);
}

/** How many resources of each type, sorted by type, and in all. */
export function countLines(counts: Map<string, Set<string>>): void {
  for (const [t, ids] of [...counts].sort(([a], [b]) => a.localeCompare(b)))
    say(`  ${t.padEnd(26)}${ids.size}`);
  const total = [...counts.values()].reduce((n, ids) => n + ids.size, 0);
  say(`  ${'in all'.padEnd(26)}${total}`);
}
