/**
 * Configuration, from environment variables, loaded once and validated at start. Each module that
 * uses configuration declares its own variables, with their meaning and default, next to the typed
 * section it is handed (src/variables.ts says how); this file collects the sections into one table,
 * which the README's table follows (a test keeps them in step), and checks them all at once: a
 * mistake stops the start with one line per wrong variable.
 */

import { AUTH_VARIABLES, type AuthConfig, authProblems } from './auth/config.js';
import { CDS_VARIABLES, type CdsConfig } from './cds/config.js';
import { MEDICINE_VARIABLES, type MedicineConfig, READINESS_VARIABLES } from './domain/config.js';
import type { ReadinessPolicy } from './domain/readiness.js';
import {
  EHR_VARIABLES,
  type EhrConfig,
  ehrAuthProblems,
  SYNC_VARIABLES,
  type SyncConfig,
  subscriptionProblems,
} from './ehr/config.js';
import { HTTP_VARIABLES, type HttpConfig, httpProblems } from './http/config.js';
import { OUTBOX_VARIABLES, type OutboxConfig, outboxProblems } from './outbox/config.js';
import { PATIENT_LINK_VARIABLES, type PatientLinkPolicy } from './patient-link.js';
import { STORE_VARIABLES, type StoreConfig } from './store/config.js';
import { TELEMETRY_VARIABLES, type TelemetryConfig } from './telemetry/config.js';
import type { Declarations, Variable } from './variables.js';

/** The whole configuration, one section per module; each module is handed its own section. */
export interface Config {
  http: HttpConfig;
  store: StoreConfig;
  ehr: EhrConfig;
  sync: SyncConfig;
  readiness: ReadinessPolicy;
  medicine: MedicineConfig;
  patientLink: PatientLinkPolicy;
  outbox: OutboxConfig;
  auth: AuthConfig;
  cds: CdsConfig;
  telemetry: TelemetryConfig;
}

const SECTIONS: { [S in keyof Config]: Declarations<Config[S]> } = {
  http: HTTP_VARIABLES,
  store: STORE_VARIABLES,
  ehr: EHR_VARIABLES,
  sync: SYNC_VARIABLES,
  readiness: READINESS_VARIABLES,
  medicine: MEDICINE_VARIABLES,
  patientLink: PATIENT_LINK_VARIABLES,
  outbox: OUTBOX_VARIABLES,
  auth: AUTH_VARIABLES,
  cds: CDS_VARIABLES,
  telemetry: TELEMETRY_VARIABLES,
};

/** Every variable, with the section and field it sets: the README's table and the start-up check read this. */
export const VARIABLES: readonly (Variable<unknown> & { section: keyof Config; key: string })[] =
  Object.entries(SECTIONS).flatMap(([section, variables]) =>
    Object.entries(variables as Record<string, Variable<unknown>>).map(([key, variable]) => ({
      ...variable,
      section: section as keyof Config,
      key,
    })),
  );

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

/** Whether the variable `name` has a value in a loaded Config (given, or by default). */
export function isSet(config: Config, name: string): boolean {
  const variable = VARIABLES.find((v) => v.name === name);
  if (!variable) throw new Error(`No configuration variable ${name}`);
  return (config[variable.section] as unknown as Record<string, unknown>)[variable.key] !== undefined;
}

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
  const sections = Object.fromEntries(Object.keys(SECTIONS).map((s) => [s, {}])) as Record<
    keyof Config,
    Record<string, unknown>
  >;
  for (const variable of VARIABLES) {
    const raw = env[variable.name];
    const given = raw !== undefined && raw !== '';
    if (!given && variable.default === undefined) continue;
    const parsed = variable.parse(given ? raw : variable.default!);
    if (typeof parsed === 'object' && parsed !== null && 'error' in parsed) {
      const shown = variable.secret ? '' : ` (got "${raw}")`;
      problems.push(`${variable.name} ${parsed.error}${shown}`);
    } else {
      sections[variable.section][variable.key] = parsed;
    }
  }
  const config = sections as unknown as Config;
  if (purpose === 'serve') {
    problems.push(...authProblems(config.auth, config.patientLink.mode, env));
    problems.push(...subscriptionProblems(config.sync, config.ehr));
  }
  problems.push(...httpProblems(config.http));
  problems.push(...outboxProblems(config.outbox, config.ehr.timeoutMs));
  problems.push(...ehrAuthProblems(config.ehr, env));
  for (const check of checks) problems.push(...check(config));
  if (problems.length) throw new ConfigError(problems);
  return config;
}
