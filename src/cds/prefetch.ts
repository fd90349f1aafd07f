/**
 * What a CDS client prefetched, read into the EHR resources readiness uses. Prefetch only adds to
 * the aligned record (a newer version of a resource, one not synchronised yet); it never removes
 * anything from it. So a key the client left out, a null, an OperationOutcome in place of the data
 * or a partial page all leave the aligned record to answer, as if nothing had been prefetched.
 */
import type { Bundle, OperationOutcome, Resource } from 'fhir/r4';
import { CANONICAL_BASE } from '../fhir/codes.js';
import { patientRefOf } from '../intake.js';
import { PREFETCH, PREFETCH_TYPES } from './services.js';

export interface PrefetchReading {
  /** The EHR's resources about the patient, of the types the templates ask for. */
  resources: Resource[];
  /** Keys whose value was unusable (an OperationOutcome, an error in the Bundle): their names only. */
  unusable: string[];
}

const IDENTIFIER_BASE = `${CANONICAL_BASE}/identifier/`;

/**
 * kap-bridge's own writes, as the EHR holds them: the store's row (or its copy of another practice's
 * write) stands for them, so that nothing is counted twice.
 */
const writtenByKapBridge = (r: Resource): boolean =>
  ((r as { identifier?: { system?: string }[] }).identifier ?? []).some((i) =>
    i.system?.startsWith(IDENTIFIER_BASE),
  );

const failed = (o: OperationOutcome): boolean =>
  (o.issue ?? []).some((i) => i.severity === 'error' || i.severity === 'fatal');

export function readPrefetch(
  prefetch: Record<string, unknown> | undefined,
  ehrPatientId: string,
): PrefetchReading {
  const reading: PrefetchReading = { resources: [], unusable: [] };
  if (!prefetch) return reading;
  const patient = `Patient/${ehrPatientId}`;
  for (const key of Object.keys(PREFETCH)) {
    const value = prefetch[key] as Resource | null | undefined;
    if (value === undefined || value === null) continue;
    let found: Resource[];
    if (value.resourceType === 'Bundle') {
      const entries = (value as Bundle).entry ?? [];
      const outcomes = entries.filter(
        (e) => e.search?.mode === 'outcome' || e.resource?.resourceType === 'OperationOutcome',
      );
      if (outcomes.some((e) => failed(e.resource as OperationOutcome))) {
        reading.unusable.push(key);
        continue;
      }
      found = entries.flatMap((e) => (e.resource && e.search?.mode !== 'outcome' ? [e.resource] : []));
    } else if (value.resourceType === 'OperationOutcome') {
      reading.unusable.push(key);
      continue;
    } else {
      found = [value];
    }
    for (const r of found) {
      if (!PREFETCH_TYPES.has(r.resourceType) || typeof r.id !== 'string') continue;
      // Another patient's data never enters this patient's record, whatever the client sent.
      if (patientRefOf(r) !== patient || writtenByKapBridge(r)) continue;
      reading.resources.push(r);
    }
  }
  return reading;
}
