/**
 * The rule book of reconciliation: what kap-bridge compares with the EHR, and `compareRecords`, the
 * drift between the local record of a patient and the EHR's resources, a pure function of the two
 * sides: the EHR's own resources are pulled, ours are sent again, and what both sides changed is
 * left for a person.
 */
import type { Resource } from 'fhir/r4';
import { identifierSystem } from '../fhir/codes.js';
import { contentOf } from '../fhir/content.js';
import { KEPT_TYPES, keeps, PRESCRIBER_OWNED } from '../intake.js';
import { versionRank } from '../store/store.js';

/** What kap-bridge writes to the EHR (src/api): matched by business identifier. */
export const WRITTEN_TYPES = [
  'EpisodeOfCare',
  'CarePlan',
  'Goal',
  'Group',
  'Encounter',
  'Consent',
  'MedicationAdministration',
  'Observation',
  'ServiceRequest',
  'Task',
  'MedicationRequest',
  'MedicationDispense',
] as const;

/** Practitioner and Medication are not any one patient's: they have no patient search. */
export const RECONCILED_TYPES: readonly string[] = [
  ...new Set<string>(
    [...KEPT_TYPES, ...WRITTEN_TYPES].filter((t) => t !== 'Practitioner' && t !== 'Medication'),
  ),
];

export type DriftKind = 'missing-here' | 'missing-there' | 'different-content' | 'conflicting-versions';
/** What heals it: take the EHR's version in, send ours again, or a person decides. */
export type Remedy = 'pull' | 'resend' | 'person';

export interface Drift {
  kind: DriftKind;
  resourceType: string;
  /** kap-bridge's copy, `Type/id/_history/version`. */
  here?: string;
  /** The EHR's copy, `Type/id/_history/version`. */
  there?: string;
  remedy: Remedy;
  detail: string;
}

/** One resource of the local record, with what the outbox knows of it when it is ours. */
export interface LocalResource {
  resource: Resource;
  ours: boolean;
  /** Ours only: a change is queued and not delivered yet (pending or being delivered). */
  pending?: boolean;
  /** Ours only: where the EHR kept the last delivered change, `Type/id/_history/version`. */
  delivered?: string;
}

export interface Comparison {
  here: number;
  there: number;
  matched: number;
  drift: Drift[];
}

export const at = (r: Resource): string =>
  r.meta?.versionId ? `${r.resourceType}/${r.id}/_history/${r.meta.versionId}` : `${r.resourceType}/${r.id}`;
export const key = (r: Resource): string => `${r.resourceType}/${r.id}`;
/** How the EHR knows a resource of ours: `Type/<our identifier's value>`. */
export const knownAs = (r: Resource): string => `${r.resourceType}/${ourIdentifier(r) ?? r.id}`;
const versionOf = (ref: string | undefined): number | undefined => {
  const v = ref?.split('/_history/')[1];
  return v === undefined ? undefined : Number(v);
};

/** Our business identifier's value on a resource: `<practice>/<id>`, or the bare id of what was written before ids were per practice. */
export function ourIdentifier(resource: Resource): string | undefined {
  const system = identifierSystem(resource.resourceType);
  const ids = (resource as { identifier?: { system?: string; value?: string }[] }).identifier;
  return Array.isArray(ids) ? ids.find((i) => i?.system === system)?.value : undefined;
}

/**
 * The drift between the local record and the EHR's resources for one patient. Ours are matched to
 * the EHR's copies by business identifier (or the outbox's record of where it delivered them);
 * the EHR's own by type and id. EHR resources kap-bridge does not keep are not KAP's and are left
 * out, and so are resources of types outside RECONCILED_TYPES (the Provenances of our writes). `aliases` adds EHR -> local references for resources outside both sets.
 */
