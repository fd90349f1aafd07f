/**
 * Configuration, from environment variables, loaded once and validated at start. Each variable is
 * declared once below, with its meaning and default; the README's table lists the same ones (a
 * test keeps them in step). A mistake stops the start with one line per wrong variable.
 */

import { type InboundAuthConfig, readStaticTokens } from './auth/authentication.js';
import { isTimeZone } from './domain/time.js';
import { PATIENT_LINK_MODES, type PatientLinkMode, PRACTICE_IDENTIFIER_SYSTEM } from './patient-link.js';

export interface Config {
  host: string;
  port: number;
  /** PostgreSQL when set; otherwise SQLite at `sqliteFile`. */
  databaseUrl?: string;
  sqliteFile: string;
  ehrBaseUrl?: string;
  ehrBearerToken?: string;
  ehrTimeoutMs: number;
  /** How kap-bridge authenticates to the EHR; when unset, `bearer` if a bearer token is given, else `none`. */
  ehrAuth: EhrAuthKind;
  /** SMART Backend Services: the client id, the private key file, its `kid` and algorithm, the token URL. */
  ehrClientId?: string;
  ehrPrivateKeyFile?: string;
  /** Set from the JWK's `kid` when not given. */
  ehrKeyId?: string;
  /** Set from the key's type when not given. */
  ehrSigningAlg?: SigningAlg;
  ehrTokenUrl?: string;
  ehrScopes: string;
  /** How the EHR reaches kap-bridge, for subscription endpoints; the listening address when unset. */
  publicBaseUrl?: string;
  subscriptionSecret?: string;
  subscribeOnStart: boolean;
  /** The first wait before registration is tried again after a failure at start; doubled each time up to the max. */
  subscribeRetryBaseMs: number;
  subscribeRetryMaxMs: number;
  /** OTLP/HTTP endpoint for traces; tracing is off when unset. */
  otlpEndpoint?: string;
  syncIntervalSeconds: number;
  syncOverlapSeconds: number;
  systolicMax: number;
  diastolicMax: number;
  ehrFreshnessHours: number;
  practiceTimeZone: string;
  clearanceMaxDays: number;
  requireDispense: boolean;
  requireIntegration: boolean;
  predoseWindowMinutes: number;
  predoseChecks: string[];
  boosterWithinMinutes: number;
  monitoringMinutes: number;
  checkInMinutes: number;
  heartRateMin: number;
  heartRateMax: number;
  spo2Min: number;
  /** When a practice sees an EHR Patient's data: once the EHR confirms its care, or on the MRN alone. */
  patientLink: PatientLinkMode;
  /** The identifier system of a practice's Organization in the EHR (its value the practice id). */
  practiceIdentifierSystem: string;
  bodyLimitBytes: number;
  /** How long a client may take to send the request line and headers; then 408 and the connection closed. */
  headersTimeoutMs: number;
  /** How long a client may take to send the whole request, body included. */
  requestTimeoutMs: number;
  outboxPollMs: number;
  outboxMaxAttempts: number;
  outboxBackoffBaseMs: number;
  outboxBackoffMaxMs: number;
  outboxBatchSize: number;
  outboxConcurrency: number;
  /** How long a patient's queue stays one instance's; unset: 3 × ehrTimeoutMs, at least a minute. */
  outboxLeaseMs?: number;
  /** This instance's name on outbox leases, the same across its restarts; unset: host name and port. */
  outboxOwner?: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  authMode: 'jwt' | 'static';
  authJwks?: string;
  authIssuer?: string;
  authAudience?: string;
  authTokenUrl?: string;
  authAlgorithms: string[];
  authTenantClaim: string;
  authEhrClients: string[];
  authOperatorClients: string[];
  authStaticTokensFile?: string;
  authAllowStatic: boolean;
  consoleIdleMinutes: number;
  rateLimitPerSecond: number;
  maxBundleEntries: number;
  /** CDS Hooks: the `iss` values of the CDS clients trusted (the prescriber's EHR). */
  cdsIssuers: string[];
  /** CDS Hooks: the CDS client's JWK Set, a file path or an https URL (its `jku`, when one is sent). */
  cdsJwks?: string;
  /** CDS Hooks: the FHIR base URL the CDS client names in `fhirServer`; unset: `ehrBaseUrl`. */
  cdsFhirServer?: string;
  /** NODE_ENV=production: the static-token mode must be asked for explicitly. */
  production: boolean;
}

