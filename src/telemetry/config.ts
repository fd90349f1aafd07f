/** What the service tells its operators: how much it logs, and where its traces go. */
import { type Declarations, oneOf, url } from '../variables.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface TelemetryConfig {
  logLevel: LogLevel;
  /** OTLP/HTTP endpoint for traces; tracing is off when unset. */
  otlpEndpoint?: string;
}

export const TELEMETRY_VARIABLES: Declarations<TelemetryConfig> = {
  logLevel: {
    name: 'LOG_LEVEL',
    description: 'pino log level',
    default: 'info',
    parse: oneOf(...LOG_LEVELS),
  },
  otlpEndpoint: {
    name: 'OTEL_EXPORTER_OTLP_ENDPOINT',
    description:
      'OpenTelemetry collector (OTLP over HTTP) that traces are sent to, e.g. http://127.0.0.1:4318; tracing is off when unset',
    parse: url,
  },
};
