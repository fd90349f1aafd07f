/**
 * Layer (b): what the JSON schema misses, read from the StructureDefinitions. One walk over the
 * resource checks cardinality (required elements, choice types, max), fixed and pattern values,
 * required bindings to enumerable value sets, reference targets, FHIRPath invariants and the
 * JSON rules every element follows (no null, no empty object, array or string), for the base
 * definitions and, where the resource claims them, our profiles (including their slices).
 */

import { ID, RESOURCE_TYPE } from '../fhir/ids.js';
import { MAX_NESTING } from '../fhir/nesting.js';
import { type Issue, issue } from '../fhir/outcome.js';
import type { Constraint, Definitions, ElementDef } from './definitions.js';
import type { InvariantEngine, InvariantEnv } from './invariants.js';
import { type IndexedProfile, type Slicing, sliceOf } from './profiles.js';
import {
  article,
  bindingProblem,
  deepEqual,
  describeValue,
  matchesPattern,
  primitiveProblem,
} from './values.js';

type Json = Record<string, unknown>;

/** Where one profile stands during the walk: the element id its current node corresponds to. */
export interface Scope {
  p: IndexedProfile;
  id: string;
}

export interface WalkState {
  env: InvariantEnv;
  out: Issue[];
  /** Validates a resource found inside this one (contained, Bundle entry, Parameters). */
  nested: (resource: unknown, expression: string) => void;
  /** The resource type a reference points at, when the reference is local to a Bundle. */
  referenceType?: (reference: string) => string | undefined;
}

interface Child {
  def: ElementDef;
  /** `value[x]` for a choice, else the name: the last segment of element ids. */
  segment: string;
}

interface Context {
  byKey: Map<string, [Child, string]>;
  bySegment: Map<string, Child>;
  required: Child[];
  /** Whether the children present must be remembered: some are required or a choice. */
  tracked: boolean;
}

interface Present {
  key: string;
  type: string;
  items: unknown[];
  exts: unknown[];
  isArray: boolean;
}

/** An ElementDefinition of a profile that applies to an item, with the profile named for messages. */
interface Rule {
  def: ElementDef;
  from?: string;
}

/** Element levels walked; the validator measures JSON nesting against the same limit first. */
const MAX_DEPTH = MAX_NESTING;
/** Datatypes that specialise Quantity, for extension contexts on Quantity. */
const QUANTITIES = new Set(['Age', 'Count', 'Distance', 'Duration', 'MoneyQuantity', 'SimpleQuantity']);
const NO_RULES: Rule[] = [];
const NO_SCOPES: Scope[] = [];
const REFERENCE = new RegExp(`(?:^|/)(${RESOURCE_TYPE})/${ID}(?:/_history/${ID})?$`);
const upperFirst = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);
const isPrimitive = (type: string): boolean => type.charCodeAt(0) >= 97 || type === 'System';
const byProfile = (from?: string): string => (from ? ` (profile ${from})` : '');

export class ElementChecker {
  private readonly contexts = new Map<string, Context>();
  private readonly resourceTypes: Set<string>;
  private readonly typeProfileConstraints = new Map<string, Constraint[]>();

  constructor(
    private readonly defs: Definitions,
    private readonly invariants: InvariantEngine,
  ) {
    this.resourceTypes = new Set(defs.resourceTypes);
  }

  isResourceType(type: string): boolean {
    return this.resourceTypes.has(type);
  }

  /** Checks one resource; nested resources are handed to `state.nested`. */
  checkResource(resource: Json, expression: string, scopes: Scope[], state: WalkState): void {
    const type = String(resource.resourceType);
    const rules: Rule[] = [{ def: this.defs.elements[type] as ElementDef }];
    for (const s of scopes) {
      const root = s.p.byId.get(type);
      if (root) rules.push({ def: root, from: s.p.profile.name });
    }
    this.checkConstraints(resource, rules, expression, state);
    if (Array.isArray(resource.contained) && resource.contained.length > 0) {
      this.checkContainedReferenced(resource, resource.contained, expression, state.out);
    }
    if (resource.extension !== undefined || resource.modifierExtension !== undefined) {
      this.checkExtensionUse(resource, [type, 'Resource', 'DomainResource'], expression, state.out);
    }
    this.walk(resource, type, scopes, expression, 0, state);
  }

