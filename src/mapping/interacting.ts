/**
 * Medicines the Spravato REMS monitoring form asks about, as the KAP interacting-medication
 * ValueSet and its class CodeSystem in profiles/ state them: monoamine oxidase inhibitors,
 * benzodiazepines and psychostimulants. A medicine is in a class by an RxNorm ingredient code of
 * the ValueSet's expansion, or by an ingredient name the class's definition lists
 * ("Ingredients: a, b, c."). Readiness shows them as warnings, never as blocks.
 */
import { codeSystemUrl, SYSTEM, valueSetUrl } from '../fhir/codes.js';
import { readConformance } from '../fhir/conformance.js';

interface Classes {
  byRxnorm: Map<string, string>;
  byName: [RegExp, string][];
}

let loaded: Classes | undefined;

type Json = Record<string, unknown>;
const list = (v: unknown): Json[] => (Array.isArray(v) ? (v as Json[]) : []);

function load(): Classes {
  const classSystem = codeSystemUrl('kap-interacting-medication-class');
  const byRxnorm = new Map<string, string>();
  const valueSet = readConformance('ValueSet-').find(
    (r) => r.url === valueSetUrl('kap-interacting-medications'),
  );
  for (const group of list((valueSet?.expansion as Json | undefined)?.contains)) {
    if (group.system !== classSystem) continue;
    for (const c of list(group.contains)) {
      if (c.system === SYSTEM.rxnorm && typeof c.code === 'string') byRxnorm.set(c.code, String(group.code));
    }
  }
  const codeSystem = readConformance('CodeSystem-').find((r) => r.url === classSystem);
  const byName: [RegExp, string][] = [];
  for (const c of list(codeSystem?.concept)) {
    const names = /Ingredients: ([^.]+)\./.exec(String(c.definition ?? ''))?.[1]?.split(',') ?? [];
    for (const name of names.map((n) => n.trim()).filter(Boolean)) {
      byName.push([new RegExp(`\\b${name.replace(/[^a-z]/gi, '.')}\\b`, 'i'), String(c.code)]);
    }
  }
  if (byRxnorm.size === 0 || byName.length === 0) {
    throw new Error(
      'The KAP interacting-medication ValueSet or its class CodeSystem is missing from profiles/.',
    );
  }
  return { byRxnorm, byName };
}

/** The interacting class (maoi, benzodiazepine, psychostimulant) of a medicine, by code or by name. */
export function interactingClass(medication: { rxnorm?: string; text: string }): string | undefined {
  loaded ??= load();
  const byCode = medication.rxnorm === undefined ? undefined : loaded.byRxnorm.get(medication.rxnorm);
  return byCode ?? loaded.byName.find(([name]) => name.test(medication.text))?.[1];
}
