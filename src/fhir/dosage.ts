/**
 * Dose and route <-> FHIR, shared by prescriptions, dispenses and administrations: SNOMED route
 * codes, UCUM quantities, and the reading of free-text dosage such as "100 mg sublingual".
 */
import type { CodeableConcept, Quantity } from 'fhir/r4';
import type { Dose, Medication, Prescription, Route } from '../domain/model.js';
import { ROUTE_SNOMED, SYSTEM } from './codes.js';
import { convert, countOf } from './ucum.js';

const ROUTE_DISPLAY: Record<Route, string> = {
  sublingual: 'Sublingual route',
  intramuscular: 'Intramuscular route',
  intranasal: 'Nasal route',
  oral: 'Oral route',
  intravenous: 'Intravenous route',
};

export const ROUTES = Object.keys(ROUTE_SNOMED) as Route[];

/** Words a prescriber writes for each route (any case), and abbreviations (upper case only). */
const ROUTE_WORDS: readonly [Route, RegExp, RegExp | undefined][] = [
  ['sublingual', /\b(sublingual(ly)?|under the tongue)\b/i, /\bSL\b/],
  ['intramuscular', /\bintramuscular(ly)?\b/i, /\bIM\b/],
  ['intranasal', /\b(intranasal(ly)?|nasal(ly)?)\b/i, undefined],
  ['oral', /\b(oral(ly)?|by mouth)\b/i, /\bPO\b/],
  ['intravenous', /\bintravenous(ly)?\b/i, /\bIV\b/],
];

/** The UCUM code for a unit a prescriber writes, when there is one. */
const UCUM: Record<string, string> = { mg: 'mg', g: 'g', mcg: 'ug', ug: 'ug', µg: 'ug', ml: 'mL', mL: 'mL' };

export const routeToConcept = (route: Route): CodeableConcept => ({
  coding: [{ system: SYSTEM.snomed, code: ROUTE_SNOMED[route], display: ROUTE_DISPLAY[route] }],
});

/** The route a SNOMED coding names, else the route its text names unambiguously. */
export function routeFromConcept(concept: CodeableConcept | undefined): Route | undefined {
  for (const c of concept?.coding ?? []) {
    if (c.system !== SYSTEM.snomed) continue;
    const route = ROUTES.find((r) => ROUTE_SNOMED[r] === c.code);
    if (route !== undefined) return route;
  }
  const text = concept?.text ?? concept?.coding?.find((c) => c.display !== undefined)?.display;
  return routeFromText(text);
}

/** The one route a text names, or undefined when it names none or several. */
export function routeFromText(text: string | undefined): Route | undefined {
  if (text === undefined) return undefined;
  const named = ROUTE_WORDS.filter(([, words, abbr]) => words.test(text) || abbr?.test(text)).map(([r]) => r);
  return named.length === 1 ? named[0] : undefined;
}

export function doseToQuantity(dose: Dose): Quantity {
  const code = UCUM[dose.unit];
  return { value: dose.value, unit: dose.unit, ...(code === undefined ? {} : { system: SYSTEM.ucum, code }) };
}

/** A quantity as a dose: its UCUM code when it has one, else its unit as written. */
export function doseFromQuantity(quantity: Quantity | undefined): Dose | undefined {
  const unit =
    (quantity?.system === SYSTEM.ucum ? quantity.code : undefined) ?? quantity?.unit ?? quantity?.code;
  if (quantity?.value === undefined || unit === undefined) return undefined;
  return { value: quantity.value, unit };
}

/** The one dose a text states ("100 mg", "0.5 g"), or undefined when it states none or several. */
export function doseFromText(text: string | undefined): Dose | undefined {
  if (text === undefined) return undefined;
  const found = [...text.matchAll(/(\d+(?:\.\d+)?)\s*(mg|mcg|µg|ug|g)\b/gi)];
  if (found.length !== 1) return undefined;
  const [, value, unit] = found[0]!;
  return { value: Number(value), unit: unit!.toLowerCase() };
}

/** The dose in milligrams, or undefined when its unit is not a mass (through UCUM). */
export function doseInMg(dose: Dose): number | undefined {
  return convert(dose.value, dose.unit, 'mg');
}

/** A dose in milligrams, counted forms (2 troches) through the product's strength. */
function massOf(dose: Dose, medication: Medication): number | undefined {
  const mg = doseInMg(dose);
  if (mg !== undefined) return mg;
  const strength = medication.strength;
  const form = countOf(dose.unit);
  if (form === undefined || strength === undefined || strength.per.value <= 0) return undefined;
  const per = countOf(strength.per.unit);
  const amount = doseInMg(strength.amount);
  if (amount === undefined || (per !== form && per !== 'each')) return undefined;
  return (dose.value * amount) / strength.per.value;
}

/**
 * How many medicine sessions an order supplies: (1 + refills) x quantity per dispense / dose per
 * session, with the units made comparable (mass through UCUM; troches or tablets through the
 * product's strength, or counted alike). `numberOfRepeatsAllowed` counts refills, not sessions.
 */
export function sessionsSupplied(
  rx: Pick<Prescription, 'refills' | 'quantity' | 'dosePerSession' | 'medication'>,
): { count: number } | { unknown: string } {
  const { quantity, dosePerSession: dose } = rx;
  if (quantity === undefined)
    return { unknown: 'the order states no quantity to dispense (dispenseRequest.quantity)' };
  if (dose === undefined) return { unknown: 'the dose per session could not be read' };
  if (dose.value <= 0) return { unknown: 'the dose per session is not above zero' };
  const supply = (1 + (rx.refills ?? 0)) * quantity.value;
  const supplyMg = massOf({ value: supply, unit: quantity.unit }, rx.medication);
  const doseMg = massOf(dose, rx.medication);
  if (supplyMg !== undefined && doseMg !== undefined) return { count: Math.floor(supplyMg / doseMg + 1e-9) };
  const [a, b] = [countOf(quantity.unit), countOf(dose.unit)];
  if (a !== undefined && a === b) return { count: Math.floor(supply / dose.value + 1e-9) };
  return {
    unknown: `a supply in "${quantity.unit}" cannot be compared with a dose in "${dose.unit}"${rx.medication.strength === undefined ? ' (the product states no strength)' : ''}`,
  };
}
