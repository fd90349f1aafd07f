/**
 * Medication <-> the domain's Medication, shared by prescriptions and dispenses. Reading accepts
 * every shape EHRs send ketamine in: an RxNorm code (6130, or any code whose display says
 * ketamine), text only, a contained Medication or a referenced one (through `ctx.resolve`).
 * Writing: a compounded form (troche, rapidly dissolving tablet) has no RxNorm clinical drug, so
 * it goes out as a contained `kap-medication` with text and the ingredient RxNorm 6130; anything
 * else as a CodeableConcept.
 */
import type {
  CodeableConcept,
  Medication as FhirMedication,
  MedicationDispense,
  MedicationRequest,
  Reference,
  Resource,
} from 'fhir/r4';
import type { Medication } from '../domain/model.js';
import { identifierSystem, profileUrl, RXNORM_KETAMINE, SYSTEM } from './codes.js';
import { doseFromQuantity, doseToQuantity } from './dosage.js';
import { type Issue, issue } from './outcome.js';
import { domainIdOf, type MappingContext, type Read } from './reference-context.js';

/** Says ketamine (Ketalar) but not esketamine, a different product with its own rules. */
const KETAMINE_WORDS = /\b(ketamine|ketalar)\b/i;

const CONTAINED_ID = 'med';

export const saysKetamine = (text: string | undefined): boolean =>
  text !== undefined && KETAMINE_WORDS.test(text);

function rxnormOf(concept: CodeableConcept | undefined): string | undefined {
  return concept?.coding?.find((c) => c.system === SYSTEM.rxnorm && c.code !== undefined)?.code;
}

function conceptSaysKetamine(concept: CodeableConcept | undefined): boolean {
  if (concept === undefined) return false;
  if (saysKetamine(concept.text)) return true;
  return (concept.coding ?? []).some(
    (c) => (c.system === SYSTEM.rxnorm && c.code === RXNORM_KETAMINE) || saysKetamine(c.display),
  );
}

function conceptText(concept: CodeableConcept | undefined): string | undefined {
  return concept?.text ?? concept?.coding?.find((c) => c.display !== undefined)?.display;
}

/** The domain medication from a CodeableConcept (medicationCodeableConcept). */
export function medicationFromConcept(concept: CodeableConcept | undefined): Read<Medication> {
  const rxnorm = rxnormOf(concept);
  const text = conceptText(concept) ?? (rxnorm === RXNORM_KETAMINE ? 'ketamine' : undefined);
  if (text === undefined) {
    const issues: Issue[] = [
      issue('error', 'required', 'The medication has neither text nor a display to read.'),
    ];
    return { value: undefined, issues };
  }
  const value: Medication = { text, isKetamine: conceptSaysKetamine(concept) };
  if (rxnorm !== undefined) value.rxnorm = rxnorm;
  return { value, issues: [] };
}

/** The domain medication from a Medication resource (contained, referenced or standalone). */
export function medicationFromResource(resource: FhirMedication): Read<Medication> {
  const ingredients = (resource.ingredient ?? []).map((i) => i.itemCodeableConcept);
  const ingredientRxnorm = ingredients.map(rxnormOf).filter((c): c is string => c !== undefined);
  const rxnorm = rxnormOf(resource.code) ?? (ingredientRxnorm.length === 1 ? ingredientRxnorm[0] : undefined);
  const text =
    conceptText(resource.code) ??
    ingredients.map(conceptText).find((t) => t !== undefined) ??
    (rxnorm === RXNORM_KETAMINE ? 'ketamine' : undefined);
  if (text === undefined) {
    const issues = [
      issue('error', 'required', 'The Medication has no code text, display or ingredient to read.'),
    ];
    return { value: undefined, issues };
  }
  const isKetamine = conceptSaysKetamine(resource.code) || ingredients.some(conceptSaysKetamine);
  const value: Medication = { text, isKetamine };
  if (rxnorm !== undefined) value.rxnorm = rxnorm;
  const form = conceptText(resource.form);
  if (form !== undefined) value.form = form;
  const strength = strengthOf(resource);
  if (strength !== undefined) value.strength = strength;
  return { value, issues: [] };
}

/** The ketamine ingredient's strength (100 mg per 1 troche), or the only ingredient's, when stated. */
function strengthOf(resource: FhirMedication): Medication['strength'] {
  const ingredients = resource.ingredient ?? [];
  const ketamine = ingredients.filter((i) => conceptSaysKetamine(i.itemCodeableConcept));
  const chosen = ketamine.length === 1 ? ketamine[0] : ingredients.length === 1 ? ingredients[0] : undefined;
  const amount = doseFromQuantity(chosen?.strength?.numerator);
  const per = doseFromQuantity(chosen?.strength?.denominator);
  return amount === undefined || per === undefined ? undefined : { amount, per };
}

/** The parts of a MedicationRequest / MedicationDispense that say what the medication is. */
export interface MedicationCarrier {
  resourceType: string;
  medicationCodeableConcept?: CodeableConcept;
  medicationReference?: Reference;
  contained?: Resource[];
}

