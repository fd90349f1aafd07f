/**
 * The EHR boundary's settings: where the EHR is and how kap-bridge authenticates to it (`ehr`), and
 * how the EHR's changes come in, by notifications to Subscriptions and by the periodic catch-up
 * (`sync`). Declarations only: this file imports no other EHR code, so that src/config.ts may
 * collect it (the key file is read and checked by src/ehr/private-key-check.ts).
 */
import {
  boolean,
  type Declarations,
  given,
  integer,
  oneOf,
  type Parse,
  text,
  tokenUrl,
  url,
} from '../variables.js';

export const EHR_AUTH_KINDS = ['none', 'bearer', 'smart-backend'] as const;
export type EhrAuthKind = (typeof EHR_AUTH_KINDS)[number];

/** The asymmetric algorithms SMART Backend Services asks servers to support; nothing else is signed. */
export const SIGNING_ALGS = ['RS384', 'ES384'] as const;
export type SigningAlg = (typeof SIGNING_ALGS)[number];

export interface EhrConfig {
  baseUrl?: string;
  bearerToken?: string;
  timeoutMs: number;
  /** How kap-bridge authenticates to the EHR; when unset, `bearer` if a bearer token is given, else `none`. */
  auth: EhrAuthKind;
  /** SMART Backend Services: the client id, the private key file, its `kid` and algorithm, the token URL. */
  clientId?: string;
  privateKeyFile?: string;
  /** Set from the JWK's `kid` when not given. */
  keyId?: string;
  /** Set from the key's type when not given. */
  signingAlg?: SigningAlg;
  tokenUrl?: string;
  scopes: string;
}

export interface SyncConfig {
  subscriptionSecret?: string;
  subscribeOnStart: boolean;
  /** The first wait before registration is tried again after a failure at start; doubled each time up to the max. */
  subscribeRetryBaseMs: number;
  subscribeRetryMaxMs: number;
  intervalSeconds: number;
  overlapSeconds: number;
}

/** OAuth scope tokens (RFC 6749 section 3.3), separated by single spaces. */
const scopes: Parse<string> = (raw) => {
  const tokens = raw.trim().split(/\s+/);
  return tokens.every((t) => /^[\x21\x23-\x5B\x5D-\x7E]+$/.test(t))
    ? tokens.join(' ')
    : { error: 'must be scopes separated by spaces, e.g. "system/Patient.rs system/Observation.crus"' };
};

/**
 * SMART v2 system scopes for what kap-bridge does in the EHR: create, read, update and search what
 * it writes (and its Subscriptions); read and search what it only takes in.
 */
export const EHR_DEFAULT_SCOPES = [
  ...[
    'CarePlan',
    'Consent',
    'Encounter',
    'EpisodeOfCare',
    'Goal',
    'Group',
    'MedicationAdministration',
    'MedicationDispense',
    'MedicationRequest',
    'Observation',
    'ServiceRequest',
    'Subscription',
    'Task',
  ].map((type) => `system/${type}.crus`),
  ...[
    'AdverseEvent',
    'AllergyIntolerance',
    'CareTeam',
    'ClinicalImpression',
    'Condition',
    'Medication',
    'Patient',
    'Practitioner',
  ].map((type) => `system/${type}.rs`),
]
  .sort()
  .join(' ');

export const EHR_VARIABLES: Declarations<EhrConfig> = {
  baseUrl: { name: 'KAP_EHR_BASE_URL', description: "FHIR base URL of the prescriber's EHR", parse: url },
  bearerToken: {
    name: 'KAP_EHR_BEARER_TOKEN',
    description: 'Static bearer token for the EHR, when it needs one',
    parse: text,
    secret: true,
  },
  timeoutMs: {
    name: 'KAP_EHR_TIMEOUT_MS',
    description: 'How long one EHR request may take',
    default: '30000',
    parse: integer(100, 600_000),
  },
  auth: {
    name: 'KAP_EHR_AUTH',
    description:
      'How kap-bridge authenticates to the EHR: none, bearer (KAP_EHR_BEARER_TOKEN) or smart-backend (SMART Backend Services)',
    parse: oneOf(...EHR_AUTH_KINDS),
  },
  clientId: {
    name: 'KAP_EHR_CLIENT_ID',
    description: "smart-backend: kap-bridge's client id, given by the EHR when its public key was registered",
    parse: text,
  },
  privateKeyFile: {
    name: 'KAP_EHR_PRIVATE_KEY_FILE',
    description: "smart-backend: kap-bridge's private key, a PKCS#8 PEM or a JWK (JSON) file",
    parse: text,
  },
  keyId: {
    name: 'KAP_EHR_KEY_ID',
    description: "smart-backend: the kid of kap-bridge's public key in the JWKS registered with the EHR",
    parse: text,
  },
  signingAlg: {
    name: 'KAP_EHR_SIGNING_ALG',
    description: 'smart-backend: RS384 (RSA key) or ES384 (EC P-384 key)',
    parse: oneOf(...SIGNING_ALGS),
  },
  tokenUrl: {
    name: 'KAP_EHR_TOKEN_URL',
    description: "smart-backend: the EHR's token endpoint (https; http only on a loopback address)",
    parse: tokenUrl,
  },
  scopes: {
    name: 'KAP_EHR_SCOPES',
    description: 'smart-backend: the scopes asked for, separated by spaces',
    default: EHR_DEFAULT_SCOPES,
    parse: scopes,
  },
};

