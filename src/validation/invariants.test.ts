import { chainRoot, contextReads, InvariantEngine, splitTopLevel } from './invariants.js';

describe('what an invariant reads from its context', () => {
  it.each([
    ['dataAbsentReason.empty() or value.empty()', ['dataAbsentReason', 'value']],
    [
      '(component.empty() and hasMember.empty()) implies (dataAbsentReason.exists() or value.exists())',
      ['component', 'hasMember', 'dataAbsentReason', 'value'],
    ],
    ["code.where(system = 'x y(').exists() or text", ['code', 'system', 'text']],
    ['start.hasValue().not() or end.hasValue().not() or (start <= end)', ['start', 'end']],
  ])('%s reads %j', (expression, names) => {
    expect(contextReads(expression)).toEqual(names);
  });

  it.each([
    'hasValue() or (children().count() > id.count())',
    '%resource.type = x',
    '$this.length() > 3',
    'iif(a, b, c)',
  ])('%s reads the context itself', (expression) => {
    expect(contextReads(expression)).toBeUndefined();
  });

  it('finds the root of a single path and splits at top-level operators only', () => {
    expect(
      chainRoot("contained.where(id.exists() and ('#'+id in %resource.descendants().reference)).empty()"),
    ).toBe('contained');
    expect(chainRoot('a.empty() or b.empty()')).toBeUndefined();
    expect(splitTopLevel("a or (b or c) or 'd or e'", 'or')).toEqual(['a', '(b or c)', "'d or e'"]);
  });
});

describe('InvariantEngine', () => {
  const engine = new InvariantEngine();
  const env = (r: unknown) => ({ resource: r, rootResource: r });
  const c = (expression: string) => ({ key: 't', severity: 'error' as const, human: 't', expression });

  it('gives the same answer with and without its shortcuts', () => {
    const cases: [string, string, unknown][] = [
      ['Observation', 'dataAbsentReason.empty() or value.empty()', { valueString: 'x' }],
      [
        'Observation',
        'dataAbsentReason.empty() or value.empty()',
        { valueString: 'x', dataAbsentReason: { text: 'x' } },
      ],
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
      ['Quantity', 'code.empty() or system.exists()', { code: 'mg' }],
      ['Quantity', 'code.empty() or system.exists()', { value: 1 }],
      [
        'Period',
        'start.hasValue().not() or end.hasValue().not() or (start <= end)',
        { start: '2024-02-01', end: '2024-01-01' },
      ],
      ['Period', 'start.hasValue().not() or end.hasValue().not() or (start <= end)', { end: '2024-01-01' }],
    ];
    const plain = new InvariantEngine();
    for (const [base, expression, node] of cases) {
      const resource = { resourceType: base, ...(node as object) };
      const expected = (
        plain as unknown as { evaluate: (r: unknown, n: unknown, e: unknown) => boolean }
      ).evaluate(
        (plain as unknown as { prepare: (c: unknown, b: string) => { run: unknown } }).prepare(
          c(expression),
          base,
        ).run,
        node,
        env(resource),
      );
      expect([expression, node, engine.holds(c(expression), base, node, env(resource))]).toEqual([
        expression,
        node,
        expected,
      ]);
    }
  });

  it('treats an empty result as failing, like the HL7 reference validator', () => {
    const period = { start: '2023-06-21', end: '2023-06-21T06:20:00Z' };
    expect(
      engine.holds(
        c('start.hasValue().not() or end.hasValue().not() or (start <= end)'),
        'Period',
        period,
        env(period),
      ),
    ).toBe(false);
  });
});

describe('fast paths', () => {
  const engine = new InvariantEngine();
  const per1 = {
    key: 'per-1',
    severity: 'error' as const,
    human: 'x',
    expression: 'start.hasValue().not() or end.hasValue().not() or (start <= end)',
  };
  it.each([
    [{ start: '2024-01-01', end: '2024-01-02' }, true],
    [{ start: '2024-01-02', end: '2024-01-01' }, false],
    [{ start: '2024-01-01T10:00:00Z', end: '2024-01-01T09:00:00Z' }, false],
    [{ start: '2024-01-01T10:00:00+02:00', end: '2024-01-01T09:00:00Z' }, true],
    [{ start: '2024-01-01T10:00:00-05:00', end: '2024-01-01T10:00:00+01:00' }, false],
    [{ start: '2023-06-21', end: '2023-06-21T06:20:00Z' }, false],
    [{ start: '2023-06-20', end: '2023-06-21T06:20:00Z' }, true],
  ])('per-1 on %j is %p', (period, expected) => {
    expect(engine.holds(per1, 'Period', period, { resource: {}, rootResource: {} })).toBe(expected);
  });
});