type Parse<T> = (raw: string) => T | { error: string };

const integer =
  (min: number, max: number): Parse<number> =>
  (raw) => {
    const n = Number(raw);
    return Number.isInteger(n) && n >= min && n <= max
      ? n
      : { error: `must be a whole number from ${min} to ${max}` };
  };

const url: Parse<string> = (raw) => {
  try {
    const u = new URL(raw);
    return u.protocol === 'http:' || u.protocol === 'https:'
      ? raw.replace(/\/+$/, '')
      : { error: 'must be an http(s) URL' };
  } catch {
    return { error: 'must be an http(s) URL, e.g. https://ehr.example.org/fhir' };
  }
};

const text: Parse<string> = (raw) => (raw.trim() ? raw : { error: 'must not be empty' });

const boolean: Parse<boolean> = (raw) =>
  /^(true|1|yes)$/i.test(raw)
    ? true
    : /^(false|0|no)$/i.test(raw)
      ? false
      : { error: 'must be true or false' };

const oneOf =
  <T extends string>(...values: T[]): Parse<T> =>
  (raw) =>
    (values as string[]).includes(raw) ? (raw as T) : { error: `must be one of ${values.join(', ')}` };

/** Asymmetric algorithms only: a shared-secret (HS*) or unsigned (`none`) token is never accepted. */
const JWT_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
];

const list =
  (allowed?: readonly string[]): Parse<string[]> =>
  (raw) => {
    const items = raw
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean);
    const wrong = allowed ? items.filter((x) => !allowed.includes(x)) : [];
    if (wrong.length) return { error: `may name only ${allowed!.join(', ')}; not ${wrong.join(', ')}` };
    return items;
  };

/** A JWKS: a file path, or an https URL (http only on the loopback interface). */
const jwksLocation: Parse<string> = (raw) => {
  if (!/^https?:\/\//.test(raw)) return text(raw);
  const u = new URL(raw);
  return u.protocol === 'https:' || ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname)
    ? raw
    : { error: 'must be a file path or an https URL' };
};

const postgresUrl: Parse<string> = (raw) =>
  /^postgres(ql)?:\/\/.+/.test(raw) ? raw : { error: 'must be a postgres:// connection URL' };

const EHR_AUTH_KINDS = ['none', 'bearer', 'smart-backend'] as const;
export type EhrAuthKind = (typeof EHR_AUTH_KINDS)[number];

/** The asymmetric algorithms SMART Backend Services asks servers to support; nothing else is signed. */
export const SIGNING_ALGS = ['RS384', 'ES384'] as const;
export type SigningAlg = (typeof SIGNING_ALGS)[number];

/** Why a token URL is refused, or undefined when it is fine: a client assertion never travels in clear. */
export function tokenUrlProblem(raw: string): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'must be an https URL, e.g. https://ehr.example.org/oauth2/token';
  }
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:' && isLoopback(url.hostname)) return undefined;
  return 'must be an https URL (http only for a loopback address such as 127.0.0.1)';
}

const isLoopback = (host: string): boolean =>
  host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);

const tokenUrl: Parse<string> = (raw) => {
  const problem = tokenUrlProblem(raw);
  return problem ? { error: problem } : raw;
};

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

interface Variable<K extends keyof Config = keyof Config> {
  name: string;
  key: K;
  description: string;
  /** Shown in the README; undefined means the variable is optional with no default. */
  default?: string;
  parse: Parse<Config[K]>;
  /** Never echoed back in an error message. */
  secret?: boolean;
}

const v = <K extends keyof Config>(x: Variable<K>): Variable => x as unknown as Variable;

