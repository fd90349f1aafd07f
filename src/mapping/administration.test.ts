import fc from 'fast-check';
import type { MedicationAdministration } from 'fhir/r4';
import { courseResources } from '../../test/support/courses.js';
import type { Administration, Medication } from '../domain/model.js';
import { RXNORM_KETAMINE, SYSTEM } from '../fhir/codes.js';
import { ROUTES } from '../fhir/dosage.js';
import { saysKetamine } from '../fhir/medication.js';
import { identityContext as ctx } from '../fhir/reference-context.js';
import { administrationFromFhir, administrationToFhir } from './administration.js';

const fixtures = courseResources<MedicationAdministration>('MedicationAdministration');

describe('every MedicationAdministration fixture reads without issues and round-trips', () => {
  test.each(fixtures)('%s', (_name, administration, context) => {
    const first = administrationFromFhir(administration, context);
    expect(first.issues).toEqual([]);
    const written = administrationToFhir(first.value!, context);
    expect(written).toEqual(administration);
    expect(administrationFromFhir(written, context)).toEqual(first);
  });

  test('the patient performs it, in the medicine session', () => {
    for (const [, a] of fixtures) {
      expect(a.performer?.[0]?.actor).toEqual(a.subject);
      expect(a.context?.reference).toMatch(/^Encounter\/enc-.*medicine/);
    }
  });
});

const id = fc.stringMatching(/^[a-z0-9]{1,8}(-[a-z0-9]{1,8}){0,2}$/);
const instant = fc
  .date({ min: new Date('2026-01-01T00:00:00Z'), max: new Date('2026-12-31T23:59:59Z'), noInvalidDate: true })
  .map((d) => d.toISOString());
/** A medication as EHRs describe it; isKetamine follows from its code and words, as reading decides it. */
const medication: fc.Arbitrary<Medication> = fc
  .record(
    {
      text: fc.oneof(
        fc.constantFrom('ketamine HCl 100 mg sublingual troche', 'Ketalar 50 mg/mL', 'compounded lozenge'),
        fc.string({ minLength: 1 }),
      ),
      rxnorm: fc.constant(RXNORM_KETAMINE),
      form: fc.constantFrom('troche', 'rapidly dissolving tablet', 'nasal spray'),
    },
    { requiredKeys: ['text'] },
  )
  .map((m) => ({ ...m, isKetamine: m.rxnorm === RXNORM_KETAMINE || saysKetamine(m.text) }));
const administration: fc.Arbitrary<Administration> = fc.record(
  {
    id,
    patientId: id,
    sessionId: id,
    prescriptionId: id,
    status: fc.constantFrom(
      'in-progress',
      'not-done',
      'on-hold',
      'completed',
      'entered-in-error',
      'stopped',
      'unknown',
    ),
    medication,
    dose: fc.record({
      value: fc.integer({ min: 1, max: 1000 }).map((n) => n / 2),
      unit: fc.constantFrom('mg', 'mL'),
    }),
    route: fc.constantFrom(...ROUTES),
    administeredAt: instant,
    lotNumber: fc.stringMatching(/^[A-Za-z0-9]([A-Za-z0-9 ./_-]{0,38}[A-Za-z0-9])?$/),
  },
  {
    requiredKeys: ['id', 'patientId', 'status', 'medication', 'dose', 'route', 'administeredAt'],
  },
);

test('domain -> FHIR -> domain gives back the administration', () => {
  fc.assert(
    fc.property(administration, (a) => {
      const written = administrationToFhir(a, ctx);
      expect(written.meta?.profile?.[0]).toMatch(/kap-medication-administration$/);
      expect(written.identifier?.[0]?.value).toBe(a.id);
      const read = administrationFromFhir(written, ctx);
      expect(read.issues).toEqual([]);
      expect(read.value).toEqual({ ...a, source: `MedicationAdministration/${a.id}` });
    }),
  );
});

