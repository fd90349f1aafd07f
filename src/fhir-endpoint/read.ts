/**
 * Reading what kap-bridge holds through /fhir: read, vread, and search by `patient`, `identifier`
 * and `_lastUpdated`, paged, with the total. The EHR and operators act for no practice and see all
 * of it; a practice sees its own records and the EHR's record of the patients whose care the EHR
 * confirms for it (src/patient-link.ts), and anything else is answered exactly as what is not held.
 */
import type { Bundle, Identifier, Resource } from 'fhir/r4';
import { spanOf } from '../domain/time.js';
import { PATH_ID } from '../fhir/ids.js';
import { badRequest, notFound, OperationOutcomeError } from '../fhir/outcome.js';
import { type Page, pageLinks } from '../fhir/paging.js';
import { DEFAULT_PATIENT_LINK, type PatientLinkPolicy } from '../patient-link.js';
import { practiceView } from '../record.js';
import type { Store, StoredResource } from '../store/store.js';

export interface ReadDeps {
  store: Store;
  publicBaseUrl: string;
  /** When a practice sees an EHR Patient's data; the EHR's confirmation by default. */
  patientLink?: PatientLinkPolicy;
  /** The practice's time zone: a date-only `_lastUpdated` is a day there. */
  timeZone?: string;
}

/** A search's parameters as the query string gave them (a repeated one as a list). */
export type SearchParams = Readonly<Record<string, string | readonly string[] | undefined>>;

export const DEFAULT_COUNT = 50;
export const MAX_COUNT = 1000;

const invalid = (message: string, expression: string) =>
  new OperationOutcomeError(badRequest(message, expression));

/** The same answer for what is not held and for what the caller may not see. */
const notHeld = (type: string, id: string) =>
  new OperationOutcomeError(notFound(`No ${type}/${id} is held here.`));

/** Whether a practice (`tenant`; undefined: the EHR or an operator) may see a held resource. */
function visibleTo(deps: ReadDeps, tenant: string | undefined): (stored: StoredResource) => Promise<boolean> {
  const cares = new Map<string, Promise<boolean>>();
  const caresFor = async (ehrPatient: string, practice: string): Promise<boolean> => {
    if (!(await deps.store.practicesOf(ehrPatient)).includes(practice)) return false;
    const policy = deps.patientLink ?? DEFAULT_PATIENT_LINK;
    return (await practiceView(deps.store, ehrPatient, practice, policy)).confirmed;
  };
  return async (stored) => {
    if (tenant === undefined) return true;
    if (stored.ours) return stored.tenant === tenant;
    // What is about no patient (a Medication, a Practitioner) is no one's record.
    if (stored.patientRef === undefined) return true;
    let seen = cares.get(stored.patientRef);
    if (!seen) {
      seen = caresFor(stored.patientRef, tenant);
      cares.set(stored.patientRef, seen);
    }
    return seen;
  };
}

/** `GET [type]/[id]`, or `[type]/[id]/_history/[version]`: kap-bridge keeps the latest version only. */
export async function readResource(
  type: string,
  id: string,
  version: string | undefined,
  tenant: string | undefined,
  deps: ReadDeps,
): Promise<Resource> {
  if (!PATH_ID.test(id)) throw invalid(`"${id.slice(0, 80)}" is not a valid FHIR id.`, 'id');
  if (version !== undefined && !PATH_ID.test(version))
    throw invalid(`"${version.slice(0, 80)}" is not a valid version id.`, '_history');
  // A practice reads its own records by its ids (its id space), and the EHR's data by the EHR's ids.
  const own = tenant === undefined ? undefined : await deps.store.getOwn(type, id, tenant);
  const stored = own ?? (await deps.store.getResource(type, id));
  if (!stored || !(await visibleTo(deps, tenant)(stored))) throw notHeld(type, id);
  const held = stored.resource.meta?.versionId;
  if (version !== undefined && version !== held) {
    throw new OperationOutcomeError(
      notFound(
        `Version ${version} of ${type}/${id} is not held: kap-bridge keeps the latest version only (${held ?? 'unversioned'}).`,
      ),
    );
  }
  return stored.resource;
}

const SEARCH_PARAMETERS = new Set(['patient', 'identifier', '_lastUpdated', '_count', '_offset', '_format']);
const PREFIX = /^(eq|ne|gt|lt|ge|le|sa|eb)?(.*)$/;