/** Reads whichever medication[x] a resource carries; `expression` names the element in issues. */
export function readMedication(carrier: MedicationCarrier, ctx: MappingContext): Read<Medication> {
  const expression = `${carrier.resourceType}.medication`;
  const located = (r: Read<Medication>): Read<Medication> => ({
    value: r.value,
    issues: r.issues.map((i) => ({ ...i, expression: i.expression ?? expression })),
  });
  if (carrier.medicationCodeableConcept !== undefined) {
    return located(medicationFromConcept(carrier.medicationCodeableConcept));
  }
  const reference = carrier.medicationReference;
  if (reference === undefined) {
    return { value: undefined, issues: [issue('error', 'required', 'No medication was given.', expression)] };
  }
  const target = reference.reference;
  const found =
    target === undefined
      ? undefined
      : target.startsWith('#')
        ? carrier.contained?.find((r) => r.id === target.slice(1))
        : ctx.resolve?.(target);
  if (found?.resourceType === 'Medication') return located(medicationFromResource(found as FhirMedication));
  // Not resolvable: keep what the reference's display says, and say we could not look further.
  const display = reference.display;
  const why = `The medication reference ${target ?? '(none)'} could not be resolved`;
  if (display === undefined) {
    return {
      value: undefined,
      issues: [issue('error', 'not-found', `${why} and has no display.`, expression)],
    };
  }
  return {
    value: { text: display, isKetamine: saysKetamine(display) },
    issues: [issue('warning', 'not-found', `${why}; its display was used.`, expression)],
  };
}

/**
 * A Medication resource for a ketamine product, with our profile: a compounded one (described by
 * text, its ingredient coded), or any one given with the lot number of a dose (`batch.lotNumber`).
 */
export function medicationToResource(
  medication: Medication,
  id?: string,
  lotNumber?: string,
): FhirMedication {
  const resource: FhirMedication = {
    resourceType: 'Medication',
    ...(id === undefined ? {} : { id }),
    meta: { profile: [profileUrl('kap-medication')] },
    code: medication.form === undefined ? conceptOf(medication) : { text: medication.text },
  };
  if (medication.form !== undefined) resource.form = { text: medication.form };
  const ingredient = ingredientConcept(medication);
  if (ingredient !== undefined) {
    const { strength } = medication;
    resource.ingredient = [
      {
        itemCodeableConcept: ingredient,
        isActive: true,
        ...(strength === undefined
          ? {}
          : {
              strength: {
                numerator: doseToQuantity(strength.amount),
                denominator: doseToQuantity(strength.per),
              },
            }),
      },
    ];
  }
  if (lotNumber !== undefined) resource.batch = { lotNumber };
  return resource;
}

function ingredientConcept(medication: Medication): CodeableConcept | undefined {
  if (medication.rxnorm !== undefined) {
    const display = medication.rxnorm === RXNORM_KETAMINE ? 'ketamine' : undefined;
    return { coding: [{ system: SYSTEM.rxnorm, code: medication.rxnorm, ...(display ? { display } : {}) }] };
  }
  return medication.isKetamine ? { text: 'ketamine' } : undefined;
}

/** The medication as a CodeableConcept: its text, and its RxNorm code when it has one. */
function conceptOf(medication: Medication): CodeableConcept {
  const concept: CodeableConcept = { text: medication.text };
  const coded = ingredientConcept(medication);
  if (medication.rxnorm !== undefined && coded?.coding !== undefined) concept.coding = coded.coding;
  return concept;
}

/**
 * medication[x] for a resource we write: a CodeableConcept, or a contained Medication when the
 * product is compounded or the lot number is known (R4 MedicationAdministration has no lot element;
 * the Medication's `batch.lotNumber` carries it).
 */
export function writeMedication(
  medication: Medication,
  lotNumber?: string,
): {
  medicationCodeableConcept?: CodeableConcept;
  medicationReference?: Reference;
  contained?: FhirMedication[];
} {
  if (medication.form !== undefined || lotNumber !== undefined) {
    return {
      contained: [medicationToResource(medication, CONTAINED_ID, lotNumber)],
      medicationReference: { reference: `#${CONTAINED_ID}` },
    };
  }
  return { medicationCodeableConcept: conceptOf(medication) };
}

/** The lot number a resource's contained Medication carries (`batch.lotNumber`), if any. */
export function lotNumberOf(carrier: MedicationCarrier): string | undefined {
  const target = carrier.medicationReference?.reference;
  const found = target?.startsWith('#')
    ? carrier.contained?.find((r) => r.id === target.slice(1))
    : undefined;
  return found?.resourceType === 'Medication' ? (found as FhirMedication).batch?.lotNumber : undefined;
}

/**
 * What a prescription and a dispense alike must name to be read at all: kap-bridge's id, a known
 * patient and the medication. Each one missing is an issue in `issues`; undefined then.
 */
export function readMedicationOrder(
  resource: MedicationRequest | MedicationDispense,
  type: 'MedicationRequest' | 'MedicationDispense',
  ctx: MappingContext,
  issues: Issue[],
): { id: string; patientId: string; medication: Medication } | undefined {
  const id = domainIdOf(ctx, resource, type, identifierSystem(type));
  if (id === undefined) issues.push(issue('error', 'required', `The ${type} has no id.`, `${type}.id`));
  const patientId = ctx.idOf('Patient', resource.subject);
  if (patientId === undefined) {
    const what = type === 'MedicationRequest' ? 'prescription' : 'dispense';
    issues.push(issue('error', 'required', `The ${what} names no known patient.`, `${type}.subject`));
  }
  const medication = readMedication(resource, ctx);
  issues.push(...medication.issues);
  if (id === undefined || patientId === undefined || medication.value === undefined) return undefined;
  return { id, patientId, medication: medication.value };
}
