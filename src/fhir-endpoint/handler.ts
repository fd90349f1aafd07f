/**
 * The EHR-facing FHIR endpoint, free of HTTP: a request in, an outcome and a resource out (as
 * Medplum's fhir-router), every failure a thrown OperationOutcomeError. The HTTP layer (src/http)
 * alone turns the outcome into a status and adds Location and ETag.
 */
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Bundle, BundleEntry, OperationOutcome, Resource } from 'fhir/r4';
import type { Need } from '../auth/access.js';
import { PATH_ID } from '../fhir/id.js';
import {
  allOk,
  badRequest,
  created,
  issuesOf,
  notAllowed,
  notFound,
  OperationOutcomeError,
  preconditionFailed,
  prefixIssues,
  statusOf,
  toOutcome,
  tooLarge,
} from '../fhir/outcome.js';
import {
  checkInbound,
  type IntakeOutcome,
  isKeptType,
  KEPT_TYPES,
  keep,
  keeps,
  type ResourceValidator,
} from '../intake.js';
import { readingWarnings } from '../record.js';
import type { Store, StoreTx } from '../store/store.js';
import { capabilityStatement } from './capability.js';

export interface FhirRequest {
  method: string;
  /** Path segments after /fhir, e.g. ['MedicationRequest', 'rx1']. */
  segments: string[];
  /** The parsed JSON body; undefined when there was none. */
  body: unknown;
  ifMatch?: string;
}

/**
 * What the endpoint answers: the outcome (`allOk`, `created`, with any warnings about what was
 * kept) and the resource it is about: the one asked for, or the one kept.
 */
export interface FhirAnswer {
  outcome: OperationOutcome;
  resource: Resource;
}

export interface FhirEndpointDeps {
  store: Store;
  validator: ResourceValidator;
  publicBaseUrl: string;
  version: string;
  /** Reads a resource from the EHR, for id-only subscription notifications. */
  fetchFromEhr?: (type: string, id: string) => Promise<Resource>;
  /** Called after the EHR has been heard from, e.g. to tell readiness that the record is fresh. */
  now?: () => Date;
  /** Largest number of entries accepted in one Bundle. */
  maxBundleEntries?: number;
}

/**
 * What a request does to which resource types, for the scope check: PUT updates, POST creates, and a
 * Bundle does what its entries say. Types kap-bridge does not keep are acknowledged without being
 * stored, so they need no scope.
 */
export function interactionsOf(req: Pick<FhirRequest, 'method' | 'segments' | 'body'>): Need[] {
  const [type] = req.segments;
  if (type !== undefined) {
    // Other methods write nothing and are refused by the endpoint itself (405).
    if (!isKeptType(type) || (req.method !== 'POST' && req.method !== 'PUT')) return [];
    return [{ resourceType: type, interaction: req.method === 'POST' ? 'c' : 'u' }];
  }
  const entries = (req.body as Bundle | undefined)?.entry;
  if (req.method !== 'POST' || !Array.isArray(entries)) return [];
  return entries.flatMap((e): Need[] => {
    const t = (e as BundleEntry | null)?.resource?.resourceType;
    if (typeof t !== 'string' || !isKeptType(t)) return [];
    return [{ resourceType: t, interaction: e.request?.method === 'POST' ? 'c' : 'u' }];
  });
}

/** The resources a request names, `Type/id`, for the audit trail. */
export function entitiesOf(req: Pick<FhirRequest, 'segments' | 'body'>): string[] {
  const [type, id] = req.segments;
  if (type !== undefined) return id === undefined ? [] : [`${type}/${id}`];
  const entries = (req.body as Bundle | undefined)?.entry;
  if (!Array.isArray(entries)) return [];
  return entries.flatMap((e) => {
    const r = (e as BundleEntry | null)?.resource;
    return r && typeof r.resourceType === 'string' && typeof r.id === 'string' && isKeptType(r.resourceType)
      ? [`${r.resourceType}/${r.id}`]
      : [];
  });
}

const fail = (outcome: OperationOutcome): never => {
  throw new OperationOutcomeError(outcome);
};

