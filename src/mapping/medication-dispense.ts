/** MedicationDispense <-> Dispense: the pharmacy handing the ketamine to the patient, when the EHR knows it. */

import type { MedicationDispense } from 'fhir/r4';
import type { Dispense } from '../domain/model.js';
import { doseFromQuantity, doseToQuantity } from '../fhir/dosage.js';
import { readMedicationOrder, writeMedication } from '../fhir/medication.js';
import { type Issue, issue } from '../fhir/outcome.js';
import { type MappingContext, type Read, sourceOf } from '../fhir/reference-context.js';
import { ownOpening } from './coding.js';

/** Every status the domain has a word for. */
export const DISPENSE_STATUSES: readonly Dispense['status'][] = [
  'preparation',
  'in-progress',
  'cancelled',
  'on-hold',
  'completed',
  'entered-in-error',
  'stopped',
  'declined',
  'unknown',
];

export function dispenseToFhir(dispense: Dispense, ctx: MappingContext): MedicationDispense {
  const { contained, ...medication } = writeMedication(dispense.medication);
  const resource: MedicationDispense = {
    ...ownOpening(ctx, 'MedicationDispense', dispense.id, 'kap-medication-dispense'),
    ...(contained === undefined ? {} : { contained }),
    status: dispense.status,
    ...medication,
    subject: { reference: ctx.ref('Patient', dispense.patientId) },
  };
  if (dispense.prescriptionId !== undefined) {
    resource.authorizingPrescription = [{ reference: ctx.ref('MedicationRequest', dispense.prescriptionId) }];
  }
  if (dispense.quantity !== undefined) resource.quantity = doseToQuantity(dispense.quantity);
  if (dispense.whenHandedOver !== undefined) resource.whenHandedOver = dispense.whenHandedOver;
  return resource;
}

export function dispenseFromFhir(resource: MedicationDispense, ctx: MappingContext): Read<Dispense> {
  const issues: Issue[] = [];
  const named = readMedicationOrder(resource, 'MedicationDispense', ctx, issues);
  if (named === undefined) return { value: undefined, issues };
  const { id, patientId, medication } = named;
  let status = DISPENSE_STATUSES.find((s) => s === resource.status);
  if (status === undefined) {
    issues.push(
      issue(
        'warning',
        'value',
        `The dispense status "${resource.status ?? ''}" was read as unknown.`,
        'MedicationDispense.status',
      ),
    );
    status = 'unknown';
  }
  const value: Dispense = { id, patientId, status, medication };
  const prescriptions = resource.authorizingPrescription ?? [];
  const prescriptionId = ctx.idOf('MedicationRequest', prescriptions[0]);
  if (prescriptionId !== undefined) value.prescriptionId = prescriptionId;
  if (prescriptions.length > 1) {
    issues.push(
      issue(
        'warning',
        'not-supported',
        'Only the first authorizing prescription is read.',
        'MedicationDispense.authorizingPrescription',
      ),
    );
  }
  const quantity = doseFromQuantity(resource.quantity);
  if (quantity !== undefined) value.quantity = quantity;
  if (resource.whenHandedOver !== undefined) value.whenHandedOver = resource.whenHandedOver;
  const source = sourceOf(resource);
  if (source !== undefined) value.source = source;
  return { value, issues };
}
