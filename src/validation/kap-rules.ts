/**
 * Layer (c) of validation: the KAP business rules no profile can state, applied where a resource
 * claims one of our profiles or is taken in as a KAP prescription.
 *
 * Every rule that holds the same for every practice is part of the profile that states it
 * (profiles/: cardinality, bindings, and `kap-*` constraints such as kap-rx-1 "for ketamine"),
 * so that layer (b) and any FHIR server, HAPI included, enforce it; each problem is reported once.
 * What stays here:
 * - the per-route dose bound, which a practice configures (`maxDoseMg`);
 * - whether a Medication on a server (not contained) is ketamine: a profile cannot read it, so
 *   it is resolved with `resolve`, or read from the reference's display;
 * - for a MedicationRequest taken in with `asKapPrescription` but claiming no profile of ours
 *   (EHR intake), everything kap-medication-request would have checked: ketamine, a dosage with
 *   a coded KAP route and a dose in mg above 0, a validity period of some length.
 */
import type { Dosage, MedicationDispense, MedicationRequest, Resource } from 'fhir/r4';
import type { Route } from '../domain/model.js';
import { profileUrl, ROUTE_SNOMED, SYSTEM } from '../fhir/codes.js';
import { doseFromText, doseInMg, routeFromConcept, routeFromText } from '../fhir/dosage.js';
import { readMedication } from '../fhir/medication.js';
import { type Issue, issue } from '../fhir/outcome.js';
import { identityContext, type MappingContext } from '../fhir/reference-context.js';

/**
 * Highest ketamine dose per medicine session, in mg, by route. Defaults are deliberately above
 * common KAP practice (sublingual/oral troches and RDTs 100-300 mg, rarely up to 500 mg given
 * their low bioavailability; IM 0.5-1 mg/kg; IV 0.5-0.75 mg/kg over 40 minutes) so that they
 * catch typing errors (1500 for 150) rather than second-guess the prescriber. A practice sets
 * its own in configuration.
 */
export const DEFAULT_MAX_DOSE_MG: Readonly<Record<Route, number>> = {
  sublingual: 500,
  oral: 500,
  intranasal: 200,
  intramuscular: 150,
  intravenous: 100,
};

export interface KapRuleOptions {
  /** Treat the resource as a KAP prescription even without our profile (EHR intake). */
  asKapPrescription?: boolean;
  /** Per-route upper bounds in mg per session; routes not given keep DEFAULT_MAX_DOSE_MG. */
  maxDoseMg?: Partial<Record<Route, number>>;
  /** Resolves a referenced (not contained) Medication, to tell whether it is ketamine. */
  resolve?: (reference: string) => Resource | undefined;
}

const OUR_PROFILE = {
  medicationRequest: profileUrl('kap-medication-request'),
  medicationDispense: profileUrl('kap-medication-dispense'),
} as const;

const claims = (resource: Resource, url: string): boolean =>
  (resource.meta?.profile ?? []).some((p) => p.split('|')[0] === url);

/** The KAP rule failures of one resource; [] when none applies or all hold. */
export function checkKapRules(resource: Resource, options: KapRuleOptions = {}): Issue[] {
  try {
    return rulesFor(resource, options);
  } catch (e) {
    // Rules read odd input defensively; should one still throw, the caller gets an issue, not a crash.
    const why = e instanceof Error ? e.message : String(e);
    return [issue('error', 'exception', `KAP rules could not be checked: ${why}`, resource.resourceType)];
  }
}

