import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import type { Observation } from 'fhir/r4';
import { clearance } from '../../test/support/prescriber-arbitraries.js';
import { isError } from '../fhir/outcome.js';
import { identityContext as ctx } from '../fhir/reference-context.js';
import { validateResource } from '../validation/validator.js';
import { clearanceFromFhir, clearanceToFhir } from './clearance.js';

const fixture = (name: string): Observation =>
  JSON.parse(readFileSync(new URL(`../../fixtures/prescriber/${name}`, import.meta.url), 'utf8'));

const withoutSource = <T extends { source?: string }>(v: T): Omit<T, 'source'> => {
  const { source: _, ...rest } = v;
  return rest;
};

describe('clearance fixtures round-trip (FHIR -> domain -> FHIR -> domain)', () => {
  test.each([
    ['clearance-cleared.fhir.json', 'cleared'],
    ['clearance-not-cleared.fhir.json', 'not-cleared'],
    ['clearance-needs-review.fhir.json', 'needs-review'],
  ])('%s', (name, result) => {
    const first = clearanceFromFhir(fixture(name), ctx);
    expect(first.issues).toEqual([]);
    expect(first.value?.result).toBe(result);
    expect(first.value?.source).toMatch(/^Observation\/clr-[a-z0-9-]+\/_history\/1$/);
    const written = clearanceToFhir(first.value!, ctx);
    expect(validateResource(written).filter(isError)).toEqual([]);
    const second = clearanceFromFhir(written, ctx);
    expect(withoutSource(second.value!)).toEqual(withoutSource(first.value!));
  });

  test('the cleared fixture reads as the prescriber wrote it', () => {
    expect(clearanceFromFhir(fixture('clearance-cleared.fhir.json'), ctx).value).toMatchObject({
      id: 'clr-lindqvist-2026-02',
      patientId: '48213',
      status: 'final',
      decidedAt: '2026-02-10',
      validUntil: '2026-08-10',
      prescriber: 'Practitioner/pr-okafor',
    });
  });
});

test('domain -> FHIR -> domain is the identity for any clearance', () => {
  fc.assert(
    fc.property(clearance, (decision) => {
      const written = clearanceToFhir(decision, ctx);
      expect(written.meta?.profile).toEqual([
        'https://fhir.kap-bridge.org/StructureDefinition/kap-clearance',
      ]);
      expect(written.identifier).toEqual([
        { system: 'https://fhir.kap-bridge.org/identifier/Observation', value: decision.id },
      ]);
      expect(clearanceFromFhir(written, ctx).value).toEqual({
        ...decision,
        source: `Observation/${decision.id}`,
      });
    }),
  );
});

describe('tolerant reading', () => {
  const base = (): Observation => fixture('clearance-cleared.fhir.json');

  test('an effectiveDateTime gives the decision date and a warning that valid-until is missing', () => {
    const { effectivePeriod: _, ...rest } = base();
    const read = clearanceFromFhir({ ...rest, effectiveDateTime: '2026-02-10T11:00:00-05:00' }, ctx);
    expect(read.value?.decidedAt).toBe('2026-02-10T11:00:00-05:00');
    expect(read.value?.validUntil).toBeUndefined();
    expect(read.issues).toEqual([
      expect.objectContaining({ severity: 'warning', expression: 'Observation.effectivePeriod.end' }),
    ]);
  });

  test('a result outside the value set gives no decision and an error', () => {
    const obs = base();
    obs.valueCodeableConcept = {
      coding: [{ system: 'https://fhir.kap-bridge.org/CodeSystem/kap-clearance-result', code: 'approved' }],
    };
    const read = clearanceFromFhir(obs, ctx);
    expect(read.value).toBeUndefined();
    expect(read.issues.filter(isError).map((i) => i.expression)).toEqual([
      'Observation.valueCodeableConcept',
    ]);
  });

  test('result codings that disagree give no decision and an error', () => {
    const obs = base();
    const system = 'https://fhir.kap-bridge.org/CodeSystem/kap-clearance-result';
    obs.valueCodeableConcept = {
      coding: [
        { system, code: 'cleared' },
        { system, code: 'not-cleared' },
      ],
    };
    const read = clearanceFromFhir(obs, ctx);
    expect(read.value).toBeUndefined();
    expect(read.issues.filter(isError).map((i) => i.expression)).toEqual([
      'Observation.valueCodeableConcept',
    ]);
  });

  test('a corrected decision is read as corrected', () => {
    const read = clearanceFromFhir({ ...base(), status: 'corrected' }, ctx);
    expect(read.value?.status).toBe('corrected');
    expect(read.issues).toEqual([]);
  });

  test('a registered Observation is read as preliminary, with a warning', () => {
    const read = clearanceFromFhir({ ...base(), status: 'registered' }, ctx);
    expect(read.value?.status).toBe('preliminary');
    expect(read.issues[0]?.severity).toBe('warning');
  });

  test('no subject, no id: errors, no value, no throw', () => {
    const read = clearanceFromFhir({ resourceType: 'Observation' } as Observation, ctx);
    expect(read.value).toBeUndefined();
    expect(read.issues.filter(isError).map((i) => i.expression)).toEqual([
      'Observation.id',
      'Observation.subject',
      'Observation.valueCodeableConcept',
      'Observation.effectivePeriod.start',
      'Observation.status',
    ]);
  });

  test('an Observation coded otherwise still reads, with a warning on the code', () => {
    const obs = base();
    obs.code = { text: 'Clearance' };
    const read = clearanceFromFhir(obs, ctx);
    expect(read.value?.result).toBe('cleared');
    expect(read.issues).toEqual([
      expect.objectContaining({ severity: 'warning', expression: 'Observation.code' }),
    ]);
  });
});