  /** HL7-registered extensions: used where their definition allows, with a value of an allowed type. */
  private checkExtensionUse(node: Json, names: string[], expr: string, out: Issue[]) {
    for (const key of ['extension', 'modifierExtension']) {
      const list = node[key];
      if (!Array.isArray(list)) continue;
      list.forEach((e: unknown, i) => {
        const url = (e as Json | null)?.url;
        const ext = typeof url === 'string' ? this.defs.extensions[url] : undefined;
        if (!ext || typeof url !== 'string') return;
        const at = `${expr}.${key}[${i}]`;
        const name = url.slice(url.lastIndexOf('/') + 1);
        // A warning: content that is valid for the reference tools (US Core's SearchParameters, the
        // R4 specification's own definitions) puts registry extensions outside their stated context.
        if (!ext.contexts.some((c) => c === 'Element' || names.includes(c))) {
          out.push(
            issue(
              'warning',
              'structure',
              `${at}: extension ${name} belongs on ${ext.contexts.join(' or ')}, not on ${names[0]}.`,
              at,
            ),
          );
        }
        const valueKey = Object.keys(e as Json).find((k) => k.startsWith('value'));
        if (!valueKey) return;
        const type = valueKey.slice(5).toLowerCase();
        if (!ext.valueTypes.some((t) => t.toLowerCase() === type)) {
          const allowed = ext.valueTypes.length
            ? `value${ext.valueTypes.map(upperFirst).join(' or value')}`
            : 'nested extensions, not a value';
          out.push(
            issue(
              'error',
              'structure',
              `${at}.${valueKey}: extension ${name} takes ${allowed}.`,
              `${at}.${valueKey}`,
            ),
          );
        }
      });
    }
  }

  /** dom-3: a contained resource is referenced from elsewhere in the resource, or refers to it ('#'). */
  private checkContainedReferenced(resource: Json, contained: unknown[], expr: string, out: Issue[]) {
    const local = new Set<string>();
    const collect = (v: unknown, depth: number): void => {
      if (depth > MAX_DEPTH) return;
      if (typeof v === 'string') {
        if (v.charCodeAt(0) === 35) local.add(v);
      } else if (Array.isArray(v)) {
        for (const x of v) collect(x, depth + 1);
      } else if (v !== null && typeof v === 'object') {
        for (const k in v) if (k !== 'div') collect((v as Json)[k], depth + 1);
      }
    };
    collect(resource, 0);
    contained.forEach((c, i) => {
      const id = (c as Json | null)?.id;
      if (typeof id === 'string' && local.has(`#${id}`)) return;
      if (JSON.stringify(c).includes('"#"')) return; // it refers to its container
      out.push(
        issue(
          'error',
          'invariant',
          `${expr}.contained[${i}] is not referenced from the rest of the resource (dom-3): refer to it as '#${String(id ?? 'its-id')}'.`,
          `${expr}.contained[${i}]`,
        ),
      );
    });
  }

  private context(path: string) {
    let ctx = this.contexts.get(path);
    if (!ctx) {
      const byKey = new Map<string, [Child, string]>();
      const bySegment = new Map<string, Child>();
      const required: Child[] = [];
      for (const childPath of this.defs.children[path] ?? []) {
        const def = this.defs.elements[childPath] as ElementDef;
        const child = { def, segment: def.choice ? `${def.name}[x]` : def.name };
        if (def.choice) for (const t of def.types) byKey.set(def.name + upperFirst(t), [child, t]);
        else byKey.set(def.name, [child, def.types[0] ?? 'Element']);
        bySegment.set(child.segment, child);
        if ((def.min ?? 0) > 0) required.push(child);
      }
      const tracked = required.length > 0 || [...bySegment.values()].some((c) => c.def.choice);
      ctx = { byKey, bySegment, required, tracked };
      this.contexts.set(path, ctx);
    }
    return ctx;
  }

