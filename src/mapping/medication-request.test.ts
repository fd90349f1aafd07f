import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import type { MedicationRequest, Resource } from 'fhir/r4';
import { prescription } from '../../test/support/prescriber-arbitraries.js';
import { sessionsSupplied } from '../fhir/dosage.js';
import { isError } from '../fhir/outcome.js';
import { identityContext, type MappingContext } from '../fhir/reference-context.js';
import { validateResource } from '../validation/validator.js';
import { prescriptionFromFhir, prescriptionToFhir } from './medication-request.js';

const fixture = <T = MedicationRequest>(path: string): T =>
  JSON.parse(readFileSync(new URL(`../../fixtures/${path}`, import.meta.url), 'utf8'));

const ehrMedication = fixture<Resource>('ehr/medication-ketamine-rdt.fhir.json');
const ctx: MappingContext = {
  ...identityContext,
  resolve: (ref) => (ref === 'Medication/med-5521' ? ehrMedication : undefined),
};

/** What the EHR's copy says about its version (source, version time) is not part of the round trip. */
const withoutSource = <T extends { source?: string; versionTime?: string }>(
  v: T,
): Omit<T, 'source' | 'versionTime'> => {
  const { source: _, versionTime: __, ...rest } = v;
  return rest;
};

const FIXTURES = [
  'prescriber/prescription-ketamine-troche.fhir.json',
  'prescriber/prescription-on-hold.fhir.json',
  'prescriber/prescription-dose-changed.fhir.json',
  'prescriber/prescription-cancelled.fhir.json',
  'ehr/medicationrequest-rxnorm-6130.fhir.json',
  'ehr/medicationrequest-text-only.fhir.json',
  'ehr/medicationrequest-referenced-medication.fhir.json',
  'ehr/medicationrequest-sertraline.fhir.json',
];

describe('prescription fixtures round-trip (FHIR -> domain -> FHIR -> domain)', () => {
  test.each(FIXTURES)('%s', (path) => {
    const first = prescriptionFromFhir(fixture(path), ctx);
    expect(first.issues.filter(isError)).toEqual([]);
    const written = prescriptionToFhir(first.value!, ctx);
    const second = prescriptionFromFhir(written, ctx);
    expect(second.issues).toEqual([]);
    expect(withoutSource(second.value!)).toEqual(withoutSource(first.value!));
    if (first.value!.medication.isKetamine) expect(validateResource(written).filter(isError)).toEqual([]);
  });
});

