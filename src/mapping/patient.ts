/**
 * Patient <-> PatientLink. A patient is matched by identifiers only (EHR MRN, therapist client
 * id, kap-bridge's own), never by name or birth date: two people can share both.
 */
import type { Identifier, Patient } from 'fhir/r4';
import type { BusinessIdentifier, PatientLink } from '../domain/model.js';
import { identifierSystem } from '../fhir/codes.js';
import { parseReference } from '../fhir/ids.js';
import { type Issue, issue } from '../fhir/outcome.js';
import type { MappingContext, Read } from '../fhir/reference-context.js';

const OURS = identifierSystem('Patient');

/** A Patient carrying the link's identifiers, with kap-bridge's own first; the EHR id when known. */
export function patientToFhir(link: PatientLink): Patient {
  const ehrId = parseReference(link.ehrPatient)?.id;
  return {
    resourceType: 'Patient',
    ...(ehrId === undefined ? {} : { id: ehrId }),
    identifier: [{ system: OURS, value: link.id }, ...link.identifiers.map((i) => ({ ...i }))],
  };
}

export function patientFromFhir(patient: Patient, ctx: MappingContext): Read<PatientLink> {
  const issues: Issue[] = [];
  const identifiers: BusinessIdentifier[] = [];
  let ours: string | undefined;
  (patient.identifier ?? []).forEach((identifier: Identifier, index) => {
    const { system, value } = identifier;
    if (system === undefined || value === undefined) {
      const what = system === undefined ? 'no system' : 'no value';
      issues.push(
        issue(
          'warning',
          'incomplete',
          `An identifier with ${what} cannot match a patient and was left out.`,
          `Patient.identifier[${index}]`,
        ),
      );
    } else if (system === OURS) ours = value;
    else identifiers.push({ system, value });
  });
  const id = ours ?? (patient.id === undefined ? undefined : ctx.idOf('Patient', `Patient/${patient.id}`));
  if (id === undefined) {
    issues.push(
      issue(
        'error',
        'required',
        'The Patient has neither a kap-bridge identifier nor an id.',
        'Patient.identifier',
      ),
    );
    return { value: undefined, issues };
  }
  const value: PatientLink = { id, identifiers };
  if (patient.id !== undefined) value.ehrPatient = `Patient/${patient.id}`;
  return { value, issues };
}

const sameIdentifier = (a: BusinessIdentifier, b: BusinessIdentifier): boolean =>
  a.system === b.system && a.value === b.value;

/**
 * The links a Patient matches: those sharing at least one identifier with it (kap-bridge's own
 * included). More than one match means the records disagree and a person must look.
 */
export function matchPatient(links: readonly PatientLink[], patient: Patient): PatientLink[] {
  const given = (patient.identifier ?? []).filter(
    (i): i is Identifier & BusinessIdentifier => i.system !== undefined && i.value !== undefined,
  );
  return links.filter((link) =>
    given.some(
      (g) => (g.system === OURS && g.value === link.id) || link.identifiers.some((l) => sameIdentifier(l, g)),
    ),
  );
}
