/**
 * When a practice may see an EHR Patient's data: only once the EHR confirms a care relationship
 * with that practice. An MRN is not a secret, and naming an EHR Patient is not a key to its record.
 *
 * The EHR's word is either the prescriber accepting the practice's clearance referral (its Task
 * moved to accepted, in-progress or completed in the EHR and taken in by intake), or an active
 * CareTeam for the patient naming the practice's Organization by identifier (the practice id under
 * the configured system). `mrn` mode takes the MRN's word alone, for a deployment serving one practice.
 */
import type { CareTeam, Identifier, Reference, Task } from 'fhir/r4';
import { CANONICAL_BASE } from './fhir/codes.js';
import { patientRefOf } from './intake.js';
import type { StoredResource } from './store/store.js';
import { type Declarations, oneOf, text } from './variables.js';

export const PATIENT_LINK_MODES = ['ehr-confirmed', 'mrn'] as const;
export type PatientLinkMode = (typeof PATIENT_LINK_MODES)[number];

export interface PatientLinkPolicy {
  mode: PatientLinkMode;
  /** The identifier system under which an Organization carries a practice id (the token's tenant). */
  practiceSystem: string;
}

export const PRACTICE_IDENTIFIER_SYSTEM = `${CANONICAL_BASE}/identifier/practice`;

export const DEFAULT_PATIENT_LINK: PatientLinkPolicy = {
  mode: 'ehr-confirmed',
  practiceSystem: PRACTICE_IDENTIFIER_SYSTEM,
};

/** The patient link's section of the configuration: the policy itself. */
export const PATIENT_LINK_VARIABLES: Declarations<PatientLinkPolicy> = {
  mode: {
    name: 'KAP_PATIENT_LINK',
    description:
      "When a practice sees an EHR Patient's data: ehr-confirmed (once the EHR confirms the practice's care: an accepted referral Task or an active CareTeam naming the practice's Organization) or mrn (the MRN alone; only for a deployment serving one practice)",
    default: 'ehr-confirmed',
    parse: oneOf(...PATIENT_LINK_MODES),
  },
  practiceSystem: {
    name: 'KAP_PRACTICE_IDENTIFIER_SYSTEM',
    description:
      "The identifier system under which a practice's Organization in the EHR carries the practice id (the token's tenant)",
    default: PRACTICE_IDENTIFIER_SYSTEM,
    parse: text,
  },
};

/** Task statuses that say the prescriber took the referral on. */
const ACCEPTED = new Set<Task['status']>(['accepted', 'in-progress', 'completed']);

const namesPractice = (ref: Reference | undefined, tenant: string, system: string): boolean => {
  const id: Identifier | undefined = ref?.identifier;
  return (
    (ref?.type === undefined || ref.type === 'Organization') && id?.system === system && id.value === tenant
  );
};

/**
 * Whether the EHR confirms `tenant`'s care of `ehrPatient`, from the resources the practice's view
 * of the patient holds (Store.resourcesFor): its own referral Task, as the EHR last changed it, or
 * the EHR's CareTeams.
 */
export function ehrConfirmsCare(
  resources: readonly StoredResource[],
  ehrPatient: string,
  tenant: string,
  policy: PatientLinkPolicy,
): boolean {
  if (policy.mode === 'mrn') return true;
  return resources.some(({ resource, ours, tenant: owner, ehrSource }) => {
    if (patientRefOf(resource) !== ehrPatient) return false;
    if (resource.resourceType === 'Task') {
      // The practice's own referral; its status is the prescriber's (PRESCRIBER_OWNED), taken in
      // only from the EHR's copy, so one the EHR has not been seen to hold says nothing.
      return (
        ours === true &&
        owner === tenant &&
        ehrSource !== undefined &&
        ACCEPTED.has((resource as Task).status)
      );
    }
    if (resource.resourceType === 'CareTeam' && !ours) {
      const team = resource as CareTeam;
      return (
        team.status === 'active' &&
        [...(team.participant ?? []).map((p) => p.member), ...(team.managingOrganization ?? [])].some((r) =>
          namesPractice(r, tenant, policy.practiceSystem),
        )
      );
    }
    return false;
  });
}
