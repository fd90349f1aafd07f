/**
 * The fixtures against the whole validator, and the KAP rules our profiles state themselves
 * (`kap-*` constraints and cardinalities, which HAPI enforces too): each problem is reported
 * once, by the layer that owns it.
 */
import { readFileSync } from 'node:fs';
import type { Resource } from 'fhir/r4';
import { invalidFixtures, kapRuleFixtures } from '../../test/support/fixtures.js';
import { createValidator, type Finding, type Validator } from './validator.js';

const root = new URL('../../', import.meta.url);
const readJson = <T = Record<string, unknown>>(path: string): T =>
  JSON.parse(readFileSync(new URL(`fixtures/${path}`, root), 'utf8'));

const errors = (findings: Finding[]) =>
  findings.filter((f) => f.severity === 'error' || f.severity === 'fatal');
const brief = (findings: Finding[]) =>
  errors(findings).map(({ severity, expression }) => ({ severity, expression }));

let validator: Validator;
beforeAll(() => {
  validator = createValidator();
});

/** fixtures.test.ts checks that valid fixtures are valid and invalid ones get at least their errors. */
describe('fixtures: each problem once, by the layer that owns it', () => {
  test.each(invalidFixtures().map((f) => [f.name, f] as const))(
    '%s: exactly the expected errors, none from the KAP rules',
    (_name, f) => {
      const findings = validator.validate(f.resource);
      expect(brief(findings)).toEqual(f.expected);
      expect(errors(findings).filter((e) => e.layer === 'kap')).toEqual([]);
    },
  );

  test.each(kapRuleFixtures().map((f) => [f.name, f] as const))(
    '%s: exactly the expected errors, all from the KAP rules',
    (_name, f) => {
      const findings = validator.validate(f.resource);
      expect(brief(findings)).toEqual(f.expected);
      expect(errors(findings).every((e) => e.layer === 'kap')).toBe(true);
    },
  );
});

// biome-ignore lint/suspicious/noExplicitAny: tests change fixtures field by field, as a sender would
type Json = Record<string, any>;
const troche = () => readJson<Json>('prescriber/prescription-ketamine-troche.fhir.json');
const DOSE = 'MedicationRequest.dosageInstruction[0].doseAndRate[0].doseQuantity';
const withDose = (doseQuantity: Json | undefined) => {
  const r = troche();
  r.dosageInstruction[0].doseAndRate = doseQuantity ? [{ doseQuantity }] : [{ type: { text: 'ordered' } }];
  return r;
};
const mg = (value: number, code = 'mg') => ({ value, unit: code, system: 'http://unitsofmeasure.org', code });
const ketamineAs = (medicationCodeableConcept: Json) => {
  const { contained: _, medicationReference: __, ...r } = troche();
  return { ...r, medicationCodeableConcept };
};
const withContained = (medication: Json) => {
  const r = troche();
  r.contained[0] = { ...r.contained[0], ...medication };
  return r;
};
const clearance = () => readJson<Json>('prescriber/clearance-cleared.fhir.json');
const task = () => readJson<Json>('referral/task-clearance-completed.fhir.json');
const serviceRequest = () => readJson<Json>('referral/servicerequest-clearance.fhir.json');
const dispense = () => readJson<Json>('prescriber/dispense-troches.fhir.json');
const jointSession = () => readJson<Json>('couples-course/Encounter-enc-ruiz-prep-joint.fhir.json');
const medication = () => readJson<Json>('prescriber/medication-compounded-troche.fhir.json');
const change = <T extends Json>(r: T, f: (r: T) => void): T => {
  f(r);
  return r;
};