  private walk(
    node: Json,
    ctxPath: string,
    scopes: Scope[],
    expr: string,
    depth: number,
    state: WalkState,
  ): void {
    if (depth > MAX_DEPTH) {
      state.out.push(
        issue(
          'error',
          'too-costly',
          `${expr} is nested more than ${MAX_DEPTH} levels deep; not checked further.`,
          expr,
        ),
      );
      return;
    }
    const ctx = this.context(ctxPath);
    if (scopes.length === 0) {
      this.walkPlain(node, ctx, expr, depth, state);
      return;
    }
    const groups = new Map<Child, Present[]>();
    for (const key in node) {
      const ext = key.charCodeAt(0) === 95;
      const name = ext ? key.slice(1) : key;
      if (ext && node[name] !== undefined) continue; // handled with its value
      const hit = ctx.byKey.get(name);
      if (!hit) continue; // unknown elements are the schema's to report
      const value = node[name];
      const extValue = ext ? node[key] : node[`_${name}`];
      const isArray = Array.isArray(value) || Array.isArray(extValue);
      const present: Present = {
        key: name,
        type: hit[1],
        items: value === undefined ? [] : Array.isArray(value) ? value : [value],
        exts: extValue === undefined ? [] : Array.isArray(extValue) ? extValue : [extValue],
        isArray,
      };
      const list = groups.get(hit[0]);
      if (list) list.push(present);
      else groups.set(hit[0], [present]);
    }
    for (const child of ctx.required) {
      if (!groups.has(child)) groups.set(child, []);
    }
    for (const s of scopes) {
      for (const def of s.p.kids.get(s.id) ?? []) {
        if ((def.min ?? 0) === 0) continue;
        const seg = def.path.slice(def.path.lastIndexOf('.') + 1);
        const child = ctx.bySegment.get(seg);
        if (child && !groups.has(child)) groups.set(child, []);
      }
    }
    for (const [child, present] of groups) this.checkChild(child, present, scopes, expr, depth, state);
  }

  /** The walk where no profile applies: the common case, kept free of per-item bookkeeping. */
  private walkPlain(node: Json, ctx: Context, expr: string, depth: number, state: WalkState): void {
    let seen: Child[] | undefined;
    for (const key in node) {
      const ext = key.charCodeAt(0) === 95;
      const name = ext ? key.slice(1) : key;
      if (ext && node[name] !== undefined) continue; // handled with its value
      const hit = ctx.byKey.get(name);
      if (!hit) continue; // unknown elements are the schema's to report
      const [child, type] = hit;
      const { def } = child;
      if (ctx.tracked) {
        seen ??= [];
        if (def.choice && seen.includes(child)) {
          const at = `${expr}.${child.segment}`;
          state.out.push(
            issue(
              'error',
              'structure',
              `${at} may hold only one value: keep one of its ${def.name}[x] elements.`,
              at,
            ),
          );
        }
        seen.push(child);
      }
      const value = node[name];
      const extValue = ext ? node[key] : node[`_${name}`];
      if (value === undefined && extValue === undefined) continue;
      if (Array.isArray(value) || Array.isArray(extValue)) {
        const items = Array.isArray(value) ? value : [];
        const exts = Array.isArray(extValue) ? extValue : [];
        const n = Math.max(items.length, exts.length);
        if (n === 0) {
          state.out.push(
            issue(
              'error',
              'structure',
              `${expr}.${name} is an empty list: leave the element out instead.`,
              `${expr}.${name}`,
            ),
          );
        }
        if (n > 1 && n > (def.max ?? Number.MAX_SAFE_INTEGER))
          this.checkCardinality(def, n, `${expr}.${name}`, undefined, state.out, def);
        for (let i = 0; i < n; i++) {
          this.checkItem(
            items[i],
            exts[i],
            def,
            type,
            `${expr}.${name}[${i}]`,
            NO_RULES,
            NO_SCOPES,
            depth,
            state,
          );
        }
      } else {
        this.checkItem(value, extValue, def, type, `${expr}.${name}`, NO_RULES, NO_SCOPES, depth, state);
      }
    }
    for (const child of ctx.required) {
      if (!seen?.includes(child))
        this.checkCardinality(child.def, 0, `${expr}.${child.segment}`, undefined, state.out, child.def);
    }
  }

