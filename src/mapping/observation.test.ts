import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import type { Observation } from 'fhir/r4';
import { courseResources } from '../../test/support/courses.js';
import type { KapObservation, ObservationValue, Phq9Items } from '../domain/model.js';
import { LOINC, SYSTEM } from '../fhir/codes.js';
import { identityContext as ctx } from '../fhir/reference-context.js';
import { kindOf, OBSERVATION_KINDS, observationFromFhir, observationToFhir } from './observation.js';

const fixtures = courseResources<Observation>('Observation');

describe('every Observation fixture reads without issues and round-trips', () => {
  test.each(fixtures)('%s', (_name, resource, context) => {
    const first = observationFromFhir(resource, context);
    expect(first.issues).toEqual([]);
    const written = observationToFhir(first.value!, context);
    expect(written).toEqual(resource);
    expect(observationFromFhir(written, context)).toEqual(first);
  });

  test('the fixtures cover every kind kap-bridge writes', () => {
    const kinds = new Set(fixtures.map(([, r]) => kindOf(r)));
    const written = Object.entries(OBSERVATION_KINDS).filter(([, spec]) => spec.profile !== undefined);
    expect([...kinds].sort()).toEqual(written.map(([kind]) => kind).sort());
  });
});

const id = fc.stringMatching(/^[a-z0-9]{1,8}(-[a-z0-9]{1,8}){0,2}$/);
const instant = fc
  .date({ min: new Date('2026-01-01T00:00:00Z'), max: new Date('2026-12-31T23:59:59Z'), noInvalidDate: true })
  .map((d) => d.toISOString());
const answer = fc.integer({ min: 0, max: 3 });
const value: fc.Arbitrary<ObservationValue> = fc.oneof(
  fc
    .record(
      {
        kind: fc.constant('phq9' as const),
        total: fc.integer({ min: 0, max: 27 }),
        items: fc.tuple(
          answer,
          answer,
          answer,
          answer,
          answer,
          answer,
          answer,
          answer,
          answer,
        ) as fc.Arbitrary<Phq9Items>,
      },
      { requiredKeys: ['kind', 'total', 'items'] },
    )
    .map((v) => ({ ...v, item9: v.items[8] })),
  fc.record({ kind: fc.constant('phq9' as const), total: fc.integer({ min: 0, max: 27 }), item9: answer }),
  fc.record({ kind: fc.constant('gad7' as const), total: fc.integer({ min: 0, max: 21 }) }),
  fc.record({ kind: fc.constant('pcl5' as const), total: fc.integer({ min: 0, max: 80 }) }),
  fc.record({
    kind: fc.constant('cssrs' as const),
    risk: fc.constantFrom('low' as const, 'moderate' as const, 'high' as const),
  }),
  fc.record({ kind: fc.constant('mental-status' as const), findings: fc.string({ minLength: 1 }) }),
  fc.record({
    kind: fc.constant('blood-pressure' as const),
    systolic: fc.integer({ min: 60, max: 250 }),
    diastolic: fc.integer({ min: 30, max: 150 }),
  }),
  fc.record({ kind: fc.constant('heart-rate' as const), perMinute: fc.integer({ min: 20, max: 220 }) }),
  fc.record({ kind: fc.constant('spo2' as const), percent: fc.integer({ min: 50, max: 100 }) }),
  fc.record({ kind: fc.constant('dissociation' as const), cadss: fc.integer({ min: 0, max: 92 }) }),
  fc.record({ kind: fc.constant('sedation' as const), moaas: fc.integer({ min: 0, max: 5 }) }),
);
const observation: fc.Arbitrary<KapObservation> = fc.record(
  {
    id,
    patientId: id,
    sessionId: id,
    status: fc.constantFrom(
      'registered',
      'preliminary',
      'final',
      'amended',
      'corrected',
      'cancelled',
      'entered-in-error',
      'unknown',
    ),
    effective: instant,
    value,
    performer: id.map((p) => `Practitioner/${p}`),
  },
  { requiredKeys: ['id', 'patientId', 'status', 'effective', 'value'] },
);

