/**
 * Logging: pino JSON lines. Names, birth dates, identifiers, addresses, telecom, free text and
 * tokens are redacted wherever they appear in a logged object; request logs carry ids and
 * timings, never bodies.
 */
import { type Logger, pino } from 'pino';

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

/** Redacts the PHI keys at the top level and up to three levels down. */
const REDACT = PHI_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`, `*.*.*.${k}`]);

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    { level, base: { service: 'kap-bridge' }, redact: { paths: REDACT, censor: '[redacted]' } },
    destination,
  );
}

export type { Logger };
