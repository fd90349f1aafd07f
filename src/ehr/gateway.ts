/**
 * The one boundary to the prescriber's EHR. Every request goes through fhir-kit-client here, and
 * every failure leaves as one typed EhrError carrying the HTTP status and the EHR's
 * OperationOutcome, so callers decide on `kind`, never on a library's error shape.
 */
import type { Bundle, BundleEntry, CapabilityStatement, OperationOutcome, Resource } from 'fhir/r4';
import { Client, type FhirResource, type SearchParams } from 'fhir-kit-client';
import { PATH_ID } from '../fhir/ids.js';
import { badGateway, unavailable } from '../fhir/outcome.js';
import { inSpan, traceHeaders } from '../telemetry/tracing.js';
import { type EhrAuthentication, noAuthentication } from './authentication.js';

export type EhrErrorKind =
  | 'conflict'
  | 'not-found'
  | 'gone'
  | 'invalid'
  | 'unauthorized'
  | 'rate-limited'
  | 'unavailable'
  | 'network'
  | 'malformed';

export class EhrError extends Error {
  readonly kind: EhrErrorKind;
  readonly status?: number;
  readonly outcome?: OperationOutcome;
  /** From `Retry-After`, when the EHR said how long to wait. */
  readonly retryAfterMs?: number;
  constructor(
    kind: EhrErrorKind,
    message: string,
    extra: { status?: number; outcome?: OperationOutcome; retryAfterMs?: number } = {},
  ) {
    super(message);
    this.name = 'EhrError';
    this.kind = kind;
    this.status = extra.status;
    this.outcome = extra.outcome;
    this.retryAfterMs = extra.retryAfterMs;
  }
  /** Worth trying again later: the EHR was busy, down or unreachable. */
  get retryable(): boolean {
    return this.kind === 'rate-limited' || this.kind === 'unavailable' || this.kind === 'network';
  }
}

export const isEhrError = (e: unknown): e is EhrError => e instanceof EhrError;

/**
 * What a caller of kap-bridge is told when the EHR failed it: unavailable when the EHR was busy,
 * down or unreachable (worth trying again), a bad gateway when it answered with something unusable.
 */
export function ehrFailure(e: EhrError): OperationOutcome {
  const message = `The prescriber's EHR could not answer: ${e.kind}.`;
  return e.retryable ? unavailable(message) : badGateway(message);
}

function kindOf(status: number): EhrErrorKind {
  // A success status that still failed: the body was not JSON.
  if (status < 300) return 'malformed';
  // HAPI answers a stale If-Match with 409; the specification says 412. Both mean "re-read".
  if (status === 409 || status === 412) return 'conflict';
  if (status === 404) return 'not-found';
  if (status === 410) return 'gone';
  if (status === 401 || status === 403) return 'unauthorized';
  if (status === 429) return 'rate-limited';
  if (status >= 500) return 'unavailable';
  return 'invalid';
}

export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function asOutcome(data: unknown): OperationOutcome | undefined {
  let value = data;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      return undefined;
    }
  }
  return (value as Resource | undefined)?.resourceType === 'OperationOutcome'
    ? (value as OperationOutcome)
    : undefined;
}

/** A request the gateway refused to send because its URL left the EHR. */
class OffOrigin extends Error {}

/** Turns whatever fhir-kit-client or fetch threw into an EhrError. */
export function normaliseError(e: unknown, what: string): EhrError {
  if (e instanceof EhrError) return e;
  if (e instanceof OffOrigin) return new EhrError('malformed', `${what}: ${e.message}`);
  const err = e as {
    response?: { status?: number; data?: unknown };
    config?: { headers?: Headers };
    name?: string;
    message?: string;
  };
  const status = err.response?.status;
  if (typeof status === 'number' && status >= 300 && status < 400) {
    // Redirects are not followed: the next hop could be any server, and it would get the token.
    const to = originOf(err.config?.headers?.get?.('location') ?? '');
    return new EhrError(
      'malformed',
      `${what}: the EHR answered ${status}, a redirect${to ? ` to ${to}` : ''}; not followed`,
      { status },
    );
  }
  if (typeof status === 'number') {
    const outcome = asOutcome(err.response?.data);
    const retryAfterMs = parseRetryAfter(err.config?.headers?.get?.('retry-after'));
    const detail = outcome?.issue?.[0]?.diagnostics;
    return new EhrError(kindOf(status), `${what}: the EHR answered ${status}${detail ? `: ${detail}` : ''}`, {
      status,
      outcome,
      retryAfterMs,
    });
  }
  if (err.name === 'SyntaxError')
    return new EhrError('malformed', `${what}: the EHR answered with something that is not JSON`);
  if (err.name === 'AbortError' || err.name === 'TimeoutError')
    return new EhrError('network', `${what}: the EHR did not answer in time`);
  return new EhrError('network', `${what}: the EHR could not be reached (${err.message ?? 'unknown error'})`);
}

