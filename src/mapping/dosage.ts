/**
 * Dose and route <-> FHIR, shared by prescriptions, dispenses and administrations: SNOMED route
 * codes, UCUM quantities, and the reading of free-text dosage such as "100 mg sublingual".
 */
import type { CodeableConcept, Quantity } from 'fhir/r4';
import type { Dose, Route } from '../domain/model.js';
import { ROUTE_SNOMED, SYSTEM } from '../fhir/codes.js';

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

/** Milligrams per unit of mass, for checking doses against bounds. */
const MG_PER: Record<string, number> = { mg: 1, g: 1000, ug: 0.001, mcg: 0.001, µg: 0.001 };

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

export function doseFromQuantity(quantity: Quantity | undefined): Dose | undefined {
  const unit = quantity?.unit ?? quantity?.code;
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

/** The dose in milligrams, or undefined when its unit is not a mass. */
export function doseInMg(dose: Dose): number | undefined {
  const factor = MG_PER[dose.unit] ?? MG_PER[dose.unit.toLowerCase()];
  return factor === undefined ? undefined : dose.value * factor;
}