export async function handleFhir(req: FhirRequest, deps: FhirEndpointDeps): Promise<FhirAnswer> {
  const [type, id, ...rest] = req.segments;
  if (req.method === 'GET' && type === 'metadata' && id === undefined) {
    return { outcome: allOk(), resource: capabilityStatement(deps.publicBaseUrl, deps.version) };
  }
  if (req.method === 'POST' && type === undefined) return handleBundle(req.body, deps);
  if (type === undefined || rest.length > 0) return fail(notFound('There is nothing at this path.'));
  if (!isKeptType(type)) {
    return fail(
      notFound(
        `kap-bridge does not take ${type} resources; it takes ${KEPT_TYPES.join(', ')}.`,
        undefined,
        'not-supported',
      ),
    );
  }
  if (req.method === 'PUT' && id !== undefined) return handlePut(type, id, req, deps);
  if (req.method === 'POST' && id === undefined) return handlePost(type, req.body, deps);
  return fail(
    notAllowed(`${req.method} is not supported here; the EHR sends PUT ${type}/[id] or POST ${type}.`),
  );
}

/** Where a kept resource can be read, its version's URL when it has one. */
export function locationOf(publicBaseUrl: string, resource: Resource): string {
  const v = resource.meta?.versionId;
  return `${publicBaseUrl}/fhir/${resource.resourceType}/${resource.id}${v ? `/_history/${v}` : ''}`;
}

/** The weak entity tag of a resource's version, when it has one. */
export function etagOf(resource: Resource): string | undefined {
  const v = resource.meta?.versionId;
  return v ? `W/"${v}"` : undefined;
}

/** Stores a checked resource and says whether it was new; answers with what the store now holds. */
async function store(
  resource: Resource,
  tx: StoreTx,
  receivedAt: string,
): Promise<{ created: boolean; outcome: IntakeOutcome; held: Resource }> {
  const before = await tx.getResource(resource.resourceType, resource.id!);
  const outcome = await keep(resource, tx, receivedAt);
  const held = outcome === 'stale' ? (before?.resource ?? resource) : resource;
  return { created: before === undefined && outcome === 'stored', outcome, held };
}

const receivedAt = (deps: FhirEndpointDeps): string => (deps.now?.() ?? new Date()).toISOString();

async function handlePut(
  type: string,
  id: string,
  req: FhirRequest,
  deps: FhirEndpointDeps,
): Promise<FhirAnswer> {
  if (!PATH_ID.test(id))
    fail(
      badRequest(
        `"${id.slice(0, 80)}" is not a valid FHIR id (1-64 letters, digits, "-" or ".").`,
        undefined,
        'value',
      ),
    );
  let body = req.body;
  if (body === undefined) {
    // An id-only subscription notification: the resource itself must be read from the EHR.
    if (!deps.fetchFromEhr)
      fail(
        badRequest(
          'The request has no body, and kap-bridge has no EHR to read it from.',
          undefined,
          'required',
        ),
      );
    body = await deps.fetchFromEhr!(type, id);
  }
  const resource = checkInbound(body, deps.validator);
  if (resource.resourceType !== type) {
    fail(badRequest(`The body is a ${resource.resourceType}, but the URL says ${type}.`, 'resourceType'));
  }
  if (resource.id !== id)
    fail(badRequest(`The body's id "${resource.id}" is not the URL's id "${id}".`, `${type}.id`));
  const at = receivedAt(deps);
  const result = await deps.store.transaction(async (tx) => {
    if (req.ifMatch !== undefined) {
      // A mirror's If-Match: the EHR may name the version it sends (HAPI's REST-hook does) or the
      // version it last saw here. Anything else is a write based on a version we never held.
      const held = (await tx.getResource(type, id))?.resource.meta?.versionId;
      const wanted = /^(?:W\/)?"?([^"]*)"?$/.exec(req.ifMatch.trim())?.[1];
      if (wanted !== resource.meta?.versionId && wanted !== held) {
        fail(
          preconditionFailed(
            `If-Match asked for version ${wanted}, but kap-bridge holds version ${held ?? 'none'}.`,
          ),
        );
      }
    }
    return store(resource, tx, at);
  });
  return kept(result);
}

/**
 * The answer to a kept resource: the resource as held or, when readiness cannot read what it relies
 * on in it, an OperationOutcome with a warning naming the element (the resource is kept all the same).
 */
