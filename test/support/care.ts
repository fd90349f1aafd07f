/**
 * The EHR's word that a practice cares for a patient: an active CareTeam naming the practice's
 * Organization by its practice id. Until the EHR says so, kap-bridge shows the practice none of the
 * patient's EHR record.
 */
import type { CareTeam } from 'fhir/r4';
import { PRACTICE_IDENTIFIER_SYSTEM } from '../../src/patient-link.js';
import { CALLERS } from './auth.js';

export const careTeam = (
  ehrPatientId: string,
  tenant: string = CALLERS.therapist.tenant,
): CareTeam & { id: string } => ({
  resourceType: 'CareTeam',
  id: `care-${tenant}-${ehrPatientId}`.slice(0, 64),
  status: 'active',
  subject: { reference: `Patient/${ehrPatientId}` },
  participant: [
    {
      member: {
        type: 'Organization',
        identifier: { system: PRACTICE_IDENTIFIER_SYSTEM, value: tenant },
        display: 'KAP practice',
      },
    },
  ],
});
