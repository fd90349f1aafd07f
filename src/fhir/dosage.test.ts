import { doseFromText, doseInMg, ROUTES, routeFromConcept, routeFromText, routeToConcept } from './dosage.js';

test.each([
  ['100 mg sublingual', { value: 100, unit: 'mg' }, 'sublingual'],
  ['Ketamine 150mg SL once per session', { value: 150, unit: 'mg' }, 'sublingual'],
  ['0.5 g by mouth', { value: 0.5, unit: 'g' }, 'oral'],
  ['50 mg IM', { value: 50, unit: 'mg' }, 'intramuscular'],
  ['intranasal 60 mg', { value: 60, unit: 'mg' }, 'intranasal'],
  ['35 mg IV over 40 minutes', { value: 35, unit: 'mg' }, 'intravenous'],
  ['100 mg or 150 mg sublingual', undefined, 'sublingual'],
  ['two troches under the tongue', undefined, 'sublingual'],
  ['100 mg sublingual or IM', { value: 100, unit: 'mg' }, undefined],
  ['take as directed', undefined, undefined],
  ['slowly in the session', undefined, undefined],
])('"%s" -> dose %j, route %s', (text, dose, route) => {
  expect(doseFromText(text)).toEqual(dose);
  expect(routeFromText(text)).toBe(route);
});

test('every route round-trips through its SNOMED concept', () => {
  for (const route of ROUTES) expect(routeFromConcept(routeToConcept(route))).toBe(route);
});

test('an uncoded route is read from its text; an unknown SNOMED code is not a route', () => {
  expect(routeFromConcept({ text: 'Sublingual' })).toBe('sublingual');
  expect(
    routeFromConcept({ coding: [{ system: 'http://snomed.info/sct', code: '54471007' }] }),
  ).toBeUndefined();
});

test('doses in mass units convert to mg; other units do not', () => {
  expect(doseInMg({ value: 0.2, unit: 'g' })).toBe(200);
  expect(doseInMg({ value: 150, unit: 'mg' })).toBe(150);
  expect(doseInMg({ value: 2, unit: 'troche' })).toBeUndefined();
});