export interface EhrGatewayOptions {
  baseUrl: string;
  /** How kap-bridge proves itself to the EHR; none by default. */
  auth?: EhrAuthentication;
  timeoutMs?: number;
  /** Told of every HTTP request to the EHR once it is answered or has failed (metrics, logs). */
  observer?: (call: EhrCall) => void;
}

/** The kinds of request kap-bridge makes to the EHR: the `operation` label of its metrics and spans. */
export type EhrOperation =
  | 'capabilities'
  | 'read'
  | 'update'
  | 'create'
  | 'transaction'
  | 'batch'
  | 'operation'
  | 'validate'
  | 'search';

export interface EhrCall {
  operation: EhrOperation;
  seconds: number;
  /** `ok`, or the EhrError's kind. */
  outcome: 'ok' | EhrErrorKind;
  /** Whether the EHR answered for itself (see EhrHealth). */
  up: boolean;
}

/** The EHR's state as the last request found it. */
export interface EhrHealth {
  /** `up`: it answered; `failing`: unreachable, timed out, 5xx, 429 or refusing our credential; `unknown`: no request yet. */
  state: 'up' | 'failing' | 'unknown';
  lastCallAt?: string;
  lastUpAt?: string;
  /** The EhrError kind of the last request, when it failed. */
  lastError?: EhrErrorKind;
}

export interface UpdateResult<T extends Resource> {
  resource: T;
  created: boolean;
}

const originOf = (url: string, base?: string): string | undefined => {
  try {
    return new URL(url, base).origin;
  } catch {
    return undefined;
  }
};

const RESOURCE_TYPE = /^[A-Z][A-Za-z]{1,63}$/;

export class EhrGateway {
  readonly baseUrl: string;
  private readonly origin: string;
  private readonly client: Client;
  private readonly auth: EhrAuthentication;
  private readonly timeoutMs: number;
  private readonly observer?: (call: EhrCall) => void;
  private last?: EhrHealth;

  constructor(options: EhrGatewayOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.origin = new URL(this.baseUrl).origin;
    this.client = new Client({
      baseUrl: this.baseUrl,
      // fetch would follow a redirect to any server, with our Authorization header on the way.
      requestOptions: { redirect: 'manual' },
      // Every request fhir-kit-client builds passes here: the one check that none leaves the EHR.
      requestSigner: (url) => {
        const problem = this.offOrigin(url);
        if (problem) throw new OffOrigin(problem);
      },
    });
    this.auth = options.auth ?? noAuthentication;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    if (options.observer) this.observer = options.observer;
  }

  /**
   * One request, with the credential of the moment. A 401 may mean the token was revoked or expired
   * early: a renewable credential is renewed and the request sent once more; a second 401 is final.
   */
  private async call<T>(
    operation: EhrOperation,
    what: string,
    headers: Record<string, string>,
    run: (options: object) => Promise<unknown>,
  ): Promise<T> {
    const authorization = await this.auth.authorization();
    try {
      return await this.send<T>(operation, what, headers, authorization, run);
    } catch (e) {
      if (!(e instanceof EhrError && e.status === 401 && authorization && this.auth.refused(authorization)))
        throw e;
    }
    try {
      return await this.send<T>(operation, what, headers, await this.auth.authorization(), run);
    } catch (e) {
      if (!(e instanceof EhrError && e.status === 401)) throw e;
      throw new EhrError('unauthorized', `${e.message} (also with a fresh access token)`, {
        status: 401,
        ...(e.outcome ? { outcome: e.outcome } : {}),
      });
    }
  }

