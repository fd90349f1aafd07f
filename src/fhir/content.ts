/**
 * A resource's content, for "do these two hold the same?": what the server assigns (id, meta, the
 * generated text) left out, keys sorted. The outbox worker asks it of the EHR's copy after a
 * version conflict, and reconcile of every pair it matches.
 */
import type { Resource } from 'fhir/r4';

/**
 * The content as one string. `aliases` reads references to the EHR's ids of our resources as our
 * ids (EHR `Type/id` -> local `Type/id`), for comparing a local copy with the EHR's.
 */
export function contentOf(resource: Resource, aliases: ReadonlyMap<string, string> = new Map()): string {
  const { id: _id, meta: _meta, text: _text, ...rest } = resource as Resource & { text?: unknown };
  const canonical = (v: unknown, name?: string): unknown => {
    if (name === 'reference' && typeof v === 'string') return aliases.get(v) ?? v;
    if (Array.isArray(v)) return v.map((x) => canonical(x));
    if (v && typeof v === 'object') {
      return Object.fromEntries(
        Object.entries(v)
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([k, x]) => [k, canonical(x, k)]),
      );
    }
    return v;
  };
  return JSON.stringify(canonical(rest));
}
