/**
 * What kap-bridge writes on the prescriber side passes the whole validator (structure, our
 * profiles, KAP rules) whenever the domain value is complete: the profiles and the writers agree.
 */
import fc from 'fast-check';
import type { Resource } from 'fhir/r4';
import {
  completeClearance,
  completeDispense,
  completePrescription,
  completeReferral,
  patientLink,
} from '../../test/support/prescriber-arbitraries.js';
import { identityContext as ctx } from '../fhir/reference-context.js';
import { createValidator } from '../validation/validator.js';
import { clearanceToFhir } from './clearance.js';
import { dispenseToFhir } from './medication-dispense.js';
import { prescriptionToFhir } from './medication-request.js';
import { patientToFhir } from './patient.js';
import { referralToFhir } from './referral.js';

const validator = createValidator();
const errors = (resource: Resource) =>
  validator
    .validate(resource)
    .filter((i) => i.severity === 'error' || i.severity === 'fatal')
    .map((i) => `${i.expression ?? ''}: ${i.message}`);

const RUNS = { numRuns: 60 };

test('a complete prescription is written valid against kap-medication-request and the KAP rules', () => {
  fc.assert(
    fc.property(completePrescription, (p) => expect(errors(prescriptionToFhir(p, ctx))).toEqual([])),
    RUNS,
  );
});

test('a complete clearance is written valid against kap-clearance', () => {
  fc.assert(
    fc.property(completeClearance, (c) => expect(errors(clearanceToFhir(c, ctx))).toEqual([])),
    RUNS,
  );
});

test('a complete referral is written as a valid ServiceRequest and Task', () => {
  fc.assert(
    fc.property(completeReferral, (r) => {
      const { serviceRequest, task } = referralToFhir(r, ctx);
      expect([...errors(serviceRequest), ...errors(task)]).toEqual([]);
    }),
    RUNS,
  );
});

test('a complete dispense is written valid against kap-medication-dispense', () => {
  fc.assert(
    fc.property(completeDispense, (d) => expect(errors(dispenseToFhir(d, ctx))).toEqual([])),
    RUNS,
  );
});

test('a patient link is written as a valid Patient', () => {
  fc.assert(
    fc.property(patientLink, (l) => expect(errors(patientToFhir(l))).toEqual([])),
    RUNS,
  );
});