  /** One HTTP request to the EHR: timed, traced, and remembered as the EHR's last known state. */
  private async send<T>(
    operation: EhrOperation,
    what: string,
    headers: Record<string, string>,
    authorization: string | undefined,
    run: (options: object) => Promise<unknown>,
  ): Promise<T> {
    const started = performance.now();
    return inSpan(`EHR ${operation}`, { 'kap.ehr.operation': operation }, async (span) => {
      const options = {
        headers: {
          ...(authorization ? { authorization } : {}),
          'cache-control': 'no-cache',
          ...headers,
          ...traceHeaders(),
        },
        signal: AbortSignal.timeout(this.timeoutMs),
      };
      let result: unknown;
      try {
        result = await run(options);
        if (
          typeof result !== 'object' ||
          result === null ||
          typeof (result as Resource).resourceType !== 'string'
        ) {
          throw new EhrError('malformed', `${what}: the EHR answered without a FHIR resource`);
        }
      } catch (e) {
        const error = normaliseError(e, what);
        if (error.status) span.setAttribute('http.response.status_code', error.status);
        this.observed(operation, started, error);
        throw error;
      }
      this.observed(operation, started);
      return result as T;
    });
  }

  private observed(operation: EhrOperation, started: number, error?: EhrError): void {
    const at = new Date().toISOString();
    // Any answer the EHR gave itself (a 404, a conflict, a refusal of ours) shows it up; a network
    // failure, a timeout, a 5xx or a refused credential shows it failing.
    const up = !error || !(error.retryable || error.kind === 'unauthorized');
    this.last = {
      state: up ? 'up' : 'failing',
      lastCallAt: at,
      ...(up ? { lastUpAt: at } : this.last?.lastUpAt ? { lastUpAt: this.last.lastUpAt } : {}),
      ...(error ? { lastError: error.kind } : {}),
    };
    this.observer?.({
      operation,
      seconds: (performance.now() - started) / 1000,
      outcome: error?.kind ?? 'ok',
      up,
    });
  }

  /** What the last request to the EHR found, for /healthz and the logs; no request is made for it. */
  health(): EhrHealth {
    return this.last ?? { state: 'unknown' };
  }

  /** Refuses a type or id that would change the URL's path, before anything is sent. */
  private checkPath(what: string, resourceType: string, id?: string): void {
    if (!RESOURCE_TYPE.test(resourceType) || (id !== undefined && !PATH_ID.test(id)))
      throw new EhrError('invalid', `${what}: not a resource type and id kap-bridge would ask the EHR for`);
  }

  capabilities(): Promise<CapabilityStatement> {
    return this.call('capabilities', 'Reading the EHR capability statement', {}, (options) =>
      this.client.capabilityStatement(options),
    );
  }

  async read<T extends Resource>(resourceType: T['resourceType'], id: string): Promise<T> {
    this.checkPath('Reading a resource', resourceType, id);
    return this.call('read', `Reading ${resourceType}/${id}`, {}, (options) =>
      this.client.read({ resourceType, id, options }),
    );
  }

  /** Update with `If-Match` on the version we last saw; a stale version is an EhrError of kind `conflict`. */
  async update<T extends Resource & { id: string }>(resource: T, ifMatchVersion?: string): Promise<T> {
    this.checkPath('Updating a resource', resource.resourceType, resource.id);
    const headers: Record<string, string> =
      ifMatchVersion === undefined ? {} : { 'if-match': `W/"${ifMatchVersion}"` };
    return this.call('update', `Updating ${resource.resourceType}/${resource.id}`, headers, (options) =>
      this.client.update({
        resourceType: resource.resourceType,
        id: resource.id,
        body: resource as unknown as FhirResource,
        options,
      }),
    );
  }

  create<T extends Resource>(resource: T): Promise<T> {
    return this.call<T>('create', `Creating a ${resource.resourceType}`, {}, (options) =>
      this.client.create({
        resourceType: resource.resourceType,
        body: resource as unknown as FhirResource,
        options,
      }),
    );
  }

