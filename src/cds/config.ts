/** CDS Hooks: which CDS clients (the prescriber's EHR) are trusted, and the FHIR server they name. */
import { type Declarations, jwksLocation, list, url } from '../variables.js';

export interface CdsConfig {
  /** The `iss` values of the CDS clients trusted (the prescriber's EHR). */
  issuers: string[];
  /** The CDS client's JWK Set, a file path or an https URL (its `jku`, when one is sent). */
  jwks?: string;
  /** The FHIR base URL the CDS client names in `fhirServer`; unset: the EHR's base URL. */
  fhirServer?: string;
}

export const CDS_VARIABLES: Declarations<CdsConfig> = {
  issuers: {
    name: 'KAP_CDS_ISSUERS',
    description:
      "CDS Hooks: the issuers (iss) of the CDS clients trusted, comma-separated: the prescriber's EHR",
    default: '',
    parse: list(),
  },
  jwks: {
    name: 'KAP_CDS_JWKS',
    description:
      "CDS Hooks: the CDS client's public keys, a JWKS file path or https URL; a token's jku must be this URL",
    parse: jwksLocation,
  },
  fhirServer: {
    name: 'KAP_CDS_FHIR_SERVER',
    description:
      'CDS Hooks: the FHIR base URL the CDS client names in fhirServer, the only one whose fhirAuthorization is accepted',
    parse: url,
  },
};
