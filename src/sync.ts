/**
 * Catch-up: pull everything the EHR changed since the last checkpoint, per kept type, in
 * `_lastUpdated` windows that overlap the previous one, across all pages. Subscriptions are for
 * speed; this is what makes a missed notification never become a lost update. Running it twice
 * changes nothing: intake dedupes by version.
 */
import type { Resource } from 'fhir/r4';
import type { EhrGateway } from './ehr/gateway.js';
import { OperationOutcomeError } from './fhir/outcome.js';
import { checkInbound, type IntakeOutcome, KEPT_TYPES, keep, type ResourceValidator } from './intake.js';
import type { Store } from './store/store.js';

export interface SyncDeps {
  ehr: EhrGateway;
  store: Store;
  validator: ResourceValidator;
  overlapSeconds: number;
  now?: () => Date;
  /** Called after each page, for progress on long runs. */
  onProgress?: (p: SyncProgress) => void;
  /** Called for each resource the EHR holds that kap-bridge rejects (kept out, reported). */
  onRejected?: (resource: Resource, error: OperationOutcomeError) => void;
  /** Called for each resource read, with what intake made of it (metrics). */
  onIntake?: (type: string, outcome: IntakeOutcome | 'rejected') => void;
  pageSize?: number;
}

export interface SyncProgress {
  type: string;
  fetched: number;
}

export interface SyncReport {
  fetched: number;
  stored: number;
  unchanged: number;
  rejected: number;
  byType: Record<string, number>;
}

export const checkpointName = (type: string): string => `sync:${type}`;

/** One catch-up run over every kept type. */
export async function catchUp(deps: SyncDeps): Promise<SyncReport> {
  const report: SyncReport = { fetched: 0, stored: 0, unchanged: 0, rejected: 0, byType: {} };
  for (const type of KEPT_TYPES) await catchUpType(type, deps, report);
  return report;
}

async function catchUpType(type: string, deps: SyncDeps, report: SyncReport): Promise<void> {
  const checkpoint = await deps.store.getCheckpoint(checkpointName(type));
  const params: Record<string, string | number> = { _count: deps.pageSize ?? 200, _sort: '_lastUpdated' };
  if (checkpoint) {
    const since = new Date(Date.parse(checkpoint) - deps.overlapSeconds * 1000).toISOString();
    params._lastUpdated = `ge${since}`;
  }
  let latest = checkpoint;
  let fetched = 0;
  for await (const resource of deps.ehr.search<Resource>(type, params)) {
    fetched++;
    const at = (deps.now?.() ?? new Date()).toISOString();
    try {
      const checked = checkInbound(resource, deps.validator);
      const outcome = await deps.store.transaction((tx) => keep(checked, tx, at));
      deps.onIntake?.(type, outcome);
      if (outcome === 'stored') report.stored++;
      else report.unchanged++;
    } catch (e) {
      if (!(e instanceof OperationOutcomeError)) throw e;
      deps.onIntake?.(type, 'rejected');
      report.rejected++;
      deps.onRejected?.(resource, e);
    }
    const updated = resource.meta?.lastUpdated;
    if (updated && (!latest || updated > latest)) latest = updated;
    if (fetched % (deps.pageSize ?? 200) === 0) deps.onProgress?.({ type, fetched });
  }
  deps.onProgress?.({ type, fetched });
  report.fetched += fetched;
  report.byType[type] = fetched;
  // The checkpoint moves to the newest change seen, on the EHR's own clock.
  if (latest && latest !== checkpoint) await deps.store.setCheckpoint(checkpointName(type), latest);
}
