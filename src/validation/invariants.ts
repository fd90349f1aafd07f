/**
 * FHIRPath invariants (ElementDefinition.constraint), evaluated with the `fhirpath` package and
 * its R4 model, each expression compiled once. An invariant holds only when it evaluates to
 * exactly `true`: an empty result fails, as in the HL7 reference validator. An expression that
 * cannot be compiled or evaluated gives a verdict of its own, never "holds".
 *
 * Speed, read from the parse tree: an expression that looks at its context only through some
 * child elements (`contained.meta.empty()`) has one result on every node that has none of them,
 * computed once. So has each top-level part of an `or` and the condition of an `implies`, which
 * then may settle the whole as holding without running it.
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

/** An expression, or part of one, ready to run. */
interface Part {
  run: Compiled;
  /** Child names it reads from its context; undefined when it reads the context itself. */
  reads?: string[];
  /** Its result on a node that has none of `reads`, once computed. */
  onEmpty?: unknown[];
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

/** Offsets in `text` of the operators of a left-associative chain of `type` at the top of `tree`. */
function topLevelOperators(tree: Node, type: string, text: string): { at: number; length: number }[] {
  const lineStarts = [0];
  for (let i = 0; i < text.length; i++) if (text[i] === '\n') lineStarts.push(i + 1);
  const found: { at: number; length: number }[] = [];
  let node: Node | undefined = tree;
  while (node?.type === 'EntireExpression') node = node.children?.[0];
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
  return reads ? { run, reads } : { run };
}

function prepare(base: string, expression: string): Prepared {
  const whole = compilePart(base, expression);
  const implied = topLevelParts(expression, 'implies');
  // `false implies x` is true; so is `true or x`.
  const [texts, settles] =
    implied.length === 2 ? [[implied[0] as string], false] : [topLevelParts(expression, 'or'), true];
  const settling =
    texts.length < 2 && settles ? [] : texts.map((t) => ({ ...compilePart(base, t), settles }));
  return { whole, settling: settling.filter((p) => p.reads) };
}

/**
 * Whether the node has any of the children, counting choice types (`value` -> `valueQuantity`)
 * and `_name`. A primitive has none: its extensions are its parent's `_name`.
 */
const hasAny = (node: unknown, names: readonly string[]): boolean => {
  if (node === null || typeof node !== 'object') return false;
  for (const key of Object.keys(node)) {
    const k = key.startsWith('_') ? key.slice(1) : key;
    for (const n of names) {
      if (k === n || (k.startsWith(n) && k.length > n.length && k.charCodeAt(n.length) < 91)) return true;
    }
  }
  return false;
};

const isTrue = (result: unknown[]): boolean => result.length === 1 && result[0] === true;

export class InvariantEngine {
  private readonly prepared = new Map<string, Prepared | { problem: string }>();

  /** Whether the invariant holds on `node`, an element of type or path `base`. */
  check(constraint: Constraint, base: string, node: unknown, env: InvariantEnv): Verdict {
    const p = this.prepare(constraint, base);
    if ('problem' in p) return p;
    try {
      for (const part of p.settling) {
        if (hasAny(node, part.reads as string[])) continue;
        part.onEmpty ??= part.run({}, {});
        if (part.onEmpty.length === 1 && part.onEmpty[0] === part.settles) return 'holds';
      }
      const { whole } = p;
      if (whole.reads && !hasAny(node, whole.reads)) {
        whole.onEmpty ??= whole.run({}, {});
        return isTrue(whole.onEmpty) ? 'holds' : 'fails';
      }
      const vars = { resource: env.resource, rootResource: env.rootResource };
      return isTrue(whole.run(node, vars)) ? 'holds' : 'fails';
    } catch (e) {
      return { problem: (e as Error).message };
    }
  }

  private prepare(constraint: Constraint, base: string): Prepared | { problem: string } {
    const key = `${base}\u0000${constraint.expression}`;
    let p = this.prepared.get(key);
    if (p === undefined) {
      try {
        p = prepare(base, constraint.expression);
      } catch (e) {
        p = { problem: (e as Error).message };
      }
      this.prepared.set(key, p);
    }
    return p;
  }
}
