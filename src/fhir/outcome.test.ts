import { issue, toOutcome } from './outcome.js';

test('an outcome without issues says so', () => {
  expect(toOutcome([]).issue[0]?.severity).toBe('information');
  expect(toOutcome([issue('error', 'required', 'x', 'Patient.name')]).issue[0]?.expression).toEqual([
    'Patient.name',
  ]);
});