  private checkChild(
    child: Child,
    present: Present[],
    scopes: Scope[],
    expr: string,
    depth: number,
    state: WalkState,
  ) {
    const { def } = child;
    const out = state.out;
    let count = 0;
    for (const p of present) {
      const n = Math.max(p.items.length, p.exts.length);
      count += n;
      if (p.isArray && n === 0) {
        out.push(
          issue(
            'error',
            'structure',
            `${expr}.${p.key} is an empty list: leave the element out instead.`,
            `${expr}.${p.key}`,
          ),
        );
      }
    }
    if (present.length > 1) {
      const at = `${expr}.${child.segment}`;
      const keys = present.map((p) => p.key).join(', ');
      out.push(issue('error', 'structure', `${at} may hold only one value, but has ${keys}: keep one.`, at));
    }
    const min = def.min ?? 0;
    if (count < min || (count > 1 && count > (def.max ?? Number.MAX_SAFE_INTEGER))) {
      this.checkCardinality(def, count, `${expr}.${child.segment}`, undefined, out, def);
    }
    if (scopes.length === 0) {
      for (const p of present) {
        const n = Math.max(p.items.length, p.exts.length);
        for (let i = 0; i < n; i++) {
          const itemExpr = p.isArray ? `${expr}.${p.key}[${i}]` : `${expr}.${p.key}`;
          this.checkItem(p.items[i], p.exts[i], def, p.type, itemExpr, NO_RULES, NO_SCOPES, depth, state);
        }
      }
      return;
    }
    this.checkChildInProfiles(child, present, count, scopes, expr, depth, state);
  }

  /** The same for an element some profile may constrain: its rules, slices and scopes per item. */
  private checkChildInProfiles(
    child: Child,
    present: Present[],
    count: number,
    scopes: Scope[],
    expr: string,
    depth: number,
    state: WalkState,
  ) {
    const { def } = child;
    const out = state.out;
    const at = `${expr}.${child.segment}`;
    const items = present.flatMap((p) =>
      Array.from({ length: Math.max(p.items.length, p.exts.length) }, (_, i) => ({
        p,
        value: p.items[i],
        ext: p.exts[i],
        expr: p.isArray ? `${expr}.${p.key}[${i}]` : `${expr}.${p.key}`,
        rules: [] as Rule[],
        scopes: [] as Scope[],
      })),
    );
    for (const s of scopes) {
      const from = s.p.profile.name;
      const id = `${s.id}.${child.segment}`;
      const rule = s.p.byId.get(id);
      if (rule) {
        this.checkCardinality(rule, count, at, from, out, def);
        if (rule.types.length > 0 && def.choice) {
          for (const p of present) {
            if (!rule.types.includes(p.type)) {
              const allowed = rule.types.map((t) => def.name + upperFirst(t)).join(' or ');
              out.push(
                issue(
                  'error',
                  'structure',
                  `${expr}.${p.key} is not allowed${byProfile(from)}: use ${allowed}.`,
                  `${expr}.${p.key}`,
                ),
              );
            }
          }
        }
      }
      const slicing = s.p.slicing.get(id);
      const values = items.map((it) => it.value ?? it.ext);
      const slices = slicing ? this.assignSlices(slicing, values, at, from, out) : undefined;
      items.forEach((it, i) => {
        const slice = slices?.[i];
        if (rule) it.rules.push({ def: rule, from });
        if (slice) it.rules.push({ def: slice.def, from });
        const typed = def.choice ? s.p.byId.get(`${s.id}.${it.p.key}`) : undefined;
        if (typed) it.rules.push({ def: typed, from });
        it.scopes.push({ p: s.p, id: slice ? slice.id : id });
      });
    }
    for (const it of items)
      this.checkItem(it.value, it.ext, def, it.p.type, it.expr, it.rules, it.scopes, depth, state);
  }

