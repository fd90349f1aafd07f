/** CDS Hooks: which CDS clients (the prescriber's EHR) are trusted, and the FHIR server they name. */
import { type Declarations, jwksLocation, list, type Parse, url } from '../variables.js';

export interface CdsConfig {
  /** The `iss` values of the CDS clients trusted (the prescriber's EHR). */
  issuers: string[];
  /** The CDS client's JWK Set, a file path or an https URL (its `jku`, when one is sent). */
  jwks?: string;
  /** The FHIR base URL the CDS client names in `fhirServer`; unset: the EHR's base URL. */
  fhirServer?: string;
  /** The web origins whose pages may call the CDS Services from a browser (CORS). */
  corsOrigins: string[];
}

/** Web origins (scheme, host and port, as a browser sends `Origin`), comma-separated. */
const origins: Parse<string[]> = (raw) => {
  const items = list()(raw) as string[];
  const wrong = items.filter((o) => {
    try {
      const u = new URL(o);
      return (u.protocol !== 'https:' && u.protocol !== 'http:') || u.origin !== o;
    } catch {
      return true;
    }
  });
  if (wrong.length)
    return { error: `must be origins such as https://ehr.example.org (no path); not ${wrong.join(', ')}` };
  return items;
};

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
  corsOrigins: {
    name: 'KAP_CDS_CORS_ORIGINS',
    description:
      'CDS Hooks: the web origins of browser-based CDS clients allowed to call the CDS Services (CORS), comma-separated; none when unset',
    default: '',
    parse: origins,
  },
};
