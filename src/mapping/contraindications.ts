/**
 * The KAP contraindication ValueSet (profiles/ValueSet-kap-contraindications.json) as a lookup:
 * which group, if any, a code falls in. The ValueSet is read from its expansion: one abstract
 * entry per group (a code of kap-contraindication-category), the group's codes nested under it
 * (an entry may also name its group in the `kap-contraindication-group` extension). Matching is by system and code, with two widenings that only ever find more:
 * - ICD-10-CM is hierarchical by its code's text, so an entry matches itself and every code under
 *   it (`F20` matches `F20`, `F20.0`, `F20.89`; `F31.1` matches `F31.13`), with or without the dot;
 * - a system sent as its OID (`urn:oid:2.16.840.1.113883.6.96`) is the system it stands for.
 * SNOMED CT codes match exactly: without a terminology server there is no subsumption, so the
 * ValueSet lists the descendants it means.
 */
import type { CodeableConcept } from 'fhir/r4';
import { CANONICAL_BASE, codeSystemUrl, SYSTEM, SYSTEM_BY_OID, valueSetUrl } from '../fhir/codes.js';
import { readConformance } from '../fhir/conformance.js';
import { conceptOf, fieldsOf, listOf, textOf } from './received.js';

export const CONTRAINDICATIONS_URL = valueSetUrl('kap-contraindications');
export const GROUP_EXTENSION = `${CANONICAL_BASE}/StructureDefinition/kap-contraindication-group`;

/** The groups of the ValueSet: the codes of the kap-contraindication-category CodeSystem. */
export const CONTRAINDICATION_GROUPS = [
  'psychosis',
  'mania-bipolar-i',
  'pregnancy',
  'lactation',
  'aneurysm',
  'avm',
  'intracranial-haemorrhage',
  'hypertension-uncontrolled',
  'ketamine-hypersensitivity',
] as const;

export const KETAMINE_HYPERSENSITIVITY = 'ketamine-hypersensitivity';

const CATEGORY_SYSTEM = codeSystemUrl('kap-contraindication-category');

interface Entry {
  system: string;
  code: string;
  group: string;
}

/** A system as its URL, whether sent as the URL or as an OID. */
const canonicalSystem = (system: string): string => SYSTEM_BY_OID[system] ?? system;

/** ICD-10-CM codes compared without the dot and in capitals: `f20.0` and `F200` are `F20.0`. */
const icdKey = (code: string): string => code.replace('.', '').trim().toUpperCase();

const matches = (entry: Entry, system: string, code: string): boolean => {
  if (entry.system !== system) return false;
  if (system === SYSTEM.icd10cm) return icdKey(code).startsWith(icdKey(entry.code));
  return entry.code === code.trim();
};

/**
 * The entries of a ValueSet's expansion, nested `contains` included (a nested entry without a
 * group of its own takes its parent's). Throws when the ValueSet is not one this code can use: that
 * is a broken deployment, to be found at start, never a contraindication silently missed.
 */
export function contraindicationEntries(valueSet: unknown): Entry[] {
  const fields = fieldsOf(valueSet);
  if (fields?.resourceType !== 'ValueSet' || fields.url !== CONTRAINDICATIONS_URL) {
    throw new Error(`Not the KAP contraindication ValueSet (${CONTRAINDICATIONS_URL}).`);
  }
  const entries: Entry[] = [];
  const walk = (contains: unknown, inherited: string | undefined, path: string) => {
    listOf(contains).forEach((c, i) => {
      const at = `${path}[${i}]`;
      const own = listOf(c.extension).find((e) => e.url === GROUP_EXTENSION)?.valueString;
      const [system, code] = [textOf(c.system), textOf(c.code)];
      // An abstract entry of the category CodeSystem names the group of the entries under it.
      const category = c.abstract === true && system === CATEGORY_SYSTEM ? code : undefined;
      const group = textOf(own) ?? category ?? inherited;
      if (system !== undefined && code !== undefined && category === undefined) {
        if (group === undefined) throw new Error(`${at} (${system}|${code}) names no group.`);
        entries.push({ system: canonicalSystem(system), code, group });
      }
      walk(c.contains, group, `${at}.contains`);
    });
  };
  walk(fieldsOf(fields.expansion)?.contains, undefined, 'ValueSet.expansion.contains');
  if (entries.length === 0) throw new Error(`${CONTRAINDICATIONS_URL} has no codes in its expansion.`);
  return entries;
}

/** A matcher over a ValueSet's entries: the group of the first coding that falls in one. */
export function contraindicationMatcher(
  entries: readonly Entry[],
): (concept: CodeableConcept | undefined) => string | undefined {
  return (concept) => {
    for (const c of conceptOf(concept)?.coding ?? []) {
      if (c.system === undefined || c.code === undefined) continue;
      const system = canonicalSystem(c.system);
      const entry = entries.find((e) => matches(e, system, c.code!));
      if (entry !== undefined) return entry.group;
    }
    return undefined;
  };
}

/** The systems the ValueSet has codes in: a concept coded in none of them cannot be checked against it. */
export const systemsOf = (entries: readonly Entry[]): Set<string> => new Set(entries.map((e) => e.system));

let loaded: { entries: Entry[]; match: ReturnType<typeof contraindicationMatcher> } | undefined;

const fromProfiles = () => {
  if (loaded === undefined) {
    const valueSet = readConformance('ValueSet-').find((r) => r.url === CONTRAINDICATIONS_URL);
    const entries = contraindicationEntries(valueSet);
    loaded = { entries, match: contraindicationMatcher(entries) };
  }
  return loaded;
};

/**
 * Reads the ValueSet from profiles/ now rather than at the first finding, so that a missing or
 * unusable one stops the start; returns how many codes it has.
 */
export const loadContraindications = (): number => fromProfiles().entries.length;

/** The contraindication group a concept's code falls in, from the ValueSet in profiles/ (read once). */
export const contraindicationGroup = (concept: CodeableConcept | undefined): string | undefined =>
  fromProfiles().match(concept);

/** True when the concept has a coding in a system the contraindication ValueSet has codes in. */
export const checkableAgainstContraindications = (concept: CodeableConcept | undefined): boolean => {
  const systems = systemsOf(fromProfiles().entries);
  return (conceptOf(concept)?.coding ?? []).some(
    (c) => c.system !== undefined && c.code !== undefined && systems.has(canonicalSystem(c.system)),
  );
};
