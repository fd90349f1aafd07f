/**
 * Healing what the rules allow: the EHR's own resources are taken in through intake, ours are sent
 * again through the outbox, and conflicts are left for a person.
 */
import { OperationOutcomeError } from '../fhir/outcome.js';
import { checkInbound, keep, type ResourceValidator } from '../intake.js';
import { enqueue, forgetEhrCopy } from '../outbox/outbox.js';
import type { Gathered, PatientReport, ReconcileDeps } from './gather.js';
import { type Drift, key } from './rules.js';

/** What `--fix` did about one drift. */
export interface Repair {
  drift: Drift;
  outcome: 'pulled' | 'queued' | 'left for a person' | 'failed';
  detail?: string;
}

/** Heals what the rules allow; conflicts and what cannot be healed are left for a person. */
export async function heal(
  report: PatientReport,
  gathered: Gathered,
  deps: ReconcileDeps & { validator: ResourceValidator },
): Promise<Repair[]> {
  const repairs: Repair[] = [];
  for (const drift of report.drift) {
    if (drift.remedy === 'person') {
      repairs.push({ drift, outcome: 'left for a person' });
      continue;
    }
    try {
      if (drift.remedy === 'pull') {
        const ref = drift.there!.split('/_history/')[0];
        const theirs = gathered.ehr.find((r) => key(r) === ref)!;
        const checked = checkInbound(theirs, deps.validator);
        const receivedAt = (deps.now?.() ?? new Date()).toISOString();
        const outcome = await deps.store.transaction((tx) => keep(checked, tx, receivedAt));
        repairs.push({ drift, outcome: 'pulled', detail: outcome });
        continue;
      }
      const ref = drift.here!.split('/_history/')[0]!;
      const message = gathered.latest.get(ref);
      if (!message) {
        repairs.push({ drift, outcome: 'failed', detail: 'No queued change to send again.' });
        continue;
      }
      await deps.store.transaction(async (tx) => {
        if (drift.kind === 'missing-there' && drift.there)
          await forgetEhrCopy(tx, message.resourceType, message.identifier);
        await enqueue(tx, {
          patientRef: message.patientRef,
          resource: message.resource,
          identifier: message.identifier,
        });
      });
      repairs.push({ drift, outcome: 'queued', detail: `in the outbox of ${message.patientRef}` });
    } catch (e) {
      if (!(e instanceof OperationOutcomeError)) throw e;
      const why = e.outcome.issue.map((i) => i.diagnostics).join('; ');
      repairs.push({ drift, outcome: 'failed', detail: `refused by intake: ${why}` });
    }
  }
  return repairs;
}
