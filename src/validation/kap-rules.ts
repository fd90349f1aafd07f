/**
 * Layer (c) of validation: KAP business rules, applied where a resource claims one of our
 * profiles or is taken in as a KAP prescription.
 */
import type { Resource } from 'fhir/r4';
import type { Issue } from '../fhir/outcome.js';

export interface KapRuleOptions {
  /** Treat the resource as a KAP prescription even without our profile (EHR intake). */
  asKapPrescription?: boolean;
}

export function checkKapRules(_resource: Resource, _options: KapRuleOptions = {}): Issue[] {
  return [];
}
