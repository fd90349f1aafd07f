import fc from 'fast-check';
import type { AllergyIntolerance, Condition } from 'fhir/r4';
import { anyElement, readsAnyJson } from '../../test/support/any-json.js';
import { fixture } from '../../test/support/fixtures.js';
import { isError } from '../fhir/outcome.js';
import { identityContext as ctx } from '../fhir/reference-context.js';
import { findingFromFhir, namesKetamine } from './finding.js';

const ICD = 'http://hl7.org/fhir/sid/icd-10-cm';
const SNOMED = 'http://snomed.info/sct';
const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';
const CLINICAL = 'http://terminology.hl7.org/CodeSystem/condition-clinical';
const VERIFICATION = 'http://terminology.hl7.org/CodeSystem/condition-ver-status';
const ALLERGY_CLINICAL = 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical';
const ALLERGY_VERIFICATION = 'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification';

// biome-ignore lint/suspicious/noExplicitAny: tests change resources field by field, as a sender would
type Json = Record<string, any>;
const status = (system: string, code: string) => ({ coding: [{ system, code }] });
const condition = (changes: Json = {}): Condition =>
  ({
    resourceType: 'Condition',
    id: 'cond-1',
    meta: { versionId: '3', lastUpdated: '2026-11-30T09:00:00Z' },
    clinicalStatus: status(CLINICAL, 'active'),
    verificationStatus: status(VERIFICATION, 'confirmed'),
    code: { coding: [{ system: ICD, code: 'F20.0', display: 'Paranoid schizophrenia' }] },
    subject: { reference: 'Patient/p-1' },
    recordedDate: '2026-11-02',
    ...changes,
  }) as Condition;
const allergy = (changes: Json = {}): AllergyIntolerance =>
  ({
    resourceType: 'AllergyIntolerance',
    id: 'alg-1',
    clinicalStatus: status(ALLERGY_CLINICAL, 'active'),
    verificationStatus: status(ALLERGY_VERIFICATION, 'confirmed'),
    code: { text: 'Ketamine' },
    patient: { reference: 'Patient/p-1' },
    recordedDate: '2026-10-01',
    ...changes,
  }) as AllergyIntolerance;
const without = (r: Json, key: string) => {
  const { [key]: _, ...rest } = r;
  return rest as Condition & AllergyIntolerance;
};

describe('the EHR fixtures', () => {
  test('a depression Condition reads as active, recorded, and no contraindication', () => {
    const read = findingFromFhir(fixture<Condition>('ehr/condition-depression.fhir.json'), ctx);
    expect(read.issues).toEqual([]);
    expect(read.value).toEqual({
      id: 'cond-77310',
      patientId: '48213',
      type: 'Condition',
      active: true,
      recorded: '2026-02-10',
      text: 'Major depressive disorder, recurrent, moderate',
      source: 'Condition/cond-77310',
    });
  });

  test('a sulfonamide allergy reads as active and no contraindication', () => {
    const read = findingFromFhir(
      fixture<AllergyIntolerance>('ehr/allergyintolerance-sulfonamide.fhir.json'),
      ctx,
    );
    expect(read.issues).toEqual([]);
    expect(read.value).toMatchObject({
      type: 'AllergyIntolerance',
      active: true,
      text: 'Sulfonamide antibiotics',
    });
    expect(read.value?.contraindication).toBeUndefined();
  });
});

