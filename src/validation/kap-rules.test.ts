import { readdirSync, readFileSync } from 'node:fs';
import type { Bundle, MedicationRequest, Observation, Resource, Task } from 'fhir/r4';
import { checkKapRules, DEFAULT_MAX_DOSE_MG, type KapRuleOptions } from './kap-rules.js';

const root = new URL('../../', import.meta.url);
const readJson = <T = Resource>(path: string): T => JSON.parse(readFileSync(new URL(path, root), 'utf8'));
const walk = (dir: string): string[] =>
  readdirSync(new URL(dir, root), { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? walk(`${dir}${d.name}/`) : [`${dir}${d.name}`],
  );

const brief = (issues: { severity: string; expression?: string }[]) =>
  issues.map(({ severity, expression }) => ({ severity, expression }));
const errorsOf = (resource: Resource, options?: KapRuleOptions) =>
  brief(checkKapRules(resource, options).filter((i) => i.severity === 'error'));

const troche = () =>
  readJson<MedicationRequest>('fixtures/prescriber/prescription-ketamine-troche.fhir.json');
const DOSE = 'MedicationRequest.dosageInstruction[0].doseAndRate[0].doseQuantity';
const ROUTE = 'MedicationRequest.dosageInstruction[0].route';
const SNOMED = 'http://snomed.info/sct';

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
const unprofiled = (r: MedicationRequest): MedicationRequest => {
  const { meta: _, ...rest } = r;
  return rest as MedicationRequest;
};

describe('KAP prescription rules', () => {
  test.each<
    [string, MedicationRequest, KapRuleOptions | undefined, { severity: string; expression?: string }[]]
  >([
    ['the troche fixture', troche(), undefined, []],
    ['no route', withDosage((d) => delete d.route), undefined, [{ severity: 'error', expression: ROUTE }]],
    [
      'no dose quantity, dose only in text',
      withDosage((d) => delete d.doseAndRate),
      undefined,
      [{ severity: 'error', expression: DOSE }],
    ],
    ['500 mg sublingual: at the bound', dose(500), undefined, []],
    ['501 mg sublingual: above the bound', dose(501), undefined, [{ severity: 'error', expression: DOSE }]],
    [
      '0.6 g sublingual = 600 mg: above the bound',
      dose(0.6, 'g'),
      undefined,
      [{ severity: 'error', expression: DOSE }],
    ],
    ['0 mg', dose(0), undefined, [{ severity: 'error', expression: DOSE }]],
    [
      'a dose in troches cannot be bounded',
      dose(3, 'troche', '{troche}'),
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
      'a route code outside KAP, with our profile: the binding reports it',
      routed('54471007', 100),
      undefined,
      [],
    ],
    [
      'a route code outside KAP, taken in without profile',
      unprofiled(routed('54471007', 100)),
      { asKapPrescription: true },
      [{ severity: 'error', expression: ROUTE }],
    ],
    [
      'validity ends the instant it starts',
      (() => {
        const r = troche();
        r.dispenseRequest!.validityPeriod = {
          start: '2026-03-01T09:00:00Z',
          end: '2026-03-01T04:00:00-05:00',
        };
        return r;
      })(),
      undefined,
      [{ severity: 'error', expression: 'MedicationRequest.dispenseRequest.validityPeriod.end' }],
    ],
    [
      'a versioned profile claim still applies',
      (() => {
        const r = withDosage((d) => delete d.route);
        r.meta!.profile = ['https://fhir.kap-bridge.org/StructureDefinition/kap-medication-request|0.1.0'];
        return r;
      })(),
      undefined,
      [{ severity: 'error', expression: ROUTE }],
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

  test('every Synthea MedicationRequest stays valid: none claims our profile', () => {
    const dir = '/work/shared/peer-data/synthea/';
    let files: string[] = [];
    try {
      files = readdirSync(dir).filter((f) => f.endsWith('.json'));
    } catch {
      return; // peer data is not everywhere
    }
    let seen = 0;
    for (const f of files) {
      const bundle = JSON.parse(readFileSync(`${dir}${f}`, 'utf8')) as Bundle;
      for (const e of bundle.entry ?? []) {
        if (e.resource?.resourceType !== 'MedicationRequest') continue;
        seen++;
        expect(checkKapRules(e.resource)).toEqual([]);
      }
    }
    expect(seen).toBeGreaterThan(0);
  });
});

describe('clearance, dispense, referral and medication rules', () => {
  const clearance = () => readJson<Observation>('fixtures/prescriber/clearance-cleared.fhir.json');

  test('a clearance without valid-until', () => {
    const o = clearance();
    delete o.effectivePeriod!.end;
    expect(errorsOf(o)).toEqual([{ severity: 'error', expression: 'Observation.effectivePeriod.end' }]);
  });

  test('an Observation without our profile is not a KAP clearance', () => {
    const { meta: _, ...o } = clearance();
    delete o.effectivePeriod!.end;
    expect(checkKapRules(o as Observation)).toEqual([]);
  });

  test('a completed Task without output; an in-progress one needs none', () => {
    const t = readJson<Task>('fixtures/referral/task-clearance-completed.fhir.json');
    delete t.output;
    expect(errorsOf(t)).toEqual([{ severity: 'error', expression: 'Task.output' }]);
    expect(errorsOf({ ...t, status: 'in-progress' } as Task)).toEqual([]);
  });

  test('a clearance request asked of a Patient', () => {
    const sr = readJson('fixtures/referral/servicerequest-clearance.fhir.json') as Resource & {
      performer: unknown;
    };
    sr.performer = [{ reference: 'Patient/48213' }];
    expect(errorsOf(sr)).toEqual([{ severity: 'error', expression: 'ServiceRequest.performer[0]' }]);
  });

  test('a dispense of nothing, of something else', () => {
    const d = readJson('fixtures/prescriber/dispense-troches.fhir.json') as Resource &
      Record<string, unknown>;
    expect(errorsOf({ ...d, quantity: { value: 0, unit: 'troche' } } as Resource)).toEqual([
      { severity: 'error', expression: 'MedicationDispense.quantity' },
    ]);
    const { contained: _, medicationReference: __, ...rest } = d;
    expect(
      errorsOf({ ...rest, medicationCodeableConcept: { text: 'bupropion XL 150 mg' } } as Resource),
    ).toEqual([{ severity: 'error', expression: 'MedicationDispense.medicationCodeableConcept' }]);
  });

  test('a compounded Medication without ketamine', () => {
    const m = readJson('fixtures/prescriber/medication-compounded-troche.fhir.json') as Resource &
      Record<string, unknown>;
    const other = {
      ...m,
      code: { text: 'Naltrexone 4.5 mg troche' },
      ingredient: [{ itemCodeableConcept: { text: 'naltrexone' } }],
    };
    expect(errorsOf(other as Resource)).toEqual([{ severity: 'error', expression: 'Medication.ingredient' }]);
    expect(errorsOf(m)).toEqual([]);
  });

  test('odd input does not throw', () => {
    const odd = {
      resourceType: 'MedicationRequest',
      meta: { profile: ['https://fhir.kap-bridge.org/StructureDefinition/kap-medication-request'] },
      dosageInstruction: 'sublingual',
      medicationCodeableConcept: 7,
    } as unknown as Resource;
    expect(() => checkKapRules(odd)).not.toThrow();
  });
});

describe('fixtures', () => {
  const valid = walk('fixtures/').filter(
    (f) => f.endsWith('.fhir.json') && !f.startsWith('fixtures/invalid/'),
  );

  test.each(valid)('%s breaks no KAP rule', (path) => {
    expect(errorsOf(readJson(path))).toEqual([]);
  });

  /** Invalid fixtures whose one problem is a KAP rule; the others are the profile's or the base's. */
  const KAP_RULE_CASES = [
    'prescription-no-route',
    'prescription-dose-above-bound',
    'prescription-not-ketamine',
    'clearance-no-valid-until',
    'clearance-task-completed-without-decision',
  ];
  const OTHER_LAYER_CASES = ['prescription-missing-status', 'clearance-result-not-in-value-set'];

  test.each(KAP_RULE_CASES)('invalid/%s: the KAP rules report exactly what is expected', (name) => {
    const expected = readJson(`fixtures/invalid/${name}.expected.json`);
    expect(brief(checkKapRules(readJson(`fixtures/invalid/${name}.fhir.json`)))).toEqual(expected);
  });

  test.each(OTHER_LAYER_CASES)('invalid/%s: left to the structure and profile layers', (name) => {
    expect(checkKapRules(readJson(`fixtures/invalid/${name}.fhir.json`))).toEqual([]);
  });
});