describe('the prescriber fixtures tell one prescription lifecycle', () => {
  const read = (name: string) => prescriptionFromFhir(fixture(`prescriber/${name}`), ctx).value!;

  test('version 1: active sublingual troche, 150 mg, 9 troches of 50 mg with no refill: 3 sessions', () => {
    expect(read('prescription-ketamine-troche.fhir.json')).toEqual({
      id: 'rx-lindqvist-1',
      patientId: '48213',
      status: 'active',
      intent: 'order',
      medication: {
        text: 'Ketamine HCl 50 mg sublingual troche (compounded)',
        rxnorm: '6130',
        form: 'troche',
        isKetamine: true,
        strength: { amount: { value: 50, unit: 'mg' }, per: { value: 1, unit: '{troche}' } },
      },
      dosePerSession: { value: 150, unit: 'mg' },
      dosageText:
        '150 mg (3 troches) sublingually once per medicine session, under supervision; hold in the mouth 15 minutes, then spit.',
      route: 'sublingual',
      refills: 0,
      quantity: { value: 9, unit: '{troche}' },
      dosesAuthorised: 3,
      versionTime: expect.any(String),
      validFrom: '2026-02-12',
      validUntil: '2026-08-12',
      authoredOn: '2026-02-12T10:30:00-05:00',
      prescriber: 'Practitioner/pr-okafor',
      source: 'MedicationRequest/rx-lindqvist-1/_history/1',
    });
  });

  test('versions 2-4: on hold with a reason, new dose, cancelled; same id, versioned source', () => {
    const onHold = read('prescription-on-hold.fhir.json');
    expect(onHold).toMatchObject({
      id: 'rx-lindqvist-1',
      status: 'on-hold',
      source: 'MedicationRequest/rx-lindqvist-1/_history/2',
    });
    expect(onHold.statusReason).toMatch(/152\/96/);
    expect(read('prescription-dose-changed.fhir.json')).toMatchObject({
      status: 'active',
      dosePerSession: { value: 200, unit: 'mg' },
      source: 'MedicationRequest/rx-lindqvist-1/_history/3',
    });
    expect(read('prescription-cancelled.fhir.json')).toMatchObject({
      status: 'cancelled',
      statusReason: expect.any(String),
    });
  });

  test('a compounded medication is written as a contained kap-medication', () => {
    const written = prescriptionToFhir(read('prescription-ketamine-troche.fhir.json'), identityContext);
    expect(written.medicationReference).toEqual({ reference: '#med' });
    expect(written.contained?.[0]).toMatchObject({
      resourceType: 'Medication',
      meta: { profile: ['https://fhir.kap-bridge.org/StructureDefinition/kap-medication'] },
      code: { text: 'Ketamine HCl 50 mg sublingual troche (compounded)' },
      ingredient: [{ itemCodeableConcept: { coding: [expect.objectContaining({ code: '6130' })] } }],
    });
  });
});

