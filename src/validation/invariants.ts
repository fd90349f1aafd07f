/**
 * FHIRPath invariants (ElementDefinition.constraint), evaluated with the `fhirpath` package and
 * its R4 model. An invariant holds only when it evaluates to exactly `true`: an empty result
 * fails, as in the HL7 reference validator.
 *
 * Speed: most invariants only read a few child elements of their context. When none of those is
 * present, the result is the same as on an empty element, computed once per invariant and reused.
 */
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';
import type { Constraint } from './definitions.js';

export interface InvariantEnv {
  resource: unknown;
  rootResource: unknown;
}

type Compiled = (node: unknown, env: Record<string, unknown>) => unknown[];

interface Prepared {
  run: Compiled;
  /** Child names whose absence makes the result constant; undefined when there are none. */
  reads?: string[];
  onEmpty?: boolean;
  shortcuts: Shortcut[];
}

const KEYWORDS = new Set([
  'and',
  'or',
  'xor',
  'implies',
  'is',
  'as',
  'in',
  'contains',
  'div',
  'mod',
  'true',
  'false',
]);
const silent = { traceFn: () => {} };

/**
 * The identifiers an expression may read from its context: every name not preceded by `.`.
 * Over-inclusive on purpose (names inside function arguments count too); `undefined` when the
 * expression also reads the context itself (`$this`, `%resource`, a function call on it, ...).
 */
export function contextReads(expression: string): string[] | undefined {
  const code = expression.replace(/'(?:[^'\\]|\\.)*'/g, "''").replace(/`[^`]*`/g, 'x');
  if (/\$this|\$index|\$total|%(?!ucum\b|sct\b|loinc\b)/.test(code)) return undefined;
  const names = new Set<string>();
  for (const m of code.matchAll(/(?<![.\w$%])[A-Za-z_]\w*/g)) {
    const name = m[0];
    if (KEYWORDS.has(name)) continue;
    if (/^\s*\(/.test(code.slice(m.index + name.length))) return undefined; // a function applied to the context itself, e.g. hasValue() or iif(...)
    names.add(name);
  }
  return [...names];
}

const CHAIN_FUNCTIONS =
  'where|select|all|exists|empty|trace|not|first|last|count|distinct|isDistinct|ofType|hasValue|allTrue|anyTrue';
const CHAIN = new RegExp(`^([A-Za-z_]\\w*)(?:\\.(?:(?:${CHAIN_FUNCTIONS})\\(\\)|[A-Za-z_]\\w*))*$`);

/**
 * For an expression that is one path from a child of its context, e.g. `contained.where(...).empty()`,
 * that child: when it is absent, the path is empty from its first step, the functions along it do
 * not look at their arguments, and the result is the same for every such node.
 */
export function chainRoot(expression: string): string | undefined {
  let code = expression.replace(/'(?:[^'\\]|\\.)*'/g, "''").replace(/\s+/g, '');
  // Innermost argument lists first, each replaced by a marker that has no parentheses: `@`.
  for (let prev = ''; prev !== code; ) {
    prev = code;
    code = code.replace(/\([^()]*\)/g, '@');
  }
  const root = CHAIN.exec(code.replace(/@/g, '()'))?.[1];
  return root && !KEYWORDS.has(root) ? root : undefined;
}

const hasAny = (node: unknown, names: readonly string[]): boolean => {
  if (node === null || typeof node !== 'object') return true;
  for (const key of Object.keys(node)) {
    const k = key.startsWith('_') ? key.slice(1) : key;
    for (const n of names) {
      if (k === n || (k.startsWith(n) && k.length > n.length && k.charCodeAt(n.length) < 91)) return true;
    }
  }
  return false;
};

/** Splits at a top-level operator (outside parentheses and strings): `a or (b or c)` -> [a, (b or c)]. */
export function splitTopLevel(expression: string, operator: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  let quoted = false;
  const word = ` ${operator} `;
  for (let i = 0; i < expression.length; i++) {
    const c = expression[i];
    if (c === "'" && expression[i - 1] !== '\\') quoted = !quoted;
    else if (quoted) continue;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (depth === 0 && expression.startsWith(word, i)) {
      parts.push(expression.slice(start, i).trim());
      start = i + word.length;
      i += word.length - 1;
    }
  }
  parts.push(expression.slice(start).trim());
  return parts;
}

/**
 * Parts of an invariant that can settle it as holding without running it all:
 * - a disjunct of an `or` that only tests a child's presence (`code.empty()`, `system.exists()`);
 * - a disjunct (or the antecedent of an `implies`) that is a path from a child, when that child is
 *   absent: its value is then constant (computed once) and may settle the whole.
 */
interface Shortcut {
  root: string;
  /** `x.empty()` / `x.exists()`: settled by the presence of `root` alone. */
  presence?: 'empty' | 'exists';
  run?: Compiled;
  /** The part's value when its root is absent settles the invariant as holding. */
  settles?: boolean;
}

const PRESENCE = /^([A-Za-z_]\w*)\.(empty|exists)\(\)$/;

