/**
 * The project's own fixtures through all three layers: every valid fixture validates without
 * errors, and every invalid one gets (at least) the errors its `.expected.json` names.
 */
import { invalidFixtures, validFixtures } from '../../test/support/fixtures.js';
import { createValidator } from './validator.js';

const validator = createValidator();
const errorsOf = (resource: unknown) =>
  validator.validate(resource).filter((f) => f.severity === 'error' || f.severity === 'fatal');

describe('project fixtures', () => {
  it.each(validFixtures().map((f) => [f.name, f] as const))('%s is valid', (_, f) => {
    expect(errorsOf(f.resource).map((e) => `${e.expression}: ${e.message}`)).toEqual([]);
  });

  it.each(invalidFixtures().map((f) => [f.name, f] as const))('%s gets its expected errors', (_, f) => {
    const found = errorsOf(f.resource).map((e) => ({ severity: e.severity, expression: e.expression }));
    expect(found).toEqual(expect.arrayContaining(f.expected));
  });
});