export const SYNC_VARIABLES: Declarations<SyncConfig> = {
  subscriptionSecret: {
    name: 'KAP_SUBSCRIPTION_SECRET',
    description: 'Shared secret the EHR sends in the X-Kap-Subscription-Secret header of each notification',
    parse: text,
    secret: true,
  },
  subscribeOnStart: {
    name: 'KAP_SUBSCRIBE_ON_START',
    description: 'Register REST-hook Subscriptions in the EHR at start',
    default: 'true',
    parse: boolean,
  },
  subscribeRetryBaseMs: {
    name: 'KAP_SUBSCRIBE_RETRY_BASE_MS',
    description:
      'After a failed subscription registration at start, the first wait before trying again; doubled each time up to KAP_SUBSCRIBE_RETRY_MAX_MS',
    default: '1000',
    parse: integer(10, 3_600_000),
  },
  subscribeRetryMaxMs: {
    name: 'KAP_SUBSCRIBE_RETRY_MAX_MS',
    description: 'The longest wait between subscription registration attempts',
    default: '300000',
    parse: integer(10, 86_400_000),
  },
  intervalSeconds: {
    name: 'KAP_SYNC_INTERVAL_SECONDS',
    description: 'Catch-up sync period; 0 turns the periodic job off',
    default: '300',
    parse: integer(0, 86_400),
  },
  overlapSeconds: {
    name: 'KAP_SYNC_OVERLAP_SECONDS',
    description: 'How far each catch-up window reaches back before the last checkpoint',
    default: '120',
    parse: integer(0, 86_400),
  },
};

/** Subscriptions registered at start need the secret the EHR's notifications are checked against. */
export const subscriptionProblems = (sync: SyncConfig, ehr: EhrConfig): string[] =>
  sync.subscribeOnStart && ehr.baseUrl && !sync.subscriptionSecret
    ? [
        'KAP_SUBSCRIPTION_SECRET must be set when KAP_SUBSCRIBE_ON_START is true and KAP_EHR_BASE_URL is set (or set KAP_SUBSCRIBE_ON_START=false)',
      ]
    : [];

const SMART_VARIABLES = [
  'KAP_EHR_CLIENT_ID',
  'KAP_EHR_PRIVATE_KEY_FILE',
  'KAP_EHR_KEY_ID',
  'KAP_EHR_SIGNING_ALG',
  'KAP_EHR_TOKEN_URL',
  'KAP_EHR_SCOPES',
];

const NEEDED_FOR_SMART: [string, string][] = [
  ['KAP_EHR_CLIENT_ID', 'the client id the EHR gave kap-bridge when its public key was registered'],
  ['KAP_EHR_TOKEN_URL', "the EHR's token endpoint, token_endpoint in its .well-known/smart-configuration"],
  ['KAP_EHR_PRIVATE_KEY_FILE', "kap-bridge's private key, a PKCS#8 PEM or a JWK file"],
];

/**
 * KAP_EHR_AUTH and what it needs, one message per mistake with its fix. Settles the authentication
 * kind; the key file itself is the EHR boundary's to read (src/ehr/private-key-check.ts).
 */
export function ehrAuthProblems(ehr: EhrConfig, env: Record<string, string | undefined>): string[] {
  const isGiven = (name: string) => given(env, name);
  const auth: EhrAuthKind = ehr.auth ?? (isGiven('KAP_EHR_BEARER_TOKEN') ? 'bearer' : 'none');
  ehr.auth = auth;
  const problems: string[] = [];
  if (auth === 'bearer' && !isGiven('KAP_EHR_BEARER_TOKEN'))
    problems.push('KAP_EHR_BEARER_TOKEN must be set when KAP_EHR_AUTH is bearer');
  if (auth !== 'bearer' && isGiven('KAP_EHR_BEARER_TOKEN'))
    problems.push(`KAP_EHR_BEARER_TOKEN is set, but KAP_EHR_AUTH is ${auth}; unset one of them`);
  if (auth !== 'smart-backend') {
    const stray = SMART_VARIABLES.filter(isGiven);
    if (stray.length)
      problems.push(
        `${stray.join(', ')} ${stray.length > 1 ? 'are' : 'is'} set, but KAP_EHR_AUTH is ${auth}; set KAP_EHR_AUTH=smart-backend to use ${stray.length > 1 ? 'them' : 'it'}`,
      );
    return problems;
  }
  for (const [name, what] of NEEDED_FOR_SMART)
    if (!isGiven(name)) problems.push(`${name} must be set when KAP_EHR_AUTH is smart-backend (${what})`);
  return problems;
}
