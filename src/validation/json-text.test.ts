import { lineAndColumn, parseJson, syntaxErrorOffset } from './json-text.js';

describe('parseJson', () => {
  it('parses JSON, with or without a byte order mark', () => {
    expect(parseJson('\uFEFF{"a":1}')).toEqual({ ok: true, value: { a: 1 } });
  });

  it.each([
    ['{\n  "a": 1,\n  "b": ]\n}', 'line 3, column 8'],
    ['{"a": [1, 2}', 'line 1, column 12'],
    ['{"a": tru}', 'line 1, column 7'],
    ['{"a": 1} x', 'line 1, column 10'],
  ])('reports %j with its position', (text, where) => {
    const parsed = parseJson(text);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok)
      expect(parsed.issue).toMatchObject({
        severity: 'fatal',
        code: 'structure',
        message: expect.stringContaining(where),
      });
  });

  it('reports empty input', () => {
    expect(parseJson('  ')).toMatchObject({ ok: false, issue: { message: expect.stringMatching(/empty/) } });
  });

  it('locates errors itself and counts lines and columns from 1', () => {
    expect(syntaxErrorOffset('[1, 2,]')).toBe(6);
    expect(lineAndColumn('ab\ncd', 4)).toEqual({ line: 2, column: 2 });
  });
});
