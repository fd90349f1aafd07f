/**
 * How deep JSON may nest before kap-bridge reads it. Every walk over a resource (validation,
 * reference rewriting, schema checks, content comparison) recurses once per level, so input is
 * measured here first, without recursion, and refused beyond a depth no FHIR resource needs.
 */

/** Objects and arrays within each other, counting the outermost; a Bundle of resources needs far fewer. */
export const MAX_NESTING = 64;

/** Whether `value` has objects or arrays nested more than `levels` deep; safe at any depth. */
export function nestedDeeperThan(value: unknown, levels: number = MAX_NESTING): boolean {
  const pending: [unknown, number][] = [[value, 1]];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const [v, depth] = next;
    if (v === null || typeof v !== 'object') continue;
    if (depth > levels) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) pending.push([child, depth + 1]);
  }
  return false;
}
