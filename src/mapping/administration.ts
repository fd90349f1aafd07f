/**
 * MedicationAdministration <-> Administration: a ketamine dose the patient took in a medicine
 * session. The patient is the performer (self-administered under supervision) and the medicine
 * session Encounter is the context. Medication, dose and route go through the mappings the
 * prescription uses, so a dose reads the same wherever it comes from.
 */
import type { MedicationAdministration } from 'fhir/r4';
import type { Administration } from '../domain/model.js';
import { identifierSystem } from '../fhir/codes.js';
import { doseFromQuantity, doseToQuantity, routeFromConcept, routeToConcept } from '../fhir/dosage.js';
import { lotNumberOf, readMedication, writeMedication } from '../fhir/medication.js';
import { type Issue, issue } from '../fhir/outcome.js';
import { domainIdOf, type MappingContext, type Read, sourceOf } from '../fhir/reference-context.js';
import { ownOpening } from './coding.js';

const STATUSES: readonly Administration['status'][] = [
  'in-progress',
  'not-done',
  'on-hold',
  'completed',
  'entered-in-error',
  'stopped',
  'unknown',
];

export function administrationToFhir(
  administration: Administration,
  ctx: MappingContext,
): MedicationAdministration {
  const patient = { reference: ctx.ref('Patient', administration.patientId) };
  const { contained, ...medication } = writeMedication(administration.medication, administration.lotNumber);
  return {
    ...ownOpening(ctx, 'MedicationAdministration', administration.id, 'kap-medication-administration'),
    ...(contained === undefined ? {} : { contained }),
    status: administration.status,
    ...medication,
    subject: patient,
    ...(administration.sessionId === undefined
      ? {}
      : { context: { reference: ctx.ref('Encounter', administration.sessionId) } }),
    effectiveDateTime: administration.administeredAt,
    performer: [{ actor: patient }],
    ...(administration.prescriptionId === undefined
      ? {}
      : { request: { reference: ctx.ref('MedicationRequest', administration.prescriptionId) } }),
    dosage: { route: routeToConcept(administration.route), dose: doseToQuantity(administration.dose) },
  };
}

export function administrationFromFhir(
  resource: MedicationAdministration,
  ctx: MappingContext,
): Read<Administration> {
  const issues: Issue[] = [];
  const at = (expression: string, message: string, code: Issue['code'] = 'required') =>
    issues.push(issue('error', code, message, `MedicationAdministration.${expression}`));
  const id = domainIdOf(
    ctx,
    resource,
    'MedicationAdministration',
    identifierSystem('MedicationAdministration'),
  );
  if (id === undefined) at('id', 'The administration has no id.');
  const patientId = ctx.idOf('Patient', resource.subject);
  if (patientId === undefined) at('subject', 'The administration names no known patient.');
  // A dose without a session (or in one kap-bridge does not know) is a dose all the same.
  const sessionId = ctx.idOf('Encounter', resource.context);
  const status = STATUSES.find((s) => s === resource.status);
  if (status === undefined)
    at('status', `The administration status "${resource.status}" cannot be used.`, 'code-invalid');
  const medication = readMedication(resource, ctx);
  issues.push(...medication.issues);
  const dose = doseFromQuantity(resource.dosage?.dose);
  if (dose === undefined) at('dosage.dose', 'The administration does not say how much was taken.');
  const route = routeFromConcept(resource.dosage?.route);
  if (route === undefined)
    at('dosage.route', 'The administration has no route kap-bridge knows.', 'code-invalid');
  const administeredAt = resource.effectiveDateTime ?? resource.effectivePeriod?.start;
  if (administeredAt === undefined)
    at('effectiveDateTime', 'The administration does not say when the dose was taken.');
  if (
    id === undefined ||
    patientId === undefined ||
    status === undefined ||
    medication.value === undefined ||
    dose === undefined ||
    route === undefined ||
    administeredAt === undefined
  ) {
    return { value: undefined, issues };
  }
  const value: Administration = {
    id,
    patientId,
    ...(sessionId === undefined ? {} : { sessionId }),
    status,
    medication: medication.value,
    dose,
    route,
    administeredAt,
  };
  const lotNumber = lotNumberOf(resource);
  if (lotNumber !== undefined) value.lotNumber = lotNumber;
  const prescriptionId = ctx.idOf('MedicationRequest', resource.request);
  if (prescriptionId !== undefined) value.prescriptionId = prescriptionId;
  const source = sourceOf(resource);
  if (source !== undefined) value.source = source;
  return { value, issues };
}
