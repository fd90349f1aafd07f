/**
 * kap-bridge's own HTTP API as the therapist's client and the EHR's push call it, for suites that run
 * a service with no EHR: each answer's status and parsed body, and what an OperationOutcome says.
 */
import type { OperationOutcome } from 'fhir/r4';
import { kapFetch } from './auth.js';

/** The subscription secret the EHR's pushes to /fhir carry; start the service with it. */
export const SUBSCRIPTION_SECRET = 'test-shared-secret';

export interface Answer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: tests read answers field by field, as a client would
  body: any;
}

/** Calls on the service at `url()` (read when called: the service starts in a beforeAll). */
export function therapistApi(url: () => string) {
  async function call(method: string, path: string, body?: unknown): Promise<Answer> {
    const fhir = path.startsWith('/fhir');
    const res = await kapFetch(`${url()}${path}`, {
      method,
      headers: {
        ...(body === undefined
          ? {}
          : { 'content-type': fhir ? 'application/fhir+json' : 'application/json' }),
        ...(fhir ? { 'x-kap-subscription-secret': SUBSCRIPTION_SECRET } : {}),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  }
  const post = (path: string, body: unknown = {}) => call('POST', `/api/v1${path}`, body);
  const get = (path: string) => call('GET', `/api/v1${path}`);
  /** Posts and expects success; the answer's body. */
  async function ok(path: string, body: unknown = {}, status = 201) {
    const a = await post(path, body);
    if (a.status !== status) throw new Error(`POST ${path}: ${a.status} ${JSON.stringify(a.body)}`);
    return a.body;
  }
  return { call, post, get, ok };
}

/** The codes an OperationOutcome's issues carry (`details.text`). */
export const codes = (a: Answer): string[] =>
  (a.body as OperationOutcome).issue.map((i) => i.details?.text ?? '').filter(Boolean);
/** The fields an OperationOutcome's issues name. */
export const expressions = (a: Answer): string[] =>
  (a.body as OperationOutcome).issue.flatMap((i) => i.expression ?? []);
