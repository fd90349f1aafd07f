/**
 * Condition / AllergyIntolerance -> ClinicalFinding: what the EHR records of the patient that may
 * contraindicate ketamine. Read only: the EHR owns them. Read to fail closed, because a finding
 * read wrongly is a contraindication missed:
 * - a finding is active unless its clinical status says it is not, or it is refuted or entered in
 *   error; no clinical status, or one not understood, is active;
 * - an active finding whose code cannot be checked against the KAP contraindication ValueSet (no
 *   code, or none in a system the ValueSet uses) has no value: it is an unreadable safety finding,
 *   for the prescriber to review, not a finding that contraindicates nothing;
 * - an allergy or intolerance naming ketamine (RxNorm 6130, or the word in its text) is a ketamine
 *   hypersensitivity whatever the ValueSet says.
 */
import type { AllergyIntolerance, CodeableConcept, Condition } from 'fhir/r4';
import type { ClinicalFinding } from '../domain/model.js';
import { identifierSystem, RXNORM_KETAMINE, SYSTEM, SYSTEM_BY_OID } from '../fhir/codes.js';
import { type Issue, issue } from '../fhir/outcome.js';
import { domainIdOf, type MappingContext, type Read, sourceOf } from '../fhir/reference-context.js';
import {
  checkableAgainstContraindications,
  contraindicationGroup,
  KETAMINE_HYPERSENSITIVITY,
} from './contraindications.js';
import { conceptOf, dateTimeOf, fieldsOf, listOf, referenceOf, shellOf } from './received.js';

type FindingType = ClinicalFinding['type'];

/** Per resource type: where the patient is, and the clinical and verification status codes. */
const STATUS: Record<
  FindingType,
  {
    patient: 'subject' | 'patient';
    clinicalSystem: string;
    verificationSystem: string;
    active: readonly string[];
    inactive: readonly string[];
  }
> = {
  Condition: {
    patient: 'subject',
    clinicalSystem: SYSTEM.conditionClinical,
    verificationSystem: SYSTEM.conditionVerification,
    active: ['active', 'recurrence', 'relapse'],
    inactive: ['inactive', 'remission', 'resolved'],
  },
  AllergyIntolerance: {
    patient: 'patient',
    clinicalSystem: SYSTEM.allergyClinical,
    verificationSystem: SYSTEM.allergyVerification,
    active: ['active'],
    inactive: ['inactive', 'resolved'],
  },
};

/** Verification statuses that mean there is nothing to read as a finding. */
const NOT_A_FINDING = ['refuted', 'entered-in-error'];

const KETAMINE_WORDS = /ketamine|ketalar/i;

/** The codes of a status concept in its system (a coding without a system is taken as meant for it). */
const statusCodes = (concept: CodeableConcept | undefined, system: string): string[] =>
  (concept?.coding ?? [])
    .filter((c) => (c.system === undefined || c.system === system) && c.code !== undefined)
    .map((c) => c.code!);

/** True when the concept names ketamine: RxNorm 6130 or the word (or its brand, Ketalar) in its text. */
export function namesKetamine(concept: CodeableConcept | undefined): boolean {
  const read = conceptOf(concept);
  if (read === undefined) return false;
  const codings = read.coding ?? [];
  const rxnorm = codings.some(
    (c) =>
      c.system !== undefined &&
      (SYSTEM_BY_OID[c.system] ?? c.system) === SYSTEM.rxnorm &&
      c.code === RXNORM_KETAMINE,
  );
  return rxnorm || [read.text, ...codings.map((c) => c.display)].some((t) => t && KETAMINE_WORDS.test(t));
}

/** What a person calls the finding: the code's text, its first display, or its first `system|code`. */
const textOfCode = (code: CodeableConcept | undefined): string | undefined => {
  const first = code?.coding?.[0];
  const systemCode =
    first?.code === undefined ? undefined : [first.system, first.code].filter(Boolean).join('|');
  return code?.text ?? code?.coding?.find((c) => c.display !== undefined)?.display ?? systemCode;
};