export const VARIABLES: readonly Variable[] = [
  v({ name: 'HOST', key: 'host', description: 'Interface to listen on', default: '127.0.0.1', parse: text }),
  v({
    name: 'PORT',
    key: 'port',
    description: 'Port to listen on',
    default: '8080',
    parse: integer(0, 65535),
  }),
  v({
    name: 'DATABASE_URL',
    key: 'databaseUrl',
    description: 'PostgreSQL connection URL; set it to share one database between several instances',
    parse: postgresUrl,
    secret: true,
  }),
  v({
    name: 'KAP_SQLITE_FILE',
    key: 'sqliteFile',
    description: 'SQLite file used when DATABASE_URL is not set (created on first start)',
    default: './data/kap-bridge.db',
    parse: text,
  }),
  v({
    name: 'KAP_EHR_BASE_URL',
    key: 'ehrBaseUrl',
    description: "FHIR base URL of the prescriber's EHR",
    parse: url,
  }),
  v({
    name: 'KAP_EHR_BEARER_TOKEN',
    key: 'ehrBearerToken',
    description: 'Static bearer token for the EHR, when it needs one',
    parse: text,
    secret: true,
  }),
  v({
    name: 'KAP_EHR_TIMEOUT_MS',
    key: 'ehrTimeoutMs',
    description: 'How long one EHR request may take',
    default: '30000',
    parse: integer(100, 600_000),
  }),
  v({
    name: 'KAP_EHR_AUTH',
    key: 'ehrAuth',
    description:
      'How kap-bridge authenticates to the EHR: none, bearer (KAP_EHR_BEARER_TOKEN) or smart-backend (SMART Backend Services)',
    parse: oneOf(...EHR_AUTH_KINDS),
  }),
  v({
    name: 'KAP_EHR_CLIENT_ID',
    key: 'ehrClientId',
    description: "smart-backend: kap-bridge's client id, given by the EHR when its public key was registered",
    parse: text,
  }),
  v({
    name: 'KAP_EHR_PRIVATE_KEY_FILE',
    key: 'ehrPrivateKeyFile',
    description: "smart-backend: kap-bridge's private key, a PKCS#8 PEM or a JWK (JSON) file",
    parse: text,
  }),
  v({
    name: 'KAP_EHR_KEY_ID',
    key: 'ehrKeyId',
    description: "smart-backend: the kid of kap-bridge's public key in the JWKS registered with the EHR",
    parse: text,
  }),
  v({
    name: 'KAP_EHR_SIGNING_ALG',
    key: 'ehrSigningAlg',
    description: 'smart-backend: RS384 (RSA key) or ES384 (EC P-384 key)',
    parse: oneOf(...SIGNING_ALGS),
  }),
  v({
    name: 'KAP_EHR_TOKEN_URL',
    key: 'ehrTokenUrl',
    description: "smart-backend: the EHR's token endpoint (https; http only on a loopback address)",
    parse: tokenUrl,
  }),
  v({
    name: 'KAP_EHR_SCOPES',
    key: 'ehrScopes',
    description: 'smart-backend: the scopes asked for, separated by spaces',
    default: EHR_DEFAULT_SCOPES,
    parse: scopes,
  }),
  v({
    name: 'KAP_PUBLIC_BASE_URL',
    key: 'publicBaseUrl',
    description:
      'How the EHR reaches kap-bridge (subscription endpoints point at {this}/fhir); the listening address when unset',
    parse: url,
  }),
  v({
    name: 'KAP_SUBSCRIPTION_SECRET',
    key: 'subscriptionSecret',
    description: 'Shared secret the EHR sends in the X-Kap-Subscription-Secret header of each notification',
    parse: text,
    secret: true,
  }),
  v({
    name: 'KAP_SUBSCRIBE_ON_START',
    key: 'subscribeOnStart',
    description: 'Register REST-hook Subscriptions in the EHR at start',
    default: 'true',
    parse: boolean,
  }),
  v({
    name: 'KAP_SYNC_INTERVAL_SECONDS',
    key: 'syncIntervalSeconds',
    description: 'Catch-up sync period; 0 turns the periodic job off',
    default: '300',
    parse: integer(0, 86_400),
  }),
  v({
    name: 'KAP_SYNC_OVERLAP_SECONDS',
    key: 'syncOverlapSeconds',
    description: 'How far each catch-up window reaches back before the last checkpoint',
    default: '120',
    parse: integer(0, 86_400),
  }),
  v({
    name: 'KAP_BP_SYSTOLIC_MAX',
    key: 'systolicMax',
    description: 'Readiness: last systolic pressure above this is a safety flag (mmHg)',
    default: '140',
    parse: integer(60, 300),
  }),
  v({
    name: 'KAP_BP_DIASTOLIC_MAX',
    key: 'diastolicMax',
    description: 'Readiness: last diastolic pressure above this is a safety flag (mmHg)',
    default: '90',
    parse: integer(30, 200),
  }),
  v({
    name: 'KAP_EHR_FRESHNESS_HOURS',
    key: 'ehrFreshnessHours',
    description: 'Readiness: longer than this without news from the EHR and the status is reported as stale',
    default: '24',
    parse: integer(1, 24 * 90),
  }),
  v({
    name: 'KAP_PRACTICE_TIMEZONE',
    key: 'practiceTimeZone',
    description:
      "Readiness: the practice's IANA time zone; date-only values (a validity ending 2026-12-03) are days there",
    default: 'UTC',
    parse: (raw) =>
      isTimeZone(raw) ? raw : { error: 'must be an IANA time zone name, e.g. America/Los_Angeles' },
  }),
  v({
    name: 'KAP_CLEARANCE_MAX_DAYS',
    key: 'clearanceMaxDays',
    description: 'Readiness: how long a clearance decision that states no end of validity holds, in days',
    default: '180',
    parse: integer(1, 3660),
  }),
  v({
    name: 'KAP_REQUIRE_DISPENSE',
    key: 'requireDispense',
    description:
      'Readiness: a completed dispense of the current order is required (false for an EHR that sends no MedicationDispense)',
    default: 'true',
    parse: boolean,
  }),
  v({
    name: 'KAP_REQUIRE_INTEGRATION',
    key: 'requireIntegration',
    description: 'Readiness: an integration session is required between two medicine sessions',
    default: 'true',
    parse: boolean,
  }),
  v({
    name: 'KAP_PREDOSE_WINDOW_MINUTES',
    key: 'predoseWindowMinutes',
    description:
      'Medicine session: pre-dose readings count when taken in the session at most this long before the dose',
    default: '60',
    parse: integer(5, 360),
  }),
  v({
    name: 'KAP_PREDOSE_CHECKS',
    key: 'predoseChecks',
    description:
      'Medicine session: the vital signs a first dose needs in the session beforehand, within range (blood-pressure always; add heart-rate, spo2)',
    default: 'blood-pressure',
    parse: list(['blood-pressure', 'heart-rate', 'spo2']),
  }),
  v({
    name: 'KAP_BOOSTER_WITHIN_MINUTES',
    key: 'boosterWithinMinutes',
    description:
      "Medicine session: a booster (a later dose in the same session, within the order's dose per session) only this long after the first dose",
    default: '60',
    parse: integer(0, 240),
  }),
  v({
    name: 'KAP_MONITORING_MINUTES',
    key: 'monitoringMinutes',
    description: 'Medicine session: monitoring time from the first dose before discharge',
    default: '120',
    parse: integer(30, 720),
  }),
  v({
    name: 'KAP_CHECK_IN_MINUTES',
    key: 'checkInMinutes',
    description:
      "Medicine session: a remote session's chaperone checks in at least this often from the first dose",
    default: '15',
    parse: integer(1, 120),
  }),
  v({
    name: 'KAP_HEART_RATE_MIN',
    key: 'heartRateMin',
    description: 'Medicine session: a heart rate below this is out of range (/min)',
    default: '50',
    parse: integer(20, 200),
  }),
  v({
    name: 'KAP_HEART_RATE_MAX',
    key: 'heartRateMax',
    description: 'Medicine session: a heart rate above this is out of range (/min)',
    default: '110',
    parse: integer(40, 300),
  }),
  v({
    name: 'KAP_SPO2_MIN',
    key: 'spo2Min',
    description: 'Medicine session: an SpO2 below this is out of range (%)',
    default: '92',
    parse: integer(50, 100),
  }),
  v({
    name: 'KAP_PATIENT_LINK',
    key: 'patientLink',
    description:
      "When a practice sees an EHR Patient's data: ehr-confirmed (once the EHR confirms the practice's care: an accepted referral Task or an active CareTeam naming the practice's Organization) or mrn (the MRN alone; only for a deployment serving one practice)",
    default: 'ehr-confirmed',
    parse: oneOf(...PATIENT_LINK_MODES),
  }),
  v({
    name: 'KAP_PRACTICE_IDENTIFIER_SYSTEM',
    key: 'practiceIdentifierSystem',
    description:
      "The identifier system under which a practice's Organization in the EHR carries the practice id (the token's tenant)",
    default: PRACTICE_IDENTIFIER_SYSTEM,
    parse: text,
  }),
  v({
    name: 'KAP_BODY_LIMIT_BYTES',
    key: 'bodyLimitBytes',
    description: 'Largest request body accepted',
    default: '5000000',
    parse: integer(1024, 100_000_000),
  }),
  v({
    name: 'KAP_HEADERS_TIMEOUT_MS',
    key: 'headersTimeoutMs',
    description:
      'How long a client may take to send the request line and headers (408, connection closed); at most KAP_REQUEST_TIMEOUT_MS',
    default: '20000',
    parse: integer(1000, 600_000),
  }),
  v({
    name: 'KAP_REQUEST_TIMEOUT_MS',
    key: 'requestTimeoutMs',
    description: 'How long a client may take to send a whole request, body included (408, connection closed)',
    default: '60000',
    parse: integer(1000, 3_600_000),
  }),
  v({
    name: 'KAP_OUTBOX_POLL_MS',
    key: 'outboxPollMs',
    description: 'How often the outbox worker looks for changes to send to the EHR when idle',
    default: '1000',
    parse: integer(10, 3_600_000),
  }),
  v({
    name: 'KAP_OUTBOX_MAX_ATTEMPTS',
    key: 'outboxMaxAttempts',
    description:
      'Failed delivery attempts after which an outbox message is dead (kap-bridge outbox list --status dead)',
    default: '10',
    parse: integer(1, 1000),
  }),
  v({
    name: 'KAP_OUTBOX_BACKOFF_BASE_MS',
    key: 'outboxBackoffBaseMs',
    description: 'Outbox retry: the first wait ceiling, doubled per attempt, with full jitter',
    default: '1000',
    parse: integer(1, 3_600_000),
  }),
  v({
    name: 'KAP_OUTBOX_BACKOFF_MAX_MS',
    key: 'outboxBackoffMaxMs',
    description: "Outbox retry: the longest wait between attempts (the EHR's Retry-After may ask for longer)",
    default: '300000',
    parse: integer(1, 86_400_000),
  }),
  v({
    name: 'KAP_OUTBOX_BATCH_SIZE',
    key: 'outboxBatchSize',
    description: "Most of one patient's changes sent in one transaction Bundle",
    default: '20',
    parse: integer(1, 500),
  }),
  v({
    name: 'KAP_OUTBOX_CONCURRENCY',
    key: 'outboxConcurrency',
    description: 'Patients whose outbox batches one instance delivers to the EHR at the same time',
    default: '2',
    parse: integer(1, 32),
  }),
  v({
    name: 'KAP_OUTBOX_LEASE_MS',
    key: 'outboxLeaseMs',
    description:
      "How long a patient's queue stays with the instance delivering it: after a crash, how long before another instance takes it over; longer than KAP_EHR_TIMEOUT_MS",
    parse: integer(1000, 3_600_000),
  }),
  v({
    name: 'KAP_OUTBOX_OWNER',
    key: 'outboxOwner',
    description:
      "This instance's name on the outbox leases it holds: the same across its restarts, so that a restarted instance takes back at once the patients it held, and no other running instance's",
    parse: text,
  }),
  v({
    name: 'KAP_AUTH_MODE',
    key: 'authMode',
    description:
      'How callers authenticate: jwt (bearer JWTs checked against KAP_AUTH_JWKS) or static (tokens listed in KAP_AUTH_STATIC_TOKENS_FILE)',
    default: 'jwt',
    parse: oneOf('jwt', 'static'),
  }),
  v({
    name: 'KAP_AUTH_JWKS',
    key: 'authJwks',
    description: "jwt: the identity provider's keys, a JWKS file path or https URL",
    parse: jwksLocation,
  }),
  v({
    name: 'KAP_AUTH_ISSUER',
    key: 'authIssuer',
    description: 'jwt: the token issuer (iss) to accept',
    parse: text,
  }),
  v({
    name: 'KAP_AUTH_AUDIENCE',
    key: 'authAudience',
    description: "jwt: the audience (aud) tokens must name, e.g. kap-bridge's public base URL",
    parse: text,
  }),
  v({
    name: 'KAP_AUTH_TOKEN_URL',
    key: 'authTokenUrl',
    description:
      "The token endpoint where kap-bridge's callers get their tokens, told to clients in the CapabilityStatement's security",
    parse: tokenUrl,
  }),
  v({
    name: 'KAP_AUTH_ALGORITHMS',
    key: 'authAlgorithms',
    description: 'jwt: signature algorithms accepted, comma-separated (asymmetric only)',
    default: 'RS256,RS384,ES256,ES384',
    parse: list(JWT_ALGORITHMS),
  }),
  v({
    name: 'KAP_AUTH_TENANT_CLAIM',
    key: 'authTenantClaim',
    description: "jwt: the claim that names a therapist system's practice (tenant)",
    default: 'tenant',
    parse: text,
  }),
  v({
    name: 'KAP_AUTH_EHR_CLIENTS',
    key: 'authEhrClients',
    description: "jwt: client ids (client_id, azp or sub) that are the prescriber's EHR, comma-separated",
    default: '',
    parse: list(),
  }),
  v({
    name: 'KAP_AUTH_OPERATOR_CLIENTS',
    key: 'authOperatorClients',
    description: 'jwt: client ids of operators (metrics, audit trail), comma-separated',
    default: '',
    parse: list(),
  }),
  v({
    name: 'KAP_AUTH_STATIC_TOKENS_FILE',
    key: 'authStaticTokensFile',
    description:
      'static: JSON file listing each token by its SHA-256 with its client, kind, practice and scopes',
    parse: text,
  }),
  v({
    name: 'KAP_AUTH_ALLOW_STATIC',
    key: 'authAllowStatic',
    description: 'Accept KAP_AUTH_MODE=static when NODE_ENV=production',
    default: 'false',
    parse: boolean,
  }),
  v({
    name: 'KAP_CONSOLE_IDLE_MINUTES',
    key: 'consoleIdleMinutes',
    description: 'The console signs a person out after this long without a request',
    default: '30',
    parse: integer(1, 24 * 60),
  }),
  v({
    name: 'KAP_RATE_LIMIT_PER_SECOND',
    key: 'rateLimitPerSecond',
    description:
      'Requests per second each client may make on average (bursts of twice that); 0 turns the limit off',
    default: '100',
    parse: integer(0, 1_000_000),
  }),
  v({
    name: 'KAP_MAX_BUNDLE_ENTRIES',
    key: 'maxBundleEntries',
    description: 'Most entries accepted in one Bundle POSTed to /fhir',
    default: '5000',
    parse: integer(1, 100_000),
  }),
  v({
    name: 'KAP_SUBSCRIBE_RETRY_BASE_MS',
    key: 'subscribeRetryBaseMs',
    description:
      'After a failed subscription registration at start, the first wait before trying again; doubled each time up to KAP_SUBSCRIBE_RETRY_MAX_MS',
    default: '1000',
    parse: integer(10, 3_600_000),
  }),
  v({
    name: 'KAP_SUBSCRIBE_RETRY_MAX_MS',
    key: 'subscribeRetryMaxMs',
    description: 'The longest wait between subscription registration attempts',
    default: '300000',
    parse: integer(10, 86_400_000),
  }),
  v({
    name: 'OTEL_EXPORTER_OTLP_ENDPOINT',
    key: 'otlpEndpoint',
    description:
      'OpenTelemetry collector (OTLP over HTTP) that traces are sent to, e.g. http://127.0.0.1:4318; tracing is off when unset',
    parse: url,
  }),
  v({
    name: 'KAP_CDS_ISSUERS',
    key: 'cdsIssuers',
    description:
      "CDS Hooks: the issuers (iss) of the CDS clients trusted, comma-separated: the prescriber's EHR",
    default: '',
    parse: list(),
  }),
  v({
    name: 'KAP_CDS_JWKS',
    key: 'cdsJwks',
    description:
      "CDS Hooks: the CDS client's public keys, a JWKS file path or https URL; a token's jku must be this URL",
    parse: jwksLocation,
  }),
  v({
    name: 'KAP_CDS_FHIR_SERVER',
    key: 'cdsFhirServer',
    description:
      'CDS Hooks: the FHIR base URL the CDS client names in fhirServer, the only one whose fhirAuthorization is accepted',
    parse: url,
  }),
  v({
    name: 'LOG_LEVEL',
    key: 'logLevel',
    description: 'pino log level',
    default: 'info',
    parse: oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'),
  }),
];

