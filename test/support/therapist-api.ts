/**
 * kap-bridge's own HTTP API as the suites call it: one request and its answer (`send`), and the
 * therapist's client with the EHR's pushes for suites that run a service with no EHR (`therapistApi`);
 * what an OperationOutcome says.
 */
import type { OperationOutcome } from 'fhir/r4';
import { kapFetch } from './auth.js';

/** The subscription secret the EHR's pushes to /fhir carry; start the service with it. */
export const SUBSCRIPTION_SECRET = 'test-shared-secret';

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests read answers field by field, as a client would
  body: any;
}

/** Sends `text` (when given) with `headers` as a test client; the answer with its body parsed. */
export async function send(
  url: string,
  method: string,
  text: string | undefined,
  headers: Record<string, string>,
): Promise<Answer> {
  const res = await kapFetch(url, { method, headers, ...(text === undefined ? {} : { body: text }) });
  const answer = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    text: answer,
    body: answer ? JSON.parse(answer) : undefined,
  };
}

/** Calls on the service at `url()` (read when called: the service starts in a beforeAll). */
export function therapistApi(url: () => string) {
  async function call(method: string, path: string, body?: unknown): Promise<Answer> {
    const fhir = path.startsWith('/fhir');
    return send(`${url()}${path}`, method, body === undefined ? undefined : JSON.stringify(body), {
      ...(body === undefined ? {} : { 'content-type': fhir ? 'application/fhir+json' : 'application/json' }),
      ...(fhir ? { 'x-kap-subscription-secret': SUBSCRIPTION_SECRET } : {}),
    });
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
