import { backoffMs, ehrRefFrom } from './worker.js';

describe('backoff with full jitter', () => {
  test('the ceiling doubles per attempt up to the maximum, and the wait is below it', () => {
    expect([1, 2, 3, 4, 10].map((a) => backoffMs(a, 100, 1000, () => 0.999999))).toEqual([
      99, 199, 399, 799, 999,
    ]);
    expect(backoffMs(3, 100, 1000, () => 0)).toBe(0);
  });
  test('random waits spread over [0, ceiling)', () => {
    const waits = Array.from({ length: 200 }, () => backoffMs(5, 10, 10_000));
    expect(Math.max(...waits)).toBeLessThan(160);
    expect(new Set(waits).size).toBeGreaterThan(20);
  });
});

describe('where the EHR kept a change', () => {
  test('from the location, relative or absolute', () => {
    expect(ehrRefFrom({ status: '201 Created', location: 'Observation/12/_history/1' })).toBe(
      'Observation/12/_history/1',
    );
    expect(ehrRefFrom({ status: '200 OK', location: 'http://ehr/fhir/Consent/a-b/_history/3' })).toBe(
      'Consent/a-b/_history/3',
    );
  });
  test('from the etag or the resource when there is no location', () => {
    expect(ehrRefFrom({ status: '200 OK', etag: 'W/"4"' }, { resourceType: 'Goal', id: 'g1' } as never)).toBe(
      'Goal/g1/_history/4',
    );
    expect(ehrRefFrom(undefined, { resourceType: 'Goal', id: 'g1', meta: { versionId: '2' } } as never)).toBe(
      'Goal/g1/_history/2',
    );
    expect(ehrRefFrom({ status: '200 OK' })).toBeUndefined();
  });
});
