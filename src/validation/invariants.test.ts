import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';
import { chainRoot, contextReads, InvariantEngine, topLevelParts } from './invariants.js';

describe('what an invariant reads from its context, from its parse tree', () => {
  it.each([
    ['dataAbsentReason.empty() or value.empty()', ['dataAbsentReason', 'value']],
    [
      '(component.empty() and hasMember.empty()) implies (dataAbsentReason.exists() or value.exists())',
      ['component', 'hasMember', 'dataAbsentReason', 'value'],
    ],
    ["code.where(system = 'x y(').exists() or text", ['code', 'system', 'text']],
    ['start.hasValue().not() or end.hasValue().not() or (start <= end)', ['start', 'end']],
    [
      "code = %ucum or value.ofType(Quantity).exists() or 'implies or' = text",
      ['code', 'value', 'Quantity', 'text'],
    ],
  ])('%s reads %j', (expression, names) => {
    expect(contextReads(expression)).toEqual(names);
  });

  it.each([
    'hasValue() or (children().count() > id.count())',
    '%resource.type = x',
    '$this.length() > 3',
    'iif(a, b, c)',
    'a.where($this = 1).exists()',
  ])('%s reads the context itself', (expression) => {
    expect(contextReads(expression)).toBeUndefined();
  });

  it('finds the child a path starts from, through functions whose result on nothing is constant', () => {
    expect(chainRoot('component.code.where(coding.intersect(%resource.code.coding).exists()).empty()')).toBe(
      'component',
    );
    expect(chainRoot('contained.meta')).toBe('contained');
    expect(chainRoot('a.combine(%resource.b).empty()')).toBeUndefined();
    expect(chainRoot('a.empty() or b.empty()')).toBeUndefined();
    expect(chainRoot('%resource.a.empty()')).toBeUndefined();
  });

  it('splits at top-level operators only, as the parser sees them', () => {
    expect(topLevelParts("a or (b or c) or 'd or e'", 'or')).toEqual(['a', '(b or c)', "'d or e'"]);
    expect(topLevelParts('(a or b)\n  implies\n c.exists()', 'implies')).toEqual(['(a or b)', 'c.exists()']);
    expect(topLevelParts('a and b', 'or')).toEqual(['a and b']);
  });
});

describe('InvariantEngine', () => {
  const engine = new InvariantEngine();
  const env = (r: unknown) => ({ resource: r, rootResource: r });
  const c = (expression: string) => ({ key: 't', severity: 'error' as const, human: 't', expression });
  const PER_1 = 'start.hasValue().not() or end.hasValue().not() or (start <= end)';
  const OBS_7 =
    'value.empty() or component.code.where(coding.intersect(%resource.code.coding).exists()).empty()';

  it.each([
    ['Observation', 'dataAbsentReason.empty() or value.empty()', { valueString: 'x' }],
    ['Observation', 'dataAbsentReason.empty() or value.empty()', { valueString: 'x', dataAbsentReason: {} }],
    [
      'Observation',
      '(component.empty() and hasMember.empty()) implies (dataAbsentReason.exists() or value.exists())',
      { dataAbsentReason: { text: 'x' } },
    ],
    [
      'Observation',
      '(component.empty() and hasMember.empty()) implies (dataAbsentReason.exists() or value.exists())',
      { status: 'final' },
    ],
    [
      'Observation',
      '(component.empty() and hasMember.empty()) implies (dataAbsentReason.exists() or value.exists())',
      { component: [{ code: { text: 'x' } }] },
    ],
    ['Quantity', 'code.empty() or system.exists()', { code: 'mg' }],
    ['Quantity', 'code.empty() or system.exists()', { value: 1 }],
    ['Patient', 'contained.contained.empty()', { id: 'x' }],
    ['Patient', 'contained.contained.empty()', { contained: [{ resourceType: 'Patient', contained: [{}] }] }],
    ['Period', PER_1, { start: '2024-02-01', end: '2024-01-01' }],
    ['Period', PER_1, { start: '2024-01-01T10:00:00+02:00', end: '2024-01-01T09:00:00Z' }],
    ['Period', PER_1, { start: '2023-06-20', end: '2023-06-21T06:20:00Z' }],
    ['Period', PER_1, { end: '2024-01-01' }],
    ['Observation', OBS_7, { valueString: 'x' }],
    ['Observation', OBS_7, { valueString: 'x', component: [{ code: { coding: [{ code: 'a' }] } }] }],
    [
      'Observation',
      OBS_7,
      {
        valueString: 'x',
        code: { coding: [{ code: 'a' }] },
        component: [{ code: { coding: [{ code: 'a' }] } }],
      },
    ],
    [
      'Patient',
      'contained.where(id in %resource.link.other.reference).empty()',
      { link: [{ other: { reference: 'x' } }] },
    ],
  ])('on %s, %s gives the answer of evaluating it whole on %j', (base, expression, node) => {
    const resource = { resourceType: base, ...node };
    const result = fhirpath.evaluate(node, { base, expression }, env(resource), r4) as unknown[];
    const expected = result.length === 1 && result[0] === true ? 'holds' : 'fails';
    expect(engine.check(c(expression), base, node, env(resource))).toBe(expected);
  });

  it('treats an empty result as failing, like the HL7 reference validator', () => {
    const period = { start: '2023-06-21', end: '2023-06-21T06:20:00Z' };
    expect(engine.check(c(PER_1), 'Period', period, env(period))).toBe('fails');
  });

  it.each([
    ['cannot be parsed', 'name.given or', {}, /mismatched input/],
    ['is not implemented', 'name.exists() implies name.resolve().exists()', { name: [{}] }, /resolve/],
    [
      'meets a list where it needs one item',
      "name.given.startsWith('A')",
      { name: [{ given: ['A', 'B'] }] },
      /singleton/,
    ],
  ])('gives the reason when an expression %s, never "holds"', (_, expression, node, reason) => {
    const verdict = engine.check(c(expression), 'Patient', node, env(node));
    expect(verdict).toEqual({ problem: expect.stringMatching(reason) });
  });
});
