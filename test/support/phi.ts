/**
 * What a test needs to show that PHI stays out of logs: a log stream that keeps every line, and the
 * PHI a test sent, collected from the resources and bodies themselves (never typed twice).
 */
import { Writable } from 'node:stream';

/** A destination for createLogger that keeps every line written to it, as text and parsed. */
export function logCapture(): {
  stream: Writable;
  lines: () => string[];
  records: () => Record<string, unknown>[];
} {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  const lines = () => chunks.join('').split('\n').filter(Boolean);
  return { stream, lines, records: () => lines().map((l) => JSON.parse(l) as Record<string, unknown>) };
}

/** Fields whose every string is PHI, in FHIR resources and in the therapist API's bodies. */
const PHI_FIELDS = new Set([
  'given',
  'family',
  'birthDate',
  'line',
  'city',
  'postalCode',
  'valueString',
  'intention',
  'reason',
  'findings',
]);
/** Fields holding elements whose `value` is PHI (identifier values, phone numbers, emails). */
const VALUE_FIELDS = new Set(['identifier', 'identifiers', 'telecom']);
/** Fields holding elements whose `text` is PHI (free-text notes, a Goal's description). */
const TEXT_FIELDS = new Set(['note', 'description', 'statusReason']);

/**
 * Every PHI string in `values`: names, birth dates, address lines, identifier values, telecom,
 * free-text notes, as found by walking them. Strings shorter than 4 characters are left out: they
 * identify no one on their own and would match anywhere.
 */
export function phiOf(...values: unknown[]): string[] {
  const found = new Set<string>();
  const strings = (v: unknown): string[] =>
    typeof v === 'string' ? [v] : Array.isArray(v) ? v.flatMap(strings) : [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) {
      v.forEach(walk);
      return;
    }
    if (v === null || typeof v !== 'object') return;
    for (const [key, child] of Object.entries(v)) {
      if (PHI_FIELDS.has(key)) for (const s of strings(child)) found.add(s);
      const elements = Array.isArray(child) ? child : [child];
      if (VALUE_FIELDS.has(key))
        for (const e of elements) for (const s of strings((e as { value?: unknown })?.value)) found.add(s);
      if (TEXT_FIELDS.has(key))
        for (const e of elements) for (const s of strings((e as { text?: unknown })?.text)) found.add(s);
      walk(child);
    }
  };
  values.forEach(walk);
  return [...found].filter((s) => s.trim().length >= 4);
}

/** The lines that contain one of `phi`, each with what it contains; a value matches as a whole word. */
export function linesWith(lines: readonly string[], phi: readonly string[]): { phi: string; line: string }[] {
  const escaped = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const patterns = phi.map((p) => ({
    phi: p,
    // JSON lines escape quotes and non-ASCII as they like: match the value as JSON writes it, too.
    re: new RegExp(
      `(?<![A-Za-z0-9])(?:${escaped(p)}|${escaped(JSON.stringify(p).slice(1, -1))})(?![A-Za-z0-9])`,
    ),
  }));
  return lines.flatMap((line) => patterns.filter((p) => p.re.test(line)).map((p) => ({ phi: p.phi, line })));
}
