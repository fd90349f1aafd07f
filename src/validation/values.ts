/**
 * Checks on single values the JSON schema cannot express: fixed[x] and pattern[x], codes against
 * enumerated value sets, and the primitive rules the schema's patterns miss.
 */

/** `an Immunization`, `a Patient`. */
export const article = (word: string): string => `${/^[AEIOU]/.test(word) ? 'an' : 'a'} ${word}`;

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((v, i) => deepEqual(v, b[i]));
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  const bo = b as Record<string, unknown>;
  return ka.length === kb.length && ka.every((k) => deepEqual((a as Record<string, unknown>)[k], bo[k]));
}

/** pattern[x] semantics: every value in the pattern is present; each pattern list item matches some item. */
export function matchesPattern(value: unknown, pattern: unknown): boolean {
  if (pattern === null || typeof pattern !== 'object') return value === pattern;
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(pattern)) {
    const items = Array.isArray(value) ? value : [value];
    return pattern.every((p) => items.some((v) => matchesPattern(v, p)));
  }
  const v = value as Record<string, unknown>;
  return Object.entries(pattern).every(([k, p]) => v[k] !== undefined && matchesPattern(v[k], p));
}

/** A short readable form of a fixed or pattern value, for messages. */
export function describeValue(v: unknown): string {
  const codings = (v as { coding?: { system?: string; code?: string }[] } | null)?.coding;
  if (Array.isArray(codings))
    return codings.map((c) => [c.system, c.code].filter(Boolean).join(' ')).join(', ');
  const s = JSON.stringify(v);
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}

interface Coding {
  system?: unknown;
  code?: unknown;
}

/**
 * Codes of a value against an enumerated value set. Returns a problem sentence or undefined.
 * `type` is the FHIR type of the value: code, Coding or CodeableConcept.
 */
export function bindingProblem(value: unknown, type: string, codes: readonly string[]): string | undefined {
  const allowed = new Set(codes);
  const systems = new Set(codes.map((c) => c.slice(0, c.lastIndexOf('|'))));
  const list = () =>
    codes
      .slice(0, 12)
      .map((c) => c.slice(c.lastIndexOf('|') + 1))
      .join(', ') + (codes.length > 12 ? ', ...' : '');
  if (type === 'code') {
    if (typeof value !== 'string') return undefined;
    return [...allowed].some((c) => c.endsWith(`|${value}`))
      ? undefined
      : `'${value}' is not allowed; use one of: ${list()}`;
  }
  const codings: Coding[] =
    type === 'Coding'
      ? [value as Coding]
      : (((value as { coding?: unknown }).coding as Coding[] | undefined) ?? []);
  if (!Array.isArray(codings)) return undefined;
  for (const c of codings) {
    if (
      c &&
      typeof c.system === 'string' &&
      systems.has(c.system) &&
      !allowed.has(`${c.system}|${String(c.code)}`)
    ) {
      return `code '${String(c.code)}' is not in ${c.system}; use one of: ${list()}`;
    }
  }
  if (codings.some((c) => c && allowed.has(`${String(c.system)}|${String(c.code)}`))) return undefined;
  return `no coding comes from the required value set; use one of: ${list()} (system ${[...systems].join(' or ')})`;
}

const BASE64 = /^[A-Za-z0-9+/\s]*={0,2}\s*$/;
const DATE_PART = /^(\d{4})-(\d{2})-(\d{2})/;
const DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const INT32 = 2147483647;

/** What is wrong with a primitive value that passed the schema's pattern, if anything. */
export function primitiveProblem(value: unknown, type: string): string | undefined {
  if (typeof value === 'string') {
    if (value.length === 0) return 'must not be empty: leave the element out instead';
    if (value.length > 1024 * 1024) return 'is longer than the 1 MB FHIR allows for a string';
    if (type === 'base64Binary') {
      const compact = value.replace(/\s/g, '');
      return BASE64.test(value) && compact.length % 4 === 0 ? undefined : 'is not valid base64';
    }
    if (type === 'date' || type === 'dateTime' || type === 'instant') {
      const m = DATE_PART.exec(value);
      if (m) {
        const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
        const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
        const max = mo === 2 && !leap ? 28 : (DAYS[mo - 1] ?? 31);
        if (d > max) return `is not a real date (${value.slice(0, 10)})`;
      }
    }
    return undefined;
  }
  if (typeof value === 'number') {
    if (type === 'integer' || type === 'positiveInt' || type === 'unsignedInt') {
      if (!Number.isInteger(value) || value > INT32 || value < -INT32 - 1)
        return 'must be a 32-bit whole number';
      if (type === 'positiveInt' && value < 1) return 'must be 1 or more';
      if (type === 'unsignedInt' && value < 0) return 'must be 0 or more';
    }
  }
  return undefined;
}
