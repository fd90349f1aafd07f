/**
 * Logging: pino JSON lines. Names, birth dates, identifiers, addresses, telecom, free text and
 * tokens are redacted wherever they appear in a logged object; request logs carry ids and
 * timings, never bodies.
 */
import { type Logger, pino } from 'pino';
import { activeTraceId } from './telemetry/tracing.js';

const PHI_KEYS = [
  'name',
  'given',
  'family',
  'birthDate',
  'identifier',
  'identifiers',
  'address',
  'telecom',
  'text',
  'note',
  'valueString',
  'description',
  'findings',
  'reason',
  'intention',
  'authorization',
  'token',
  'secret',
  'password',
  'body',
  'resource',
];

/**
 * Redacts the PHI keys at the top level and up to three levels down, except an error's name: it is
 * its class (`EhrError`), never PHI, and says what failed. `err.name` is listed so that pino hands it
 * to the censor under its own path, where it is kept (a `*.name` match arrives without its parent).
 */
const REDACT = [...PHI_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`, `*.*.*.${k}`]), 'err.name'];
const censor = (value: unknown, path: readonly unknown[]): unknown =>
  path.length === 2 && path[0] === 'err' && path[1] === 'name' ? value : '[redacted]';

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'kap-bridge' },
      redact: { paths: REDACT, censor },
      // The trace id of the span the line is written in, when tracing is on.
      mixin: () => {
        const traceId = activeTraceId();
        return traceId ? { traceId } : {};
      },
    },
    destination,
  );
}

export type { Logger };