describe('active: fail closed', () => {
  test.each<[string, Condition | AllergyIntolerance, boolean, string[]]>([
    ['Condition active', condition(), true, []],
    ['Condition recurrence', condition({ clinicalStatus: status(CLINICAL, 'recurrence') }), true, []],
    ['Condition relapse', condition({ clinicalStatus: status(CLINICAL, 'relapse') }), true, []],
    ['Condition inactive', condition({ clinicalStatus: status(CLINICAL, 'inactive') }), false, []],
    ['Condition remission', condition({ clinicalStatus: status(CLINICAL, 'remission') }), false, []],
    ['Condition resolved', condition({ clinicalStatus: status(CLINICAL, 'resolved') }), false, []],
    [
      'Condition status code without a system',
      condition({ clinicalStatus: { coding: [{ code: 'resolved' }] } }),
      false,
      [],
    ],
    [
      'Condition no clinicalStatus',
      without(condition(), 'clinicalStatus'),
      true,
      ['Condition.clinicalStatus'],
    ],
    [
      'Condition clinicalStatus text only',
      condition({ clinicalStatus: { text: 'gone' } }),
      true,
      ['Condition.clinicalStatus'],
    ],
    [
      'Condition status of another system',
      condition({ clinicalStatus: status('http://x.org', 'resolved') }),
      true,
      ['Condition.clinicalStatus'],
    ],
    [
      'Condition unknown status code',
      condition({ clinicalStatus: status(CLINICAL, 'dormant') }),
      true,
      ['Condition.clinicalStatus'],
    ],
    [
      'Condition active but refuted',
      condition({ verificationStatus: status(VERIFICATION, 'refuted') }),
      false,
      [],
    ],
    [
      'Condition entered in error',
      condition({ verificationStatus: status(VERIFICATION, 'entered-in-error') }),
      false,
      [],
    ],
    [
      'Condition no clinicalStatus, entered in error',
      without(condition({ verificationStatus: status(VERIFICATION, 'entered-in-error') }), 'clinicalStatus'),
      false,
      [],
    ],
    [
      'Condition provisional',
      condition({ verificationStatus: status(VERIFICATION, 'provisional') }),
      true,
      [],
    ],
    [
      'Condition unconfirmed, no clinicalStatus',
      without(condition({ verificationStatus: status(VERIFICATION, 'unconfirmed') }), 'clinicalStatus'),
      true,
      ['Condition.clinicalStatus'],
    ],
    ['allergy active', allergy(), true, []],
    ['allergy inactive', allergy({ clinicalStatus: status(ALLERGY_CLINICAL, 'inactive') }), false, []],
    ['allergy resolved', allergy({ clinicalStatus: status(ALLERGY_CLINICAL, 'resolved') }), false, []],
    [
      'allergy no clinicalStatus',
      without(allergy(), 'clinicalStatus'),
      true,
      ['AllergyIntolerance.clinicalStatus'],
    ],
    ['allergy refuted', allergy({ verificationStatus: status(ALLERGY_VERIFICATION, 'refuted') }), false, []],
    [
      'allergy entered in error',
      without(
        allergy({ verificationStatus: status(ALLERGY_VERIFICATION, 'entered-in-error') }),
        'clinicalStatus',
      ),
      false,
      [],
    ],
    [
      'allergy with a Condition status code',
      allergy({ clinicalStatus: status(ALLERGY_CLINICAL, 'remission') }),
      true,
      ['AllergyIntolerance.clinicalStatus'],
    ],
  ])('%s', (_case, resource, active, warnedAt) => {
    const read = findingFromFhir(resource, ctx);
    expect(read.value?.active).toBe(active);
    expect(read.issues.filter(isError)).toEqual([]);
    expect(read.issues.map((i) => i.expression)).toEqual(warnedAt);
  });
});

describe('recorded: recordedDate, else onset, else the version time', () => {
  test.each<[string, Json, string | undefined, string[]]>([
    ['recordedDate', {}, '2026-11-02', []],
    [
      'onsetDateTime',
      { recordedDate: undefined, onsetDateTime: '2026-10-12T08:00:00-05:00' },
      '2026-10-12T08:00:00-05:00',
      [],
    ],
    ['onsetPeriod.start', { recordedDate: undefined, onsetPeriod: { start: '2026-09' } }, '2026-09', []],
    ['meta.lastUpdated', { recordedDate: undefined }, '2026-11-30T09:00:00Z', []],
    [
      'onsetString is no date: the version time',
      { recordedDate: undefined, onsetString: 'childhood' },
      '2026-11-30T09:00:00Z',
      [],
    ],
    [
      'a recordedDate that is no date is passed over, with a warning',
      { recordedDate: 'last Tuesday', onsetDateTime: '2026-10-12' },
      '2026-10-12',
      ['Condition.recordedDate'],
    ],
    [
      'a time without offset is no FHIR dateTime',
      { recordedDate: '2026-10-12T08:00:00' },
      '2026-11-30T09:00:00Z',
      ['Condition.recordedDate'],
    ],
    [
      'nothing: no date, open until reviewed',
      { recordedDate: undefined, meta: undefined },
      undefined,
      ['Condition.recordedDate'],
    ],
    [
      'a date of the wrong type',
      { recordedDate: 20261102, meta: null },
      undefined,
      ['Condition.recordedDate', 'Condition.recordedDate'],
    ],
  ])('%s', (_case, changes, recorded, warnedAt) => {
    const read = findingFromFhir(condition(changes), ctx);
    expect(read.value?.recorded).toBe(recorded);
    expect(read.issues.map((i) => `${i.severity} ${i.expression}`)).toEqual(
      warnedAt.map((e) => `warning ${e}`),
    );
  });
});