function rulesFor(resource: Resource, options: KapRuleOptions): Issue[] {
  const ctx: MappingContext = {
    ...identityContext,
    ...(options.resolve ? { resolve: options.resolve } : {}),
  };
  switch (resource.resourceType) {
    case 'MedicationRequest': {
      const profiled = claims(resource, OUR_PROFILE.medicationRequest);
      return profiled || options.asKapPrescription
        ? prescriptionRules(resource as MedicationRequest, profiled, options, ctx)
        : [];
    }
    case 'MedicationDispense':
      // The rest of a dispense (ketamine when coded or contained, a quantity above 0) is the profile's.
      return claims(resource, OUR_PROFILE.medicationDispense)
        ? serverMedicationRule(resource as MedicationDispense, ctx)
        : [];
    default:
      // kap-clearance, kap-clearance-request, kap-clearance-task and kap-medication state all
      // their rules themselves (effectivePeriod.end 1..1, kap-sr-1, kap-task-1, kap-med-1).
      return [];
  }
}

/** The JSON name of the medication[x] a resource carries, for expressions. */
const medicationElement = (r: MedicationRequest | MedicationDispense): string =>
  `${r.resourceType}.${r.medicationReference !== undefined ? 'medicationReference' : 'medicationCodeableConcept'}`;

/** Ketamine or not; an absent medication is the structure layer's to report (medication[x] is 1..1). */
function ketamineRule(resource: MedicationRequest | MedicationDispense, ctx: MappingContext): Issue[] {
  if (resource.medicationCodeableConcept === undefined && resource.medicationReference === undefined)
    return [];
  const at = medicationElement(resource);
  const medication = readMedication(resource, ctx);
  if (medication.value === undefined) {
    return [
      issue(
        'warning',
        'not-found',
        'Whether the medication is ketamine could not be checked: it could not be read.',
        at,
      ),
    ];
  }
  if (medication.value.isKetamine) return [];
  return [
    issue(
      'error',
      'business-rule',
      `A KAP ${resource.resourceType === 'MedicationRequest' ? 'prescription' : 'dispense'} must be for ketamine (RxNorm 6130), not "${medication.value.text}".`,
      at,
    ),
  ];
}

/**
 * Ketamine, for a resource that claims our profile: its constraint (kap-rx-1, kap-disp-1) reads a
 * CodeableConcept or a contained Medication, and leaves a Medication elsewhere (or a reference
 * with only a display) to these rules.
 */
function serverMedicationRule(
  resource: MedicationRequest | MedicationDispense,
  ctx: MappingContext,
): Issue[] {
  const reference = resource.medicationReference;
  if (reference === undefined || reference.reference?.startsWith('#')) return [];
  return ketamineRule(resource, ctx);
}

function prescriptionRules(
  request: MedicationRequest,
  profiled: boolean,
  options: KapRuleOptions,
  ctx: MappingContext,
): Issue[] {
  const bounds = { ...DEFAULT_MAX_DOSE_MG, ...options.maxDoseMg };
  const dosages = request.dosageInstruction ?? [];
  if (profiled) {
    // kap-medication-request states the rest: ketamine (kap-rx-1), route 1..1 from kap-route,
    // a dose quantity above 0 in a mass unit (kap-rx-2, kap-rx-3), the validity period (kap-rx-4).
    const issues = serverMedicationRule(request, ctx);
    dosages.forEach((dosage, i) => {
      issues.push(...boundRule(dosage, `MedicationRequest.dosageInstruction[${i}]`, bounds));
    });
    return issues;
  }
  const issues = ketamineRule(request, ctx);
  if (dosages.length === 0) {
    issues.push(
      issue(
        'error',
        'required',
        'A KAP prescription needs a dosage instruction with the dose per session and its route.',
        'MedicationRequest.dosageInstruction',
      ),
    );
  }
  dosages.forEach((dosage, i) => {
    issues.push(...dosageRules(dosage, `MedicationRequest.dosageInstruction[${i}]`, bounds));
  });
  issues.push(...validityRules(request));
  return issues;
}

const doseAt = (at: string): string => `${at}.doseAndRate[0].doseQuantity`;

