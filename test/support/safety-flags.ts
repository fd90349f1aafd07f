/**
 * The unsafe findings a prescriber's EHR can hold about a patient, each as the EHR writes it and the
 * readiness reason it must raise: PHQ-9 item 9 answered 2 on its own, a moderate C-SSRS risk, a
 * contraindication (undifferentiated schizophrenia), a serious adverse event. `at` is when each was
 * recorded: after the clearance, it is a flag the prescriber has not reviewed.
 */
import type { Resource } from 'fhir/r4';
import { LOINC, SYSTEM } from '../../src/fhir/codes.js';

export interface SafetyFlag {
  name: string;
  reason: 'safety-phq9-item9' | 'safety-cssrs-risk' | 'safety-contraindication' | 'safety-adverse-event';
  write: (patient: string) => Resource;
}

export const safetyFlags = (at: string): SafetyFlag[] => [
  {
    name: 'PHQ-9 item 9 answered 2, sent on its own',
    reason: 'safety-phq9-item9',
    write: (patient) => ({
      resourceType: 'Observation',
      status: 'final',
      category: [{ coding: [{ system: SYSTEM.observationCategory, code: 'survey' }] }],
      code: { coding: [{ system: SYSTEM.loinc, code: LOINC.phq9Item9 }] },
      subject: { reference: `Patient/${patient}` },
      effectiveDateTime: at,
      valueCodeableConcept: { coding: [{ system: SYSTEM.loinc, code: 'LA6570-1' }] },
    }),
  },
  {
    name: 'C-SSRS moderate risk',
    reason: 'safety-cssrs-risk',
    write: (patient) => ({
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: SYSTEM.loinc, code: LOINC.cssrsRisk }] },
      subject: { reference: `Patient/${patient}` },
      effectiveDateTime: at,
      valueCodeableConcept: { coding: [{ system: SYSTEM.suicideRisk, code: 'moderate' }] },
    }),
  },
  {
    name: 'a contraindication recorded after the clearance',
    reason: 'safety-contraindication',
    write: (patient) => ({
      resourceType: 'Condition',
      clinicalStatus: {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }],
      },
      code: {
        coding: [{ system: SYSTEM.snomed, code: '111484002' }],
        text: 'Undifferentiated schizophrenia',
      },
      subject: { reference: `Patient/${patient}` },
      recordedDate: at,
    }),
  },
  {
    name: 'a serious adverse event',
    reason: 'safety-adverse-event',
    write: (patient) => ({
      resourceType: 'AdverseEvent',
      actuality: 'actual',
      subject: { reference: `Patient/${patient}` },
      date: at,
      seriousness: {
        coding: [
          { system: 'http://terminology.hl7.org/CodeSystem/adverse-event-seriousness', code: 'Serious' },
        ],
      },
    }),
  },
];
