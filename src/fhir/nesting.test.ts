import { MAX_NESTING, nestedDeeperThan } from './nesting.js';

const deep = (levels: number): unknown => {
  let value: unknown = 'x';
  for (let i = 0; i < levels; i++) value = i % 2 ? { a: value } : [value];
  return value;
};

test('counts objects and arrays, the outermost included; scalars are no level', () => {
  expect(nestedDeeperThan('x', 0)).toBe(false);
  expect(nestedDeeperThan({}, 0)).toBe(true);
  expect(nestedDeeperThan({ a: [1, { b: null }] }, 3)).toBe(false);
  expect(nestedDeeperThan({ a: [1, { b: {} }] }, 3)).toBe(true);
});

test(`takes ${MAX_NESTING} levels and refuses one more`, () => {
  expect(nestedDeeperThan(deep(MAX_NESTING))).toBe(false);
  expect(nestedDeeperThan(deep(MAX_NESTING + 1))).toBe(true);
});

test('measures any depth without overflowing the stack', () => {
  expect(nestedDeeperThan(deep(1_000_000))).toBe(true);
});
