/**
 * Units through UCUM (the NLM's ucum-lhc): quantities are made comparable by conversion, never by
 * reading one unit as another. A unit that is not UCUM, or not convertible to the one asked for,
 * gives undefined.
 */
import ucum from '@lhncbc/ucum-lhc';

const utils = ucum.UcumLhcUtils.getInstance();

/** Units prescribers and EHRs write that are not UCUM codes, and the UCUM code they mean. */
const WRITTEN: Record<string, string> = { mcg: 'ug', µg: 'ug', mmHg: 'mm[Hg]', 'mm Hg': 'mm[Hg]', ml: 'mL' };

/** The UCUM code for a unit as written, when it is one or a common spelling of one. */
export const ucumCode = (unit: string): string => WRITTEN[unit] ?? unit;

const factors = new Map<string, number | null>();

/** `value` in `from` converted to `to`, or undefined when the units are not commensurable. */
export function convert(value: number, from: string, to: string): number | undefined {
  const key = `${from}\u0000${to}`;
  let factor = factors.get(key);
  if (factor === undefined) {
    const answer = utils.convertUnitTo(ucumCode(from), 1, ucumCode(to));
    factor = answer.status === 'succeeded' && typeof answer.toVal === 'number' ? answer.toVal : null;
    if (factors.size > 10_000) factors.clear();
    factors.set(key, factor);
  }
  return factor === null ? undefined : value * factor;
}

/** Forms counted one by one: a UCUM annotation ({troche}), the unity 1, or the form's name. */
const COUNT_WORD = /^(troche|lozenge|tablet|tab|rdt|odt|rapidly dissolving tablet|dose|each|unit)s?$/i;

/** The name of a counted form ("troche"), or undefined when the unit is not a count. */
export function countOf(unit: string): string | undefined {
  const annotation = /^\{([^}]+)\}$/.exec(unit.trim())?.[1] ?? (unit.trim() === '1' ? 'each' : unit.trim());
  const match = COUNT_WORD.exec(annotation);
  if (!match) return undefined;
  const word = match[1]!.toLowerCase();
  return word === 'tab' ? 'tablet' : word;
}
