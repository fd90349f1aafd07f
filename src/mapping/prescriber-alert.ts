/**
 * PrescriberAlert -> Communication (`kap-prescriber-alert`): what the prescriber must see at once
 * about a medicine session, addressed to them so the EHR can alert. Written only: kap-bridge never
 * reads one back. What it is about is named by business identifier (a logical reference), so the
 * alert stands on its own when it reaches the EHR ahead of the rest of the queue.
 */
import type { Communication } from 'fhir/r4';
import type { AlertKind, PrescriberAlert } from '../domain/model.js';
import { codeSystemUrl, identifierSystem, profileUrl } from '../fhir/codes.js';
import { parseReference } from '../fhir/ids.js';
import type { MappingContext } from '../fhir/reference-context.js';
import { businessIdentifier, concept } from './coding.js';

const DISPLAY: Record<AlertKind, string> = {
  'serious-adverse-event': 'Serious adverse event',
  'vital-out-of-range': 'Vital sign out of range',
  'discharge-override': 'Discharge against the criteria',
};

export function alertToFhir(alert: PrescriberAlert, ctx: MappingContext): Communication {
  return {
    resourceType: 'Communication',
    // Kept locally under kap-bridge's id, like every resource of ours; the EHR assigns its own.
    id: alert.id,
    meta: { profile: [profileUrl('kap-prescriber-alert')] },
    identifier: [businessIdentifier('Communication', alert.id)],
    status: 'completed',
    category: [concept(codeSystemUrl('kap-alert'), alert.kind, DISPLAY[alert.kind])],
    priority: alert.kind === 'discharge-override' ? 'asap' : 'urgent',
    subject: { reference: ctx.ref('Patient', alert.patientId) },
    ...(alert.sessionId === undefined
      ? {}
      : { encounter: { identifier: businessIdentifier('Encounter', alert.sessionId), type: 'Encounter' } }),
    sent: alert.sentAt,
    ...(alert.prescriber === undefined ? {} : { recipient: [{ reference: alert.prescriber }] }),
    payload: [{ contentString: alert.message }],
    ...(alert.about?.length
      ? {
          about: alert.about.flatMap((ref) => {
            const parsed = parseReference(ref);
            return parsed === undefined
              ? []
              : [
                  {
                    type: parsed.type,
                    identifier: { system: identifierSystem(parsed.type), value: parsed.id },
                  },
                ];
          }),
        }
      : {}),
  };
}
