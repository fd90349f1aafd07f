/**
 * What kap-bridge's /fhir endpoint really does, as a CapabilityStatement: the EHR pushes the kept
 * types with create and update, in batch or transaction Bundles; what kap-bridge holds is read and
 * searched (src/fhir-endpoint/read.ts); each type names the profiles of
 * profiles/ written for it; how a client gets a token (SMART) is in `security`.
 */
import type { CapabilityStatement, CapabilityStatementRestResource } from 'fhir/r4';
import { CANONICAL_BASE } from '../fhir/codes.js';
import { readConformance } from '../fhir/conformance.js';
import { isKeptType, KEPT_TYPES } from '../intake.js';

/** The CapabilityStatement of the KAP package that this endpoint instantiates. */
export const PACKAGE_CAPABILITY = `${CANONICAL_BASE}/CapabilityStatement/kap-bridge`;

/** The profiles of profiles/ by the resource type they constrain. */
const PROFILES_BY_TYPE: ReadonlyMap<string, string[]> = (() => {
  const byType = new Map<string, string[]>();
  for (const sd of readConformance('StructureDefinition-')) {
    // Resource profiles only: an extension's definition constrains no resource type.
    if (sd.derivation !== 'constraint' || sd.kind !== 'resource') continue;
    if (typeof sd.type !== 'string' || typeof sd.url !== 'string') continue;
    byType.set(sd.type, [...(byType.get(sd.type) ?? []), sd.url]);
  }
  return byType;
})();

/** What /fhir reads and searches: the types it takes from the EHR and the types of its own profiles. */
export const READABLE_TYPES: ReadonlySet<string> = new Set([...KEPT_TYPES, ...PROFILES_BY_TYPE.keys()]);

const SEARCH_PARAMS: CapabilityStatementRestResource['searchParam'] = [
  {
    name: 'patient',
    type: 'reference',
    documentation: 'The patient the resource is about (subject, patient or for): Patient/[id] or [id]',
  },
  { name: 'identifier', type: 'token', documentation: 'system|value, |value (no system) or value' },
  {
    name: '_lastUpdated',
    type: 'date',
    documentation:
      "meta.lastUpdated, with eq, ne, gt, ge, lt, le, sa, eb; a date is a day in the practice's time zone",
  },
];

export interface CapabilityOptions {
  /** The token endpoint of the identity provider that issues kap-bridge's callers their tokens, when known. */
  tokenUrl?: string;
}

export function capabilityStatement(
  publicBaseUrl: string,
  version: string,
  options: CapabilityOptions = {},
): CapabilityStatement {
  const resource = (type: string): CapabilityStatementRestResource => {
    const profiles = PROFILES_BY_TYPE.get(type);
    return {
      type: type as CapabilityStatementRestResource['type'],
      ...(profiles ? { supportedProfile: profiles } : {}),
      interaction: [
        { code: 'read' },
        { code: 'vread' },
        { code: 'search-type' },
        ...(isKeptType(type) ? [{ code: 'create' as const }, { code: 'update' as const }] : []),
      ],
      versioning: 'versioned-update',
      readHistory: false,
      updateCreate: isKeptType(type),
      conditionalCreate: false,
      conditionalUpdate: false,
      searchParam: SEARCH_PARAMS,
    };
  };
  return {
    resourceType: 'CapabilityStatement',
    url: `${publicBaseUrl}/fhir/metadata`,
    name: 'KapBridge',
    title: 'kap-bridge FHIR endpoint',
    status: 'active',
    date: '2026-12-06',
    publisher: 'kap-bridge',
    kind: 'instance',
    text: {
      status: 'generated',
      div: `<div xmlns="http://www.w3.org/1999/xhtml"><p>kap-bridge ${version}: takes ${KEPT_TYPES.join(', ')} from the prescriber's EHR; reads and searches ${READABLE_TYPES.size} types it holds.</p></div>`,
    },
    instantiates: [PACKAGE_CAPABILITY],
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
        security: {
          cors: false,
          service: [
            {
              coding: [
                {
                  system: 'http://terminology.hl7.org/CodeSystem/restful-security-service',
                  code: 'SMART-on-FHIR',
                },
              ],
            },
          ],
          description:
            'A bearer token (RFC 6750) with SMART v2 system scopes per resource type (system/MedicationRequest.cu)' +
            (options.tokenUrl
              ? `, from the token endpoint ${options.tokenUrl} (SMART Backend Services; also in ${publicBaseUrl}/fhir/.well-known/smart-configuration)`
              : '') +
            "; the EHR's REST-hook notifications may authenticate with the shared secret in X-Kap-Subscription-Secret instead.",
        },
        resource: [...READABLE_TYPES].sort().map(resource),
        interaction: [{ code: 'batch' }, { code: 'transaction' }],
      },
    ],
  };
}

/**
 * SMART's discovery document (`.well-known/smart-configuration`): where a backend client gets its
 * token, and how. Only where the token endpoint is known (KAP_AUTH_TOKEN_URL).
 */
export function smartConfiguration(tokenUrl: string): Record<string, unknown> {
  return {
    token_endpoint: tokenUrl,
    grant_types_supported: ['client_credentials'],
    token_endpoint_auth_methods_supported: ['private_key_jwt'],
    token_endpoint_auth_signing_alg_values_supported: ['RS384', 'ES384'],
    scopes_supported: ['system/*.cruds', 'user/*.cruds'],
    capabilities: ['client-confidential-asymmetric', 'permission-v2'],
  };
}