describe('text', () => {
  test.each<[string, Json, string]>([
    [
      'code.text first',
      { code: { text: 'Schizophrenia, paranoid', coding: [{ system: ICD, code: 'F20.0', display: 'x' }] } },
      'Schizophrenia, paranoid',
    ],
    [
      'else the first display',
      {
        code: {
          coding: [
            { system: ICD, code: 'F20.0' },
            { system: SNOMED, code: '1', display: 'Psychosis' },
          ],
        },
      },
      'Psychosis',
    ],
    ['else system|code', { code: { coding: [{ system: ICD, code: 'F20.0' }] } }, `${ICD}|F20.0`],
  ])('%s', (_case, changes, text) => {
    expect(findingFromFhir(condition(changes), ctx).value?.text).toBe(text);
  });
});

describe('contraindication', () => {
  test.each<[string, Condition | AllergyIntolerance, string | undefined]>([
    ['a Condition in the ValueSet', condition(), 'psychosis'],
    [
      'a Condition in the ValueSet by SNOMED CT',
      condition({ code: { coding: [{ system: SNOMED, code: '58214004' }] } }),
      'psychosis',
    ],
    ['a Condition outside it', condition({ code: { coding: [{ system: ICD, code: 'F33.1' }] } }), undefined],
    [
      'an inactive Condition keeps its group (readiness decides)',
      condition({ clinicalStatus: status(CLINICAL, 'resolved') }),
      'psychosis',
    ],
    ['an allergy named ketamine in text', allergy(), 'ketamine-hypersensitivity'],
    ['an allergy to Ketalar', allergy({ code: { text: 'KETALAR' } }), 'ketamine-hypersensitivity'],
    [
      'an allergy to esketamine',
      allergy({ code: { text: 'Esketamine nasal spray' } }),
      'ketamine-hypersensitivity',
    ],
    [
      'an allergy coded RxNorm 6130',
      allergy({ code: { coding: [{ system: RXNORM, code: '6130' }] } }),
      'ketamine-hypersensitivity',
    ],
    [
      'an allergy coded RxNorm 6130 by OID',
      allergy({ code: { coding: [{ system: 'urn:oid:2.16.840.1.113883.6.88', code: '6130' }] } }),
      'ketamine-hypersensitivity',
    ],
    [
      'an allergy with ketamine in a display',
      allergy({ code: { coding: [{ system: RXNORM, code: '1', display: 'ketamine hydrochloride' }] } }),
      'ketamine-hypersensitivity',
    ],
    [
      'an allergy whose reaction names ketamine',
      allergy({
        code: { text: 'Anaesthetic agents' },
        reaction: [{ substance: { text: 'ketamine' }, manifestation: [] }],
      }),
      'ketamine-hypersensitivity',
    ],
    [
      'an allergy to RxNorm 6130 in another system',
      allergy({ code: { coding: [{ system: SNOMED, code: '6130', display: 'Codeine' }] } }),
      undefined,
    ],
    ['an allergy to penicillin', allergy({ code: { text: 'Penicillin' } }), undefined],
    [
      'a Condition that says ketamine is not an allergy',
      condition({ code: { coding: [{ system: ICD, code: 'F19.10' }], text: 'Ketamine use' } }),
      undefined,
    ],
  ])('%s', (_case, resource, group) => {
    const read = findingFromFhir(resource, ctx);
    expect(read.issues.filter(isError)).toEqual([]);
    expect(read.value?.contraindication).toBe(group);
  });

  test.each<[string, unknown, boolean]>([
    ['RxNorm 6130', { coding: [{ system: RXNORM, code: '6130' }] }, true],
    ['text', { text: 'allergic to Ketamine HCl' }, true],
    ['other', { text: 'codeine' }, false],
    ['nothing', undefined, false],
    ['odd input', { coding: 'ketamine', text: 5 }, false],
  ])('namesKetamine: %s', (_case, concept, expected) => {
    expect(namesKetamine(concept as never)).toBe(expected);
  });
});

