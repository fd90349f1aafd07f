import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import type { ClinicalImpression } from 'fhir/r4';
import { readsAnyJson } from '../../test/support/any-json.js';
import { fixture } from '../../test/support/fixtures.js';
import type { PrescriberReview } from '../domain/model.js';
import { readConformance } from '../fhir/conformance.js';
import { isError } from '../fhir/outcome.js';
import { identityContext as ctx } from '../fhir/reference-context.js';
import { validateResource } from '../validation/validator.js';
import { isSafetyReview, reviewFromFhir, reviewToFhir } from './review.js';

const KAP = 'https://fhir.kap-bridge.org/CodeSystem/kap-observation';
// biome-ignore lint/suspicious/noExplicitAny: tests change resources field by field, as a sender would
type Json = Record<string, any>;
const sent = (changes: Json = {}): ClinicalImpression => ({
  ...fixture<ClinicalImpression>('prescriber/safety-review.fhir.json'),
  ...changes,
});
const without = (r: Json, key: string) => {
  const { [key]: _, ...rest } = r;
  return rest as ClinicalImpression;
};

test('the safety-review code is defined in the kap-observation CodeSystem', () => {
  const codeSystem = readConformance('CodeSystem-').find((c) => c.url === KAP) as {
    concept: { code: string }[];
    count: number;
  };
  expect(codeSystem.concept.map((c) => c.code)).toContain('safety-review');
  expect(codeSystem.count).toBe(codeSystem.concept.length);
});

test("the fixture reads as the prescriber's review", () => {
  const read = reviewFromFhir(sent(), ctx);
  expect(read.issues).toEqual([]);
  expect(read.value).toEqual({
    id: 'ci-lindqvist-review-2026-03',
    patientId: '48213',
    reviewedAt: '2026-03-04T16:20:00-05:00',
    prescriber: 'Practitioner/pr-okafor',
    note: expect.stringContaining('Fit to continue.'),
    source: 'ClinicalImpression/ci-lindqvist-review-2026-03/_history/1',
  });
});

test("the README's example is a valid review that reads", () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const block = [...readme.matchAll(/```json\n([\s\S]*?)```/g)].find((m) =>
    m[1]!.includes('kap-safety-review'),
  );
  const example = JSON.parse(block![1]!) as ClinicalImpression;
  expect(validateResource(example).filter(isError)).toEqual([]);
  expect(reviewFromFhir(example, ctx)).toEqual({
    value: expect.objectContaining({ patientId: '48213' }),
    issues: [],
  });
});

describe('reviewToFhir', () => {
  const review: PrescriberReview = {
    id: 'rev-1',
    patientId: 'p-1',
    reviewedAt: '2026-12-01T10:00:00Z',
    prescriber: 'Practitioner/pr-1',
    note: 'Reviewed the C-SSRS; fit to continue.',
  };

  test('writes a ClinicalImpression our profile accepts', () => {
    const written = reviewToFhir(review, ctx);
    expect(written).toMatchObject({
      id: 'rev-1',
      meta: { profile: ['https://fhir.kap-bridge.org/StructureDefinition/kap-safety-review'] },
      identifier: [{ system: 'https://fhir.kap-bridge.org/identifier/ClinicalImpression', value: 'rev-1' }],
      status: 'completed',
      code: { coding: [{ system: KAP, code: 'safety-review' }] },
      subject: { reference: 'Patient/p-1' },
      effectiveDateTime: '2026-12-01T10:00:00Z',
      assessor: { reference: 'Practitioner/pr-1' },
      summary: review.note,
    });
    expect(validateResource(written).filter(isError)).toEqual([]);
    expect(isSafetyReview(written)).toBe(true);
  });

  test('domain -> FHIR -> domain is the identity for any review', () => {
    const id = fc.stringMatching(/^[a-z0-9-]{1,20}$/);
    const reviews = fc.record(
      {
        id,
        patientId: id,
        reviewedAt: fc
          .date({ min: new Date('2020-01-01'), max: new Date('2030-01-01'), noInvalidDate: true })
          .map((d) => d.toISOString()),
        prescriber: id.map((p) => `Practitioner/${p}`),
        note: fc.string({ minLength: 1 }).filter((s) => s.trim() !== ''),
      },
      { requiredKeys: ['id', 'patientId', 'reviewedAt'] },
    );
    fc.assert(
      fc.property(reviews, (r) => {
        expect(reviewFromFhir(reviewToFhir(r, ctx), ctx).value).toEqual({
          ...r,
          source: `ClinicalImpression/${r.id}`,
        });
      }),
    );
  });

  test('a review written without a prescriber is refused by the profile', () => {
    const { prescriber: _, ...anonymous } = review;
    const errors = validateResource(reviewToFhir(anonymous, ctx)).filter(isError);
    expect(errors.map((e) => e.expression)).toEqual(['ClinicalImpression.assessor']);
  });
});

describe('isSafetyReview', () => {
  test.each<[string, unknown, boolean]>([
    ['our code', { code: { coding: [{ system: KAP, code: 'safety-review' }] } }, true],
    [
      'our code among others',
      {
        code: {
          coding: [
            { system: 'urn:ehr', code: 'x' },
            { system: KAP, code: 'safety-review' },
          ],
        },
      },
      true,
    ],
    ['another KAP code', { code: { coding: [{ system: KAP, code: 'clearance-decision' }] } }, false],
    [
      'the code in another system',
      { code: { coding: [{ system: 'urn:ehr', code: 'safety-review' }] } },
      false,
    ],
    ['text only', { code: { text: 'safety review' } }, false],
    ['no code', {}, false],
    ['null', null, false],
  ])('%s', (_case, resource, expected) => {
    expect(isSafetyReview(resource as ClinicalImpression)).toBe(expected);
  });
});