function shortcutsOf(expression: string, base: string): Shortcut[] {
  const implied = splitTopLevel(expression, 'implies');
  const isImplies = implied.length === 2;
  const parts = isImplies ? [implied[0] as string] : splitTopLevel(expression, 'or');
  if (!isImplies && parts.length < 2) return [];
  const want = !isImplies;
  return parts.flatMap((part): Shortcut[] => {
    const presence = PRESENCE.exec(part);
    if (presence && !isImplies && !KEYWORDS.has(presence[1] as string)) {
      return [{ root: presence[1] as string, presence: presence[2] as 'empty' | 'exists' }];
    }
    const root = chainRoot(part);
    if (!root) return [];
    const compiled = fhirpath.compile({ base, expression: part }, r4, silent) as Compiled;
    const run: Compiled = (node, env) => {
      const r = compiled(node, env);
      return [r.length === 1 && r[0] === want];
    };
    return [{ root, run }];
  });
}

/** The type suffixes of R4 choice elements (`value[x]` -> valueQuantity, ...). */
const CHOICE_TYPES = new Set(
  (
    'Base64Binary Boolean Canonical Code Date DateTime Decimal Id Instant Integer Markdown Oid PositiveInt String ' +
    'Time UnsignedInt Uri Url Uuid Address Age Annotation Attachment CodeableConcept Coding ContactPoint Count ' +
    'Distance Duration HumanName Identifier Money Period Quantity Range Ratio Reference SampledData Signature Timing ' +
    'ContactDetail Contributor DataRequirement Expression ParameterDefinition RelatedArtifact TriggerDefinition ' +
    'UsageContext Dosage Meta'
  ).split(' '),
);

const has = (v: unknown): boolean => v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0);

/** Whether a child is there in the FHIRPath sense (a value or a primitive's extensions), exactly. */
function present(node: unknown, name: string): boolean {
  if (node === null || typeof node !== 'object') return false;
  const o = node as Record<string, unknown>;
  if (has(o[name]) || has(o[`_${name}`])) return true;
  for (const key in o) {
    const k = key.charCodeAt(0) === 95 ? key.slice(1) : key;
    if (k.length > name.length && k.startsWith(name) && CHOICE_TYPES.has(k.slice(name.length)) && has(o[key]))
      return true;
  }
  return false;
}

const TIME_ZONE = /(Z|[+-]\d\d:\d\d)$/;

/**
 * Exact answers in code for the commonest invariants in cases FHIRPath is not needed for;
 * `undefined` falls back to FHIRPath. per-1 (Period start <= end): two dates or dateTimes of the
 * same length and time zone compare as strings.
 */
const FAST_PATHS: Record<string, (node: unknown) => boolean | undefined> = {
  'start.hasValue().not() or end.hasValue().not() or (start <= end)': (node) => {
    const { start, end } = node as { start?: unknown; end?: unknown };
    if (typeof start !== 'string' || typeof end !== 'string' || start.length !== end.length) return undefined;
    if (TIME_ZONE.exec(start)?.[0] !== TIME_ZONE.exec(end)?.[0] || start.includes('T') !== end.includes('T'))
      return undefined;
    return start <= end;
  },
};

export class InvariantEngine {
  private readonly prepared = new Map<string, Prepared | null>();

  /** True when the invariant holds; a broken expression counts as holding (reported once). */
  holds(constraint: Constraint, base: string, node: unknown, env: InvariantEnv): boolean {
    const fast = FAST_PATHS[constraint.expression]?.(node);
    if (fast !== undefined) return fast;
    const p = this.prepare(constraint, base);
    if (!p) return true;
    if (p.reads && !hasAny(node, p.reads)) {
      p.onEmpty ??= this.evaluate(p.run, {}, env);
      return p.onEmpty;
    }
    for (const s of p.shortcuts) {
      const there = present(node, s.root);
      if (s.presence) {
        if (there === (s.presence === 'exists')) return true;
      } else if (!there && s.run) {
        s.settles ??= this.evaluate(s.run, {}, env);
        if (s.settles) return true;
      }
    }
    return this.evaluate(p.run, node, env);
  }

  private evaluate(run: Compiled, node: unknown, env: InvariantEnv): boolean {
    try {
      const result = run(node, { resource: env.resource, rootResource: env.rootResource });
      return result.length === 1 && result[0] === true;
    } catch {
      return true;
    }
  }

  private prepare(constraint: Constraint, base: string): Prepared | null {
    const key = `${base}\u0000${constraint.expression}`;
    let p = this.prepared.get(key);
    if (p === undefined) {
      try {
        const run = fhirpath.compile({ base, expression: constraint.expression }, r4, silent) as Compiled;
        const root = chainRoot(constraint.expression);
        const reads = root ? [root] : contextReads(constraint.expression);
        const shortcuts = shortcutsOf(constraint.expression, base);
        p = reads ? { run, reads, shortcuts } : { run, shortcuts };
      } catch {
        p = null; // an expression fhirpath.js cannot parse: skipped rather than reported as the user's fault
      }
      this.prepared.set(key, p);
    }
    return p;
  }
}