describe('what cannot be read has no value and an error at the element', () => {
  const uncoded = { code: { text: 'Schizophrenia' } };
  test.each<[string, unknown, string]>([
    ['an active Condition in text only', condition(uncoded), 'Condition.code'],
    [
      'an active Condition in a local code only',
      condition({ code: { coding: [{ system: 'urn:ehr', code: '9' }] } }),
      'Condition.code',
    ],
    ['an active Condition without a code', without(condition(), 'code'), 'Condition.code'],
    [
      'a Condition of unknown status without a code',
      without(without(condition(), 'code'), 'clinicalStatus'),
      'Condition.code',
    ],
    ['an active allergy without a code', without(allergy(), 'code'), 'AllergyIntolerance.code'],
    [
      'an active allergy coded without words, not RxNorm 6130',
      allergy({ code: { coding: [{ system: RXNORM, code: '1234567' }] } }),
      'AllergyIntolerance.code',
    ],
    ['an allergy with a code of the wrong type', allergy({ code: 'ketamine' }), 'AllergyIntolerance.code'],
    ['no id', without(condition(), 'id'), 'Condition.id'],
    ['an id of the wrong type', condition({ id: 42 }), 'Condition.id'],
    ['no subject', without(condition(), 'subject'), 'Condition.subject'],
    [
      'a subject that is not a Patient',
      condition({ subject: { reference: 'Group/g-1' } }),
      'Condition.subject',
    ],
    ['a subject of the wrong type', condition({ subject: 'Patient/p-1' }), 'Condition.subject'],
    ['an allergy without a patient', without(allergy(), 'patient'), 'AllergyIntolerance.patient'],
    ['another resource type', { resourceType: 'Observation', id: 'o' }, 'resourceType'],
    ['null', null, 'resourceType'],
    ['a string', 'Condition', 'resourceType'],
  ])('%s', (_case, resource, expression) => {
    const read = findingFromFhir(resource as Condition, ctx);
    expect(read.value).toBeUndefined();
    expect(read.issues.filter(isError).map((i) => i.expression)).toContain(expression);
  });

  test('an inactive Condition in text only is read, with a warning', () => {
    const read = findingFromFhir(
      condition({ ...uncoded, clinicalStatus: status(CLINICAL, 'resolved') }),
      ctx,
    );
    expect(read.value).toMatchObject({ active: false, text: 'Schizophrenia' });
    expect(read.issues).toEqual([
      expect.objectContaining({ severity: 'warning', expression: 'Condition.code' }),
    ]);
  });

  test('an entered-in-error Condition without a code is read, as not active', () => {
    const read = findingFromFhir(
      without(condition({ verificationStatus: status(VERIFICATION, 'entered-in-error') }), 'code'),
      ctx,
    );
    expect(read.value).toMatchObject({ active: false, text: 'a Condition with no code' });
  });

  test('malformed elements read as absent: nulls and wrong types', () => {
    const read = findingFromFhir(
      condition({
        meta: null,
        identifier: 'x',
        clinicalStatus: [null, 3],
        verificationStatus: { coding: { code: 7 } },
        code: { coding: [null, { system: ICD, code: 'F20.1' }, 'F20'], text: null },
        onsetPeriod: 'soon',
        recordedDate: null,
      }),
      ctx,
    );
    expect(read.value).toMatchObject({
      id: 'cond-1',
      active: true,
      contraindication: 'psychosis',
      text: `${ICD}|F20.1`,
    });
    expect(read.value?.source).toBe('Condition/cond-1');
  });
});

test('any JSON at all gives a Read, never a thrown error', () => {
  readsAnyJson(
    (r: Condition) => findingFromFhir(r, ctx),
    ['Condition', 'AllergyIntolerance', 'Patient', 7],
    [
      'clinicalStatus',
      'verificationStatus',
      'code',
      'subject',
      'patient',
      'recordedDate',
      'onsetDateTime',
      'onsetPeriod',
      'reaction',
    ],
    {
      code: fc.record({
        coding: fc.array(fc.record({ system: anyElement, code: anyElement })),
        text: anyElement,
      }),
    },
    (read) => {
      if (read.value === undefined) expect(read.issues.some(isError)).toBe(true);
    },
  );
});
