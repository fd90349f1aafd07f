/**
 * ClinicalImpression <-> PrescriberReview: the prescriber's explicit review of the patient's open
 * safety flags (profile kap-safety-review, code kap-observation#safety-review). Only a completed
 * review closes flags, so only a completed one reads as a review; one in progress or entered in
 * error reads as none, and anything not coded as a safety review is never taken for one.
 */
import type { ClinicalImpression } from 'fhir/r4';
import type { PrescriberReview } from '../domain/model.js';
import { identifierSystem, KAP_CODE, SYSTEM } from '../fhir/codes.js';
import { type Issue, issue } from '../fhir/outcome.js';
import { domainIdOf, type MappingContext, type Read, sourceOf } from '../fhir/reference-context.js';
import { concept, hasCode, ownOpening } from './coding.js';
import { conceptOf, dateTimeOf, fieldsOf, listOf, referenceOf, shellOf, textOf } from './received.js';

const REVIEW_DISPLAY = 'Prescriber review of KAP safety flags';
/** Statuses that are not a review yet, or no longer one: no value, and nothing unreadable either. */
const NOT_A_REVIEW = ['in-progress', 'entered-in-error'];

/** True when the ClinicalImpression is coded as a KAP safety review. */
export const isSafetyReview = (resource: ClinicalImpression): boolean =>
  hasCode(conceptOf(fieldsOf(resource)?.code), SYSTEM.kap, KAP_CODE.safetyReview);

export function reviewToFhir(review: PrescriberReview, ctx: MappingContext): ClinicalImpression {
  const resource: ClinicalImpression = {
    ...ownOpening(ctx, 'ClinicalImpression', review.id, 'kap-safety-review'),
    status: 'completed',
    code: concept(SYSTEM.kap, KAP_CODE.safetyReview, REVIEW_DISPLAY),
    subject: { reference: ctx.ref('Patient', review.patientId) },
    effectiveDateTime: review.reviewedAt,
  };
  if (review.prescriber !== undefined) resource.assessor = { reference: review.prescriber };
  if (review.note !== undefined) resource.summary = review.note;
  return resource;
}

export function reviewFromFhir(resource: ClinicalImpression, ctx: MappingContext): Read<PrescriberReview> {
  const issues: Issue[] = [];
  const fields = fieldsOf(resource) ?? {};
  if (fields.resourceType !== 'ClinicalImpression') {
    issues.push(issue('error', 'structure', 'Expected a ClinicalImpression.', 'resourceType'));
    return { value: undefined, issues };
  }
  const shell = shellOf(resource, 'ClinicalImpression');
  const id = domainIdOf(ctx, shell, 'ClinicalImpression', identifierSystem('ClinicalImpression'));
  if (id === undefined) {
    issues.push(issue('error', 'required', 'The review has no id.', 'ClinicalImpression.id'));
  }
  if (!isSafetyReview(resource)) {
    issues.push(
      issue(
        'error',
        'code-invalid',
        `The ClinicalImpression is not coded as a KAP safety review (${SYSTEM.kap}|${KAP_CODE.safetyReview}), so it closes no flag.`,
        'ClinicalImpression.code',
      ),
    );
  }
  const patientId = ctx.idOf('Patient', referenceOf(fields.subject));
  if (patientId === undefined) {
    issues.push(
      issue('error', 'required', 'The review names no known patient.', 'ClinicalImpression.subject'),
    );
  }
  const status = textOf(fields.status);
  const completed = status === 'completed';
  if (status !== undefined && NOT_A_REVIEW.includes(status)) {
    issues.push(
      issue(
        'warning',
        'business-rule',
        `The review is ${status}: only a completed review closes flags.`,
        'ClinicalImpression.status',
      ),
    );
  } else if (!completed) {
    const said = status === undefined ? 'no status' : `the status "${String(fields.status)}"`;
    issues.push(
      issue(
        'error',
        'code-invalid',
        `The review has ${said}; expected completed, in-progress or entered-in-error.`,
        'ClinicalImpression.status',
      ),
    );
  }
  const reviewedAt =
    dateTimeOf(fields.effectiveDateTime) ??
    dateTimeOf(fieldsOf(fields.effectivePeriod)?.start) ??
    dateTimeOf(fields.date);
  if (reviewedAt === undefined) {
    issues.push(
      issue(
        'error',
        'required',
        'The review does not say when it was done.',
        'ClinicalImpression.effective[x]',
      ),
    );
  }
  if (
    id === undefined ||
    patientId === undefined ||
    !completed ||
    reviewedAt === undefined ||
    issues.some((i) => i.severity === 'error')
  ) {
    return { value: undefined, issues };
  }
  const value: PrescriberReview = { id, patientId, reviewedAt };
  const prescriber = textOf(fieldsOf(fields.assessor)?.reference);
  if (prescriber !== undefined) value.prescriber = prescriber;
  else
    issues.push(
      issue('warning', 'required', 'The review names no prescriber.', 'ClinicalImpression.assessor'),
    );
  const note =
    textOf(fields.summary) ??
    (listOf(fields.note)
      .map((n) => textOf(n.text))
      .filter(Boolean)
      .join('\n') ||
      undefined);
  if (note !== undefined) value.note = note;
  const source = sourceOf(shell);
  if (source !== undefined) value.source = source;
  return { value, issues };
}