  private checkCardinality(
    rule: ElementDef,
    count: number,
    at: string,
    from: string | undefined,
    out: Issue[],
    base: ElementDef,
  ) {
    const min = rule.min ?? 0;
    const max = rule.max ?? Number.MAX_SAFE_INTEGER;
    const stricterMin = from === undefined || min > (base.min ?? 0);
    const stricterMax = from === undefined ? max > 1 : max < (base.max ?? Number.MAX_SAFE_INTEGER);
    if (count < min && stricterMin) {
      const what = base.choice
        ? ` (one of ${base.types.map((t) => base.name + upperFirst(t)).join(', ')})`
        : '';
      const need = count === 0 ? 'is required' : `needs at least ${min} items, has ${count}`;
      out.push(issue('error', 'required', `${at}${what} ${need}${byProfile(from)}.`, at));
    }
    // max 1 against a list is the JSON schema's finding already.
    if (count > max && stricterMax) {
      out.push(
        issue('error', 'structure', `${at} allows at most ${max}, has ${count}${byProfile(from)}.`, at),
      );
    }
  }

  private assignSlices(slicing: Slicing, items: unknown[], at: string, from: string, out: Issue[]) {
    const found = items.map((item) => sliceOf(slicing, item));
    if (found.some((f) => f === undefined)) return undefined; // a discriminator kind we do not read
    for (const slice of slicing.slices) {
      if (slice.expected.some((e) => e === undefined)) continue;
      const n = found.filter((f) => f === slice).length;
      const min = slice.def.min ?? 0;
      const max = slice.def.max ?? Number.MAX_SAFE_INTEGER;
      const what = slice.expected.map(describeValue).join(', ');
      if (n < min) {
        out.push(
          issue(
            'error',
            'required',
            `${at} needs ${min === 1 ? 'an item' : `${min} items`} for '${slice.def.sliceName}' (${what})${byProfile(from)}, found ${n}.`,
            at,
          ),
        );
      }
      if (n > max) {
        out.push(
          issue(
            'error',
            'structure',
            `${at} allows at most ${max} for '${slice.def.sliceName}' (${what})${byProfile(from)}, found ${n}.`,
            at,
          ),
        );
      }
    }
    if (slicing.rules === 'closed') {
      found.forEach((f, i) => {
        if (f === null)
          out.push(
            issue(
              'error',
              'structure',
              `${at}[${i}] matches none of the slices the profile allows${byProfile(from)}.`,
              `${at}[${i}]`,
            ),
          );
      });
    }
    return found.map((f) => f ?? undefined);
  }

  private checkItem(
    value: unknown,
    ext: unknown,
    def: ElementDef,
    type: string,
    expr: string,
    rules: Rule[],
    scopes: Scope[],
    depth: number,
    state: WalkState,
  ): void {
    const out = state.out;
    if (ext !== undefined && ext !== null) {
      if (typeof ext === 'object' && !Array.isArray(ext))
        this.checkComplex(ext as Json, 'Element', def, [], expr, depth, state);
    }
    if (value === null || value === undefined) {
      if (value === null && (ext === null || ext === undefined)) {
        out.push(issue('error', 'structure', `${expr} is null: leave the element out instead.`, expr));
      }
      return;
    }
    const all: Rule[] = rules.length === 0 ? [{ def }] : [{ def }, ...rules];
    if (isPrimitive(type)) {
      const problem = primitiveProblem(value, type);
      if (problem) out.push(issue('error', 'value', `${expr} ${problem}.`, expr));
    } else if (type === 'Resource' || this.resourceTypes.has(type)) {
      state.nested(value, expr);
      return;
    } else if (typeof value === 'object' && !Array.isArray(value)) {
      this.checkComplex(value as Json, type, def, scopes, expr, depth, state);
    } else {
      return; // the wrong JSON type: reported by the schema
    }
    for (const { def: rule, from } of all) {
      this.checkValue(value, type, rule, expr, from, out, from === undefined);
      if (from && rule.targetTypes && type === 'Reference')
        this.checkReference(value as Json, rule, expr, state, from);
    }
    this.checkConstraints(value, all, expr, state, type);
  }

