import { conceptOf, dateTimeOf, fieldsOf, listOf, referenceOf, shellOf, textOf } from './received.js';

test.each<[string, unknown, unknown]>([
  ['an object', { a: 1 }, { a: 1 }],
  ['null', null, undefined],
  ['a list', [{ a: 1 }], undefined],
  ['a string', 'x', undefined],
])('fieldsOf: %s', (_case, value, expected) => {
  expect(fieldsOf(value)).toEqual(expected);
});

test.each<[string, unknown, string | undefined]>([
  ['a string', 'F20', 'F20'],
  ['blank', '  ', undefined],
  ['a number', 20, undefined],
  ['null', null, undefined],
])('textOf: %s', (_case, value, expected) => {
  expect(textOf(value)).toBe(expected);
});

test.each<[string, unknown, unknown[]]>([
  ['objects kept, the rest dropped', [{ a: 1 }, null, 'x', [2], { b: 2 }], [{ a: 1 }, { b: 2 }]],
  ['one object as a list of one', { a: 1 }, [{ a: 1 }]],
  ['nothing', undefined, []],
  ['a string', 'abc', []],
])('listOf: %s', (_case, value, expected) => {
  expect(listOf(value)).toEqual(expected);
});

test.each<[string, unknown, string | undefined]>([
  ['a date', '2026-12-03', '2026-12-03'],
  ['a year', '2026', '2026'],
  ['an instant with offset', '2026-12-03T10:00:00+01:00', '2026-12-03T10:00:00+01:00'],
  ['a time without offset', '2026-12-03T10:00:00', undefined],
  ['words', 'yesterday', undefined],
  ['a number', 20261203, undefined],
])('dateTimeOf: %s', (_case, value, expected) => {
  expect(dateTimeOf(value)).toBe(expected);
});

test.each<[string, unknown, unknown]>([
  [
    'well formed',
    { coding: [{ system: 's', code: 'c', display: 'd' }], text: 't' },
    { coding: [{ system: 's', code: 'c', display: 'd' }], text: 't' },
  ],
  [
    'odd codings dropped, odd fields left out',
    { coding: [null, { system: 1, code: 'c' }, { system: 's' }, 'x'], text: 4 },
    { coding: [{ code: 'c' }] },
  ],
  ['text only', { text: 't' }, { text: 't' }],
  ['nothing usable', { coding: [{ system: 's' }] }, undefined],
  ['a string', 'c', undefined],
])('conceptOf: %s', (_case, value, expected) => {
  expect(conceptOf(value)).toEqual(expected);
});

test.each<[string, unknown, unknown]>([
  ['a reference', { reference: 'Patient/p', display: 'P' }, { reference: 'Patient/p' }],
  ['a bare string', 'Patient/p', undefined],
  ['a reference of the wrong type', { reference: 7 }, undefined],
])('referenceOf: %s', (_case, value, expected) => {
  expect(referenceOf(value)).toEqual(expected);
});

test.each<[string, unknown, unknown]>([
  [
    'a resource',
    {
      id: 'c-1',
      meta: { versionId: '2' },
      identifier: [{ system: 's', value: 'v' }, { value: 'w' }, { system: 's' }],
    },
    {
      resourceType: 'Condition',
      id: 'c-1',
      meta: { versionId: '2' },
      identifier: [{ system: 's', value: 'v' }, { value: 'w' }],
    },
  ],
  [
    'one identifier, not a list (R4 AdverseEvent)',
    { identifier: { value: 'v' } },
    { resourceType: 'Condition', identifier: [{ value: 'v' }] },
  ],
  ['odd fields', { id: 5, meta: [], identifier: 'x' }, { resourceType: 'Condition', identifier: [] }],
  ['null', null, { resourceType: 'Condition', identifier: [] }],
])('shellOf: %s', (_case, value, expected) => {
  expect(shellOf(value, 'Condition')).toEqual(expected);
});
