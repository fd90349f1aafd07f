import type { CodeableConcept } from 'fhir/r4';
import { readConformance } from '../fhir/conformance.js';
import {
  CONTRAINDICATION_GROUPS,
  CONTRAINDICATIONS_URL,
  checkableAgainstContraindications,
  contraindicationEntries,
  contraindicationGroup,
  contraindicationMatcher,
  GROUP_EXTENSION,
  loadContraindications,
} from './contraindications.js';

const SNOMED = 'http://snomed.info/sct';
const ICD = 'http://hl7.org/fhir/sid/icd-10-cm';
const group = (valueString: unknown) => [{ url: GROUP_EXTENSION, valueString }];
const valueSet = (contains: unknown) => ({
  resourceType: 'ValueSet',
  url: CONTRAINDICATIONS_URL,
  expansion: { timestamp: '2026-12-06T00:00:00Z', contains },
});
const coded = (...codings: [string | undefined, string | undefined][]): CodeableConcept => ({
  coding: codings.map(([system, code]) => ({ ...(system ? { system } : {}), ...(code ? { code } : {}) })),
});

const match = contraindicationMatcher(
  contraindicationEntries(
    valueSet([
      { system: ICD, code: 'F20', extension: group('psychosis') },
      { system: ICD, code: 'F31.1', extension: group('mania/bipolar I') },
      { system: SNOMED, code: '58214004', extension: group('psychosis') },
      {
        system: SNOMED,
        code: '77386006',
        extension: group('pregnancy'),
        contains: [{ system: SNOMED, code: '1111111' }],
      },
      { extension: group('no code here'), contains: [{ system: ICD, code: 'I61' }] },
    ]),
  ),
);

describe('contraindicationMatcher: system and code, ICD-10-CM by its hierarchy', () => {
  test.each<[string, CodeableConcept | undefined, string | undefined]>([
    ['an ICD-10-CM category itself', coded([ICD, 'F20']), 'psychosis'],
    ['a code under the category', coded([ICD, 'F20.0']), 'psychosis'],
    ['a code two levels under it', coded([ICD, 'F20.89']), 'psychosis'],
    ['a code sent without its dot', coded([ICD, 'F200']), 'psychosis'],
    ['a code sent in lower case', coded([ICD, 'f20.9']), 'psychosis'],
    ['a code under a subcategory entry', coded([ICD, 'F31.13']), 'mania/bipolar I'],
    ['a sibling of a subcategory entry', coded([ICD, 'F31.2']), undefined],
    ['a category that only starts alike', coded([ICD, 'F2']), undefined],
    ['a neighbouring category', coded([ICD, 'F21']), undefined],
    ['a SNOMED CT code exactly', coded([SNOMED, '58214004']), 'psychosis'],
    ['a SNOMED CT code with spaces around', coded([SNOMED, ' 58214004 ']), 'psychosis'],
    ['a SNOMED CT code that only starts alike', coded([SNOMED, '582140041']), undefined],
    ['a SNOMED CT code sent as the OID', coded(['urn:oid:2.16.840.1.113883.6.96', '58214004']), 'psychosis'],
    ['an ICD-10-CM code sent as the OID', coded(['urn:oid:2.16.840.1.113883.6.90', 'F20.1']), 'psychosis'],
    ['the right code in the wrong system', coded([SNOMED, 'F20']), undefined],
    ['a code without a system', coded([undefined, 'F20']), undefined],
    ['a nested entry takes its parent group', coded([SNOMED, '1111111']), 'pregnancy'],
    ['a nested entry under a group-only parent', coded([ICD, 'I61.0']), 'no code here'],
    [
      'the first coding that falls in a group',
      coded([SNOMED, '1'], [ICD, 'F31.10'], [ICD, 'F20']),
      'mania/bipolar I',
    ],
    ['text only', { text: 'schizophrenia' }, undefined],
    ['no concept', undefined, undefined],
  ])('%s', (_case, concept, expected) => {
    expect(match(concept)).toBe(expected);
  });

  test.each<[string, unknown]>([
    ['null', null],
    ['a string', 'F20'],
    ['codings of the wrong types', { coding: [null, 7, { system: 3, code: ['F20'] }] }],
  ])('odd input (%s) is no match, not an error', (_case, concept) => {
    expect(() => match(concept as CodeableConcept)).not.toThrow();
    expect(match(concept as CodeableConcept)).toBeUndefined();
  });

  test('a single coding object is still read', () => {
    expect(match({ coding: { system: ICD, code: 'F20' } } as unknown as CodeableConcept)).toBe('psychosis');
  });
});

describe('contraindicationEntries refuses a ValueSet it cannot use', () => {
  test.each<[string, unknown, RegExp]>([
    ['nothing', undefined, /Not the KAP contraindication ValueSet/],
    ['another ValueSet', { ...valueSet([]), url: 'http://example.org/vs' }, /Not the KAP/],
    ['a CodeSystem', { ...valueSet([]), resourceType: 'CodeSystem' }, /Not the KAP/],
    ['no expansion', { resourceType: 'ValueSet', url: CONTRAINDICATIONS_URL }, /has no codes/],
    ['an empty expansion', valueSet([]), /has no codes/],
    [
      'an entry without a group',
      valueSet([{ system: ICD, code: 'F20' }]),
      /\[0\] \(.*\|F20\) names no group/,
    ],
    [
      'a group that is not a string',
      valueSet([{ system: ICD, code: 'F20', extension: group(7) }]),
      /names no group/,
    ],
  ])('%s', (_case, vs, message) => {
    expect(() => contraindicationEntries(vs)).toThrow(message);
  });
});

describe('the ValueSet in profiles/', () => {
  const file = readConformance('ValueSet-').find((r) => r.url === CONTRAINDICATIONS_URL);

  test('loads, with its codes', () => {
    expect(loadContraindications()).toBe(contraindicationEntries(file).length);
  });

  test('is there, and every group it names is one kap-bridge knows', () => {
    const groups = new Set(contraindicationEntries(file).map((e) => e.group));
    expect(groups.size).toBeGreaterThan(0);
    for (const g of groups) expect(CONTRAINDICATION_GROUPS).toContain(g);
  });

  test('every entry is found by contraindicationGroup', () => {
    for (const e of contraindicationEntries(file)) {
      expect(contraindicationGroup(coded([e.system, e.code]))).toBe(e.group);
    }
  });

  test.each<[string, CodeableConcept | undefined, boolean]>([
    ['SNOMED CT', coded([SNOMED, '38341003']), true],
    ['ICD-10-CM', coded([ICD, 'I10']), true],
    ['ICD-10-CM as its OID', coded(['urn:oid:2.16.840.1.113883.6.90', 'I10']), true],
    ['a local code only', coded(['urn:ehr:problems', '123']), false],
    ['text only', { text: 'Hypertension' }, false],
    ['nothing', undefined, false],
  ])('checkableAgainstContraindications: %s', (_case, concept, expected) => {
    expect(checkableAgainstContraindications(concept)).toBe(expected);
  });
});
