/**
 * Profiles as the element walker uses them: each differential indexed by element id, slicing
 * resolved to the slices an item can belong to, and the chain of parent profiles flattened.
 */
import type { Definitions, Discriminator, ElementDef, Profile } from './definitions.js';
import { matchesPattern } from './values.js';

export interface Slice {
  def: ElementDef;
  /** Id-space path of the slice, e.g. `Observation.component:total`. */
  id: string;
  /** Per discriminator, the value an item must match; undefined when it cannot be known. */
  expected: (unknown | undefined)[];
}

export interface Slicing {
  discriminator: Discriminator[];
  rules: string;
  slices: Slice[];
}

export interface IndexedProfile {
  profile: Profile;
  byId: Map<string, ElementDef>;
  slicing: Map<string, Slicing>;
  /** Constrained elements by the id of their parent (slices themselves are under `slicing`). */
  kids: Map<string, ElementDef[]>;
}

const idOf = (e: ElementDef): string => e.id ?? e.path;

export function indexProfile(profile: Profile): IndexedProfile {
  const byId = new Map<string, ElementDef>();
  const kids = new Map<string, ElementDef[]>();
  for (const e of profile.elements) {
    const id = idOf(e);
    byId.set(id, e);
    const parent = id.slice(0, id.lastIndexOf('.'));
    if (parent && !e.sliceName) kids.set(parent, [...(kids.get(parent) ?? []), e]);
  }
  const slicing = new Map<string, Slicing>();
  for (const e of profile.elements) {
    if (!e.slicing) continue;
    const id = idOf(e);
    const slices = profile.elements
      .filter((s) => s.sliceName && idOf(s) === `${id}:${s.sliceName}`)
      .map((s) => {
        const sid = idOf(s);
        const expected = e.slicing?.discriminator.map((d) => expectedValue(byId, s, sid, d));
        return { def: s, id: sid, expected: expected ?? [] };
      });
    slicing.set(id, { discriminator: e.slicing.discriminator, rules: e.slicing.rules, slices });
  }
  return { profile, byId, slicing, kids };
}

function expectedValue(byId: Map<string, ElementDef>, slice: ElementDef, sid: string, d: Discriminator) {
  if (d.type !== 'value' && d.type !== 'pattern') return undefined;
  const at = d.path === '$this' ? slice : byId.get(`${sid}.${d.path}`);
  const value = at?.fixed ?? at?.pattern;
  if (value !== undefined) return value;
  // Extension slices name their extension by its profile rather than a fixed url.
  if (d.path === 'url') return slice.typeProfiles?.[0];
  return undefined;
}

/** Reads a discriminator path (`code`, `code.coding.system`, `$this`) from an item. */
function valuesAt(item: unknown, path: string): unknown[] {
  if (path === '$this') return [item];
  let current: unknown[] = [item];
  for (const seg of path.split('.')) {
    current = current.flatMap((v) => {
      if (v === null || typeof v !== 'object') return [];
      const next = (v as Record<string, unknown>)[seg];
      return next === undefined ? [] : Array.isArray(next) ? next : [next];
    });
  }
  return current;
}

/** The slice an item belongs to, `null` when none, `undefined` when the slicing is not understood. */
export function sliceOf(slicing: Slicing, item: unknown): Slice | null | undefined {
  if (slicing.discriminator.some((d) => d.type !== 'value' && d.type !== 'pattern')) return undefined;
  for (const slice of slicing.slices) {
    const all = slicing.discriminator.every((d, i) => {
      const want = slice.expected[i];
      return want !== undefined && valuesAt(item, d.path).some((v) => matchesPattern(v, want));
    });
    if (all) return slice;
  }
  return null;
}

/** A profile and the profiles it derives from, most general first. */
export function profileChain(defs: Definitions, url: string): Profile[] | undefined {
  const chain: Profile[] = [];
  for (let p = defs.profiles[url]; p; p = p.parent ? defs.profiles[p.parent] : undefined) {
    if (chain.includes(p)) break;
    chain.unshift(p);
  }
  return chain.length > 0 ? chain : undefined;
}