  private checkComplex(
    value: Json,
    type: string,
    def: ElementDef,
    scopes: Scope[],
    expr: string,
    depth: number,
    state: WalkState,
  ) {
    const out = state.out;
    const keys = Object.keys(value);
    if (!keys.some((k) => k !== 'id')) {
      out.push(
        issue('error', 'structure', `${expr} is empty: an element needs a value or children (ele-1).`, expr),
      );
      return;
    }
    if (type === 'Extension') this.checkExtension(value, expr, out);
    if (type === 'Reference') this.checkReference(value, def, expr, state);
    const inline = this.defs.children[def.path] ? def.path : undefined;
    const ctxPath = def.contentReference ?? inline ?? type;
    if (value.extension !== undefined || value.modifierExtension !== undefined) {
      // What this element is, in the terms extension contexts use (type-space paths and type names).
      const names = [ctxPath, type, def.path, ...(type === 'Element' ? def.types : [])];
      if (inline) names.push('BackboneElement');
      if (QUANTITIES.has(type)) names.push('Quantity');
      this.checkExtensionUse(value, names, expr, out);
    }
    if (ctxPath === type) {
      const typeRoot = this.defs.elements[type];
      const rules: Rule[] = typeRoot ? [{ def: typeRoot }] : [];
      for (const url of def.typeProfiles ?? []) {
        rules.push({
          def: { ...(typeRoot as ElementDef), constraints: this.constraintsOfTypeProfile(url, type) },
        });
      }
      this.checkConstraints(value, rules, expr, state);
    }
    this.walk(value, ctxPath, scopes, expr, depth + 1, state);
  }

  private checkExtension(value: Json, expr: string, out: Issue[]) {
    const hasValue = Object.keys(value).some((k) => k.startsWith('value'));
    const hasExtensions = Array.isArray(value.extension) && value.extension.length > 0;
    if (hasValue === hasExtensions) {
      const what = hasValue ? 'both a value and nested extensions' : 'neither a value nor nested extensions';
      out.push(
        issue(
          'error',
          'invariant',
          `${expr} has ${what}: an extension has exactly one of the two (ext-1).`,
          expr,
        ),
      );
    }
    if (typeof value.url === 'string' && value.url.includes('|')) {
      out.push(
        issue(
          'error',
          'value',
          `${expr}.url '${value.url}' must not carry a version ('|...').`,
          `${expr}.url`,
        ),
      );
    }
  }

  private checkReference(value: Json, def: ElementDef, expr: string, state: WalkState, from?: string) {
    const ref = value.reference;
    if (typeof ref !== 'string') return;
    if (ref.startsWith('#')) {
      if (from) return; // checked once, for the base
      const contained = (state.env.rootResource as { contained?: { id?: unknown }[] }).contained;
      const ok = ref === '#' || (Array.isArray(contained) && contained.some((c) => c?.id === ref.slice(1)));
      if (!ok) {
        state.out.push(
          issue(
            'error',
            'invariant',
            `${expr}.reference '${ref}' points at no contained resource (ref-1).`,
            expr,
          ),
        );
      }
      return;
    }
    const targets = def.targetTypes?.map((t) => this.defs.profiles[t]?.type ?? t);
    if (!targets || targets.includes('Resource') || targets.some((t) => !this.resourceTypes.has(t))) return;
    const type = REFERENCE.exec(ref)?.[1] ?? state.referenceType?.(ref);
    if (type && this.resourceTypes.has(type) && !targets.includes(type)) {
      state.out.push(
        issue(
          'error',
          'structure',
          `${expr}.reference points at ${article(type)}, but only ${targets.join(', ')} may be referenced here${byProfile(from)}.`,
          expr,
        ),
      );
    }
  }

