import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Bundle, MedicationRequest, Observation, Resource, Task } from 'fhir/r4';
import { invalidFixtures, kapRuleFixtures, validFixtures } from '../../test/support/fixtures.js';
import { peerDataDir } from '../../test/support/peer-data.js';
import { checkKapRules, DEFAULT_MAX_DOSE_MG, type KapRuleOptions } from './kap-rules.js';

const root = new URL('../../', import.meta.url);
const readJson = <T = Resource>(path: string): T => JSON.parse(readFileSync(new URL(path, root), 'utf8'));

const brief = (issues: { severity: string; expression?: string }[]) =>
  issues.map(({ severity, expression }) => ({ severity, expression }));
const errorsOf = (resource: Resource, options?: KapRuleOptions) =>
  brief(checkKapRules(resource, options).filter((i) => i.severity === 'error'));

const troche = () =>
  readJson<MedicationRequest>('fixtures/prescriber/prescription-ketamine-troche.fhir.json');
const DOSE = 'MedicationRequest.dosageInstruction[0].doseAndRate[0].doseQuantity';
const ROUTE = 'MedicationRequest.dosageInstruction[0].route';
const SNOMED = 'http://snomed.info/sct';
const KAP_RX = 'https://fhir.kap-bridge.org/StructureDefinition/kap-medication-request';

/** The troche prescription with its first dosage changed. */
function withDosage(
  change: (d: NonNullable<MedicationRequest['dosageInstruction']>[0]) => void,
): MedicationRequest {
  const r = troche();
  change(r.dosageInstruction![0]!);
  return r;
}
const dose = (value: number, unit = 'mg', code: string | undefined = unit) =>
  withDosage((d) => {
    d.doseAndRate = [
      { doseQuantity: { value, unit, ...(code ? { system: 'http://unitsofmeasure.org', code } : {}) } },
    ];
  });
const routed = (snomed: string, value: number) =>
  withDosage((d) => {
    d.route = { coding: [{ system: SNOMED, code: snomed }] };
    d.doseAndRate = [{ doseQuantity: { value, unit: 'mg' } }];
  });
const instantValidity = () => {
  const r = troche();
  r.dispenseRequest!.validityPeriod = { start: '2026-03-01T09:00:00Z', end: '2026-03-01T04:00:00-05:00' };
  return r;
};
const unprofiled = (r: MedicationRequest): MedicationRequest => {
  const { meta: _, ...rest } = r;
  return rest as MedicationRequest;
};

describe('the configured dose bound (a prescription claiming kap-medication-request)', () => {
  test.each<
    [string, MedicationRequest, KapRuleOptions | undefined, { severity: string; expression?: string }[]]
  >([
    ['the troche fixture', troche(), undefined, []],
    ['500 mg sublingual: at the bound', dose(500), undefined, []],
    ['501 mg sublingual: above the bound', dose(501), undefined, [{ severity: 'error', expression: DOSE }]],
    [
      '0.6 g sublingual = 600 mg: above the bound',
      dose(0.6, 'g'),
      undefined,
      [{ severity: 'error', expression: DOSE }],
    ],
    ['150 mg intramuscular: at the bound', routed('78421000', 150), undefined, []],
    [
      '200 mg intramuscular: above',
      routed('78421000', 200),
      undefined,
      [{ severity: 'error', expression: DOSE }],
    ],
    ['200 mg nasal: at the bound', routed('46713006', 200), undefined, []],
    [
      '120 mg intravenous: above',
      routed('47625008', 120),
      undefined,
      [{ severity: 'error', expression: DOSE }],
    ],
    [
      'a practice bound of 300 mg sublingual',
      dose(400),
      { maxDoseMg: { sublingual: 300 } },
      [{ severity: 'error', expression: DOSE }],
    ],
    [
      'a practice bound leaves other routes at the default',
      routed('78421000', 150),
      { maxDoseMg: { sublingual: 300 } },
      [],
    ],
    [
      'a versioned profile claim still applies',
      (() => {
        const r = dose(501);
        r.meta!.profile = [`${KAP_RX}|0.1.0`];
        return r;
      })(),
      undefined,
      [{ severity: 'error', expression: DOSE }],
    ],
  ])('%s', (_name, resource, options, expected) => {
    expect(errorsOf(resource, options)).toEqual(expected);
  });

  test('the defaults are documented numbers', () => {
    expect(DEFAULT_MAX_DOSE_MG).toEqual({
      sublingual: 500,
      oral: 500,
      intranasal: 200,
      intramuscular: 150,
      intravenous: 100,
    });
  });
});