/** The configured bound, for a dosage whose route and dose in mg the profile has made sure of. */
function boundRule(dosage: Dosage, at: string, bounds: Record<Route, number>): Issue[] {
  const route = routeFromConcept(dosage.route);
  const quantity = dosage.doseAndRate?.[0]?.doseQuantity;
  const unit = quantity?.code ?? quantity?.unit;
  if (route === undefined || quantity?.value === undefined || unit === undefined) return [];
  const mg = doseInMg({ value: quantity.value, unit });
  return mg === undefined || mg <= 0 ? [] : overBound(mg, route, bounds, at);
}

function overBound(mg: number, route: Route, bounds: Record<Route, number>, at: string): Issue[] {
  if (mg <= bounds[route]) return [];
  return [
    issue(
      'error',
      'business-rule',
      `The dose of ${mg} mg ${route} is above the configured maximum of ${bounds[route]} mg per session; check for a typing error.`,
      doseAt(at),
    ),
  ];
}

/** Route and dose of a dosage taken in without our profile, where the text may stand in for codes. */
function dosageRules(dosage: Dosage, at: string, bounds: Record<Route, number>): Issue[] {
  const issues: Issue[] = [];
  // Route: a coded KAP route, or one the text names.
  let route: Route | undefined;
  if (dosage.route === undefined) {
    route = routeFromText(dosage.text);
    if (route === undefined) {
      issues.push(
        issue(
          'error',
          'required',
          'A KAP prescription must state the route (e.g. SNOMED CT 37839007 sublingual).',
          `${at}.route`,
        ),
      );
    }
  } else {
    route = routeFromConcept(dosage.route);
    const coded = (dosage.route.coding ?? []).some(
      (c) => c.system === SYSTEM.snomed && Object.values(ROUTE_SNOMED).includes(c.code as never),
    );
    if (!coded) {
      issues.push(
        issue(
          'error',
          'code-invalid',
          'The route is not one KAP uses: SNOMED CT 37839007 sublingual, 78421000 intramuscular, 46713006 nasal, 26643006 oral or 47625008 intravenous.',
          `${at}.route`,
        ),
      );
    }
  }
  // Dose: a quantity in a mass unit (or one the text states), above zero and within the route's bound.
  const quantity = dosage.doseAndRate?.[0]?.doseQuantity;
  const unit = quantity?.code ?? quantity?.unit;
  const dose =
    quantity?.value !== undefined && unit !== undefined
      ? { value: quantity.value, unit }
      : doseFromText(dosage.text);
  if (dose === undefined) {
    issues.push(
      issue(
        'error',
        'required',
        'A KAP prescription must state the dose per session as a quantity in mg.',
        doseAt(at),
      ),
    );
    return issues;
  }
  const mg = doseInMg(dose);
  if (mg === undefined) {
    issues.push(
      issue(
        'error',
        'business-rule',
        `The dose unit "${dose.unit}" is not a mass; state the dose in mg so it can be checked.`,
        doseAt(at),
      ),
    );
  } else if (mg <= 0) {
    issues.push(issue('error', 'business-rule', 'The dose per session must be more than 0 mg.', doseAt(at)));
  } else if (route !== undefined) {
    issues.push(...overBound(mg, route, bounds, at));
  }
  return issues;
}

/**
 * The validity period must end after it starts. per-0 already rejects an end before the start;
 * this adds the end that equals the start to the instant (a period with no length).
 */
function validityRules(request: MedicationRequest): Issue[] {
  const period = request.dispenseRequest?.validityPeriod;
  if (period?.start === undefined || period.end === undefined) return [];
  const hasTime = (s: string) => s.includes('T');
  if (!(hasTime(period.start) && hasTime(period.end))) return [];
  if (Date.parse(period.end) !== Date.parse(period.start)) return [];
  return [
    issue(
      'error',
      'business-rule',
      'The validity period ends when it starts: no session dose could be taken in it.',
      'MedicationRequest.dispenseRequest.validityPeriod.end',
    ),
  ];
}
