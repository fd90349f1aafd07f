/**
 * Consent <-> InformedConsent: the signed informed consent agreement, scope `treatment`, category
 * LOINC 59284-0, the agreement as an attachment or a DocumentReference. The course it covers is a
 * provision on the EpisodeOfCare with meaning `dependents` (the episode and what refers to it).
 */
import type { Consent } from 'fhir/r4';
import type { ConsentStatus, InformedConsent } from '../domain/model.js';
import { HL7_CODE, identifierSystem, LOINC, SYSTEM } from '../fhir/codes.js';
import { type Issue, issue } from '../fhir/outcome.js';
import { domainIdOf, type MappingContext, type Read, sourceOf } from '../fhir/reference-context.js';
import { concept, hasCode, ownOpening } from './coding.js';

const STATUSES: readonly ConsentStatus[] = [
  'draft',
  'proposed',
  'active',
  'rejected',
  'inactive',
  'entered-in-error',
];

export function consentToFhir(consent: InformedConsent, ctx: MappingContext): Consent {
  const resource: Consent = {
    ...ownOpening(ctx, 'Consent', consent.id, 'kap-consent'),
    status: consent.status,
    scope: concept(SYSTEM.consentScope, HL7_CODE.treatment, 'Treatment'),
    category: [{ ...concept(SYSTEM.loinc, LOINC.consentCategory), text: 'Informed consent agreement' }],
    patient: { reference: ctx.ref('Patient', consent.patientId) },
    dateTime: consent.dateTime,
    policyRule: concept(SYSTEM.actCode, HL7_CODE.optIn, 'opt-in'),
  };
  const doc = consent.document;
  if (doc?.documentReference !== undefined) {
    resource.sourceReference = {
      reference: doc.documentReference,
      ...(doc.title === undefined ? {} : { display: doc.title }),
    };
  } else if (doc !== undefined) {
    resource.sourceAttachment = {
      ...(doc.contentType === undefined ? {} : { contentType: doc.contentType }),
      ...(doc.url === undefined ? {} : { url: doc.url }),
      ...(doc.title === undefined ? {} : { title: doc.title }),
    };
  }
  const period = consent.period;
  if (consent.episodeId !== undefined || period !== undefined) {
    resource.provision = {
      type: 'permit',
      ...(period === undefined ? {} : { period }),
      ...(consent.episodeId === undefined
        ? {}
        : {
            data: [
              {
                meaning: 'dependents',
                reference: { reference: ctx.ref('EpisodeOfCare', consent.episodeId) },
              },
            ],
          }),
    };
  }
  return resource;
}

export function consentFromFhir(resource: Consent, ctx: MappingContext): Read<InformedConsent> {
  const issues: Issue[] = [];
  const id = domainIdOf(ctx, resource, 'Consent', identifierSystem('Consent'));
  if (id === undefined) issues.push(issue('error', 'required', 'The consent has no id.', 'Consent.id'));
  const patientId = ctx.idOf('Patient', resource.patient);
  if (patientId === undefined) {
    issues.push(issue('error', 'required', 'The consent names no known patient.', 'Consent.patient'));
  }
  const status = STATUSES.find((s) => s === resource.status);
  if (status === undefined) {
    issues.push(
      issue(
        'error',
        'code-invalid',
        `The consent status "${resource.status}" cannot be used.`,
        'Consent.status',
      ),
    );
  }
  if (resource.dateTime === undefined) {
    issues.push(
      issue('error', 'required', 'The consent does not say when it was signed.', 'Consent.dateTime'),
    );
  }
  if (!hasCode(resource.scope, SYSTEM.consentScope, HL7_CODE.treatment)) {
    issues.push(
      issue('warning', 'code-invalid', 'The consent is not scoped as consent to treatment.', 'Consent.scope'),
    );
  }
  if (
    id === undefined ||
    patientId === undefined ||
    status === undefined ||
    resource.dateTime === undefined
  ) {
    return { value: undefined, issues };
  }
  const value: InformedConsent = { id, patientId, status, dateTime: resource.dateTime };
  const episodeId = (resource.provision?.data ?? [])
    .map((d) => ctx.idOf('EpisodeOfCare', d.reference))
    .find((e) => e !== undefined);
  if (episodeId !== undefined) value.episodeId = episodeId;
  const period = resource.provision?.period;
  if (period?.start !== undefined || period?.end !== undefined) {
    value.period = {
      ...(period.start === undefined ? {} : { start: period.start }),
      ...(period.end === undefined ? {} : { end: period.end }),
    };
  }
  const source = sourceOf(resource);
  if (source !== undefined) value.source = source;
  const attachment = resource.sourceAttachment;
  const reference = resource.sourceReference;
  if (reference?.reference !== undefined) {
    value.document = {
      documentReference: reference.reference,
      ...(reference.display === undefined ? {} : { title: reference.display }),
    };
  } else if (attachment !== undefined) {
    value.document = {
      ...(attachment.url === undefined ? {} : { url: attachment.url }),
      ...(attachment.contentType === undefined ? {} : { contentType: attachment.contentType }),
      ...(attachment.title === undefined ? {} : { title: attachment.title }),
    };
  } else {
    issues.push(
      issue('warning', 'required', 'The consent does not carry the signed agreement.', 'Consent.source'),
    );
  }
  return { value, issues };
}