function kept(result: { created: boolean; held: Resource }): FhirAnswer {
  const warnings = readingWarnings(result.held);
  return {
    outcome: toOutcome(warnings, result.created ? 'created' : 'ok'),
    resource: result.held,
  };
}

async function handlePost(type: string, body: unknown, deps: FhirEndpointDeps): Promise<FhirAnswer> {
  const checked = checkInbound(body, deps.validator);
  if (checked.resourceType !== type) {
    fail(badRequest(`The body is a ${checked.resourceType}, but the URL says ${type}.`, 'resourceType'));
  }
  const resource = checked.id ? checked : { ...checked, id: randomUUID() };
  const at = receivedAt(deps);
  const result = await deps.store.transaction((tx) => store(resource, tx, at));
  return kept(result);
}

interface CheckedEntry {
  index: number;
  resource?: Resource;
  error?: OperationOutcomeError;
}

/** Checks one Bundle entry; the issues' expressions point into the Bundle. */
function checkEntry(entry: BundleEntry, index: number, deps: FhirEndpointDeps): CheckedEntry {
  const at = `Bundle.entry[${index}]`;
  try {
    const method = entry.request?.method;
    if (method !== undefined && method !== 'PUT' && method !== 'POST') {
      fail(
        badRequest(
          `kap-bridge takes PUT and POST entries only, not ${method}.`,
          `${at}.request.method`,
          'not-supported',
        ),
      );
    }
    // JSON null is no resource either (FHIR JSON has no nulls).
    if (entry.resource === undefined || entry.resource === null)
      fail(badRequest('The entry has no resource.', `${at}.resource`, 'required'));
    const type = (entry.resource as { resourceType?: unknown }).resourceType;
    if (typeof type === 'string' && !keeps(entry.resource))
      return { index, resource: entry.resource as Resource };
    let resource: Resource;
    try {
      resource = checkInbound(entry.resource, deps.validator);
    } catch (e) {
      if (!(e instanceof OperationOutcomeError)) throw e;
      const issues = prefixIssues(issuesOf(e.outcome), `${at}.resource`, String(type));
      throw new OperationOutcomeError(toOutcome(issues, e.kind));
    }
    // The request names the type it writes: an entry saying one type and carrying another is refused.
    const url = /^([A-Za-z]+)(?:\/([A-Za-z0-9\-.]{1,64}))?(?:\?.*)?$/.exec(entry.request?.url ?? '');
    if (entry.request?.url !== undefined && url?.[1] !== resource.resourceType)
      fail(badRequest(`The entry's request.url is not a ${resource.resourceType} URL.`, `${at}.request.url`));
    const urlId = url?.[2];
    return { index, resource: resource.id ? resource : { ...resource, id: urlId ?? randomUUID() } };
  } catch (e) {
    if (e instanceof OperationOutcomeError) return { index, error: e };
    throw e;
  }
}