test('a lot number goes in a contained Medication naming the ordered medicine (R4 MedicationAdministration has no lot element)', () => {
  const given: Administration = {
    id: 'a-1',
    patientId: 'p-1',
    sessionId: 's-1',
    status: 'completed',
    medication: { rxnorm: RXNORM_KETAMINE, text: 'ketamine 100 mg/mL injection', isKetamine: true },
    dose: { value: 100, unit: 'mg' },
    route: 'intramuscular',
    administeredAt: '2026-06-01T10:00:00Z',
    lotNumber: 'KT-2026-0412',
  };
  const written = administrationToFhir(given, ctx);
  expect(written.medicationCodeableConcept).toBeUndefined();
  expect(written.medicationReference).toEqual({ reference: '#med' });
  expect(written.contained).toEqual([
    {
      resourceType: 'Medication',
      id: 'med',
      meta: { profile: ['https://fhir.kap-bridge.org/StructureDefinition/kap-medication'] },
      code: {
        text: 'ketamine 100 mg/mL injection',
        coding: [{ system: SYSTEM.rxnorm, code: RXNORM_KETAMINE, display: 'ketamine' }],
      },
      ingredient: [
        {
          itemCodeableConcept: {
            coding: [{ system: SYSTEM.rxnorm, code: RXNORM_KETAMINE, display: 'ketamine' }],
          },
          isActive: true,
        },
      ],
      batch: { lotNumber: 'KT-2026-0412' },
    },
  ]);
  // Without a lot, a coded product stays a CodeableConcept.
  const { lotNumber: _lot, ...unknown } = given;
  expect(administrationToFhir(unknown, ctx)).toMatchObject({
    medicationCodeableConcept: { text: 'ketamine 100 mg/mL injection' },
  });
  expect(administrationToFhir(unknown, ctx).contained).toBeUndefined();
  expect(administrationFromFhir(written, ctx).value?.lotNumber).toBe('KT-2026-0412');
});

describe('reading is tolerant', () => {
  const administration: MedicationAdministration = {
    resourceType: 'MedicationAdministration',
    id: 'ehr-a1',
    status: 'completed',
    medicationCodeableConcept: { coding: [{ system: SYSTEM.rxnorm, code: RXNORM_KETAMINE }] },
    subject: { reference: 'Patient/p1' },
    context: { reference: 'Encounter/s1' },
    effectivePeriod: { start: '2026-06-01T10:00:00Z', end: '2026-06-01T10:20:00Z' },
    dosage: { route: { text: 'under the tongue' }, dose: { value: 100, code: 'mg' } },
  };

  test('no profile or performer, a period, a route in words, a dose with a UCUM code only', () => {
    const read = administrationFromFhir(administration, ctx);
    expect(read.issues).toEqual([]);
    expect(read.value).toMatchObject({
      id: 'ehr-a1',
      medication: { rxnorm: RXNORM_KETAMINE, text: 'ketamine', isKetamine: true },
      route: 'sublingual',
      dose: { value: 100, unit: 'mg' },
      administeredAt: '2026-06-01T10:00:00Z',
    });
  });

  test('without a session (recorded by the prescriber, or another system): a dose all the same, under its order', () => {
    const { context: _c, ...noContext } = administration;
    const read = administrationFromFhir(
      { ...noContext, request: { reference: 'MedicationRequest/rx-1' } },
      ctx,
    );
    expect(read.issues).toEqual([]);
    expect(read.value).toMatchObject({ id: 'ehr-a1', status: 'completed', prescriptionId: 'rx-1' });
    expect(read.value).not.toHaveProperty('sessionId');
  });

  test('without a dose: an error naming the element, no value, no throw', () => {
    const read = administrationFromFhir(
      { ...administration, dosage: { route: administration.dosage!.route! } },
      ctx,
    );
    expect(read.value).toBeUndefined();
    expect(read.issues.map((i) => [i.severity, i.expression])).toEqual([
      ['error', 'MedicationAdministration.dosage.dose'],
    ]);
  });
});