/**
 * What kap-medication-request states (route 1..1, kap-rx-1..4) is layer (b)'s to report
 * (validator.test.ts, profile-rules.test.ts); without the profile, taken in as a KAP prescription,
 * the KAP rules check it themselves.
 */
describe('rules the profile states: left to it when claimed, checked here when not', () => {
  test.each<[string, MedicationRequest, { severity: string; expression?: string }[]]>([
    [
      'no route, none in the text either',
      withDosage((d) => {
        delete d.route;
        d.text = '150 mg once per medicine session';
      }),
      [{ severity: 'error', expression: ROUTE }],
    ],
    ['0 mg', dose(0), [{ severity: 'error', expression: DOSE }]],
    [
      'a dose in troches cannot be bounded',
      dose(3, 'troche', '{troche}'),
      [{ severity: 'error', expression: DOSE }],
    ],
    ['a route code outside KAP', routed('54471007', 100), [{ severity: 'error', expression: ROUTE }]],
    [
      'validity ends the instant it starts',
      instantValidity(),
      [{ severity: 'error', expression: 'MedicationRequest.dispenseRequest.validityPeriod.end' }],
    ],
    [
      'not ketamine',
      (() => {
        const { contained: _, medicationReference: __, ...rest } = troche();
        return { ...rest, medicationCodeableConcept: { text: 'Esketamine 28 mg nasal spray' } };
      })(),
      [{ severity: 'error', expression: 'MedicationRequest.medicationCodeableConcept' }],
    ],
  ])('%s', (_name, resource, withoutProfile) => {
    expect(errorsOf(resource)).toEqual([]);
    expect(errorsOf(unprofiled(resource), { asKapPrescription: true })).toEqual(withoutProfile);
  });

  test('no dose quantity: without the profile, the dosage text may state it', () => {
    const r = withDosage((d) => delete d.doseAndRate);
    expect(errorsOf(r)).toEqual([]);
    expect(errorsOf(unprofiled(r), { asKapPrescription: true })).toEqual([]);
    r.dosageInstruction![0]!.text = 'three troches under the tongue';
    expect(errorsOf(unprofiled(r), { asKapPrescription: true })).toEqual([
      { severity: 'error', expression: DOSE },
    ]);
  });

  test('a Medication on a server is still the KAP rules to read: the profile cannot', () => {
    const sertraline = {
      resourceType: 'Medication',
      id: 'm1',
      code: { text: 'sertraline 50 mg' },
    } as Resource;
    const { contained: _, ...r } = troche();
    r.medicationReference = { reference: 'Medication/m1' };
    expect(errorsOf(r, { resolve: (ref) => (ref === 'Medication/m1' ? sertraline : undefined) })).toEqual([
      { severity: 'error', expression: 'MedicationRequest.medicationReference' },
    ]);
    r.medicationReference = { display: 'sertraline 50 mg tablet' };
    expect(errorsOf(r)).toEqual([{ severity: 'error', expression: 'MedicationRequest.medicationReference' }]);
  });
});

describe('EHR intake (asKapPrescription, no profile of ours)', () => {
  const ehr = (name: string) => readJson<MedicationRequest>(`fixtures/ehr/${name}`);
  const medication = readJson('fixtures/ehr/medication-ketamine-rdt.fhir.json');
  const resolve = (ref: string) => (ref === 'Medication/med-5521' ? medication : undefined);

  test.each([
    ['medicationrequest-rxnorm-6130.fhir.json', {}],
    ['medicationrequest-text-only.fhir.json', {}],
    ['medicationrequest-referenced-medication.fhir.json', { resolve }],
  ])('%s is a valid KAP prescription', (name, options) => {
    expect(checkKapRules(ehr(name), { asKapPrescription: true, ...options })).toEqual([]);
  });

  test('a referenced Medication that cannot be resolved: a warning, not an error', () => {
    const issues = checkKapRules(ehr('medicationrequest-referenced-medication.fhir.json'), {
      asKapPrescription: true,
    });
    expect(brief(issues)).toEqual([
      { severity: 'warning', expression: 'MedicationRequest.medicationReference' },
    ]);
  });

  test('sertraline taken in as a KAP prescription is not ketamine', () => {
    expect(errorsOf(ehr('medicationrequest-sertraline.fhir.json'), { asKapPrescription: true })).toEqual([
      { severity: 'error', expression: 'MedicationRequest.medicationCodeableConcept' },
    ]);
  });

  test('sertraline without the option: no KAP rule applies', () => {
    expect(checkKapRules(ehr('medicationrequest-sertraline.fhir.json'))).toEqual([]);
  });

  test('no dosage instruction at all', () => {
    const { dosageInstruction: _, ...rest } = ehr('medicationrequest-rxnorm-6130.fhir.json');
    expect(errorsOf(rest as MedicationRequest, { asKapPrescription: true })).toEqual([
      { severity: 'error', expression: 'MedicationRequest.dosageInstruction' },
    ]);
  });

  test('above the configured bound', () => {
    const r = unprofiled(dose(501));
    expect(errorsOf(r, { asKapPrescription: true })).toEqual([{ severity: 'error', expression: DOSE }]);
  });

  test('every Synthea MedicationRequest stays valid: none claims our profile', () => {
    const dir = join(peerDataDir(), 'synthea');
    let seen = 0;
    for (const f of readdirSync(dir).filter((name) => name.endsWith('.json'))) {
      const bundle = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Bundle;
      for (const e of bundle.entry ?? []) {
        if (e.resource?.resourceType !== 'MedicationRequest') continue;
        seen++;
        expect(checkKapRules(e.resource)).toEqual([]);
      }
    }
    expect(seen).toBeGreaterThan(0);
  });
});