describe('tolerant reading of what EHRs send', () => {
  test('an order that says ketamine must not be given (doNotPerform) is read as such', () => {
    const request = { ...fixture('ehr/medicationrequest-rxnorm-6130.fhir.json'), doNotPerform: true };
    expect(prescriptionFromFhir(request, ctx).value).toMatchObject({ doNotPerform: true });
    expect(
      prescriptionFromFhir(fixture('ehr/medicationrequest-rxnorm-6130.fhir.json'), ctx).value,
    ).not.toHaveProperty('doNotPerform');
  });

  test('RxNorm 6130 with a doseQuantity and SNOMED route', () => {
    const { value, issues } = prescriptionFromFhir(
      fixture('ehr/medicationrequest-rxnorm-6130.fhir.json'),
      ctx,
    );
    expect(issues).toEqual([]);
    expect(value).toMatchObject({
      id: '90417',
      medication: { rxnorm: '6130', isKetamine: true },
      dosePerSession: { value: 100, unit: 'mg' },
      route: 'sublingual',
      dosesAuthorised: 4,
      source: 'MedicationRequest/90417/_history/1',
    });
  });

  test('text only: ketamine from the text, dose and route parsed from the dosage text', () => {
    const { value, issues } = prescriptionFromFhir(fixture('ehr/medicationrequest-text-only.fhir.json'), ctx);
    expect(issues).toEqual([]);
    expect(value).toMatchObject({
      medication: { text: 'Ketamine 100 mg rapid dissolve tablet (compounded)', isKetamine: true },
      dosePerSession: { value: 100, unit: 'mg' },
      route: 'sublingual',
      dosageText: '100 mg sublingual once per medicine session',
    });
    expect(value?.medication.rxnorm).toBeUndefined();
  });

  test('a referenced Medication is read through the resolver', () => {
    const { value, issues } = prescriptionFromFhir(
      fixture('ehr/medicationrequest-referenced-medication.fhir.json'),
      ctx,
    );
    expect(issues).toEqual([]);
    expect(value?.medication).toEqual({
      text: 'Ketamine HCl 200 mg rapidly dissolving tablet (compounded)',
      rxnorm: '6130',
      form: 'rapidly dissolving tablet',
      isKetamine: true,
      strength: { amount: { value: 200, unit: 'mg' }, per: { value: 1, unit: '{tablet}' } },
    });
    // 200 mg per dispense, two refills, 200 mg a session: three sessions.
    expect(value?.dosesAuthorised).toBe(3);
  });

  test.each([
    [
      'refills count dispenses, not sessions',
      { refills: 2, quantity: { value: 300, unit: 'mg' } },
      { value: 100, unit: 'mg' },
      9,
    ],
    [
      'grams supply, milligram doses',
      { refills: 0, quantity: { value: 0.5, unit: 'g' } },
      { value: 250, unit: 'mg' },
      2,
    ],
    [
      'troches through the strength',
      { refills: 1, quantity: { value: 6, unit: '{troche}' } },
      { value: 150, unit: 'mg' },
      4,
    ],
    [
      'troches counted alike',
      { refills: 0, quantity: { value: 6, unit: '{troche}' } },
      { value: 2, unit: 'troche' },
      3,
    ],
    [
      'a partial session does not count',
      { refills: 0, quantity: { value: 250, unit: 'mg' } },
      { value: 100, unit: 'mg' },
      2,
    ],
  ] as const)('sessions supplied: %s', (_, supply, dose, sessions) => {
    const medication = {
      text: 'ketamine 50 mg troche',
      isKetamine: true,
      strength: { amount: { value: 50, unit: 'mg' }, per: { value: 1, unit: '{troche}' } },
    };
    expect(sessionsSupplied({ ...supply, dosePerSession: dose, medication })).toEqual({ count: sessions });
  });

  test.each([
    ['no quantity', { refills: 2 }, { value: 100, unit: 'mg' }, /no quantity/],
    ['no dose', { quantity: { value: 300, unit: 'mg' } }, undefined, /dose per session/],
    [
      'millilitres against milligrams',
      { quantity: { value: 10, unit: 'mL' } },
      { value: 100, unit: 'mg' },
      /cannot be compared/,
    ],
    [
      'troches with no strength against milligrams',
      { quantity: { value: 9, unit: '{troche}' } },
      { value: 150, unit: 'mg' },
      /no strength/,
    ],
  ] as const)('sessions supplied cannot be told: %s', (_, supply, dose, why) => {
    const answer = sessionsSupplied({
      ...supply,
      dosePerSession: dose,
      medication: { text: 'ketamine', isKetamine: true },
    });
    expect('unknown' in answer && answer.unknown).toMatch(why);
  });

  test('a referenced Medication without a resolver: an error, no value, no throw', () => {
    const read = prescriptionFromFhir(
      fixture('ehr/medicationrequest-referenced-medication.fhir.json'),
      identityContext,
    );
    expect(read.value).toBeUndefined();
    expect(read.issues).toEqual([
      expect.objectContaining({
        severity: 'error',
        code: 'not-found',
        expression: 'MedicationRequest.medication',
      }),
    ]);
  });

  test('an unresolvable reference with a display keeps the display, with a warning', () => {
    const request = fixture('ehr/medicationrequest-referenced-medication.fhir.json');
    request.medicationReference = { reference: 'Medication/gone', display: 'Ketamine 200 mg RDT' };
    const read = prescriptionFromFhir(request, identityContext);
    expect(read.value?.medication).toEqual({ text: 'Ketamine 200 mg RDT', isKetamine: true });
    expect(read.issues.map((i) => i.severity)).toEqual(['warning']);
  });

  test('a code whose display says ketamine, without 6130, is ketamine', () => {
    const request = fixture('ehr/medicationrequest-rxnorm-6130.fhir.json');
    request.medicationCodeableConcept = {
      coding: [
        {
          system: 'http://www.nlm.nih.gov/research/umls/rxnorm',
          code: '999999',
          display: 'Ketamine Hydrochloride 50 MG/ML',
        },
      ],
    };
    expect(prescriptionFromFhir(request, ctx).value?.medication).toEqual({
      rxnorm: '999999',
      text: 'Ketamine Hydrochloride 50 MG/ML',
      isKetamine: true,
    });
  });

  test('esketamine is not ketamine; sertraline is not ketamine', () => {
    const request = fixture('ehr/medicationrequest-rxnorm-6130.fhir.json');
    request.medicationCodeableConcept = { text: 'esketamine 28 mg nasal spray device' };
    expect(prescriptionFromFhir(request, ctx).value?.medication.isKetamine).toBe(false);
    const sertraline = prescriptionFromFhir(fixture('ehr/medicationrequest-sertraline.fhir.json'), ctx);
    expect(sertraline.value?.medication).toMatchObject({ rxnorm: '36437', isKetamine: false });
  });

  test('ambiguous dosage text is kept as text, with warnings for dose and route', () => {
    const request = fixture('ehr/medicationrequest-text-only.fhir.json');
    request.dosageInstruction = [{ text: '100 mg or 150 mg, sublingual or IM as tolerated' }];
    const { value, issues } = prescriptionFromFhir(request, ctx);
    expect(value?.dosageText).toBe('100 mg or 150 mg, sublingual or IM as tolerated');
    expect(value?.dosePerSession).toBeUndefined();
    expect(value?.route).toBeUndefined();
    expect(issues.map((i) => [i.severity, i.expression])).toEqual([
      ['warning', 'MedicationRequest.dosageInstruction[0].doseAndRate'],
      ['warning', 'MedicationRequest.dosageInstruction[0].route'],
    ]);
  });

  test('an unknown status is read as unknown; several dosage instructions: the first, with a warning', () => {
    const request = fixture('ehr/medicationrequest-rxnorm-6130.fhir.json');
    (request as { status: string }).status = 'suspended';
    request.dosageInstruction = [...request.dosageInstruction!, { text: 'second' }];
    const { value, issues } = prescriptionFromFhir(request, ctx);
    expect(value?.status).toBe('unknown');
    expect(value?.dosePerSession).toEqual({ value: 100, unit: 'mg' });
    expect(issues.map((i) => i.expression)).toEqual([
      'MedicationRequest.status',
      'MedicationRequest.dosageInstruction',
    ]);
  });

  test('garbage does not throw', () => {
    const odd = { resourceType: 'MedicationRequest', dosageInstruction: [{}], medicationCodeableConcept: {} };
    const read = prescriptionFromFhir(odd as unknown as MedicationRequest, ctx);
    expect(read.value).toBeUndefined();
    expect(read.issues.filter(isError).length).toBeGreaterThan(0);
  });

  test('a context maps kap-bridge ids to EHR ids both ways', () => {
    const ehr: MappingContext = {
      ref: (type, id) => `${type}/ehr-${id}`,
      idOf: (type, reference) => {
        const text = typeof reference === 'string' ? reference : reference?.reference;
        return text?.startsWith(`${type}/ehr-`) ? text.slice(type.length + 5) : undefined;
      },
    };
    const written = prescriptionToFhir(
      prescriptionFromFhir(fixture('ehr/medicationrequest-rxnorm-6130.fhir.json'), ctx).value!,
      ehr,
    );
    expect(written.subject).toEqual({ reference: 'Patient/ehr-48213' });
    expect(written.id).toBe('ehr-90417');
    expect(prescriptionFromFhir(written, ehr).value?.patientId).toBe('48213');
  });
});

test('domain -> FHIR -> domain is the identity for any prescription', () => {
  fc.assert(
    fc.property(prescription, (p) => {
      const written = prescriptionToFhir(p, identityContext);
      expect(written.meta?.profile).toEqual([
        'https://fhir.kap-bridge.org/StructureDefinition/kap-medication-request',
      ]);
      expect(written.identifier).toEqual([
        { system: 'https://fhir.kap-bridge.org/identifier/MedicationRequest', value: p.id },
      ]);
      const read = prescriptionFromFhir(written, identityContext).value;
      expect(read).toEqual({ ...p, source: `MedicationRequest/${p.id}` });
    }),
  );
});