/** What `serve` needs to authenticate its callers, one message per gap. */
function authProblems(config: Config, env: Record<string, string | undefined>): string[] {
  if (config.authMode === 'static') {
    const problems: string[] = [];
    const practices = staticPractices(config.authStaticTokensFile);
    if (config.patientLink === 'mrn' && practices.length > 1)
      problems.push(
        `KAP_PATIENT_LINK=mrn serves one practice, and KAP_AUTH_STATIC_TOKENS_FILE names ${practices.length} (${practices.join(', ')}): an MRN is not a key to another practice's patient. Use KAP_PATIENT_LINK=ehr-confirmed`,
      );
    if (!config.authStaticTokensFile)
      problems.push('KAP_AUTH_STATIC_TOKENS_FILE must name the tokens file when KAP_AUTH_MODE=static');
    if (config.production && !config.authAllowStatic)
      problems.push(
        'KAP_AUTH_MODE=static is refused when NODE_ENV=production: use jwt with an identity provider, or set KAP_AUTH_ALLOW_STATIC=true to accept static tokens knowingly',
      );
    return problems;
  }
  // A variable given but wrong is already named by its own check.
  return ['KAP_AUTH_JWKS', 'KAP_AUTH_ISSUER', 'KAP_AUTH_AUDIENCE']
    .filter((name) => !env[name])
    .map(
      (name) =>
        `${name} must be set when KAP_AUTH_MODE=jwt (or use KAP_AUTH_MODE=static for one practice without an identity provider)`,
    );
}

