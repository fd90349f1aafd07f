/**
 * FHIRPath invariants (ElementDefinition.constraint), evaluated with the `fhirpath` package and
 * its R4 model, each expression compiled once. An invariant holds only when it evaluates to
 * exactly `true`: an empty result fails, as in the HL7 reference validator. An expression that
 * cannot be compiled or evaluated gives a verdict of its own, never "holds".
 *
 * Speed, read from the parse tree: an expression that looks at its context only through some
 * child elements (`code.empty() or system.exists()`) gives the same result on every node whose
 * children of those names are the same, so results are kept by those children; one that is a
 * path from a child (`contained.where(...).empty()`) gives one result wherever that child is
 * absent. So do the top-level parts of an `or` and the condition of an `implies`, which then may
 * settle the whole as holding without running it.
 */
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';
import type { Constraint } from './definitions.js';

export interface InvariantEnv {
  resource: unknown;
  rootResource: unknown;
}

/** `holds`, `fails`, or why the expression could not be evaluated. */
export type Verdict = 'holds' | 'fails' | { problem: string };

type Compiled = (node: unknown, env: Record<string, unknown>) => unknown[];
type Json = Record<string, unknown>;

/** An expression, or part of one, ready to run. */
interface Part {
  run: Compiled;
  /** Child names it reads from its context; undefined when it reads the context itself. */
  reads?: string[];
  /** Children without which its result is constant: `reads`, or the first step of its path. */
  without?: string[];
  /** Its results by what it reads of the node (see `projection`), a bounded number of them. */
  results: Map<string, unknown[]>;
}

interface Prepared {
  whole: Part;
  /** Parts whose result on a node without their reads may settle the whole as holding. */
  settling: (Part & { settles: unknown })[];
}

/** The parse tree of `fhirpath.parse`. */
interface Node {
  type: string;
  text?: string;
  start?: { line: number; column: number };
  length?: number;
  children?: Node[];
}

/** External constants that are fixed values, not the resource under validation. */
const CONSTANTS = new Set(['ucum', 'sct', 'loinc']);
const silent = { traceFn: () => {} };

/**
 * The child names an expression may read from its context: every member a path starts with.
 * Over-inclusive on purpose (members inside function arguments count too); undefined when the
 * expression also reads the context itself (`$this`, `%resource`, a function applied to it).
 */
export function contextReads(expression: string): string[] | undefined {
  const names = new Set<string>();
  const visit = (node: Node): boolean => {
    if (node.type === 'InvocationTerm') {
      const first = node.children?.[0];
      if (first?.type !== 'MemberInvocation') return false;
      names.add(String(first.text));
    } else if (node.type === 'ExternalConstantTerm') {
      return CONSTANTS.has(String(node.text));
    }
    return (node.children ?? []).every(visit);
  };
  return visit(fhirpath.parse(expression) as Node) ? [...names] : undefined;
}

/** Functions whose result on an empty input does not depend on their arguments. */
const EMPTY_IN_CONSTANT_OUT = new Set(
  'where select all exists empty count first last tail not ofType hasValue distinct isDistinct allTrue anyTrue allFalse anyFalse trace'.split(
    ' ',
  ),
);

const top = (tree: Node): Node | undefined => {
  let node: Node | undefined = tree;
  while (node?.type === 'EntireExpression') node = node.children?.[0];
  return node;
};

/**
 * For an expression that is one path from a child of its context through such functions, e.g.
 * `contained.where(id in %resource.x).empty()`, that child: where it is absent, the path is empty
 * from its first step on, whatever the arguments read, and the result is the same for every node.
 */
export function chainRoot(expression: string): string | undefined {
  let node = top(fhirpath.parse(expression) as Node);
  while (node?.type === 'InvocationExpression') {
    const step = node.children?.[1];
    const fits =
      step?.type === 'MemberInvocation' ||
      (step?.type === 'FunctionInvocation' && EMPTY_IN_CONSTANT_OUT.has(String(step.text)));
    if (!fits) return undefined;
    node = node.children?.[0];
  }
  const term = node?.type === 'TermExpression' ? node.children?.[0] : undefined;
  const first = term?.type === 'InvocationTerm' ? term.children?.[0] : undefined;
  return first?.type === 'MemberInvocation' ? String(first.text) : undefined;
}

/** Offsets in `text` of the operators of a left-associative chain of `type` at the top of `tree`. */
function topLevelOperators(tree: Node, type: string, text: string): { at: number; length: number }[] {
  const lineStarts = [0];
  for (let i = 0; i < text.length; i++) if (text[i] === '\n') lineStarts.push(i + 1);
  const found: { at: number; length: number }[] = [];
  let node = top(tree);
  while (node?.type === type && node.start && node.length) {
    found.unshift({
      at: (lineStarts[node.start.line - 1] ?? 0) + node.start.column - 1,
      length: node.length,
    });
    node = node.children?.[0];
  }
  return found;
}

