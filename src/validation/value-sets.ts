/**
 * Expands the value sets of required bindings whose content is fully listed in the definitions
 * (an explicit concept list or a complete CodeSystem). Anything that needs a terminology server
 * (filters, LOINC, SNOMED, ...) is left out, so its binding is not checked rather than guessed.
 */

interface Concept {
  code: string;
  concept?: Concept[];
}

interface Include {
  system?: string;
  concept?: { code: string }[];
  filter?: unknown[];
  valueSet?: string[];
}

export interface TerminologyResource {
  resourceType: string;
  url: string;
  content?: string;
  concept?: Concept[];
  compose?: { include?: Include[]; exclude?: Include[] };
}

const stripVersion = (url: string): string => url.split('|')[0] ?? url;

/** `system|code` for every code of each wanted value set that can be enumerated. */
export function enumerateValueSets(
  resources: readonly TerminologyResource[],
  wanted: ReadonlySet<string>,
): Record<string, string[]> {
  const codeSystems = new Map<string, TerminologyResource>();
  const valueSets = new Map<string, TerminologyResource>();
  for (const r of resources) {
    if (r.resourceType === 'CodeSystem') codeSystems.set(r.url, r);
    else if (r.resourceType === 'ValueSet') valueSets.set(r.url, r);
  }

  const allCodes = (system: string): string[] | undefined => {
    const cs = codeSystems.get(system);
    if (cs?.content !== 'complete' || !cs.concept) return undefined;
    const out: string[] = [];
    const walk = (list: Concept[]) => {
      for (const c of list) {
        out.push(`${system}|${c.code}`);
        if (c.concept) walk(c.concept);
      }
    };
    walk(cs.concept);
    return out;
  };

  const expanding = new Set<string>();
  const expand = (url: string): string[] | undefined => {
    const vs = valueSets.get(url);
    if (!vs?.compose?.include || expanding.has(url)) return undefined;
    expanding.add(url);
    try {
      const codes = new Set<string>();
      for (const inc of vs.compose.include) {
        const part = expandInclude(inc);
        if (!part) return undefined;
        for (const c of part) codes.add(c);
      }
      for (const exc of vs.compose.exclude ?? []) {
        for (const c of expandInclude(exc) ?? []) codes.delete(c);
      }
      return [...codes];
    } finally {
      expanding.delete(url);
    }
  };

  const expandInclude = (inc: Include): string[] | undefined => {
    if (inc.filter && inc.filter.length > 0) return undefined;
    let codes: string[] | undefined;
    if (inc.system) {
      codes = inc.concept ? inc.concept.map((c) => `${inc.system}|${c.code}`) : allCodes(inc.system);
      if (!codes) return undefined;
    }
    for (const ref of inc.valueSet ?? []) {
      const other = expand(stripVersion(ref));
      if (!other) return undefined;
      codes = codes ? codes.filter((c) => other.includes(c)) : other;
    }
    return codes;
  };

  const out: Record<string, string[]> = {};
  for (const url of wanted) {
    const codes = expand(url);
    if (codes) out[url] = codes;
  }
  return out;
}