/** The practices the static tokens file names; none when it cannot be read (its own check says why). */
function staticPractices(file: string | undefined): string[] {
  if (!file) return [];
  try {
    return [...new Set(readStaticTokens(file).flatMap((t) => (t.tenant ? [t.tenant] : [])))].sort();
  } catch {
    return [];
  }
}

/** The inbound authentication settings of a loaded Config. */
export const inboundAuth = (config: Config): InboundAuthConfig => ({
  mode: config.authMode,
  algorithms: config.authAlgorithms,
  tenantClaim: config.authTenantClaim,
  ehrClients: config.authEhrClients,
  operatorClients: config.authOperatorClients,
  ...(config.authJwks ? { jwks: config.authJwks } : {}),
  ...(config.authIssuer ? { issuer: config.authIssuer } : {}),
  ...(config.authAudience ? { audience: config.authAudience } : {}),
  ...(config.authStaticTokensFile ? { staticTokensFile: config.authStaticTokensFile } : {}),
});

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Configuration is not valid:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * A check of a loaded Config by a module that reads outside it (the EHR's key file), run with the
 * variables' own checks so that a start names every mistake at once; it may settle values.
 */
export type StartCheck = (config: Config) => string[];

/**
 * Reads and checks every variable; throws one ConfigError naming every mistake at once. A `job`
 * (sync, subscribe) does not register subscriptions at start, so it needs no shared secret.
 */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  purpose: 'serve' | 'job' = 'serve',
  checks: readonly StartCheck[] = [],
): Config {
  const problems: string[] = [];
  const values: Record<string, unknown> = {};
  for (const variable of VARIABLES) {
    const raw = env[variable.name];
    const given = raw !== undefined && raw !== '';
    if (!given && variable.default === undefined) continue;
    const parsed = variable.parse(given ? raw : variable.default!);
    if (typeof parsed === 'object' && parsed !== null && 'error' in parsed) {
      const shown = variable.secret ? '' : ` (got "${raw}")`;
      problems.push(`${variable.name} ${parsed.error}${shown}`);
    } else {
      values[variable.key] = parsed;
    }
  }
  const config = values as unknown as Config;
  config.production = env.NODE_ENV === 'production';
  if (purpose === 'serve') problems.push(...authProblems(config, env));
  if (purpose === 'serve' && config.subscribeOnStart && config.ehrBaseUrl && !config.subscriptionSecret) {
    problems.push(
      'KAP_SUBSCRIPTION_SECRET must be set when KAP_SUBSCRIBE_ON_START is true and KAP_EHR_BASE_URL is set (or set KAP_SUBSCRIBE_ON_START=false)',
    );
  }
  if (config.headersTimeoutMs > config.requestTimeoutMs) {
    problems.push(
      `KAP_HEADERS_TIMEOUT_MS must not be longer than KAP_REQUEST_TIMEOUT_MS (${config.requestTimeoutMs}); got ${config.headersTimeoutMs}`,
    );
  }
  // A lease that runs out during a slow EHR request would let a second instance deliver the same patient.
  if (config.outboxLeaseMs !== undefined && config.outboxLeaseMs <= config.ehrTimeoutMs) {
    problems.push(
      `KAP_OUTBOX_LEASE_MS must be longer than KAP_EHR_TIMEOUT_MS (${config.ehrTimeoutMs}); got ${config.outboxLeaseMs}`,
    );
  }
  problems.push(...ehrAuthProblems(config, env));
  for (const check of checks) problems.push(...check(config));
  if (problems.length) throw new ConfigError(problems);
  return config;
}

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
function ehrAuthProblems(config: Config, env: Record<string, string | undefined>): string[] {
  const given = (name: string) => env[name] !== undefined && env[name] !== '';
  const auth: EhrAuthKind = config.ehrAuth ?? (given('KAP_EHR_BEARER_TOKEN') ? 'bearer' : 'none');
  config.ehrAuth = auth;
  const problems: string[] = [];
  if (auth === 'bearer' && !given('KAP_EHR_BEARER_TOKEN'))
    problems.push('KAP_EHR_BEARER_TOKEN must be set when KAP_EHR_AUTH is bearer');
  if (auth !== 'bearer' && given('KAP_EHR_BEARER_TOKEN'))
    problems.push(`KAP_EHR_BEARER_TOKEN is set, but KAP_EHR_AUTH is ${auth}; unset one of them`);
  if (auth !== 'smart-backend') {
    const stray = SMART_VARIABLES.filter(given);
    if (stray.length)
      problems.push(
        `${stray.join(', ')} ${stray.length > 1 ? 'are' : 'is'} set, but KAP_EHR_AUTH is ${auth}; set KAP_EHR_AUTH=smart-backend to use ${stray.length > 1 ? 'them' : 'it'}`,
      );
    return problems;
  }
  for (const [name, what] of NEEDED_FOR_SMART)
    if (!given(name)) problems.push(`${name} must be set when KAP_EHR_AUTH is smart-backend (${what})`);
  return problems;
}