/** One `_lastUpdated` criterion as a test of an instant (ms). */
function lastUpdatedTest(value: string, timeZone: string): (t: number) => boolean {
  const [, prefix = 'eq', date = ''] = PREFIX.exec(value)!;
  const span = spanOf(date, timeZone);
  if (!span)
    throw invalid(
      `_lastUpdated: "${value.slice(0, 80)}" is not a date or an instant, with an optional prefix (ge, lt, ...).`,
      '_lastUpdated',
    );
  const tests: Record<string, (t: number) => boolean> = {
    eq: (t) => t >= span.start && t < span.end,
    ne: (t) => t < span.start || t >= span.end,
    gt: (t) => t >= span.end,
    sa: (t) => t >= span.end,
    ge: (t) => t >= span.start,
    lt: (t) => t < span.start,
    eb: (t) => t < span.start,
    le: (t) => t < span.end,
  };
  return tests[prefix]!;
}

const single = (params: SearchParams, name: string): string | undefined => {
  const v = params[name];
  if (v === undefined || typeof v === 'string') return v;
  throw invalid(`${name} is given more than once; give it once.`, name);
};

const whole = (params: SearchParams, name: string, fallback: number, max: number): number => {
  const v = single(params, name);
  if (v === undefined) return fallback;
  if (!/^[0-9]{1,9}$/.test(v)) throw invalid(`${name}: "${v.slice(0, 20)}" is not a whole number.`, name);
  return Math.min(Number(v), max);
};

/** Whether an identifier search (`system|value`, `|value` without a system, or `value`) names one of these. */
function identifierTest(token: string): { value: string; matches: (ids: Identifier[]) => boolean } {
  const bar = token.indexOf('|');
  const system = bar < 0 ? undefined : token.slice(0, bar);
  const value = bar < 0 ? token : token.slice(bar + 1);
  if (value === '') throw invalid('identifier: give a value (system|value, or value).', 'identifier');
  return {
    value,
    matches: (ids) =>
      ids.some(
        (i) =>
          i?.value === value &&
          (system === undefined || (system === '' ? i.system === undefined : i.system === system)),
      ),
  };
}

/** `GET [type]?patient=&identifier=&_lastUpdated=&_count=&_offset=`: a searchset Bundle with `total` and paging links. */
export async function searchResources(
  type: string,
  params: SearchParams,
  tenant: string | undefined,
  deps: ReadDeps,
): Promise<Bundle> {
  for (const name of Object.keys(params)) {
    if (!SEARCH_PARAMETERS.has(name))
      throw invalid(
        `${name} is not a search parameter kap-bridge takes; it takes patient, identifier and _lastUpdated, paged by _count and _offset.`,
        name,
      );
  }
  const patient = single(params, 'patient');
  let patientRef: string | undefined;
  if (patient !== undefined) {
    const id = patient.replace(/^Patient\//, '');
    if (!PATH_ID.test(id))
      throw invalid(`patient: "${patient.slice(0, 80)}" is not Patient/[id] or [id].`, 'patient');
    patientRef = `Patient/${id}`;
  }
  const identifier = single(params, 'identifier');
  const byIdentifier = identifier === undefined ? undefined : identifierTest(identifier);
  const lastUpdated = params._lastUpdated;
  const timeZone = deps.timeZone ?? 'UTC';
  const updatedTests = (
    lastUpdated === undefined ? [] : typeof lastUpdated === 'string' ? [lastUpdated] : lastUpdated
  ).map((v) => lastUpdatedTest(v, timeZone));
  const page: Page = {
    count: Math.max(1, whole(params, '_count', DEFAULT_COUNT, MAX_COUNT)),
    offset: whole(params, '_offset', 0, Number.MAX_SAFE_INTEGER),
  };

  const candidates = await deps.store.searchResources({
    resourceType: type,
    ...(patientRef ? { patientRef } : {}),
    // The value as it stands in the JSON: a sieve, the identifier itself is checked below.
    ...(byIdentifier ? { containing: JSON.stringify(byIdentifier.value) } : {}),
  });
  const visible = visibleTo(deps, tenant);
  const matches: Resource[] = [];
  for (const stored of candidates) {
    const r = stored.resource;
    if (byIdentifier) {
      const ids = (r as { identifier?: Identifier | Identifier[] }).identifier;
      if (!byIdentifier.matches(Array.isArray(ids) ? ids : ids ? [ids] : [])) continue;
    }
    if (updatedTests.length > 0) {
      const at = spanOf(r.meta?.lastUpdated, timeZone)?.start;
      if (at === undefined || !updatedTests.every((test) => test(at))) continue;
    }
    if (await visible(stored)) matches.push(r);
  }

  const query = Object.entries(params).flatMap(([name, v]) =>
    name === '_format' || v === undefined
      ? []
      : (typeof v === 'string' ? [v] : v).map((x) => [name, x] as const),
  );
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    total: matches.length,
    link: pageLinks(`${deps.publicBaseUrl}/fhir/${type}`, query, page, matches.length),
    entry: matches.slice(page.offset, page.offset + page.count).map((resource) => ({
      fullUrl: `${deps.publicBaseUrl}/fhir/${type}/${resource.id}`,
      resource,
      search: { mode: 'match' },
    })),
  };
}