test('domain -> FHIR -> domain gives back the observation, with our profile and identifier', () => {
  fc.assert(
    fc.property(observation, (o) => {
      const written = observationToFhir(o, ctx);
      expect(written.meta?.profile).toEqual([expect.stringMatching(/StructureDefinition\/kap-/)]);
      expect(written.identifier).toEqual([
        { system: 'https://fhir.kap-bridge.org/identifier/Observation', value: o.id },
      ]);
      const read = observationFromFhir(written, ctx);
      expect(read.issues).toEqual([]);
      expect(read.value).toEqual({ ...o, source: `Observation/${o.id}` });
    }),
  );
});

describe('reading is tolerant', () => {
  const base = {
    resourceType: 'Observation',
    status: 'final',
    subject: { reference: 'Patient/p1' },
    effectiveDateTime: '2026-03-01T10:00:00Z',
    id: 'ehr-1',
  } as const;

  test('a PHQ-9 total sent alone as 44261-6, with no profile and another coding first', () => {
    const read = observationFromFhir(
      {
        ...base,
        code: {
          coding: [
            { system: 'urn:oid:1.2.3', code: 'PHQ9T' },
            { system: SYSTEM.loinc, code: LOINC.phq9Total },
          ],
        },
        valueInteger: 14,
      },
      ctx,
    );
    // Read, and said to leave suicidality unknown: item 9 is not there.
    expect(read.issues.map((i) => [i.severity, i.code])).toEqual([['warning', 'incomplete']]);
    expect(read.value).toMatchObject({ id: 'ehr-1', value: { kind: 'phq9', total: 14 } });
  });

  test('a standalone PHQ-9 item 9 (44260-8) reads as its own kind, by answer code or integer', () => {
    const coded = observationFromFhir(
      {
        ...base,
        code: { coding: [{ system: SYSTEM.loinc, code: LOINC.phq9Item9 }] },
        valueCodeableConcept: { coding: [{ system: SYSTEM.loinc, code: 'LA6570-1' }] },
      },
      ctx,
    );
    expect(coded.value?.value).toEqual({ kind: 'phq9-item9', answer: 2 });
    const integer = observationFromFhir(
      { ...base, code: { coding: [{ system: SYSTEM.loinc, code: LOINC.phq9Item9 }] }, valueInteger: 1 },
      ctx,
    );
    expect(integer.value?.value).toEqual({ kind: 'phq9-item9', answer: 1 });
    const unreadable = observationFromFhir(
      {
        ...base,
        code: { coding: [{ system: SYSTEM.loinc, code: LOINC.phq9Item9 }] },
        valueString: 'some days',
      },
      ctx,
    );
    expect(unreadable.value).toBeUndefined();
    expect(unreadable.issues.map((i) => [i.severity, i.expression])).toEqual([
      ['error', 'Observation.valueCodeableConcept'],
    ]);
  });

  test('a PHQ-9 panel with only item 9 answered still gives item 9; its hasMember references are kept', () => {
    const read = observationFromFhir(
      {
        ...base,
        code: { coding: [{ system: SYSTEM.loinc, code: LOINC.phq9Panel }] },
        component: [
          {
            code: { coding: [{ system: SYSTEM.loinc, code: LOINC.phq9Item9 }] },
            valueCodeableConcept: { coding: [{ system: SYSTEM.loinc, code: 'LA6569-3' }] },
          },
        ],
        hasMember: [{ reference: 'Observation/q-1' }],
      },
      ctx,
    );
    expect(read.value?.value).toEqual({ kind: 'phq9', item9: 1, members: ['Observation/q-1'] });
  });

  test('C-SSRS risk from unambiguous text only', () => {
    const cssrs = (text: string) =>
      observationFromFhir(
        {
          ...base,
          code: { coding: [{ system: SYSTEM.loinc, code: LOINC.cssrsRisk }] },
          valueCodeableConcept: { text },
        },
        ctx,
      );
    expect(cssrs('High risk').value?.value).toEqual({ kind: 'cssrs', risk: 'high' });
    const coded = observationFromFhir(
      {
        ...base,
        code: { coding: [{ system: SYSTEM.loinc, code: LOINC.cssrsRisk }] },
        valueCodeableConcept: { coding: [{ system: SYSTEM.loinc, code: 'LA9194-7' }] },
      },
      ctx,
    );
    expect(coded.value?.value).toEqual({ kind: 'cssrs', risk: 'low' });
    expect(cssrs('moderate').value?.value).toEqual({ kind: 'cssrs', risk: 'moderate' });
    for (const text of ['low to moderate', 'not high risk', 'high?', '']) {
      expect(cssrs(text).value).toBeUndefined();
    }
  });

  test('blood pressure in kPa is converted to mmHg through UCUM; a unit that is not a pressure is an error', () => {
    const bp = (unit: Record<string, string>) =>
      observationFromFhir(
        {
          ...base,
          code: { coding: [{ system: SYSTEM.loinc, code: LOINC.bpPanel }] },
          component: [
            {
              code: { coding: [{ system: SYSTEM.loinc, code: LOINC.systolic }] },
              valueQuantity: { value: 20, ...unit },
            },
            {
              code: { coding: [{ system: SYSTEM.loinc, code: LOINC.diastolic }] },
              valueQuantity: { value: 12, ...unit },
            },
          ],
        },
        ctx,
      );
    expect(bp({ system: SYSTEM.ucum, code: 'kPa', unit: 'kPa' }).value?.value).toEqual({
      kind: 'blood-pressure',
      systolic: 150,
      diastolic: 90,
    });
    expect(bp({ unit: 'mmHg' }).value?.value).toEqual({
      kind: 'blood-pressure',
      systolic: 20,
      diastolic: 12,
    });
    const wrong = bp({ system: SYSTEM.ucum, code: 'cm', unit: 'cm' });
    expect(wrong.value).toBeUndefined();
    expect(wrong.issues.map((i) => i.expression)).toEqual([
      'Observation.component[0].valueQuantity',
      'Observation.component[1].valueQuantity',
    ]);
  });

  test('SpO2 coded 2708-6 only, heart rate as valueQuantity, effectivePeriod', () => {
    const spo2 = observationFromFhir(
      {
        ...base,
        code: { coding: [{ system: SYSTEM.loinc, code: LOINC.spo2Arterial }] },
        valueQuantity: { value: 96 },
      },
      ctx,
    );
    expect(spo2.value?.value).toEqual({ kind: 'spo2', percent: 96 });
    const hr = observationFromFhir(
      {
        ...base,
        effectiveDateTime: undefined,
        effectivePeriod: { start: '2026-03-01T10:05:00Z' },
        code: { coding: [{ system: SYSTEM.loinc, code: LOINC.heartRate }] },
        valueQuantity: { value: 64, unit: 'bpm' },
      },
      ctx,
    );
    expect(hr.value).toMatchObject({
      effective: '2026-03-01T10:05:00Z',
      value: { kind: 'heart-rate', perMinute: 64 },
    });
  });

  test('C-SSRS risk sent as 93374-7 with the value on the Observation', () => {
    const read = observationFromFhir(
      {
        ...base,
        code: { coding: [{ system: SYSTEM.loinc, code: LOINC.cssrsRisk }] },
        valueCodeableConcept: { coding: [{ system: SYSTEM.suicideRisk, code: 'high' }] },
      },
      ctx,
    );
    expect(read.value?.value).toEqual({ kind: 'cssrs', risk: 'high' });
  });

  test('codings of one safety value that disagree, or a comparator on a pressure, give no value', () => {
    const cssrs = observationFromFhir(
      {
        ...base,
        code: { coding: [{ system: SYSTEM.loinc, code: LOINC.cssrsRisk }] },
        valueCodeableConcept: {
          coding: [
            { system: SYSTEM.suicideRisk, code: 'high' },
            { system: SYSTEM.suicideRisk, code: 'low' },
          ],
        },
      },
      ctx,
    );
    const item9 = observationFromFhir(
      {
        ...base,
        code: { coding: [{ system: SYSTEM.loinc, code: LOINC.phq9Item9 }] },
        valueCodeableConcept: {
          coding: [
            { system: SYSTEM.loinc, code: 'LA6568-5' },
            { system: SYSTEM.loinc, code: 'LA6571-9' },
          ],
        },
      },
      ctx,
    );
    const bp = observationFromFhir(
      {
        ...base,
        code: { coding: [{ system: SYSTEM.loinc, code: LOINC.bpPanel }] },
        component: [
          {
            code: { coding: [{ system: SYSTEM.loinc, code: LOINC.systolic }] },
            valueQuantity: { comparator: '>', value: 140, system: SYSTEM.ucum, code: 'mm[Hg]' },
          },
          {
            code: { coding: [{ system: SYSTEM.loinc, code: LOINC.diastolic }] },
            valueQuantity: { value: 80, system: SYSTEM.ucum, code: 'mm[Hg]' },
          },
        ],
      },
      ctx,
    );
    // Each read alone: the old reading took the first coding (low, 0) and the number (140).
    expect({ cssrs: cssrs.value, item9: item9.value, bp: bp.value }).toEqual({
      cssrs: undefined,
      item9: undefined,
      bp: undefined,
    });
    expect(cssrs.issues.map((i) => i.severity)).toEqual(['error']);
    expect(item9.issues.map((i) => [i.severity, i.expression])).toEqual([
      ['error', 'Observation.valueCodeableConcept'],
    ]);
    expect(bp.issues.map((i) => [i.severity, i.expression])).toEqual([
      ['error', 'Observation.component[0].valueQuantity'],
    ]);
  });

  test('a heart rate or SpO2 with a comparator is a bound, not a reading', () => {
    for (const [code, unit] of [
      [LOINC.heartRate, '/min'],
      [LOINC.spo2, '%'],
    ] as const) {
      const read = observationFromFhir(
        {
          ...base,
          code: { coding: [{ system: SYSTEM.loinc, code }] },
          valueQuantity: { comparator: '<', value: 90, system: SYSTEM.ucum, code: unit },
        },
        ctx,
      );
      expect({ code, value: read.value }).toEqual({ code, value: undefined });
      expect(read.issues.map((i) => [i.severity, i.expression])).toEqual([
        ['error', 'Observation.valueQuantity'],
      ]);
    }
  });

  test('mental status as components is read as joined text', () => {
    const read = observationFromFhir(
      {
        ...base,
        code: { coding: [{ system: SYSTEM.loinc, code: LOINC.mentalStatus }] },
        component: [
          { code: { text: 'Mood' }, valueString: 'euthymic' },
          { code: { text: 'Thought content' }, valueString: 'no suicidal ideation' },
        ],
      },
      ctx,
    );
    expect(read.value?.value).toEqual({
      kind: 'mental-status',
      findings: 'Mood: euthymic; Thought content: no suicidal ideation',
    });
  });

  test('a PHQ-9 item 9 out of range is an error on that component, the total is still read', () => {
    const invalid = JSON.parse(
      readFileSync(
        new URL('../../fixtures/invalid/phq9-item9-out-of-range.fhir.json', import.meta.url),
        'utf8',
      ),
    ) as Observation;
    const read = observationFromFhir(invalid, ctx);
    expect(read.issues.map((i) => [i.severity, i.expression])).toEqual([
      ['error', 'Observation.component[9].valueCodeableConcept'],
      ['warning', 'Observation.component'],
    ]);
    // Item 9 unreadable: the PHQ-9 is kept with its total and no item 9, so suicidality is unknown.
    expect(read.value?.value).toEqual({ kind: 'phq9', total: 16 });
  });

  test('blood pressure without systolic, CADSS out of range, unknown code: issues, no value, no throw', () => {
    const bp = observationFromFhir(
      {
        ...base,
        code: { coding: [{ system: SYSTEM.loinc, code: LOINC.bpPanel }] },
        component: [
          {
            code: { coding: [{ system: SYSTEM.loinc, code: LOINC.diastolic }] },
            valueQuantity: { value: 80 },
          },
        ],
      },
      ctx,
    );
    expect(bp.value).toBeUndefined();
    // No systolic; a diastolic with no unit cannot be taken as mmHg.
    expect(bp.issues.map((i) => i.expression)).toEqual([
      'Observation.component',
      'Observation.component[0].valueQuantity',
    ]);
    const cadss = observationFromFhir(
      { ...base, code: { coding: [{ system: SYSTEM.kap, code: 'cadss' }] }, valueInteger: 95 },
      ctx,
    );
    expect(cadss.issues.map((i) => [i.severity, i.expression])).toEqual([
      ['error', 'Observation.valueInteger'],
    ]);
    const unknown = observationFromFhir({ ...base, code: { text: 'mood diary' } }, ctx);
    expect(unknown.value).toBeUndefined();
    expect(unknown.issues[0]?.expression).toBe('Observation.code');
    expect(observationFromFhir({ resourceType: 'Observation' } as Observation, ctx).value).toBeUndefined();
  });
});
