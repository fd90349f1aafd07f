/**
 * Observation <-> ClearanceDecision: the prescriber's medical clearance, a local code with a value
 * from kap-clearance-result and `effectivePeriod.end` as the last moment it holds.
 */
import type { Observation } from 'fhir/r4';
import type { ClearanceDecision, ClearanceResult } from '../domain/model.js';
import { identifierSystem, KAP_CODE, SYSTEM } from '../fhir/codes.js';
import { type Issue, issue } from '../fhir/outcome.js';
import { domainIdOf, type MappingContext, type Read, sourceOf } from '../fhir/reference-context.js';
import { agreed, ownOpening, readStatus } from './coding.js';

const RESULTS: readonly ClearanceResult[] = ['cleared', 'not-cleared', 'needs-review'];
const RESULT_DISPLAY: Record<ClearanceResult, string> = {
  cleared: 'Cleared',
  'not-cleared': 'Not cleared',
  'needs-review': 'Needs review',
};
const STATUSES: readonly ClearanceDecision['status'][] = [
  'preliminary',
  'final',
  'amended',
  'corrected',
  'cancelled',
  'entered-in-error',
];

/** Observation statuses the domain has no word for are read as their nearest one, with a warning. */
const NEAREST_STATUS: Record<string, ClearanceDecision['status']> = {
  registered: 'preliminary',
};

export const isClearanceResult = (code: string | undefined): code is ClearanceResult =>
  RESULTS.includes(code as ClearanceResult);

/** True when the Observation's code is the local clearance-decision code. */
export const isClearanceObservation = (observation: Observation): boolean =>
  (observation.code?.coding ?? []).some(
    (c) => c.system === SYSTEM.kap && c.code === KAP_CODE.clearanceDecision,
  );

export function clearanceToFhir(decision: ClearanceDecision, ctx: MappingContext): Observation {
  const observation: Observation = {
    ...ownOpening(ctx, 'Observation', decision.id, 'kap-clearance'),
    status: decision.status,
    code: {
      coding: [
        {
          system: SYSTEM.kap,
          code: KAP_CODE.clearanceDecision,
          display: 'Medical clearance decision for KAP',
        },
      ],
    },
    subject: { reference: ctx.ref('Patient', decision.patientId) },
    effectivePeriod: {
      start: decision.decidedAt,
      ...(decision.validUntil === undefined ? {} : { end: decision.validUntil }),
    },
    valueCodeableConcept: {
      coding: [
        { system: SYSTEM.clearanceResult, code: decision.result, display: RESULT_DISPLAY[decision.result] },
      ],
    },
  };
  if (decision.prescriber !== undefined) observation.performer = [{ reference: decision.prescriber }];
  if (decision.note !== undefined) observation.note = [{ text: decision.note }];
  return observation;
}

export function clearanceFromFhir(observation: Observation, ctx: MappingContext): Read<ClearanceDecision> {
  const issues: Issue[] = [];
  const id = domainIdOf(ctx, observation, 'Observation', identifierSystem('Observation'));
  if (id === undefined)
    issues.push(issue('error', 'required', 'The clearance Observation has no id.', 'Observation.id'));
  if (!isClearanceObservation(observation)) {
    issues.push(
      issue(
        'warning',
        'code-invalid',
        'The Observation is not coded as a KAP clearance decision.',
        'Observation.code',
      ),
    );
  }
  const patientId = ctx.idOf('Patient', observation.subject);
  if (patientId === undefined) {
    issues.push(issue('error', 'required', 'The clearance names no known patient.', 'Observation.subject'));
  }
  const codes = observation.valueCodeableConcept?.coding ?? [];
  const results = codes.filter((c) => c.system === SYSTEM.clearanceResult).map((c) => c.code);
  const result = results.length > 0 ? agreed(results) : codes[0]?.code;
  if (!isClearanceResult(result)) {
    const said =
      results.length > 1 && result === undefined
        ? 'results that disagree'
        : result === undefined
          ? 'no result'
          : `the result "${result}"`;
    issues.push(
      issue(
        'error',
        'code-invalid',
        `The clearance has ${said}; expected cleared, not-cleared or needs-review.`,
        'Observation.valueCodeableConcept',
      ),
    );
  }
  const decidedAt = observation.effectivePeriod?.start ?? observation.effectiveDateTime ?? observation.issued;
  if (decidedAt === undefined) {
    issues.push(
      issue('error', 'required', 'The clearance has no decision date.', 'Observation.effectivePeriod.start'),
    );
  }
  const status = readStatus(
    observation.status,
    { known: STATUSES, nearest: NEAREST_STATUS, what: 'clearance status', expression: 'Observation.status' },
    issues,
  );
  if (id === undefined || patientId === undefined || !isClearanceResult(result) || !decidedAt || !status) {
    return { value: undefined, issues };
  }
  const value: ClearanceDecision = { id, patientId, result, status, decidedAt };
  const validUntil = observation.effectivePeriod?.end;
  if (validUntil !== undefined) value.validUntil = validUntil;
  else
    issues.push(
      issue(
        'warning',
        'required',
        'The clearance has no valid-until date.',
        'Observation.effectivePeriod.end',
      ),
    );
  const prescriber = observation.performer?.find((p) => p.reference !== undefined)?.reference;
  if (prescriber !== undefined) value.prescriber = prescriber;
  const note = observation.note?.map((n) => n.text).join('\n');
  if (note) value.note = note;
  const source = sourceOf(observation);
  if (source !== undefined) value.source = source;
  return { value, issues };
}
