/**
 * The CDS Services kap-bridge offers the prescriber's EHR, as its discovery endpoint lists them:
 * one per hook, each asking for the same prefetch (what readiness reads from the EHR), each
 * answering from kap-bridge's aligned record when the EHR prefetches nothing.
 */
import type { HookName } from './schema.js';

export interface CdsService {
  hook: HookName;
  id: string;
  title: string;
  description: string;
  prefetch: Record<string, string>;
  usageRequirements: string;
}

/**
 * What readiness reads from the EHR about the patient, as prefetch templates (reads and searches by
 * patient only, within the spec's recommended subset). The key names the resource type it fetches.
 */
export const PREFETCH: Record<string, string> = {
  medicationRequests: 'MedicationRequest?patient={{context.patientId}}',
  medicationDispenses: 'MedicationDispense?patient={{context.patientId}}',
  medicationAdministrations: 'MedicationAdministration?patient={{context.patientId}}',
  observations: 'Observation?patient={{context.patientId}}',
  conditions: 'Condition?patient={{context.patientId}}',
  allergyIntolerances: 'AllergyIntolerance?patient={{context.patientId}}',
  adverseEvents: 'AdverseEvent?subject=Patient/{{context.patientId}}',
  clinicalImpressions: 'ClinicalImpression?patient={{context.patientId}}',
};

/** The resource types the prefetch brings: anything else in a prefetch answer is not read. */
export const PREFETCH_TYPES: ReadonlySet<string> = new Set(
  Object.values(PREFETCH).map((template) => template.split('?')[0]!),
);

const USAGE =
  'For patients in a ketamine-assisted psychotherapy course with a practice that uses kap-bridge. ' +
  "Without prefetch, the cards come from kap-bridge's aligned record of the course.";

export const CDS_SERVICES: readonly CdsService[] = [
  {
    hook: 'patient-view',
    id: 'kap-patient-view',
    title: 'KAP course: safety flags and readiness',
    description:
      'On opening the chart of a patient in a KAP course: open safety flags the prescriber has not reviewed, sessions authorised and taken, consent, integration, and what stops the next medicine session.',
    prefetch: PREFETCH,
    usageRequirements: USAGE,
  },
  {
    hook: 'order-select',
    id: 'kap-order-select',
    title: 'KAP course: before a ketamine order',
    description:
      'On selecting a ketamine MedicationRequest for a patient in a KAP course: the same cards as at chart opening, for the order at hand.',
    prefetch: PREFETCH,
    usageRequirements: USAGE,
  },
  {
    hook: 'order-sign',
    id: 'kap-order-sign',
    title: 'KAP course: signing a ketamine order',
    description:
      'On signing a ketamine MedicationRequest for a patient in a KAP course: open safety flags, sessions left, and what stops the next medicine session. A ketamine order for a patient kap-bridge knows no course of is flagged.',
    prefetch: PREFETCH,
    usageRequirements: USAGE,
  },
];

export const discoveryDocument = (): { services: CdsService[] } => ({ services: [...CDS_SERVICES] });

export const serviceById = (id: string): CdsService | undefined => CDS_SERVICES.find((s) => s.id === id);
