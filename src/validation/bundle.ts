/**
 * Bundle-level rules beyond the bdl-* invariants: entry fullUrls (absolute, agreeing with the
 * resource id, present where R4 needs them, unique unless versions differ) and the searchset
 * rules on search modes. Entries themselves are validated one by one by the validator.
 */

import { ID, RESOURCE_TYPE } from '../fhir/ids.js';
import { type Issue, issue } from '../fhir/outcome.js';
import { article } from './values.js';

type Json = Record<string, unknown>;

interface Entry {
  fullUrl?: unknown;
  resource?: Json;
  search?: { mode?: unknown };
}

const ABSOLUTE = /^[A-Za-z][A-Za-z0-9+.-]*:/;
const RESTFUL = new RegExp(`^https?://.+/(${RESOURCE_TYPE})/(${ID})(/_history/${ID})?$`);
const FULL_URL_OPTIONAL = new Set(['transaction', 'transaction-response', 'batch', 'batch-response']);

const entriesOf = (bundle: Json): Entry[] =>
  Array.isArray(bundle.entry)
    ? bundle.entry.filter((e): e is Entry => e !== null && typeof e === 'object')
    : [];

/** fullUrl -> resource type, to resolve `urn:uuid:` and other bundle-local references. */
export function bundleReferenceTypes(bundle: Json): Map<string, string> {
  const map = new Map<string, string>();
  for (const e of entriesOf(bundle)) {
    if (typeof e.fullUrl === 'string' && typeof e.resource?.resourceType === 'string') {
      map.set(e.fullUrl, e.resource.resourceType);
    }
  }
  return map;
}

export function checkBundle(bundle: Json, expr: string, isResourceType: (t: string) => boolean): Issue[] {
  const out: Issue[] = [];
  const type = typeof bundle.type === 'string' ? bundle.type : '';
  const entries = Array.isArray(bundle.entry) ? bundle.entry : [];
  const seen = new Map<string, number>();
  entries.forEach((e: unknown, i: number) => {
    if (e === null || typeof e !== 'object') return;
    const entry = e as Entry;
    const at = `${expr}.entry[${i}]`;
    const resource = entry.resource && typeof entry.resource === 'object' ? entry.resource : undefined;
    const fullUrl = entry.fullUrl;
    if (typeof fullUrl === 'string' && fullUrl !== '') {
      if (!ABSOLUTE.test(fullUrl)) {
        out.push(
          issue(
            'error',
            'invalid',
            `${at}.fullUrl '${fullUrl}' must be an absolute URL (e.g. urn:uuid:... or https://server/fhir/Type/id).`,
            `${at}.fullUrl`,
          ),
        );
      } else {
        const m = RESTFUL.exec(fullUrl);
        if (m && resource && isResourceType(m[1] as string)) {
          if (resource.id === undefined) {
            // The R4 examples themselves break these two; the reference validator made them rules in 2023.
            out.push(
              issue(
                'warning',
                'invalid',
                `${at}.resource has no id, but fullUrl '${fullUrl}' names one: add id '${m[2]}'.`,
                `${at}.resource.id`,
              ),
            );
          } else if (m[1] !== resource.resourceType || m[2] !== resource.id) {
            out.push(
              issue(
                'warning',
                'invalid',
                `${at}.fullUrl '${fullUrl}' disagrees with the resource, ${String(resource.resourceType)}/${String(resource.id)}.`,
                `${at}.fullUrl`,
              ),
            );
          }
        }
      }
      const version = (resource?.meta as { versionId?: unknown } | undefined)?.versionId;
      const key = `${fullUrl}|${String(version ?? '')}`;
      const first = seen.get(key);
      if (first !== undefined && type !== 'history') {
        out.push(
          issue(
            'error',
            'invariant',
            `${at}.fullUrl '${fullUrl}' repeats entry[${first}]: fullUrls are unique in a Bundle unless meta.versionId differs (bdl-7).`,
            `${at}.fullUrl`,
          ),
        );
      } else {
        seen.set(key, i);
      }
    } else if (resource && !FULL_URL_OPTIONAL.has(type)) {
      out.push(
        issue(
          'warning',
          'required',
          `${at}.fullUrl is required in a ${type || 'Bundle'} Bundle.`,
          `${at}.fullUrl`,
        ),
      );
    }
  });
  if (type === 'searchset') out.push(...checkSearchset(bundle, expr));
  if (type === 'document') out.push(...checkDocumentReferences(bundle, expr));
  return out;
}

