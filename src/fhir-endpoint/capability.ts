/**
 * What kap-bridge's /fhir endpoint really does, as a CapabilityStatement: the EHR pushes the kept
 * types with create and update, in batch or transaction Bundles; reads, searches and history
 * are not offered (the therapist asks through /api/v1).
 */
import type { CapabilityStatement } from 'fhir/r4';
import { KEPT_TYPES } from '../intake.js';

export function capabilityStatement(publicBaseUrl: string, version: string): CapabilityStatement {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2026-11-26',
    publisher: 'kap-bridge',
    kind: 'instance',
    software: { name: 'kap-bridge', version },
    implementation: {
      description:
        "kap-bridge: receives the prescriber EHR's clearance decisions, prescriptions and related resources for ketamine-assisted psychotherapy",
      url: `${publicBaseUrl}/fhir`,
    },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    rest: [
      {
        mode: 'server',
        documentation:
          'Resources of the listed types are validated, kept and linked to their patient; Observations are kept when KAP ' +
          'reads them (clearance decisions, scores, vital signs, mental status, session effects). Other resources inside a ' +
          'batch or transaction are acknowledged and not stored. Versions are deduplicated by (type, id, versionId), and an ' +
          'older version never replaces a newer one. Subscription notifications arrive here as updates.',
        resource: KEPT_TYPES.map((type) => ({
          type,
          interaction: [{ code: 'create' }, { code: 'update' }],
          versioning: 'versioned-update',
          updateCreate: true,
          conditionalCreate: false,
          conditionalUpdate: false,
        })),
        interaction: [{ code: 'batch' }, { code: 'transaction' }],
      },
    ],
  };
}
