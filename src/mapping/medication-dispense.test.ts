import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import type { MedicationDispense } from 'fhir/r4';
import { dispense } from '../../test/support/prescriber-arbitraries.js';
import { isError } from '../fhir/outcome.js';
import { identityContext as ctx } from '../fhir/reference-context.js';
import { validateResource } from '../validation/validator.js';
import { dispenseFromFhir, dispenseToFhir } from './medication-dispense.js';

const fixture = (): MedicationDispense =>
  JSON.parse(
    readFileSync(new URL('../../fixtures/prescriber/dispense-troches.fhir.json', import.meta.url), 'utf8'),
  );

test('the dispense fixture reads and round-trips (FHIR -> domain -> FHIR -> domain)', () => {
  const first = dispenseFromFhir(fixture(), ctx);
  expect(first.issues).toEqual([]);
  expect(first.value).toEqual({
    id: 'disp-lindqvist-1',
    patientId: '48213',
    prescriptionId: 'rx-lindqvist-1',
    status: 'completed',
    quantity: { value: 9, unit: '{troche}' },
    whenHandedOver: '2026-02-14T12:15:00-05:00',
    medication: {
      text: 'Ketamine HCl 50 mg sublingual troche (compounded)',
      rxnorm: '6130',
      form: 'troche',
      isKetamine: true,
      strength: { amount: { value: 50, unit: 'mg' }, per: { value: 1, unit: '{troche}' } },
    },
    source: 'MedicationDispense/disp-lindqvist-1/_history/1',
  });
  const written = dispenseToFhir(first.value!, ctx);
  expect(validateResource(written).filter(isError)).toEqual([]);
  const second = dispenseFromFhir(written, ctx);
  expect(second.value).toEqual({ ...first.value, source: 'MedicationDispense/disp-lindqvist-1' });
});

test('domain -> FHIR -> domain is the identity for any dispense', () => {
  fc.assert(
    fc.property(dispense, (d) => {
      const written = dispenseToFhir(d, ctx);
      expect(written.meta?.profile).toEqual([
        'https://fhir.kap-bridge.org/StructureDefinition/kap-medication-dispense',
      ]);
      expect(written.identifier?.[0]).toEqual({
        system: 'https://fhir.kap-bridge.org/identifier/MedicationDispense',
        value: d.id,
      });
      expect(dispenseFromFhir(written, ctx).value).toEqual({ ...d, source: `MedicationDispense/${d.id}` });
    }),
  );
});

test('an EHR dispense with an odd status and two prescriptions reads with warnings', () => {
  const odd = {
    ...fixture(),
    status: 'dispensed',
    authorizingPrescription: [{ reference: 'MedicationRequest/a' }, { reference: 'MedicationRequest/b' }],
  } as unknown as MedicationDispense;
  const { value, issues } = dispenseFromFhir(odd, ctx);
  expect(value).toMatchObject({ status: 'unknown', prescriptionId: 'a' });
  expect(issues.map((i) => [i.severity, i.expression])).toEqual([
    ['warning', 'MedicationDispense.status'],
    ['warning', 'MedicationDispense.authorizingPrescription'],
  ]);
});