  /**
   * A transaction (or batch) Bundle; the EHR's response Bundle comes back. An answer that places an
   * entry on another server is refused: its `location` would become the record of where ours is kept.
   */
  async transaction(bundle: Bundle): Promise<Bundle> {
    const what = `Sending a ${bundle.type} Bundle of ${bundle.entry?.length ?? 0} entries`;
    const answer = await this.call<Bundle>(
      bundle.type === 'batch' ? 'batch' : 'transaction',
      what,
      {},
      (options) =>
        bundle.type === 'batch'
          ? this.client.batch({ body: bundle as unknown as FhirResource, options })
          : this.client.transaction({ body: bundle as unknown as FhirResource, options }),
    );
    for (const [i, entry] of (answer.entry ?? []).entries()) {
      const problem = entry.response?.location ? this.offOrigin(entry.response.location) : undefined;
      if (problem) throw new EhrError('malformed', `${what}: entry ${i + 1}'s location: ${problem}`);
    }
    return answer;
  }

  /** A named operation by GET, e.g. `StructureDefinition/$snapshot?url=...`. */
  operation<T extends Resource>(
    resourceType: string,
    name: string,
    params: SearchParams,
    id?: string,
  ): Promise<T> {
    return this.call<T>('operation', `Calling ${resourceType}/${id ? `${id}/` : ''}${name}`, {}, (options) =>
      this.client.operation({ name, resourceType, id, method: 'GET', input: params, options }),
    );
  }

  /** `$validate` on the EHR; the OperationOutcome comes back whether or not the resource is valid. */
  validate(resource: Resource, profile?: string): Promise<OperationOutcome> {
    // The resource as the body and the profile in the URL: HAPI resolves a stored profile this way,
    // not from a Parameters `profile` of type uri or canonical.
    const query = profile ? `?profile=${encodeURIComponent(profile)}` : '';
    const headers = { 'content-type': 'application/fhir+json' };
    return this.call<OperationOutcome>(
      'validate',
      `Validating a ${resource.resourceType} on the EHR`,
      headers,
      (options) =>
        this.client.request(`${resource.resourceType}/$validate${query}`, {
          method: 'POST',
          body: resource,
          options,
        }),
    ).catch((e: unknown) => {
      // HAPI answers an invalid resource with 412 and the outcome; that is an answer, not a failure.
      if (e instanceof EhrError && e.outcome && (e.status === 412 || e.status === 422 || e.status === 400))
        return e.outcome;
      throw e;
    });
  }

  /**
   * Every resource matching a search, across all pages. `next` links are followed only while they
   * stay on the EHR's own origin.
   */
  async *search<T extends Resource>(
    resourceType: T['resourceType'],
    params: SearchParams = {},
  ): AsyncGenerator<T> {
    const what = `Searching ${resourceType}`;
    this.checkPath(what, resourceType);
    let page = await this.call<Bundle>('search', what, {}, (options) =>
      this.client.search({ resourceType, searchParams: params, options }),
    );
    for (;;) {
      for (const entry of page.entry ?? []) {
        if (entry.resource && (entry.search?.mode ?? 'match') === 'match') yield entry.resource as T;
      }
      const next = page.link?.find((l) => l.relation === 'next')?.url;
      if (!next) return;
      page = await this.call<Bundle>('search', what, {}, (options) => this.client.request(next, { options }));
    }
  }

  /** Why a URL is not the EHR's, or undefined when it is: no request leaves for a host we were not told of. */
  private offOrigin(url: string): string | undefined {
    const origin = originOf(url, `${this.baseUrl}/`);
    if (!origin) return 'the EHR sent an unusable link';
    return origin === this.origin
      ? undefined
      : `the EHR sent a link to another server (${origin}, not ${this.origin}); not followed`;
  }
}

/** The resources of a response Bundle's entries, in order; entries without one are skipped. */
export const entryResources = (bundle: Bundle): Resource[] =>
  (bundle.entry ?? []).map((e: BundleEntry) => e.resource).filter((r): r is Resource => r !== undefined);
