/**
 * The HTTP server's settings: where it listens, how the EHR reaches it, and the limits that keep a
 * client from holding it (body size, slow requests, request rate, Bundle size).
 */
import { type Declarations, integer, text, url } from '../variables.js';

export interface HttpConfig {
  host: string;
  port: number;
  /** How the EHR reaches kap-bridge, for subscription endpoints; the listening address when unset. */
  publicBaseUrl?: string;
  bodyLimitBytes: number;
  /** How long a client may take to send the request line and headers; then 408 and the connection closed. */
  headersTimeoutMs: number;
  /** How long a client may take to send the whole request, body included. */
  requestTimeoutMs: number;
  rateLimitPerSecond: number;
  maxBundleEntries: number;
}

export const HTTP_VARIABLES: Declarations<HttpConfig> = {
  host: { name: 'HOST', description: 'Interface to listen on', default: '127.0.0.1', parse: text },
  port: { name: 'PORT', description: 'Port to listen on', default: '8080', parse: integer(0, 65535) },
  publicBaseUrl: {
    name: 'KAP_PUBLIC_BASE_URL',
    description:
      'How the EHR reaches kap-bridge (subscription endpoints point at {this}/fhir); the listening address when unset',
    parse: url,
  },
  bodyLimitBytes: {
    name: 'KAP_BODY_LIMIT_BYTES',
    description: 'Largest request body accepted',
    default: '5000000',
    parse: integer(1024, 100_000_000),
  },
  headersTimeoutMs: {
    name: 'KAP_HEADERS_TIMEOUT_MS',
    description:
      'How long a client may take to send the request line and headers (408, connection closed); at most KAP_REQUEST_TIMEOUT_MS',
    default: '20000',
    parse: integer(1000, 600_000),
  },
  requestTimeoutMs: {
    name: 'KAP_REQUEST_TIMEOUT_MS',
    description: 'How long a client may take to send a whole request, body included (408, connection closed)',
    default: '60000',
    parse: integer(1000, 3_600_000),
  },
  rateLimitPerSecond: {
    name: 'KAP_RATE_LIMIT_PER_SECOND',
    description:
      'Requests per second each client may make on average (bursts of twice that); 0 turns the limit off',
    default: '100',
    parse: integer(0, 1_000_000),
  },
  maxBundleEntries: {
    name: 'KAP_MAX_BUNDLE_ENTRIES',
    description: 'Most entries accepted in one Bundle POSTed to /fhir',
    default: '5000',
    parse: integer(1, 100_000),
  },
};

/** The headers limit fits within the whole request limit. */
export const httpProblems = (http: HttpConfig): string[] =>
  http.headersTimeoutMs > http.requestTimeoutMs
    ? [
        `KAP_HEADERS_TIMEOUT_MS must not be longer than KAP_REQUEST_TIMEOUT_MS (${http.requestTimeoutMs}); got ${http.headersTimeoutMs}`,
      ]
    : [];
