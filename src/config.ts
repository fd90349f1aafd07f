/**
 * Configuration, from environment variables, loaded once and validated at start. Each variable is
 * declared once below, with its meaning and default; the README's table lists the same ones (a
 * test keeps them in step). A mistake stops the start with one line per wrong variable.
 */

export interface Config {
  host: string;
  port: number;
  /** PostgreSQL when set; otherwise SQLite at `sqliteFile`. */
  databaseUrl?: string;
  sqliteFile: string;
  ehrBaseUrl?: string;
  ehrBearerToken?: string;
  ehrTimeoutMs: number;
  /** How the EHR reaches kap-bridge, for subscription endpoints; the listening address when unset. */
  publicBaseUrl?: string;
  subscriptionSecret?: string;
  subscribeOnStart: boolean;
  syncIntervalSeconds: number;
  syncOverlapSeconds: number;
  systolicMax: number;
  diastolicMax: number;
  ehrFreshnessHours: number;
  bodyLimitBytes: number;
  outboxPollMs: number;
  outboxMaxAttempts: number;
  outboxBackoffBaseMs: number;
  outboxBackoffMaxMs: number;
  outboxBatchSize: number;
  outboxConcurrency: number;
  /** How long a patient's queue stays one instance's; unset: 3 × ehrTimeoutMs, at least a minute. */
  outboxLeaseMs?: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
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

const postgresUrl: Parse<string> = (raw) =>
  /^postgres(ql)?:\/\/.+/.test(raw) ? raw : { error: 'must be a postgres:// connection URL' };

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
    name: 'KAP_BODY_LIMIT_BYTES',
    key: 'bodyLimitBytes',
    description: 'Largest request body accepted',
    default: '5000000',
    parse: integer(1024, 100_000_000),
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
    name: 'LOG_LEVEL',
    key: 'logLevel',
    description: 'pino log level',
    default: 'info',
    parse: oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'),
  }),
];

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Configuration is not valid:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Reads and checks every variable; throws one ConfigError naming every mistake at once. A `job`
 * (sync, subscribe) does not register subscriptions at start, so it needs no shared secret.
 */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  purpose: 'serve' | 'job' = 'serve',
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
  if (purpose === 'serve' && config.subscribeOnStart && config.ehrBaseUrl && !config.subscriptionSecret) {
    problems.push(
      'KAP_SUBSCRIPTION_SECRET must be set when KAP_SUBSCRIBE_ON_START is true and KAP_EHR_BASE_URL is set (or set KAP_SUBSCRIBE_ON_START=false)',
    );
  }
  // A lease that runs out during a slow EHR request would let a second instance deliver the same patient.
  if (config.outboxLeaseMs !== undefined && config.outboxLeaseMs <= config.ehrTimeoutMs) {
    problems.push(
      `KAP_OUTBOX_LEASE_MS must be longer than KAP_EHR_TIMEOUT_MS (${config.ehrTimeoutMs}); got ${config.outboxLeaseMs}`,
    );
  }
  if (problems.length) throw new ConfigError(problems);
  return config;
}