function checkSearchset(bundle: Json, expr: string): Issue[] {
  const out: Issue[] = [];
  const entries = entriesOf(bundle);
  const self = (Array.isArray(bundle.link) ? bundle.link : []).find(
    (l: { relation?: unknown }) => l?.relation === 'self',
  );
  const types = searchedTypes(typeof self?.url === 'string' ? self.url : '');
  entries.forEach((entry, i) => {
    const mode = entry.search?.mode;
    const rt = entry.resource?.resourceType;
    const at = `${expr}.entry[${i}]`;
    if (typeof mode !== 'string' || !entry.resource) return;
    if (mode === 'outcome' && rt !== 'OperationOutcome') {
      out.push(
        issue(
          'error',
          'invalid',
          `${at} has search.mode 'outcome' but holds ${article(String(rt))}, not an OperationOutcome.`,
          `${at}.search.mode`,
        ),
      );
    }
    if ((mode === 'match' || mode === 'include') && entry.resource.id === undefined) {
      out.push(
        issue(
          'error',
          'required',
          `${at}.resource needs an id: search results are identified by id.`,
          `${at}.resource`,
        ),
      );
    }
    if (mode === 'match' && types.length > 0 && !types.includes(String(rt))) {
      out.push(
        issue(
          'error',
          'invalid',
          `${at} is a match of type ${String(rt)}, but the search (self link) asked for ${types.join(', ')}.`,
          `${at}.resource`,
        ),
      );
    }
  });
  return out;
}

/** The resource types a search URL asks for: its last path segment, or its `_type` parameter. */
function searchedTypes(url: string): string[] {
  const [path = '', query = ''] = url.split('?');
  const last = path.split('/').pop() ?? '';
  if (/^[A-Z][A-Za-z]+$/.test(last)) return [last];
  const param = query.split('&').find((p) => p.startsWith('_type='));
  return param ? param.slice(6).split(',') : [];
}

const HISTORY = /^(.*)\/_history\/([^/]+)$/;

/**
 * A document carries what its Composition refers to: each literal reference of the Composition
 * (entry 0) resolves to exactly one entry, to the version it names, if it names one.
 */
function checkDocumentReferences(bundle: Json, expr: string): Issue[] {
  const entries = entriesOf(bundle);
  const composition = entries[0]?.resource;
  if (composition?.resourceType !== 'Composition') return []; // bdl-11 reports it
  const out: Issue[] = [];
  const matches = (ref: string, e: Entry): boolean => {
    const r = e.resource;
    if (typeof e.fullUrl === 'string' && (e.fullUrl === ref || e.fullUrl.endsWith(`/${ref}`))) return true;
    return r !== undefined && `${String(r.resourceType)}/${String(r.id)}` === ref;
  };
  const visit = (v: unknown, path: string): void => {
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        visit(x, `${path}[${i}]`);
      });
    } else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (k === 'reference' && typeof x === 'string' && !x.startsWith('#')) checkOne(x, path);
        else if (k !== 'text') visit(x, `${path}.${k}`);
      }
    }
  };
  const checkOne = (ref: string, path: string) => {
    const versioned = HISTORY.exec(ref);
    const target = versioned ? (versioned[1] as string) : ref;
    const found = entries.filter((e) => matches(target, e));
    const version = (e: Entry) => (e.resource?.meta as { versionId?: unknown } | undefined)?.versionId;
    if (versioned && found.length > 0 && !found.some((e) => version(e) === versioned[2])) {
      out.push(
        issue(
          'error',
          'not-found',
          `${path}.reference '${ref}': the document holds ${target} but not version ${versioned[2]}.`,
          path,
        ),
      );
    } else if (!versioned && found.length > 1) {
      out.push(
        issue(
          'error',
          'invalid',
          `${path}.reference '${ref}' matches ${found.length} entries of the document: name the version (${target}/_history/...).`,
          path,
        ),
      );
    }
  };
  visit(composition, `${expr}.entry[0].resource`);
  return out;
}
