/**
 * AdverseEvent -> KapAdverseEvent: an adverse event recorded for the patient, a safety flag when
 * serious. Read to fail closed: an event is serious unless its seriousness says it is not (no
 * seriousness, or one not understood, is serious), and an actuality other than `potential` is an
 * event that happened. A potential event (a near miss) is no event: no value, and nothing
 * unreadable either.
 */
import type { AdverseEvent } from 'fhir/r4';
import type { KapAdverseEvent } from '../domain/model.js';
import { codeSystemUrl, identifierSystem, profileUrl, SYSTEM } from '../fhir/codes.js';
import { type Issue, issue } from '../fhir/outcome.js';
import {
  domainIdOf,
  type MappingContext,
  type Read,
  resourceIdFor,
  sourceOf,
} from '../fhir/reference-context.js';
import { businessIdentifier, concept } from './coding.js';
import { conceptOf, dateTimeOf, fieldsOf, referenceOf, shellOf, textOf } from './received.js';

/**
 * The seriousness in adverse-event-seriousness: `Serious` or one of its kinds (`SeriousResultsInDeath`,
 * ...), or `Non-serious`. Compared without case: senders write `serious` as often as `Serious`.
 */
function readSerious(fields: Record<string, unknown>, issues: Issue[]): boolean {
  const seriousness = conceptOf(fields.seriousness);
  const codes = (seriousness?.coding ?? [])
    .filter(
      (c) => (c.system === undefined || c.system === SYSTEM.adverseEventSeriousness) && c.code !== undefined,
    )
    .map((c) => c.code!.toLowerCase());
  if (codes.some((c) => c.startsWith('serious'))) return true;
  if (codes.includes('non-serious')) return false;
  const said = seriousness === undefined ? 'no seriousness' : 'a seriousness that is not understood';
  issues.push(
    issue(
      'warning',
      'value',
      `The adverse event has ${said}; it was read as serious.`,
      'AdverseEvent.seriousness',
    ),
  );
  return true;
}

export function adverseEventFromFhir(resource: AdverseEvent, ctx: MappingContext): Read<KapAdverseEvent> {
  const issues: Issue[] = [];
  const fields = fieldsOf(resource) ?? {};
  if (fields.resourceType !== 'AdverseEvent') {
    issues.push(issue('error', 'structure', 'Expected an AdverseEvent.', 'resourceType'));
    return { value: undefined, issues };
  }
  const actuality = textOf(fields.actuality);
  if (actuality === 'potential') {
    issues.push(
      issue(
        'warning',
        'business-rule',
        'The adverse event is potential (a near miss), not one that happened.',
        'AdverseEvent.actuality',
      ),
    );
    return { value: undefined, issues };
  }
  if (actuality !== 'actual') {
    const said = actuality === undefined ? 'no actuality' : `the actuality "${actuality}"`;
    issues.push(
      issue(
        'warning',
        'value',
        `The adverse event has ${said}; it was read as actual.`,
        'AdverseEvent.actuality',
      ),
    );
  }
  const shell = shellOf(resource, 'AdverseEvent');
  const id = domainIdOf(ctx, shell, 'AdverseEvent', identifierSystem('AdverseEvent'));
  if (id === undefined)
    issues.push(issue('error', 'required', 'The AdverseEvent has no id.', 'AdverseEvent.id'));
  const patientId = ctx.idOf('Patient', referenceOf(fields.subject));
  if (patientId === undefined) {
    issues.push(
      issue('error', 'required', 'The adverse event names no known patient.', 'AdverseEvent.subject'),
    );
  }
  const occurredAt =
    dateTimeOf(fields.date) ?? dateTimeOf(fields.detected) ?? dateTimeOf(fields.recordedDate);
  if (occurredAt === undefined) {
    issues.push(
      issue(
        'error',
        'required',
        'The adverse event does not say when it occurred (date, detected or recordedDate).',
        'AdverseEvent.date',
      ),
    );
  }
  const serious = readSerious(fields, issues);
  if (id === undefined || patientId === undefined || occurredAt === undefined)
    return { value: undefined, issues };
  const value: KapAdverseEvent = { id, patientId, occurredAt, serious };
  const event = conceptOf(fields.event);
  const description = event?.text ?? event?.coding?.find((c) => c.display !== undefined)?.display;
  if (description !== undefined) value.description = description;
  const encounter = referenceOf(fields.encounter);
  const sessionId = ctx.idOf('Encounter', encounter);
  if (sessionId !== undefined) value.sessionId = sessionId;
  else if (fields.encounter !== undefined) {
    issues.push(
      issue('warning', 'value', 'The adverse event names no known session.', 'AdverseEvent.encounter'),
    );
  }
  readRecorded(resource, value);
  const source = sourceOf(shell);
  if (source !== undefined) value.source = source;
  return { value, issues };
}