export function findingFromFhir(
  resource: Condition | AllergyIntolerance,
  ctx: MappingContext,
): Read<ClinicalFinding> {
  const issues: Issue[] = [];
  const fields = fieldsOf(resource) ?? {};
  const type = fields.resourceType;
  if (type !== 'Condition' && type !== 'AllergyIntolerance') {
    issues.push(
      issue('error', 'structure', 'Expected a Condition or an AllergyIntolerance.', 'resourceType'),
    );
    return { value: undefined, issues };
  }
  const rules = STATUS[type];
  const shell = shellOf(resource, type);

  const id = domainIdOf(ctx, shell, type, identifierSystem(type));
  if (id === undefined) issues.push(issue('error', 'required', `The ${type} has no id.`, `${type}.id`));
  const patientId = ctx.idOf('Patient', referenceOf(fields[rules.patient]));
  if (patientId === undefined) {
    issues.push(
      issue('error', 'required', `The ${type} names no known patient.`, `${type}.${rules.patient}`),
    );
  }

  const active = readActive(type, fields, issues);
  const code = conceptOf(fields.code);
  const text = textOfCode(code);
  let contraindication = contraindicationGroup(code);
  if (contraindication === undefined && type === 'AllergyIntolerance') {
    const substances = listOf(fields.reaction).map((r) => conceptOf(r.substance));
    if ([code, ...substances].some(namesKetamine)) contraindication = KETAMINE_HYPERSENSITIVITY;
  }
  // An allergy is checked by the words of its substance: a code alone, unless RxNorm 6130, says nothing here.
  const named = code?.text !== undefined || (code?.coding ?? []).some((c) => c.display !== undefined);
  const checkable =
    contraindication !== undefined ||
    (type === 'Condition' ? checkableAgainstContraindications(code) : named);
  if (!checkable) {
    const what =
      text === undefined
        ? `The ${type} has no code`
        : type === 'Condition'
          ? `The Condition "${text}" is not coded in SNOMED CT or ICD-10-CM`
          : `The AllergyIntolerance "${text}" names its substance by a code alone`;
    const why = 'so whether it contraindicates ketamine cannot be known';
    if (active) issues.push(issue('error', 'code-invalid', `${what}, ${why}.`, `${type}.code`));
    else
      issues.push(
        issue('warning', 'code-invalid', `${what}; it is not active, so it was read.`, `${type}.code`),
      );
  }

  if (id === undefined || patientId === undefined || (active && !checkable))
    return { value: undefined, issues };
  const value: ClinicalFinding = { id, patientId, type, active, text: text ?? `a ${type} with no code` };
  if (contraindication !== undefined) value.contraindication = contraindication;
  const recorded = readRecorded(type, fields, issues);
  if (recorded !== undefined) value.recorded = recorded;
  const versionTime = dateTimeOf(fieldsOf(fields.meta)?.lastUpdated);
  if (versionTime !== undefined) value.versionTime = versionTime;
  const source = sourceOf(shell);
  if (source !== undefined) value.source = source;
  return { value, issues };
}

/** Active unless said otherwise: see the module comment. */
function readActive(type: FindingType, fields: Record<string, unknown>, issues: Issue[]): boolean {
  const rules = STATUS[type];
  const verification = statusCodes(conceptOf(fields.verificationStatus), rules.verificationSystem);
  if (verification.some((c) => NOT_A_FINDING.includes(c))) return false;
  const clinical = conceptOf(fields.clinicalStatus);
  const codes = statusCodes(clinical, rules.clinicalSystem);
  if (codes.some((c) => rules.active.includes(c))) return true;
  if (codes.some((c) => rules.inactive.includes(c))) return false;
  const said =
    clinical === undefined ? 'no clinical status' : `the clinical status "${textOfCode(clinical)}"`;
  issues.push(
    issue('warning', 'value', `The ${type} has ${said}; it was read as active.`, `${type}.clinicalStatus`),
  );
  return true;
}

/** When the EHR recorded it: recordedDate, else the onset, else the version time; a value that is no date is passed over. */
function readRecorded(
  type: FindingType,
  fields: Record<string, unknown>,
  issues: Issue[],
): string | undefined {
  const candidates: [unknown, string][] = [
    [fields.recordedDate, `${type}.recordedDate`],
    [fields.onsetDateTime, `${type}.onsetDateTime`],
    [fieldsOf(fields.onsetPeriod)?.start, `${type}.onsetPeriod.start`],
    [fieldsOf(fields.meta)?.lastUpdated, `${type}.meta.lastUpdated`],
  ];
  for (const [candidate, expression] of candidates) {
    if (candidate === undefined) continue;
    const date = dateTimeOf(candidate);
    if (date !== undefined) return date;
    issues.push(
      issue(
        'warning',
        'value',
        `The ${type}'s ${expression.split('.').slice(1).join('.')} is not a date.`,
        expression,
      ),
    );
  }
  issues.push(
    issue(
      'warning',
      'required',
      `The ${type} has no date: it stays open until the prescriber reviews it.`,
      `${type}.recordedDate`,
    ),
  );
  return undefined;
}
