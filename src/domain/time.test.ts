import { dayOf, spanOf } from './time.js';

test.each([
  ['an instant with its offset', '2026-12-03T10:00:00-08:00', Date.parse('2026-12-03T18:00:00Z'), 1],
  ['a day in the zone', '2026-12-03', Date.parse('2026-12-03T08:00:00Z'), 86_400_000],
])('%s is a span', (_, value, start, width) => {
  const span = spanOf(value, 'America/Los_Angeles')!;
  expect([span.start, span.end - span.start]).toEqual([start, width]);
});

test.each(['2026-02-30T10:00:00Z', '2026-13-01T10:00:00Z', '2026-02-30', '2026-12-03T10:00', 'yesterday'])(
  '%s is no date or instant',
  (value) => expect(spanOf(value, 'UTC')).toBeUndefined(),
);

test("the day an instant falls on is the zone's", () => {
  expect(dayOf(Date.parse('2026-12-03T05:00:00Z'), 'America/Los_Angeles')).toBe('2026-12-02');
  expect(dayOf(Date.parse('2026-12-02T23:30:00Z'), 'Europe/Berlin')).toBe('2026-12-03');
});

test('a leap second (:60, which FHIR allows) is the next minute', () => {
  expect(spanOf('2026-12-31T23:59:60Z', 'UTC')).toEqual(spanOf('2027-01-01T00:00:00Z', 'UTC'));
  expect(spanOf('2026-12-01T10:00:60.5+01:00', 'UTC')?.start).toBe(Date.parse('2026-12-01T09:01:00.5Z'));
});

test.each([
  ['America/Santiago', '2026-09-06', '2026-09-06T04:00:00Z'],
  ['America/Havana', '2026-03-08', '2026-03-08T05:00:00Z'],
  ['Europe/Berlin', '2026-03-29', '2026-03-28T23:00:00Z'],
  ['America/Los_Angeles', '2026-11-01', '2026-11-01T07:00:00Z'],
])('in %s, %s begins at %s (where the clocks skip midnight, at the skip)', (zone, day, start) => {
  expect(spanOf(day, zone)?.start).toBe(Date.parse(start));
  expect(dayOf(Date.parse(start), zone)).toBe(day);
  expect(dayOf(Date.parse(start) - 1, zone)).not.toBe(day);
});
