/**
 * MedicationRequest <-> Prescription. Reading takes what real EHRs send (no profile of ours,
 * ketamine as a code, text, contained or referenced Medication, dosage structured or as text);
 * writing always produces our kap-medication-request profile.
 */

import type { Dosage, MedicationRequest } from 'fhir/r4';
import type { Prescription, PrescriptionStatus } from '../domain/model.js';
import {
  doseFromQuantity,
  doseFromText,
  doseToQuantity,
  routeFromConcept,
  routeFromText,
  routeToConcept,
  sessionsSupplied,
} from '../fhir/dosage.js';
import { readMedicationOrder, writeMedication } from '../fhir/medication.js';
import { type Issue, issue } from '../fhir/outcome.js';
import { type MappingContext, type Read, sourceOf } from '../fhir/reference-context.js';
import { ownOpening } from './coding.js';
import { interactingClass } from './interacting.js';

/** Every status the domain has a word for. */
export const PRESCRIPTION_STATUSES: readonly PrescriptionStatus[] = [
  'active',
  'on-hold',
  'cancelled',
  'completed',
  'stopped',
  'entered-in-error',
  'draft',
  'unknown',
];

export function prescriptionToFhir(prescription: Prescription, ctx: MappingContext): MedicationRequest {
  const { contained, ...medication } = writeMedication(prescription.medication);
  const request: MedicationRequest = {
    ...ownOpening(ctx, 'MedicationRequest', prescription.id, 'kap-medication-request'),
    ...(contained === undefined ? {} : { contained }),
    status: prescription.status,
    ...(prescription.statusReason === undefined ? {} : { statusReason: { text: prescription.statusReason } }),
    intent: prescription.intent as MedicationRequest['intent'],
    ...medication,
    subject: { reference: ctx.ref('Patient', prescription.patientId) },
  };
  if (prescription.authoredOn !== undefined) request.authoredOn = prescription.authoredOn;
  if (prescription.priorPrescription !== undefined) {
    request.priorPrescription = { reference: prescription.priorPrescription };
  }
  if (prescription.prescriber !== undefined) request.requester = { reference: prescription.prescriber };
  const dosage = writeDosage(prescription);
  if (dosage !== undefined) request.dosageInstruction = [dosage];
  const validityPeriod = {
    ...(prescription.validFrom === undefined ? {} : { start: prescription.validFrom }),
    ...(prescription.validUntil === undefined ? {} : { end: prescription.validUntil }),
  };
  const dispenseRequest = {
    ...(Object.keys(validityPeriod).length === 0 ? {} : { validityPeriod }),
    ...(prescription.refills === undefined ? {} : { numberOfRepeatsAllowed: prescription.refills }),
    ...(prescription.quantity === undefined ? {} : { quantity: doseToQuantity(prescription.quantity) }),
  };
  if (Object.keys(dispenseRequest).length > 0) request.dispenseRequest = dispenseRequest;
  return request;
}

function writeDosage(prescription: Prescription): Dosage | undefined {
  const dosage: Dosage = {};
  if (prescription.dosageText !== undefined) dosage.text = prescription.dosageText;
  if (prescription.route !== undefined) dosage.route = routeToConcept(prescription.route);
  if (prescription.dosePerSession !== undefined) {
    dosage.doseAndRate = [{ doseQuantity: doseToQuantity(prescription.dosePerSession) }];
  }
  return Object.keys(dosage).length === 0 ? undefined : dosage;
}

export function prescriptionFromFhir(request: MedicationRequest, ctx: MappingContext): Read<Prescription> {
  const issues: Issue[] = [];
  const named = readMedicationOrder(request, 'MedicationRequest', ctx, issues);
  if (named === undefined) return { value: undefined, issues };
  const { id, patientId, medication } = named;
  const value: Prescription = {
    id,
    patientId,
    status: readStatus(request.status, issues),
    intent: typeof request.intent === 'string' ? request.intent : 'unknown',
    medication,
  };
  if (request.doNotPerform === true) value.doNotPerform = true;
  readDosage(request.dosageInstruction, value, issues);
  const prior = request.priorPrescription?.reference;
  if (typeof prior === 'string') value.priorPrescription = prior;
  const refills = request.dispenseRequest?.numberOfRepeatsAllowed;
  if (typeof refills === 'number') value.refills = refills;
  const quantity = doseFromQuantity(request.dispenseRequest?.quantity);
  if (quantity !== undefined) value.quantity = quantity;
  const sessions = sessionsSupplied(value);
  if ('count' in sessions) value.dosesAuthorised = sessions.count;
  else value.sessionsUnknown = sessions.unknown;
  if (request.meta?.lastUpdated !== undefined) value.versionTime = request.meta.lastUpdated;
  const interacting = value.medication.isKetamine ? undefined : interactingClass(value.medication);
  if (interacting !== undefined) value.interactingClass = interacting;
  const validity = request.dispenseRequest?.validityPeriod;
  if (validity?.start !== undefined) value.validFrom = validity.start;
  if (validity?.end !== undefined) value.validUntil = validity.end;
  if (request.authoredOn !== undefined) value.authoredOn = request.authoredOn;
  const prescriber = request.requester?.reference;
  if (prescriber !== undefined) value.prescriber = prescriber;
  const coding = request.statusReason?.coding?.[0];
  const reason = request.statusReason?.text ?? coding?.display ?? coding?.code;
  if (reason !== undefined) value.statusReason = reason;
  const source = sourceOf(request);
  if (source !== undefined) value.source = source;
  return { value, issues };
}

function readStatus(status: string | undefined, issues: Issue[]): PrescriptionStatus {
  const known = PRESCRIPTION_STATUSES.find((s) => s === status);
  if (known !== undefined) return known;
  issues.push(
    issue(
      'warning',
      'value',
      `The prescription status "${status ?? ''}" was read as unknown.`,
      'MedicationRequest.status',
    ),
  );
  return 'unknown';
}

/** Reads the first dosage instruction: structured where given, else from its text when unambiguous. */
function readDosage(dosages: Dosage[] | undefined, into: Prescription, issues: Issue[]): void {
  const dosage = dosages?.[0];
  if ((dosages?.length ?? 0) > 1) {
    issues.push(
      issue(
        'warning',
        'not-supported',
        'Only the first dosage instruction is read; a KAP prescription has one dose per session.',
        'MedicationRequest.dosageInstruction',
      ),
    );
  }
  const where = 'MedicationRequest.dosageInstruction[0]';
  const text = dosage?.text;
  if (text !== undefined) into.dosageText = text;
  const dose = doseFromQuantity(dosage?.doseAndRate?.[0]?.doseQuantity) ?? doseFromText(text);
  if (dose !== undefined) into.dosePerSession = dose;
  else {
    const detail = text === undefined ? 'no dose was given' : `the dose could not be read from "${text}"`;
    issues.push(issue('warning', 'incomplete', `In the dosage, ${detail}.`, `${where}.doseAndRate`));
  }
  const route = dosage?.route === undefined ? routeFromText(text) : routeFromConcept(dosage.route);
  if (route !== undefined) into.route = route;
  else {
    const detail = dosage?.route === undefined ? 'no route was given' : 'the route is not one KAP knows';
    issues.push(issue('warning', 'incomplete', `In the dosage, ${detail}.`, `${where}.route`));
  }
}
