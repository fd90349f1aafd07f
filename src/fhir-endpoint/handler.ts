/**
 * The EHR-facing FHIR endpoint, free of HTTP: a request in, an outcome and a resource out (as
 * Medplum's fhir-router), every failure a thrown OperationOutcomeError. The HTTP layer (src/http)
 * alone gives the outcome its status and adds Location, ETag, Last-Modified and Allow.
 */
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Bundle, BundleEntry, OperationOutcome, Resource } from 'fhir/r4';
import type { Need } from '../auth/access.js';
import { contentOf } from '../fhir/content.js';
import { ID, PATH_ID } from '../fhir/ids.js';
import {
  allOk,
  badRequest,
  created,
  issue,
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
import type { PatientLinkPolicy } from '../patient-link.js';
import { readingWarnings } from '../record.js';
import type { Store, StoreTx } from '../store/store.js';
import { capabilityStatement, READABLE_TYPES } from './capability.js';
import { readResource, type SearchParams, searchResources } from './read.js';

export interface FhirRequest {
  method: string;
  /** Path segments after /fhir, e.g. ['MedicationRequest', 'rx1']. */
  segments: string[];
  /** The parsed JSON body; undefined when there was none. */
  body: unknown;
  ifMatch?: string;
  /** A search's parameters. */
  query?: SearchParams;
  /** The practice the caller acts for (a therapist system); none for the EHR and operators. */
  tenant?: string;
}

export interface FhirAnswer {
  /** What came of the request (`allOk`, `created`), with any warnings about what was kept. */
  outcome: OperationOutcome;
  /** The answer's body as FHIR servers give it by default. */
  resource: Resource;
  /** For a create or update: the resource as kap-bridge now holds it (its id, version and time). */
  written?: Resource;
  /** For a read: the resource read (its version and time). */
  read?: Resource;
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
  /** Where callers get their tokens, for the CapabilityStatement, when known. */
  tokenUrl?: string;
  /** Told what intake made of each resource once its transaction is committed (metrics). */
  onIntake?: (type: string, outcome: IntakeOutcome | 'rejected') => void;
  /** When a practice sees an EHR Patient's data, for reads; the EHR's confirmation by default. */
  patientLink?: PatientLinkPolicy;
  /** The practice's time zone: a date-only `_lastUpdated` is a day there. */
  timeZone?: string;
}

/**
 * What a request does to which resource types, for the scope check: PUT updates, POST creates, and a
 * Bundle does what its entries say. Types kap-bridge does not keep are acknowledged without being
 * stored, so they need no scope.
 */
export function interactionsOf(req: Pick<FhirRequest, 'method' | 'segments' | 'body'>): Need[] {
  const [type, id] = req.segments;
  if (type !== undefined && req.method === 'GET') {
    if (!READABLE_TYPES.has(type)) return [];
    return [{ resourceType: type, interaction: id === undefined ? 's' : 'r' }];
  }
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

/**
 * The methods a path takes: the base takes batches and transactions; a type is searched, and
 * created when kap-bridge takes it from the EHR; an instance is read, and updated likewise; a
 * version is read. Undefined where there is nothing (404).
 */
export function allowedMethods(segments: readonly string[]): readonly string[] | undefined {
  const [type, id, history, version, ...rest] = segments;
  if (type === undefined) return ['POST'];
  if (type === 'metadata') return id === undefined ? ['GET'] : undefined;
  if (!READABLE_TYPES.has(type) || rest.length > 0) return undefined;
  if (history !== undefined) return history === '_history' && version !== undefined ? ['GET'] : undefined;
  const write = isKeptType(type) ? [id === undefined ? 'POST' : 'PUT'] : [];
  return ['GET', ...write];
}

/** Where a held resource lives: its versioned URL and weak ETag (when it has a version), and when it changed. */
export function locationOf(
  publicBaseUrl: string,
  resource: Resource,
): { location: string; etag?: string; lastModified?: string } {
  const v = resource.meta?.versionId;
  const last = resource.meta?.lastUpdated;
  return {
    location: `${publicBaseUrl}/fhir/${resource.resourceType}/${resource.id}${v ? `/_history/${v}` : ''}`,
    ...(v ? { etag: `W/"${v}"` } : {}),
    ...(last ? { lastModified: last } : {}),
  };
}

export async function handleFhir(req: FhirRequest, deps: FhirEndpointDeps): Promise<FhirAnswer> {
  const [type, id] = req.segments;
  const allowed = allowedMethods(req.segments);
  if (allowed === undefined) {
    if (type !== undefined && !isKeptType(type))
      return fail(
        notFound(
          `kap-bridge does not take ${type} resources; it takes ${KEPT_TYPES.join(', ')}.`,
          undefined,
          'not-supported',
        ),
      );
    return fail(notFound('There is nothing at this path.'));
  }
  if (!allowed.includes(req.method))
    return fail(notAllowed(`${req.method} is not supported here; this path takes ${allowed.join(', ')}.`));
  if (type === 'metadata')
    return {
      outcome: allOk(),
      resource: capabilityStatement(
        deps.publicBaseUrl,
        deps.version,
        deps.tokenUrl ? { tokenUrl: deps.tokenUrl } : {},
      ),
    };
  if (type === undefined) return handleBundle(req.body, deps);
  if (req.method === 'GET') {
    if (id === undefined)
      return { outcome: allOk(), resource: await searchResources(type, req.query ?? {}, req.tenant, deps) };
    const read = await readResource(type, id, req.segments[3], req.tenant, deps);
    return { outcome: allOk(), resource: read, read };
  }
  if (id !== undefined) return handlePut(type, id, req, deps);
  return handlePost(type, req.body, deps);
}

/** Stores a checked resource and says whether it was new; answers with what the store now holds. */
async function store(
  offered: Resource,
  tx: StoreTx,
  receivedAt: string,
  seen?: [string, IntakeOutcome][],
): Promise<{ created: boolean; outcome: IntakeOutcome; held: Resource }> {
  const before = await tx.getResource(offered.resourceType, offered.id!);
  const resource = versioned(offered, before?.resource, receivedAt);
  const outcome = await keep(resource, tx, receivedAt);
  seen?.push([resource.resourceType, outcome]);
  const held = outcome === 'stale' || outcome === 'duplicate' ? (before?.resource ?? resource) : resource;
  return { created: before === undefined && outcome === 'stored', outcome, held };
}

/**
 * The EHR's resources carry the EHR's version, kept as it is. One sent without a version gets one
 * here, as a FHIR server gives it: 1 when new, the held version + 1 when its content changed (the
 * held version when it did not), and the time it was received as meta.lastUpdated.
 */
function versioned(resource: Resource, held: Resource | undefined, receivedAt: string): Resource {
  const meta = resource.meta ?? {};
  if (meta.versionId !== undefined)
    return meta.lastUpdated === undefined
      ? { ...resource, meta: { ...meta, lastUpdated: receivedAt } }
      : resource;
  if (held && contentOf(held) === contentOf(resource))
    return { ...resource, meta: { ...meta, ...held.meta } };
  const heldVersion = held?.meta?.versionId;
  // A held version that is no number (some EHRs') cannot be followed: the new time alone ranks it.
  if (held && (heldVersion === undefined || !/^[0-9]{1,15}$/.test(heldVersion)))
    return { ...resource, meta: { ...meta, lastUpdated: receivedAt } };
  const versionId = String(held ? Number(heldVersion) + 1 : 1);
  return { ...resource, meta: { ...meta, versionId, lastUpdated: receivedAt } };
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
  deps.onIntake?.(type, result.outcome);
  return kept(result);
}

/**
 * The answer to a kept resource: the resource as held or, when readiness cannot read what it relies
 * on in it, an OperationOutcome with a warning naming the element (the resource is kept all the same).
 */
function kept(result: { created: boolean; held: Resource }): FhirAnswer {
  const warnings = readingWarnings(result.held);
  const kind = result.created ? 'created' : 'ok';
  const outcome =
    warnings.length > 0
      ? toOutcome(warnings, kind)
      : toOutcome(
          [
            issue(
              'information',
              'informational',
              `${result.held.resourceType}/${result.held.id} ${result.created ? 'created' : 'kept'}.`,
            ),
          ],
          kind,
        );
  return { outcome, resource: warnings.length === 0 ? result.held : outcome, written: result.held };
}

async function handlePost(type: string, body: unknown, deps: FhirEndpointDeps): Promise<FhirAnswer> {
  const checked = checkInbound(body, deps.validator);
  if (checked.resourceType !== type) {
    fail(badRequest(`The body is a ${checked.resourceType}, but the URL says ${type}.`, 'resourceType'));
  }
  const resource = checked.id ? checked : { ...checked, id: randomUUID() };
  const at = receivedAt(deps);
  const result = await deps.store.transaction((tx) => store(resource, tx, at));
  deps.onIntake?.(type, result.outcome);
  return kept(result);
}

/** An entry's request.url: a type, and an id when it names one (a query may follow). */
const ENTRY_URL = new RegExp(`^([A-Za-z]+)(?:/(${ID}))?(?:\\?.*)?$`);
/** A transaction entry's `urn:uuid:` fullUrl, whose uuid is an id. */
const UUID_URN = new RegExp(`^urn:uuid:(${ID})$`);

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
    const url = ENTRY_URL.exec(entry.request?.url ?? '');
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
    const seen: [string, IntakeOutcome][] = [];
    const results = await deps.store.transaction(async (tx) => {
      const out: BundleEntry[] = [];
      for (const c of checked) out.push(await responseEntry(c.resource!, tx, at, deps, seen));
      return out;
    });
    for (const [type, outcome] of seen) deps.onIntake?.(type, outcome);
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
    const seen: [string, IntakeOutcome][] = [];
    results.push(await deps.store.transaction((tx) => responseEntry(c.resource!, tx, at, deps, seen)));
    for (const [type, outcome] of seen) deps.onIntake?.(type, outcome);
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
    const id = r.id ?? UUID_URN.exec(fullUrl)?.[1] ?? randomUUID();
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
  seen: [string, IntakeOutcome][],
): Promise<BundleEntry> {
  if (!keeps(resource)) {
    return {
      response: {
        status: entryStatus(allOk()),
        outcome: allOk(`${resource.resourceType} acknowledged; kap-bridge does not keep it.`),
      },
    };
  }
  const result = await store(resource, tx, at, seen);
  const where = locationOf(deps.publicBaseUrl, result.held);
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
      location: where.location,
      ...(where.etag ? { etag: where.etag } : {}),
      ...(where.lastModified ? { lastModified: where.lastModified } : {}),
      ...(outcome === undefined ? {} : { outcome }),
    },
  };
}