/** The texts between the operators: `a or (b or c) or d` -> `a`, `(b or c)`, `d`. */
export function topLevelParts(expression: string, operator: 'or' | 'implies'): string[] {
  const type = operator === 'or' ? 'OrExpression' : 'ImpliesExpression';
  const ops = topLevelOperators(fhirpath.parse(expression) as Node, type, expression);
  let from = 0;
  const parts = ops.map(({ at, length }) => {
    const part = expression.slice(from, at).trim();
    from = at + length;
    return part;
  });
  return ops.length === 0 ? [expression] : [...parts, expression.slice(from).trim()];
}

function compilePart(base: string, expression: string): Part {
  const run = fhirpath.compile({ base, expression }, r4, silent) as Compiled;
  const reads = contextReads(expression);
  const root = chainRoot(expression);
  const without = reads ?? (root ? [root] : undefined);
  return { run, results: new Map(), ...(reads ? { reads } : {}), ...(without ? { without } : {}) };
}

function prepare(base: string, expression: string): Prepared {
  const whole = compilePart(base, expression);
  const implied = topLevelParts(expression, 'implies');
  // `false implies x` is true; so is `true or x`.
  const [texts, settles] =
    implied.length === 2 ? [[implied[0] as string], false] : [topLevelParts(expression, 'or'), true];
  const settling =
    texts.length < 2 && settles ? [] : texts.map((t) => ({ ...compilePart(base, t), settles }));
  return { whole, settling: settling.filter((p) => p.without) };
}

/** Whether a JSON key holds the child `name`: itself, its `_name`, or a choice (`valueQuantity` for `value`). */
const holds = (key: string, name: string): boolean => {
  const k = key.charCodeAt(0) === 95 ? key.slice(1) : key;
  return k === name || (k.startsWith(name) && k.length > name.length && k.charCodeAt(name.length) < 91);
};

/** Whether the node has any of the children. A primitive has none: its extensions are its parent's `_name`. */
function hasAny(node: unknown, names: readonly string[]): boolean {
  if (node === null || typeof node !== 'object') return false;
  for (const key in node) if (names.some((n) => holds(key, n))) return true;
  return false;
}

/** The node's children of those names as text: all a part that reads only them depends on. */
function projection(node: unknown, names: readonly string[]): string {
  if (node === null || typeof node !== 'object') return '';
  let text = '';
  for (const key in node) {
    if (names.some((n) => holds(key, n))) text += `${key}:${JSON.stringify((node as Json)[key])},`;
  }
  return text;
}

/** How many results each part keeps, and how long a projection may be to be kept by. */
const KEPT = 512;
const KEY_LENGTH = 2048;

/** The part's result on the node, from those kept when it reads only some children. */
function resultOf(part: Part, node: unknown, env: InvariantEnv): unknown[] {
  if (!part.reads) return part.run(node, { resource: env.resource, rootResource: env.rootResource });
  const key = projection(node, part.reads);
  return kept(part, key, () => part.run(key === '' ? {} : node, {}));
}

/** The part's result where none of the children it needs is present: the same for every such node. */
const resultWithout = (part: Part, env: InvariantEnv): unknown[] =>
  kept(part, '', () => part.run({}, { resource: env.resource, rootResource: env.rootResource }));

function kept(part: Part, key: string, run: () => unknown[]): unknown[] {
  let result = part.results.get(key);
  if (result === undefined) {
    result = run();
    if (key.length > KEY_LENGTH) return result;
    if (part.results.size >= KEPT) part.results.clear();
    part.results.set(key, result);
  }
  return result;
}

const verdict = (result: unknown[]): 'holds' | 'fails' =>
  result.length === 1 && result[0] === true ? 'holds' : 'fails';

export class InvariantEngine {
  /** Prepared expressions, by constraint and then by the type or path they apply to. */
  private readonly prepared = new WeakMap<Constraint, Map<string, Prepared | { problem: string }>>();

  /** Whether the invariant holds on `node`, an element of type or path `base`. */
  check(constraint: Constraint, base: string, node: unknown, env: InvariantEnv): Verdict {
    const p = this.prepare(constraint, base);
    if ('problem' in p) return p;
    try {
      for (const part of p.settling) {
        if (hasAny(node, part.without as string[])) continue;
        const result = resultWithout(part, env);
        if (result.length === 1 && result[0] === part.settles) return 'holds';
      }
      const { whole } = p;
      if (whole.without && !whole.reads && !hasAny(node, whole.without))
        return verdict(resultWithout(whole, env));
      return verdict(resultOf(whole, node, env));
    } catch (e) {
      return { problem: (e as Error).message };
    }
  }

  private prepare(constraint: Constraint, base: string): Prepared | { problem: string } {
    let byBase = this.prepared.get(constraint);
    if (!byBase) {
      byBase = new Map();
      this.prepared.set(constraint, byBase);
    }
    let p = byBase.get(base);
    if (p === undefined) {
      try {
        p = prepare(base, constraint.expression);
      } catch (e) {
        p = { problem: (e as Error).message };
      }
      byBase.set(base, p);
    }
    return p;
  }
}
