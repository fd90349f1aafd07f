/**
 * Layer (c) of validation: KAP business rules, applied where a resource claims one of our
 * profiles or is taken in as a KAP prescription.
 *
 * What a profile states (cardinality, required bindings, patterns) and what FHIR invariants state
 * (per-0: a Period's start <= end) is reported by layer (b) from profiles/; these rules add what a
 * profile cannot say, so that each problem is reported once. A MedicationRequest taken in with
 * `asKapPrescription` but claiming no profile of ours has no profile layer to lean on, so the
 * rules then also check what kap-medication-request would have (dosage present, route code).
 */
import type {
  Dosage,
  Medication,
  MedicationDispense,
  MedicationRequest,
  Observation,
  Resource,
  ServiceRequest,
  Task,
} from 'fhir/r4';
import type { Route } from '../domain/model.js';
import { profileUrl, ROUTE_SNOMED, SYSTEM } from '../fhir/codes.js';
import { type Issue, issue } from '../fhir/outcome.js';
import { identityContext, type MappingContext, parseReference } from '../mapping/context.js';
import { doseFromText, doseInMg, routeFromConcept, routeFromText } from '../mapping/dosage.js';
import { medicationFromResource, readMedication } from '../mapping/medication.js';

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
  clearance: profileUrl('kap-clearance'),
  medicationRequest: profileUrl('kap-medication-request'),
  medicationDispense: profileUrl('kap-medication-dispense'),
  clearanceRequest: profileUrl('kap-clearance-request'),
  clearanceTask: profileUrl('kap-clearance-task'),
  medication: profileUrl('kap-medication'),
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
    case 'Observation':
      return claims(resource, OUR_PROFILE.clearance) ? clearanceRules(resource as Observation) : [];
    case 'MedicationDispense':
      return claims(resource, OUR_PROFILE.medicationDispense)
        ? dispenseRules(resource as MedicationDispense, ctx)
        : [];
    case 'ServiceRequest':
      return claims(resource, OUR_PROFILE.clearanceRequest)
        ? clearanceRequestRules(resource as ServiceRequest)
        : [];
    case 'Task':
      return claims(resource, OUR_PROFILE.clearanceTask) ? clearanceTaskRules(resource as Task) : [];
    case 'Medication':
      return claims(resource, OUR_PROFILE.medication) ? medicationRules(resource as Medication) : [];
    default:
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

function prescriptionRules(
  request: MedicationRequest,
  profiled: boolean,
  options: KapRuleOptions,
  ctx: MappingContext,
): Issue[] {
  const issues = ketamineRule(request, ctx);
  const dosages = request.dosageInstruction ?? [];
  if (dosages.length === 0 && !profiled) {
    issues.push(
      issue(
        'error',
        'required',
        'A KAP prescription needs a dosage instruction with the dose per session and its route.',
        'MedicationRequest.dosageInstruction',
      ),
    );
  }
  const bounds = { ...DEFAULT_MAX_DOSE_MG, ...options.maxDoseMg };
  dosages.forEach((dosage, i) => {
    issues.push(...dosageRules(dosage, `MedicationRequest.dosageInstruction[${i}]`, profiled, bounds));
  });
  issues.push(...validityRules(request));
  return issues;
}

function dosageRules(dosage: Dosage, at: string, profiled: boolean, bounds: Record<Route, number>): Issue[] {
  const issues: Issue[] = [];
  // Route: a coded KAP route; without our profile (whose binding checks the code) it is checked here.
  let route: Route | undefined;
  if (dosage.route === undefined) {
    route = profiled ? undefined : routeFromText(dosage.text);
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
    if (!coded && !profiled) {
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
  // Dose: a quantity in a mass unit, above zero and within the route's bound.
  const doseAt = `${at}.doseAndRate[0].doseQuantity`;
  const quantity = dosage.doseAndRate?.[0]?.doseQuantity;
  const unit = quantity?.code ?? quantity?.unit;
  const dose =
    quantity?.value !== undefined && unit !== undefined
      ? { value: quantity.value, unit }
      : profiled
        ? undefined
        : doseFromText(dosage.text);
  if (dose === undefined) {
    issues.push(
      issue(
        'error',
        'required',
        'A KAP prescription must state the dose per session as a quantity in mg.',
        doseAt,
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
        doseAt,
      ),
    );
  } else if (mg <= 0) {
    issues.push(issue('error', 'business-rule', 'The dose per session must be more than 0 mg.', doseAt));
  } else if (route !== undefined && mg > bounds[route]) {
    issues.push(
      issue(
        'error',
        'business-rule',
        `The dose of ${mg} mg ${route} is above the configured maximum of ${bounds[route]} mg per session; check for a typing error.`,
        doseAt,
      ),
    );
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

function clearanceRules(observation: Observation): Issue[] {
  const period = observation.effectivePeriod;
  // Without an effectivePeriod the profile (effective[x] 1..1 Period) reports it.
  if (period === undefined || period.end !== undefined) return [];
  return [
    issue(
      'error',
      'business-rule',
      'A clearance decision must say until when it holds: set effectivePeriod.end (valid until).',
      'Observation.effectivePeriod.end',
    ),
  ];
}

function dispenseRules(dispense: MedicationDispense, ctx: MappingContext): Issue[] {
  const issues = ketamineRule(dispense, ctx);
  const value = dispense.quantity?.value;
  if (value !== undefined && value <= 0) {
    issues.push(
      issue(
        'error',
        'business-rule',
        'A dispense hands over more than nothing: quantity must be above 0.',
        'MedicationDispense.quantity',
      ),
    );
  }
  return issues;
}

function clearanceRequestRules(request: ServiceRequest): Issue[] {
  // The code is fixed by the profile's pattern; what the profile cannot say is that it asks a prescriber.
  const performer = request.performer ?? [];
  const wrong = performer.findIndex((p) => {
    const type = parseReference(p)?.type;
    return (
      type !== undefined && type !== 'Practitioner' && type !== 'PractitionerRole' && type !== 'Organization'
    );
  });
  if (wrong === -1) return [];
  return [
    issue(
      'error',
      'business-rule',
      'A clearance is asked of a prescriber: performer must be a Practitioner, PractitionerRole or Organization.',
      `ServiceRequest.performer[${wrong}]`,
    ),
  ];
}

function clearanceTaskRules(task: Task): Issue[] {
  if (task.status !== 'completed') return [];
  const decided = (task.output ?? []).some((o) => parseReference(o.valueReference)?.type === 'Observation');
  if (decided) return [];
  return [
    issue(
      'error',
      'business-rule',
      'A completed clearance Task must point at the decision: add an output referencing the clearance Observation.',
      'Task.output',
    ),
  ];
}

function medicationRules(medication: Medication): Issue[] {
  const read = medicationFromResource(medication);
  if (read.value === undefined || read.value.isKetamine) return [];
  return [
    issue(
      'error',
      'business-rule',
      'A KAP compounded medication must contain ketamine: give ingredient RxNorm 6130.',
      'Medication.ingredient',
    ),
  ];
}