const SEVERITIES = ['mild', 'moderate', 'severe'] as const;
const OUTCOMES = ['resolved', 'recovering', 'ongoing', 'resolvedWithSequelae', 'fatal', 'unknown'] as const;
const codeIn = <T extends string>(concept: unknown, system: string, known: readonly T[]): T | undefined =>
  known.find((k) => conceptOf(concept)?.coding?.some((c) => c.system === system && c.code === k));

/**
 * What the therapist records of an event in a medicine session, where the resource says it: its
 * kap-adverse-event code, severity, outcome, action taken, when it was recorded and its suspects.
 * None of it decides readiness (seriousness does), so what is not understood is left out.
 */
function readRecorded(resource: AdverseEvent, value: KapAdverseEvent): void {
  const fields = fieldsOf(resource) ?? {};
  const event = conceptOf(fields.event)?.coding?.find(
    (c) => c.system === codeSystemUrl('kap-adverse-event'),
  )?.code;
  if (event !== undefined) value.event = event;
  const severity = codeIn(fields.severity, SEVERITY_SYSTEM, SEVERITIES);
  if (severity !== undefined) value.severity = severity;
  const outcome = codeIn(fields.outcome, OUTCOME_SYSTEM, OUTCOMES);
  if (outcome !== undefined) value.outcome = outcome;
  const extensions = Array.isArray(fields.extension) ? (fields.extension as unknown[]) : [];
  const action = extensions.map(fieldsOf).find((e) => e?.url === profileUrl('kap-action-taken'))?.valueString;
  if (typeof action === 'string') value.actionTaken = action;
  const recorded = dateTimeOf(fields.recordedDate);
  if (recorded !== undefined) value.recordedAt = recorded;
  const entities = Array.isArray(fields.suspectEntity) ? (fields.suspectEntity as unknown[]) : [];
  const suspects = entities.flatMap((s) => {
    const ref = referenceOf(fieldsOf(s)?.instance)?.reference;
    return ref === undefined ? [] : [ref];
  });
  if (suspects.length > 0) value.suspects = suspects;
}

const SEVERITY_SYSTEM = 'http://terminology.hl7.org/CodeSystem/adverse-event-severity';
const OUTCOME_SYSTEM = 'http://terminology.hl7.org/CodeSystem/adverse-event-outcome';

/** An adverse event the therapist records in a medicine session, on the kap-adverse-event profile. */
export function adverseEventToFhir(event: KapAdverseEvent, ctx: MappingContext): AdverseEvent {
  const id = resourceIdFor(ctx, 'AdverseEvent', event.id);
  return {
    resourceType: 'AdverseEvent',
    ...(id === undefined ? {} : { id }),
    meta: { profile: [profileUrl('kap-adverse-event')] },
    ...(event.actionTaken === undefined
      ? {}
      : { extension: [{ url: profileUrl('kap-action-taken'), valueString: event.actionTaken }] }),
    identifier: businessIdentifier('AdverseEvent', event.id),
    actuality: 'actual',
    event: {
      ...(event.event === undefined
        ? {}
        : { coding: [{ system: codeSystemUrl('kap-adverse-event'), code: event.event }] }),
      ...(event.description === undefined ? {} : { text: event.description }),
    },
    subject: { reference: ctx.ref('Patient', event.patientId) },
    ...(event.sessionId === undefined
      ? {}
      : { encounter: { reference: ctx.ref('Encounter', event.sessionId) } }),
    date: event.occurredAt,
    ...(event.recordedAt === undefined ? {} : { recordedDate: event.recordedAt }),
    seriousness: event.serious
      ? concept(SYSTEM.adverseEventSeriousness, 'Serious', 'Serious')
      : concept(SYSTEM.adverseEventSeriousness, 'Non-serious', 'Non-serious'),
    ...(event.severity === undefined ? {} : { severity: concept(SEVERITY_SYSTEM, event.severity) }),
    ...(event.outcome === undefined ? {} : { outcome: concept(OUTCOME_SYSTEM, event.outcome) }),
    ...(event.suspects?.length
      ? { suspectEntity: event.suspects.map((reference) => ({ instance: { reference } })) }
      : {}),
  };
}
