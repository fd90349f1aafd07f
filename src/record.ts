/**
 * The aligned record of one patient, read from the store into the domain: what readiness and the
 * medication status are computed from. Stored resources are FHIR as received or written; the
 * mapping modules read them, and whatever they cannot read is left out, never guessed.
 */
import type {
  Consent,
  Encounter,
  Medication,
  MedicationAdministration,
  MedicationDispense,
  MedicationRequest,
  Observation,
  Resource,
} from 'fhir/r4';
import type { PatientLink } from './domain/model.js';
import { emptyRecord, type PatientRecord } from './domain/readiness.js';
import { administrationFromFhir } from './mapping/administration.js';
import { clearanceFromFhir, isClearanceObservation } from './mapping/clearance.js';
import { consentFromFhir } from './mapping/consent.js';
import { identityContext, type MappingContext } from './mapping/context.js';
import { dispenseFromFhir } from './mapping/medication-dispense.js';
import { prescriptionFromFhir } from './mapping/medication-request.js';
import { kindOf, observationFromFhir } from './mapping/observation.js';
import { sessionFromFhir } from './mapping/session.js';
import type { Store } from './store/store.js';

/** Adds each resource the mapping can read to the record. */
export function recordFrom(
  patientId: string,
  resources: readonly Resource[],
  ctx: MappingContext,
): PatientRecord {
  const record = emptyRecord(patientId);
  const add = <T>(list: T[], value: T | undefined) => {
    if (value !== undefined) list.push(value);
  };
  for (const r of resources) {
    switch (r.resourceType) {
      case 'Observation': {
        const o = r as Observation;
        if (isClearanceObservation(o)) add(record.clearances, clearanceFromFhir(o, ctx).value);
        else if (kindOf(o) !== undefined) add(record.observations, observationFromFhir(o, ctx).value);
        break;
      }
      case 'MedicationRequest':
        add(record.prescriptions, prescriptionFromFhir(r as MedicationRequest, ctx).value);
        break;
      case 'MedicationDispense':
        add(record.dispenses, dispenseFromFhir(r as MedicationDispense, ctx).value);
        break;
      case 'Consent':
        add(record.consents, consentFromFhir(r as Consent, ctx).value);
        break;
      case 'Encounter':
        add(record.sessions, sessionFromFhir(r as Encounter, ctx).value);
        break;
      case 'MedicationAdministration':
        add(record.administrations, administrationFromFhir(r as MedicationAdministration, ctx).value);
        break;
    }
  }
  return record;
}

/** The record of a linked patient; empty while the EHR Patient is not known yet. */
export async function loadRecord(
  store: Pick<Store, 'resourcesFor' | 'getResource'>,
  link: PatientLink,
): Promise<PatientRecord> {
  if (!link.ehrPatient) return emptyRecord(link.id);
  const resources = (await store.resourcesFor(link.ehrPatient)).map((s) => s.resource);
  // Referenced Medications are looked up once, so the mapping can tell whether they are ketamine.
  const medications = new Map<string, Medication>();
  for (const r of resources) {
    const ref = (r as MedicationRequest).medicationReference?.reference;
    const id = ref && /^Medication\/([A-Za-z0-9\-.]{1,64})$/.exec(ref)?.[1];
    if (id && !medications.has(ref)) {
      const found = await store.getResource('Medication', id);
      if (found) medications.set(ref, found.resource as Medication);
    }
  }
  return recordFrom(link.id, resources, { ...identityContext, resolve: (ref) => medications.get(ref) });
}
