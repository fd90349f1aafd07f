/**
 * Bad input never throws: whatever arrives gives issues, within bounded time.
 */
import fc from 'fast-check';
import { MAX_NESTING } from '../fhir/nesting.js';
import { createValidator, type Finding, type Validator } from './validator.js';

let validator: Validator;
beforeAll(() => {
  validator = createValidator();
});

const isFindingList = (r: Finding[]) =>
  Array.isArray(r) && r.every((f) => typeof f.message === 'string' && typeof f.severity === 'string');
const limits = { numRuns: 1000, interruptAfterTimeLimit: 10_000 };

const TYPES = [
  'Patient',
  'Observation',
  'MedicationRequest',
  'Bundle',
  'Encounter',
  'Consent',
  'Parameters',
  'Nope',
];
/** JSON shaped like FHIR: real resource types and element names with arbitrary values. */
const fhirish = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.jsonValue(),
    tie('object'),
    fc.array(tie('value'), { maxLength: 3 }),
  ),
  object: fc.dictionary(
    fc.constantFrom(
      'id',
      'status',
      'code',
      'valueQuantity',
      'extension',
      'url',
      'entry',
      'resource',
      'coding',
      'contained',
      '_birthDate',
      'period',
      'start',
      'reference',
      'resourceType',
      'name',
      'given',
    ),
    tie('value'),
    { maxKeys: 5 },
  ),
}));

describe('fuzzing', () => {
  it('never throws on arbitrary JSON text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (text) => isFindingList(validator.validateJsonText(text))),
      limits,
    );
  });

  it('never throws on arbitrary JSON values', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => isFindingList(validator.validate(value))),
      limits,
    );
  });

  it('never throws on FHIR-shaped resources with wrong values', () => {
    fc.assert(
      fc.property(fc.constantFrom(...TYPES), fhirish.object, (resourceType, body) =>
        isFindingList(validator.validate({ ...(body as object), resourceType })),
      ),
      limits,
    );
  });

  it('never throws on Bundles of broken entries', () => {
    fc.assert(
      fc.property(
        fc.array(fhirish.value, { maxLength: 4 }),
        fc.constantFrom('transaction', 'searchset', 'document', 7),
        (entry, type) => isFindingList(validator.validate({ resourceType: 'Bundle', type, entry })),
      ),
      limits,
    );
  });

  it('reports deep nesting instead of overflowing the stack', () => {
    let ext: Record<string, unknown> = { url: 'https://x.example/e', valueString: 'x' };
    for (let i = 0; i < 20_000; i++) ext = { url: 'https://x.example/e', extension: [ext] };
    const findings = validator.validate({ resourceType: 'Patient', extension: [ext] });
    expect(findings.some((f) => f.severity === 'error')).toBe(true);
    let text = '1';
    for (let i = 0; i < 100_000; i++) text = `[${text}]`;
    expect(isFindingList(validator.validateJsonText(`{"resourceType":"Patient","name":${text}}`))).toBe(true);
  });

  /** `levels` objects and arrays within each other, as an extension chain or bare. */
  const deep = (levels: number, extensions: boolean): unknown => {
    let value: unknown = extensions ? { url: 'https://x.example/e', valueString: 'x' } : 'x';
    for (let i = 0; i < levels; i++)
      value =
        i % 2 ? (extensions ? { url: 'https://x.example/e', extension: value } : { a: value }) : [value];
    return value;
  };
  const tooCostly = (findings: Finding[]) =>
    findings.some((f) => f.code === 'too-costly' && f.severity === 'error');

  it('reports nesting beyond the limit, wherever and however deep, without walking it', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...TYPES),
        fhirish.object,
        fc.constantFrom('extension', 'modifierExtension', 'contained', 'code', 'valueQuantity', 'x'),
        fc.integer({ min: 1, max: 20_000 }),
        fc.boolean(),
        (resourceType, body, key, levels, extensions) => {
          const findings = validator.validate({
            ...(body as object),
            resourceType,
            [key]: deep(levels, extensions),
          });
          return isFindingList(findings) && (levels < MAX_NESTING || tooCostly(findings));
        },
      ),
      { numRuns: 300, interruptAfterTimeLimit: 10_000 },
    );
  });

  it('reports a transaction entry nested deep under a urn:uuid fullUrl, at any depth', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20_000 }), (levels) => {
        const findings = validator.validate({
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [
            {
              fullUrl: 'urn:uuid:6f1f4a4e-8a3c-4a51-9d0e-0c5b3e8f2a10',
              resource: {
                resourceType: 'Observation',
                status: 'final',
                code: { text: 'x' },
                extension: deep(levels, true),
              },
              request: { method: 'POST', url: 'Observation' },
            },
          ],
        });
        return isFindingList(findings) && (levels + 4 <= MAX_NESTING || tooCostly(findings));
      }),
      { numRuns: 100, interruptAfterTimeLimit: 10_000 },
    );
  });

  it('reports huge strings and arrays where objects belong', () => {
    const huge = 'x'.repeat(2 * 1024 * 1024);
    const findings = validator.validate({
      resourceType: 'Patient',
      name: [{ family: huge }],
      maritalStatus: [{ text: 'x' }],
    });
    expect(findings.map((f) => f.expression).sort()).toEqual([
      'Patient.maritalStatus',
      'Patient.name[0].family',
    ]);
  });
});
