import { ehrIdentifierValue, ehrIdForIdentifier, FHIR_ID, PATH_ID, practiceOfIdentifier } from './ids.js';

describe("the value of kap-bridge's identifier a practice's resource is sent with", () => {
  test('two practices choosing the same id are known to the EHR apart, and each value names its practice', () => {
    const a = ehrIdentifierValue('practice-a', 'consent-1');
    const b = ehrIdentifierValue('practice-b', 'consent-1');
    expect(a).not.toBe(b);
    expect([practiceOfIdentifier(a), practiceOfIdentifier(b)]).toEqual(['practice-a', 'practice-b']);
  });

  test('no value is another practice id and resource id pair, whatever the practice id holds', () => {
    // An id has no "/", so the last one parts practice and id however the practice is named.
    expect(ehrIdentifierValue('a/b', 'c')).not.toBe(ehrIdentifierValue('a', 'b.c'));
    expect(practiceOfIdentifier(ehrIdentifierValue('org/unit', 'x-1'))).toBe('org/unit');
    expect(PATH_ID.test(ehrIdentifierValue('p', 'x'))).toBe(false);
  });

  test('a bare id, sent before ids were per practice, names no practice', () => {
    expect(practiceOfIdentifier('consent-1')).toBeUndefined();
  });
});

test('a resource the EHR cannot search by identifier is PUT on an id made from the value: a FHIR id, stable, apart across practices', () => {
  const a = ehrIdForIdentifier(ehrIdentifierValue('practice-a', 'ae-1'));
  const b = ehrIdForIdentifier(ehrIdentifierValue('practice-b', 'ae-1'));
  expect([FHIR_ID.test(a), FHIR_ID.test(b)]).toEqual([true, true]);
  expect(a).not.toBe(b);
  expect(ehrIdForIdentifier(ehrIdentifierValue('practice-a', 'ae-1'))).toBe(a);
  // One sent before ids were per practice keeps the bare id it was created with.
  expect(ehrIdForIdentifier('ae-1')).toBe('ae-1');
});