async function handleBundle(body: unknown, deps: FhirEndpointDeps): Promise<FhirAnswer> {
  const bundle = body as Bundle | undefined;
  if (bundle?.resourceType !== 'Bundle') {
    fail(badRequest('POST to the base takes a batch or transaction Bundle.', 'resourceType'));
  }
  if (bundle!.type !== 'batch' && bundle!.type !== 'transaction') {
    fail(
      badRequest(
        `A ${String(bundle!.type)} Bundle cannot be posted here; send a batch or a transaction.`,
        'Bundle.type',
        'value',
      ),
    );
  }
  if (bundle!.entry !== undefined && !Array.isArray(bundle!.entry))
    fail(badRequest('Bundle.entry must be a list of entries.', 'Bundle.entry', 'structure'));
  const entries = bundle!.entry ?? [];
  const max = deps.maxBundleEntries ?? 5000;
  if (entries.length > max)
    fail(
      tooLarge(`The Bundle has ${entries.length} entries; at most ${max} are taken at once.`, 'Bundle.entry'),
    );
  // A Bundle whose entries are not objects (null, a string) is not a Bundle: refused whole.
  const broken = entries.findIndex((e) => e === null || typeof e !== 'object' || Array.isArray(e));
  if (broken >= 0)
    fail(badRequest('A Bundle entry must be an object.', `Bundle.entry[${broken}]`, 'structure'));
  const resolved = bundle!.type === 'transaction' ? resolveFullUrls(entries) : entries;
  const checked = resolved.map((e, i) => checkEntry(e, i, deps));
  const at = receivedAt(deps);

  if (bundle!.type === 'transaction') {
    const failed = checked.filter((c) => c.error);
    if (failed.length > 0) {
      const issues = failed.flatMap((c) => issuesOf(c.error!.outcome));
      // A malformed entry makes the whole transaction a bad request; else the first entry's refusal speaks.
      const kind = failed.some((c) => c.error!.kind === 'bad-request')
        ? 'bad-request'
        : failed[0]!.error!.kind;
      throw new OperationOutcomeError(toOutcome(issues, kind));
    }
    // All or nothing: every entry is kept in one store transaction.
    const results = await deps.store.transaction(async (tx) => {
      const out: BundleEntry[] = [];
      for (const c of checked) out.push(await responseEntry(c.resource!, tx, at, deps));
      return out;
    });
    return {
      outcome: allOk(),
      resource: { resourceType: 'Bundle', type: 'transaction-response', entry: results } as Bundle,
    };
  }

  const results: BundleEntry[] = [];
  for (const c of checked) {
    if (c.error) {
      results.push({ response: { status: String(statusOf(c.error.outcome)), outcome: c.error.outcome } });
      continue;
    }
    results.push(await deps.store.transaction((tx) => responseEntry(c.resource!, tx, at, deps)));
  }
  return {
    outcome: allOk(),
    resource: { resourceType: 'Bundle', type: 'batch-response', entry: results } as Bundle,
  };
}

/**
 * A transaction's entries may point at each other by `urn:uuid:` fullUrls. Each such entry gets
 * its id (the uuid itself, a valid FHIR id) and every reference to it is rewritten to `Type/id`,
 * as a FHIR server does on a transaction.
 */
function resolveFullUrls(entries: BundleEntry[]): BundleEntry[] {
  const ids = new Map<string, string>();
  const assigned = entries.map((e) => {
    const r = e.resource as (Resource & { resourceType?: unknown }) | undefined;
    const fullUrl: unknown = e.fullUrl;
    if (
      !r ||
      typeof r.resourceType !== 'string' ||
      typeof fullUrl !== 'string' ||
      !fullUrl.startsWith('urn:')
    )
      return e;
    const id = r.id ?? /^urn:uuid:([A-Za-z0-9\-.]{1,64})$/.exec(fullUrl)?.[1] ?? randomUUID();
    ids.set(fullUrl, `${r.resourceType}/${id}`);
    return { ...e, resource: { ...r, id } };
  });
  if (ids.size === 0) return entries;
  const rewrite = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(rewrite);
    if (value === null || typeof value !== 'object') return value;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = k === 'reference' && typeof v === 'string' && ids.has(v) ? ids.get(v) : rewrite(v);
    }
    return out;
  };
  return assigned.map((e) => (e.resource ? { ...e, resource: rewrite(e.resource) as Resource } : e));
}

/** A Bundle entry's response status, as FHIR writes it: the code and its phrase. */
const entryStatus = (outcome: OperationOutcome): string => {
  const status = statusOf(outcome);
  return `${status} ${STATUS_CODES[status]}`;
};

async function responseEntry(
  resource: Resource,
  tx: StoreTx,
  at: string,
  deps: FhirEndpointDeps,
): Promise<BundleEntry> {
  if (!keeps(resource)) {
    return {
      response: {
        status: entryStatus(allOk()),
        outcome: allOk(`${resource.resourceType} acknowledged; kap-bridge does not keep it.`),
      },
    };
  }
  const result = await store(resource, tx, at);
  const etag = etagOf(result.held);
  const warnings = readingWarnings(result.held);
  const outcome =
    result.outcome !== 'stored'
      ? allOk(
          `This version was ${result.outcome === 'duplicate' ? 'already held' : 'older than the one held'}; nothing changed.`,
        )
      : warnings.length > 0
        ? toOutcome(warnings)
        : undefined;
  return {
    response: {
      status: entryStatus(result.created ? created() : allOk()),
      location: locationOf(deps.publicBaseUrl, result.held),
      ...(etag ? { etag } : {}),
      ...(outcome === undefined ? {} : { outcome }),
    },
  };
}