export function compareRecords(
  local: readonly LocalResource[],
  everything: readonly Resource[],
  aliases: ReadonlyMap<string, string> = new Map(),
  /** EHR resources another practice wrote through kap-bridge: the EHR's data to this one. */
  others: ReadonlySet<string> = new Set(),
): Comparison {
  // The Provenances kap-bridge writes with each change are the EHR's audit trail of our writes,
  // not part of the aligned record: there is no local copy to compare them with.
  const ehr = everything.filter((r) => RECONCILED_TYPES.includes(r.resourceType));
  const ours = new Map<string, LocalResource>();
  const theirs = new Map<string, LocalResource>();
  const byDelivery = new Map<string, LocalResource>();
  for (const l of local) {
    if (l.ours) ours.set(knownAs(l.resource), l);
    else theirs.set(key(l.resource), l);
    if (l.ours && l.delivered) byDelivery.set(l.delivered.split('/_history/')[0]!, l);
  }
  const pairs: [LocalResource, Resource][] = [];
  const unmatchedThere: Resource[] = [];
  const seen = new Set<LocalResource>();
  for (const r of ehr) {
    const value = ourIdentifier(r);
    const mine = (value && ours.get(`${r.resourceType}/${value}`)) || byDelivery.get(key(r));
    const match = mine ?? theirs.get(key(r));
    if (match && !seen.has(match)) {
      seen.add(match);
      pairs.push([match, r]);
    } else {
      unmatchedThere.push(r);
    }
  }
  const names = new Map(aliases);
  for (const [l, r] of pairs) if (l.ours) names.set(key(r), key(l.resource));

  const drift: Drift[] = [];
  for (const r of unmatchedThere) {
    if (ourIdentifier(r) !== undefined && !others.has(key(r))) {
      drift.push({
        kind: 'missing-here',
        resourceType: r.resourceType,
        there: at(r),
        remedy: 'person',
        detail: `The EHR holds a ${r.resourceType} with kap-bridge's identifier ${ourIdentifier(r)} that this store does not know: written by another kap-bridge store, or lost here.`,
      });
    } else if (keeps(r)) {
      drift.push({
        kind: 'missing-here',
        resourceType: r.resourceType,
        there: at(r),
        remedy: 'pull',
        detail: `The EHR holds ${key(r)}; the local record does not.`,
      });
    }
  }
  for (const l of local) {
    if (seen.has(l)) continue;
    const r = l.resource;
    if (l.ours && l.pending) continue; // on its way
    drift.push(
      l.ours
        ? {
            kind: 'missing-there',
            resourceType: r.resourceType,
            here: at(r),
            ...(l.delivered ? { there: l.delivered } : {}),
            remedy: 'resend',
            detail: l.delivered
              ? `Delivered as ${l.delivered}, but the EHR no longer holds it.`
              : 'Recorded here, never delivered and not queued.',
          }
        : {
            kind: 'missing-there',
            resourceType: r.resourceType,
            here: at(r),
            remedy: 'person',
            detail: `The EHR sent ${key(r)} and no longer holds it; kap-bridge does not delete what the EHR sent.`,
          },
    );
  }
  for (const [l, r] of pairs) {
    if (contentOf(l.resource, names) === contentOf(r, names)) continue;
    const here = at(l.resource);
    const there = at(r);
    if (!l.ours) {
      const newer = versionRank(r) > versionRank(l.resource);
      drift.push({
        kind: 'different-content',
        resourceType: r.resourceType,
        here,
        there,
        remedy: newer ? 'pull' : 'person',
        detail: newer
          ? `The EHR's version is newer than the one held here.`
          : `Same or older version in the EHR with other content: the EHR's history was rewritten.`,
      });
      continue;
    }
    const deliveredVersion = versionOf(l.delivered);
    const moved = deliveredVersion === undefined || Number(r.meta?.versionId) > deliveredVersion;
    if (l.pending && !moved) continue; // our change is on its way to the version we last saw
    if (moved && !l.pending && onlyPrescriberChanged(l.resource, r, names)) {
      drift.push({
        kind: 'different-content',
        resourceType: r.resourceType,
        here,
        there,
        remedy: 'pull',
        detail: `The prescriber worked on our ${r.resourceType} in the EHR (${PRESCRIBER_OWNED[r.resourceType]!.join(', ')}); taken in when the EHR's copy arrives.`,
      });
      continue;
    }
    drift.push(
      l.pending
        ? {
            kind: 'conflicting-versions',
            resourceType: r.resourceType,
            here,
            there,
            remedy: 'person',
            detail: `An update of ours is queued on ${l.delivered ?? 'no delivered version'}, and the EHR moved on to ${there}: decide which content stands.`,
          }
        : {
            kind: 'different-content',
            resourceType: r.resourceType,
            here,
            there,
            remedy: 'resend',
            detail: moved
              ? `The EHR changed our ${r.resourceType} after ${l.delivered}; kap-bridge's record is the therapist's and is sent again.`
              : `The EHR's copy differs from what was delivered.`,
          },
    );
  }
  return { here: local.length, there: ehr.length, matched: pairs.length, drift };
}

/** True when the two differ only in elements the prescriber owns (intake takes those in). */
function onlyPrescriberChanged(
  ours: Resource,
  theirs: Resource,
  names: ReadonlyMap<string, string>,
): boolean {
  const owned = PRESCRIBER_OWNED[ours.resourceType];
  if (!owned) return false;
  const without = (r: Resource) =>
    Object.fromEntries(Object.entries(r).filter(([k]) => !owned.includes(k))) as unknown as Resource;
  return contentOf(without(ours), names) === contentOf(without(theirs), names);
}