/** [case, resource, the one error's expression, what its message names (a constraint key, or 'required')] */
const VIOLATIONS: [string, Json, string, string][] = [
  [
    'sertraline',
    ketamineAs({ text: 'sertraline 50 mg' }),
    'MedicationRequest.medicationCodeableConcept',
    'kap-rx-1',
  ],
  [
    'esketamine is not ketamine',
    ketamineAs({ text: 'Esketamine 28 mg nasal spray' }),
    'MedicationRequest.medicationCodeableConcept',
    'kap-rx-1',
  ],
  [
    'a contained Medication that is not ketamine, without our profile',
    change(
      withContained({
        code: { text: 'Naltrexone 4.5 mg troche' },
        ingredient: [{ itemCodeableConcept: { text: 'naltrexone' } }],
      }),
      (r) => {
        delete r.contained[0].meta;
      },
    ),
    'MedicationRequest.medicationReference',
    'kap-rx-1',
  ],
  [
    'no route',
    change(troche(), (r) => delete r.dosageInstruction[0].route),
    'MedicationRequest.dosageInstruction[0].route',
    'required',
  ],
  [
    'no doseAndRate',
    change(troche(), (r) => delete r.dosageInstruction[0].doseAndRate),
    'MedicationRequest.dosageInstruction[0].doseAndRate',
    'required',
  ],
  [
    'no dose',
    withDose(undefined),
    'MedicationRequest.dosageInstruction[0].doseAndRate[0].dose[x]',
    'required',
  ],
  [
    'a dose without value',
    withDose({ unit: 'mg', system: 'http://unitsofmeasure.org', code: 'mg' }),
    `${DOSE}.value`,
    'required',
  ],
  ['0 mg', withDose(mg(0)), DOSE, 'kap-rx-2'],
  ['a dose in troches', withDose(mg(3, '{troche}')), DOSE, 'kap-rx-3'],
  ['a dose without unit', withDose({ value: 150 }), DOSE, 'kap-rx-3'],
  [
    'validity ends the instant it starts',
    change(troche(), (r) => {
      r.dispenseRequest.validityPeriod = { start: '2026-03-01T09:00:00Z', end: '2026-03-01T04:00:00-05:00' };
    }),
    'MedicationRequest.dispenseRequest.validityPeriod',
    'kap-rx-4',
  ],
  [
    'a clearance without valid-until',
    change(clearance(), (r) => delete r.effectivePeriod.end),
    'Observation.effectivePeriod.end',
    'required',
  ],
  ['a completed Task without output', change(task(), (r) => delete r.output), 'Task', 'kap-task-1'],
  [
    'a clearance asked of a Patient',
    change(serviceRequest(), (r) => {
      r.performer = [{ reference: 'Patient/48213' }];
    }),
    'ServiceRequest.performer[0]',
    'kap-sr-1',
  ],
  [
    'a dispense of nothing',
    change(dispense(), (r) => {
      r.quantity = { value: 0, unit: 'troche' };
    }),
    'MedicationDispense.quantity',
    'kap-disp-2',
  ],
  [
    'a dispense of bupropion',
    change(dispense(), (r) => {
      delete r.contained;
      delete r.medicationReference;
      r.medicationCodeableConcept = { text: 'bupropion XL 150 mg' };
    }),
    'MedicationDispense.medicationCodeableConcept',
    'kap-disp-1',
  ],
  [
    'a compounded Medication without ketamine',
    {
      ...medication(),
      code: { text: 'Naltrexone 4.5 mg troche' },
      ingredient: [{ itemCodeableConcept: { text: 'naltrexone' } }],
    },
    'Medication',
    'kap-med-1',
  ],
  [
    'a joint session of one partner',
    change(jointSession(), (r) => {
      r.subject = { reference: 'https://ehr.example/fhir/Patient/pat-ana-ruiz' };
    }),
    'Encounter.subject',
    'kap-joint-1',
  ],
];

describe('KAP rules stated by our profiles', () => {
  test.each(VIOLATIONS)('%s: one error, from the profile', (_name, resource, expression, what) => {
    const found = errors(validator.validate(resource));
    expect(found.map((f) => [f.layer, f.expression])).toEqual([['definitions', expression]]);
    if (what === 'required') expect(found[0]?.code).toBe('required');
    else expect(found[0]?.message).toContain(`(${what})`);
  });

  test.each<[string, Json]>([
    [
      'ketamine by RxNorm 6130',
      ketamineAs({ coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '6130' }] }),
    ],
    [
      'Ketalar by display',
      ketamineAs({
        coding: [
          { system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '0', display: 'Ketalar 50 mg/mL' },
        ],
      }),
    ],
    ['ketamine by text only', ketamineAs({ text: 'Ketamine HCl 100 mg RDT' })],
    [
      'a Medication on a server: for kap-bridge to resolve, not the profile',
      change(troche(), (r) => {
        delete r.contained;
        r.medicationReference = { reference: 'Medication/med-5521' };
      }),
    ],
    ['a dose in g', withDose(mg(0.3, 'g'))],
    ['a dose with a unit and no code', withDose({ value: 150, unit: 'mg' })],
    [
      'validity of one day',
      change(troche(), (r) => {
        r.dispenseRequest.validityPeriod = { start: '2026-03-01', end: '2026-03-01' };
      }),
    ],
    [
      'an in-progress Task without output',
      change(task(), (r) => {
        r.status = 'in-progress';
        delete r.output;
      }),
    ],
    [
      'a completed Task pointing at the decision by absolute URL',
      change(task(), (r) => {
        r.output[0].valueReference = { reference: 'https://ehr.example/fhir/Observation/clr-1/_history/2' };
      }),
    ],
    [
      'a clearance asked of a PractitionerRole by absolute URL',
      change(serviceRequest(), (r) => {
        r.performer = [{ reference: 'https://ehr.example/fhir/PractitionerRole/pr-1' }];
      }),
    ],
    [
      'a joint session of a Group by absolute URL',
      change(jointSession(), (r) => {
        r.subject = { reference: 'https://ehr.example/fhir/Group/g1' };
      }),
    ],
  ])('%s: valid', (_name, resource) => {
    expect(errors(validator.validate(resource as Resource))).toEqual([]);
  });
});