describe('only a completed review is a review', () => {
  test.each<[string, Json, 'value' | 'warning' | 'error', string | undefined]>([
    ['completed', {}, 'value', undefined],
    ['in-progress', { status: 'in-progress' }, 'warning', 'ClinicalImpression.status'],
    ['entered-in-error', { status: 'entered-in-error' }, 'warning', 'ClinicalImpression.status'],
    ['an unknown status', { status: 'done' }, 'error', 'ClinicalImpression.status'],
    ['no status', { status: undefined }, 'error', 'ClinicalImpression.status'],
    ['a status of the wrong type', { status: ['completed'] }, 'error', 'ClinicalImpression.status'],
  ])('%s', (_case, changes, outcome, expression) => {
    const read = reviewFromFhir(sent(changes), ctx);
    expect(read.value === undefined).toBe(outcome !== 'value');
    expect(read.issues.map((i) => `${i.severity} ${i.expression}`)).toEqual(
      expression === undefined ? [] : [`${outcome} ${expression}`],
    );
  });
});

describe('when it was reviewed', () => {
  test.each<[string, Json, string]>([
    ['effectiveDateTime', {}, '2026-03-04T16:20:00-05:00'],
    [
      'effectivePeriod.start',
      { effectiveDateTime: undefined, effectivePeriod: { start: '2026-03-04T16:00:00-05:00' } },
      '2026-03-04T16:00:00-05:00',
    ],
    ['date when there is no effective time', { effectiveDateTime: undefined }, '2026-03-04T16:25:00-05:00'],
    [
      'date when the effective time is no date',
      { effectiveDateTime: 'yesterday' },
      '2026-03-04T16:25:00-05:00',
    ],
  ])('%s', (_case, changes, reviewedAt) => {
    expect(reviewFromFhir(sent(changes), ctx).value?.reviewedAt).toBe(reviewedAt);
  });
});

describe('what cannot be read has no value and an error at the element', () => {
  test.each<[string, unknown, string]>([
    [
      'not coded as a safety review',
      sent({ code: { coding: [{ system: 'urn:ehr', code: 'assessment' }] } }),
      'ClinicalImpression.code',
    ],
    ['no code', without(sent(), 'code'), 'ClinicalImpression.code'],
    ['no time', sent({ effectiveDateTime: undefined, date: undefined }), 'ClinicalImpression.effective[x]'],
    [
      'times of the wrong type',
      sent({ effectiveDateTime: 5, date: { at: 'now' } }),
      'ClinicalImpression.effective[x]',
    ],
    ['no subject', without(sent(), 'subject'), 'ClinicalImpression.subject'],
    [
      'a subject that is not a Patient',
      sent({ subject: { reference: 'Group/g' } }),
      'ClinicalImpression.subject',
    ],
    ['no id', without(without(sent(), 'id'), 'identifier'), 'ClinicalImpression.id'],
    ['another resource type', { resourceType: 'Observation' }, 'resourceType'],
    ['null', null, 'resourceType'],
    ['an array', [], 'resourceType'],
  ])('%s', (_case, resource, expression) => {
    const read = reviewFromFhir(resource as ClinicalImpression, ctx);
    expect(read.value).toBeUndefined();
    expect(read.issues.filter(isError).map((i) => i.expression)).toContain(expression);
  });

  test('no assessor: read, with a warning', () => {
    const read = reviewFromFhir(without(sent(), 'assessor'), ctx);
    expect(read.value?.prescriber).toBeUndefined();
    expect(read.issues).toEqual([
      expect.objectContaining({ severity: 'warning', expression: 'ClinicalImpression.assessor' }),
    ]);
  });

  test('the note falls back to note[].text, and odd parts are dropped', () => {
    const read = reviewFromFhir(
      sent({
        summary: null,
        note: [{ text: 'first' }, null, { text: 3 }, { text: 'second' }],
        meta: 'x',
        assessor: 'Practitioner/x',
      }),
      ctx,
    );
    expect(read.value).toMatchObject({
      note: 'first\nsecond',
      source: 'ClinicalImpression/ci-lindqvist-review-2026-03',
    });
    expect(read.value?.prescriber).toBeUndefined();
  });
});

test('any JSON at all gives a Read, never a thrown error', () => {
  readsAnyJson(
    (r: ClinicalImpression) => reviewFromFhir(r, ctx),
    ['ClinicalImpression', 'Patient', null],
    [
      'status',
      'code',
      'subject',
      'effectiveDateTime',
      'effectivePeriod',
      'date',
      'assessor',
      'summary',
      'note',
    ],
    {
      status: fc.constantFrom('completed', 'in-progress'),
      code: fc.constant({ coding: [{ system: KAP, code: 'safety-review' }] }),
      subject: fc.constant({ reference: 'Patient/p' }),
    },
    (read) => {
      if (read.value !== undefined) expect(read.issues.some(isError)).toBe(false);
    },
  );
});
