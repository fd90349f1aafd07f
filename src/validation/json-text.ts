/**
 * Raw JSON in, a value or one `fatal` issue out, with the line and column of a syntax error.
 */
import { type Issue, issue } from '../fhir/outcome.js';

export type Parsed = { ok: true; value: unknown } | { ok: false; issue: Issue };

/** Line and column (1-based) of a character offset. */
export function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let start = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    start = i + 1;
  }
  return { line, column: offset - start + 1 };
}

export function parseJson(text: string): Parsed {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  if (body.trim() === '')
    return { ok: false, issue: issue('fatal', 'structure', 'The input is empty: expected a JSON resource.') };
  try {
    return { ok: true, value: JSON.parse(body) };
  } catch (e) {
    const message = (e as Error).message;
    const position = Number(/position (\d+)/.exec(message)?.[1] ?? syntaxErrorOffset(body));
    const where = Number.isNaN(position)
      ? ''
      : (({ line, column }) => ` at line ${line}, column ${column}`)(lineAndColumn(body, position));
    const reason = message
      .replace(/ in JSON at position \d+.*$/s, '')
      .replace(/, (\.\.\.)?".*$/s, '')
      .replace(/^Unexpected/, 'unexpected');
    return {
      ok: false,
      issue: issue('fatal', 'structure', `The input is not valid JSON${where}: ${reason}.`),
    };
  }
}

/**
 * Where JSON text first breaks the grammar, for the messages in which V8 gives no position.
 * Only ever called on text JSON.parse rejected.
 */
export function syntaxErrorOffset(text: string): number {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text.charAt(i))) i++;
  };
  const fail = (): never => {
    throw i;
  };
  const literal = (word: string) => {
    if (!text.startsWith(word, i)) fail();
    i += word.length;
  };
  const string = () => {
    i++;
    while (i < text.length && text[i] !== '"') {
      if (text.charCodeAt(i) < 32) fail();
      i += text[i] === '\\' ? 2 : 1;
    }
    if (i >= text.length) fail();
    i++;
  };
  const value = (): void => {
    ws();
    const c = text.charAt(i);
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') return void i++;
      for (;;) {
        ws();
        if (text[i] !== '"') fail();
        string();
        ws();
        if (text[i] !== ':') fail();
        i++;
        value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') return void i++;
        else fail();
      }
    } else if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') return void i++;
      for (;;) {
        value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') return void i++;
        else fail();
      }
    } else if (c === '"') string();
    else if (c === 't') literal('true');
    else if (c === 'f') literal('false');
    else if (c === 'n') literal('null');
    else {
      const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
      if (!m) fail();
      i += (m as RegExpExecArray)[0].length;
    }
  };
  try {
    value();
    ws();
    return i < text.length ? i : Number.NaN;
  } catch (at) {
    return typeof at === 'number' ? at : Number.NaN;
  }
}