describe('clearance, dispense, referral and medication: their profiles state every rule', () => {
  const clearance = () => readJson<Observation>('fixtures/prescriber/clearance-cleared.fhir.json');

  test('a clearance without valid-until: effectivePeriod.end is 1..1 in kap-clearance', () => {
    const o = clearance();
    delete o.effectivePeriod!.end;
    expect(checkKapRules(o)).toEqual([]);
  });

  test('a completed Task without output: kap-task-1', () => {
    const t = readJson<Task>('fixtures/referral/task-clearance-completed.fhir.json');
    delete t.output;
    expect(checkKapRules(t)).toEqual([]);
  });

  test('a clearance request asked of a Patient: kap-sr-1', () => {
    const sr = readJson('fixtures/referral/servicerequest-clearance.fhir.json') as Resource & {
      performer: unknown;
    };
    sr.performer = [{ reference: 'Patient/48213' }];
    expect(checkKapRules(sr)).toEqual([]);
  });

  test('a dispense of nothing (kap-disp-2), of something coded else (kap-disp-1)', () => {
    const d = readJson('fixtures/prescriber/dispense-troches.fhir.json') as Resource &
      Record<string, unknown>;
    expect(checkKapRules({ ...d, quantity: { value: 0, unit: 'troche' } } as Resource)).toEqual([]);
    const { contained: _, medicationReference: __, ...rest } = d;
    expect(
      checkKapRules({ ...rest, medicationCodeableConcept: { text: 'bupropion XL 150 mg' } } as Resource),
    ).toEqual([]);
  });

  test('a dispense of a Medication on a server is still read here', () => {
    const d = readJson('fixtures/prescriber/dispense-troches.fhir.json') as Resource &
      Record<string, unknown>;
    const { contained: _, ...rest } = d;
    const other = {
      ...rest,
      medicationReference: { reference: 'Medication/m9', display: 'bupropion XL 150 mg' },
    };
    expect(errorsOf(other as Resource)).toEqual([
      { severity: 'error', expression: 'MedicationDispense.medicationReference' },
    ]);
  });

  test('a compounded Medication without ketamine: kap-med-1', () => {
    const m = readJson('fixtures/prescriber/medication-compounded-troche.fhir.json') as Resource &
      Record<string, unknown>;
    const other = {
      ...m,
      code: { text: 'Naltrexone 4.5 mg troche' },
      ingredient: [{ itemCodeableConcept: { text: 'naltrexone' } }],
    };
    expect(checkKapRules(other as Resource)).toEqual([]);
  });

  test('odd input does not throw', () => {
    const odd = {
      resourceType: 'MedicationRequest',
      meta: { profile: [KAP_RX] },
      dosageInstruction: 'sublingual',
      medicationCodeableConcept: 7,
    } as unknown as Resource;
    expect(() => checkKapRules(odd)).not.toThrow();
    expect(() =>
      checkKapRules(unprofiled(odd as MedicationRequest), { asKapPrescription: true }),
    ).not.toThrow();
  });
});

describe('fixtures', () => {
  test.each(validFixtures().map((f) => [f.name, f.resource] as const))(
    '%s breaks no KAP rule',
    (_name, r) => {
      expect(errorsOf(r)).toEqual([]);
    },
  );

  test.each(invalidFixtures().map((f) => [f.name, f.resource] as const))(
    "%s is the profiles' or the base's to reject: no KAP rule reports it again",
    (_name, r) => {
      expect(checkKapRules(r)).toEqual([]);
    },
  );

  test.each(kapRuleFixtures().map((f) => [f.name, f] as const))(
    '%s: the KAP rules report exactly what is expected',
    (_name, f) => {
      expect(brief(checkKapRules(f.resource))).toEqual(f.expected);
    },
  );
});
