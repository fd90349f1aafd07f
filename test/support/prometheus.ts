/**
 * /metrics read as Prometheus reads it. parse-prometheus-text-format parses the text exposition
 * format (it throws on a line Prometheus would refuse, and unescapes label values); it folds a
 * labelled histogram's series into one, so each sample of a family is also kept as the text gave it,
 * labels unescaped the same way.
 */
import parsePrometheusTextFormat from 'parse-prometheus-text-format';

export interface Sample {
  /** The sample's own name: a histogram's `_bucket`, `_sum` and `_count` keep their suffix. */
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  type: string;
  help: string;
  samples: Sample[];
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?/gy;
const unescaped = (v: string): string => v.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));

function labelsOf(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  LABEL.lastIndex = 0;
  let m: RegExpExecArray | null;
  let end = 0;
  // biome-ignore lint/suspicious/noAssignInExpressions: the sticky regex walks the label list
  while ((m = LABEL.exec(text)) !== null) {
    labels[m[1]!] = unescaped(m[2]!);
    end = LABEL.lastIndex;
  }
  if (end !== text.length) throw new Error(`Unparsable labels: {${text}}`);
  return labels;
}

/** Every family of a /metrics text, by name; throws on text Prometheus would not take. */
export function parseMetrics(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  for (const f of parsePrometheusTextFormat(text))
    families.set(f.name, { type: f.type, help: f.help, samples: [] });
  const familyOf = (name: string): Family | undefined =>
    families.get(name) ?? families.get(name.replace(/_(bucket|sum|count)$/, ''));
  for (const line of text.split('\n')) {
    if (!line.trim() || line.startsWith('#')) continue;
    const m = SAMPLE.exec(line.trim());
    if (!m) throw new Error(`Unparsable sample line: ${line}`);
    const family = familyOf(m[1]!);
    if (!family) throw new Error(`A sample of no declared family: ${line}`);
    family.samples.push({ name: m[1]!, labels: labelsOf(m[2] ?? ''), value: Number(m[3]) });
  }
  return families;
}

/** The value of the one sample named `name` whose labels include `labels`; undefined when none. */
export function sampleValue(
  families: Map<string, Family>,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const family = families.get(name) ?? families.get(name.replace(/_(bucket|sum|count)$/, ''));
  const found = family?.samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  if (found && found.length > 1)
    throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found?.[0]?.value;
}
