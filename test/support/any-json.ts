/**
 * Tolerant reading, checked on hostile input: resources whose elements hold any JSON at all (or
 * null), as a careless or hostile sender may write them. Reading one gives a Read, never a thrown
 * error.
 */
import fc from 'fast-check';
import type { Read } from '../../src/fhir/reference-context.js';

/** Any JSON value, or null. */
export const anyElement: fc.Arbitrary<unknown> = fc.oneof(fc.jsonValue(), fc.constant(null));

/**
 * Reads 500 resources of one of `resourceTypes`, each of `elements` (and id, meta, identifier)
 * absent or any JSON, or one of its `alternatives` where given; every read gives issues, and
 * `holds` what else must be true of it.
 */
export function readsAnyJson<V>(
  read: (resource: never) => Read<V>,
  resourceTypes: readonly unknown[],
  elements: readonly string[],
  alternatives: Record<string, fc.Arbitrary<unknown>>,
  holds: (read: Read<V>) => void,
): void {
  const fields: Record<string, fc.Arbitrary<unknown>> = { resourceType: fc.constantFrom(...resourceTypes) };
  for (const name of ['id', 'meta', 'identifier', ...elements]) {
    const alternative = alternatives[name];
    fields[name] = alternative ? fc.oneof(anyElement, alternative) : anyElement;
  }
  fc.assert(
    fc.property(fc.record(fields, { requiredKeys: ['resourceType'] }), (resource) => {
      const result = read(resource as never);
      expect(Array.isArray(result.issues)).toBe(true);
      holds(result);
    }),
    { numRuns: 500 },
  );
}
