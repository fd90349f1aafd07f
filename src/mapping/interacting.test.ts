import { interactingClass } from './interacting.js';

test.each([
  ['an RxNorm ingredient code of the ValueSet', { rxnorm: '6470', text: 'Ativan' }, 'benzodiazepine'],
  ['an ingredient name the class lists', { text: 'Phenelzine 15 mg tablet' }, 'maoi'],
  ['a psychostimulant by name', { text: 'methylphenidate ER 36 mg' }, 'psychostimulant'],
  ['a medicine in no class', { rxnorm: '36437', text: 'sertraline 50 mg' }, undefined],
  ['a name only inside another word', { text: 'diazepamine' }, undefined],
])('%s', (_, medication, expected) => {
  expect(interactingClass(medication)).toBe(expected);
});