  private checkValue(
    value: unknown,
    type: string,
    rule: ElementDef,
    expr: string,
    from: string | undefined,
    out: Issue[],
    isBase: boolean,
  ) {
    if (rule.fixed !== undefined && !deepEqual(value, rule.fixed)) {
      out.push(
        issue(
          'error',
          'value',
          `${expr} must be exactly ${describeValue(rule.fixed)}${byProfile(from)}.`,
          expr,
        ),
      );
    }
    if (rule.pattern !== undefined && !matchesPattern(value, rule.pattern)) {
      out.push(
        issue(
          'error',
          'value',
          `${expr} must contain ${describeValue(rule.pattern)}${byProfile(from)}.`,
          expr,
        ),
      );
    }
    // The schema already holds the base's code enumerations.
    const checkBinding = rule.binding && !(isBase && type === 'code');
    if (checkBinding && (type === 'code' || type === 'Coding' || type === 'CodeableConcept')) {
      const codes = this.defs.valueSets[rule.binding as string];
      const problem = codes && bindingProblem(value, type, codes);
      if (problem) out.push(issue('error', 'code-invalid', `${expr}: ${problem}${byProfile(from)}.`, expr));
    }
    if (typeof value === 'number') {
      if (rule.minValue !== undefined && value < rule.minValue) {
        out.push(
          issue('error', 'value', `${expr} must be at least ${rule.minValue}${byProfile(from)}.`, expr),
        );
      }
      if (rule.maxValue !== undefined && value > rule.maxValue) {
        out.push(
          issue('error', 'value', `${expr} must be at most ${rule.maxValue}${byProfile(from)}.`, expr),
        );
      }
    }
  }

  /** Evaluates the invariants of the rules (base first), skipping a profile's copies of base ones. */
  private checkConstraints(node: unknown, rules: Rule[], expr: string, state: WalkState, type?: string) {
    const seen = rules.length > 1 ? new Set<string>() : undefined;
    for (const { def, from } of rules) {
      if (!def.constraints) continue;
      // FHIRPath needs the concrete type of a choice (`Observation.effectiveDateTime`) for `is` and `as`.
      const context = def.choice && type ? def.path.replace('[x]', upperFirst(type)) : def.path;
      for (const c of def.constraints) {
        if (seen?.has(c.key)) continue;
        seen?.add(c.key);
        const verdict = this.invariants.check(c, context, node, state.env);
        if (verdict === 'fails') {
          state.out.push(
            issue(c.severity, 'invariant', `${expr}: ${c.human} (${c.key})${byProfile(from)}.`, expr),
          );
        } else if (verdict !== 'holds') {
          // Not known to be broken, so not an error; but not known to hold either.
          const message = `${expr}: invariant ${c.key}${byProfile(from)} could not be checked: its FHIRPath failed (${verdict.problem}).`;
          state.out.push(issue('warning', 'exception', message, expr));
        }
      }
    }
  }

  private constraintsOfTypeProfile(url: string, type: string): Constraint[] {
    let list = this.typeProfileConstraints.get(url);
    if (!list) {
      const root = this.defs.profiles[url]?.elements.find((e) => e.path === type);
      const own = new Set((this.defs.elements[type]?.constraints ?? []).map((c) => c.key));
      list = (root?.constraints ?? []).filter((c) => !own.has(c.key));
      this.typeProfileConstraints.set(url, list);
    }
    return list;
  }
}
