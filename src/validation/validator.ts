/**
 * The layered validator: (a) structure against the R4 JSON schema, (b) what the
 * StructureDefinitions add (base R4 and our profiles), (c) KAP business rules; Bundles entry by
 * entry with the entry in each expression, plus Bundle-level rules. Never throws on bad input:
 * every problem is an Issue.
 */
import type { Resource } from 'fhir/r4';
import { MAX_NESTING, nestedDeeperThan } from '../fhir/nesting.js';
import { type Issue, issue, prefixIssues } from '../fhir/outcome.js';
import { bundleReferenceTypes, checkBundle } from './bundle.js';
import { stripVersion, withLocalProfiles } from './definitions.js';
import { ElementChecker, type Scope, type WalkState } from './elements.js';
import { baseDefinitions, structureValidators } from './generated.js';
import { InvariantEngine } from './invariants.js';
import { parseJson } from './json-text.js';
import { checkKapRules } from './kap-rules.js';
import { indexProfile, profileChain } from './profiles.js';
import { createStructureCheck } from './structure.js';

/** Which layer found an issue: parse, (a) structure, (b) definitions, Bundle rules, (c) KAP. */
export type Layer = 'parse' | 'structure' | 'definitions' | 'bundle' | 'kap';
export type Finding = Issue & { layer: Layer };

export interface ValidateOptions {
  /** Check against this profile too (canonical URL), besides those in meta.profile. */
  profile?: string;
  /** Apply the KAP prescription rules even without our profile (EHR intake). */
  asKapPrescription?: boolean;
}

export interface Validator {
  validate(resource: unknown, opts?: ValidateOptions): Finding[];
  /** Raw input: a JSON syntax error is one `fatal` issue with its line and column. */
  validateJsonText(text: string, opts?: ValidateOptions): Finding[];
  /** Canonical URLs of the profiles this validator can check against. */
  profiles(): string[];
}

export interface ValidatorOptions {
  /** Folder of StructureDefinition-*.json, ValueSet-*.json, CodeSystem-*.json; default: profiles/. */
  profilesDir?: string;
}

type Json = Record<string, unknown>;

const tag = (issues: readonly Issue[], layer: Layer): Finding[] => issues.map((i) => ({ ...i, layer }));
const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

export function createValidator(options: ValidatorOptions = {}): Validator {
  const defs = withLocalProfiles(baseDefinitions(), options.profilesDir);
  const structure = createStructureCheck(structureValidators);
  const elements = new ElementChecker(defs, new InvariantEngine());
  const indexed = new Map<string, ReturnType<typeof indexProfile>>();
  const indexOf = (url: string) => {
    let p = indexed.get(url);
    if (!p) {
      p = indexProfile(defs.profiles[url] as NonNullable<(typeof defs.profiles)[string]>);
      indexed.set(url, p);
    }
    return p;
  };

  /** The profiles a resource is checked against, as walker scopes; unknown ones are reported. */
  function scopesFor(resource: Json, expr: string, explicit: string | undefined, out: Finding[]): Scope[] {
    const claimed = (resource.meta as { profile?: unknown } | undefined)?.profile;
    const urls = Array.isArray(claimed) ? claimed.filter((u): u is string => typeof u === 'string') : [];
    const scopes: Scope[] = [];
    const type = String(resource.resourceType);
    for (const raw of explicit ? [...urls, explicit] : urls) {
      const url = stripVersion(raw);
      const chain = profileChain(defs, url);
      if (!chain) {
        const severity = raw === explicit ? 'error' : 'warning';
        const message =
          raw === explicit
            ? `Profile ${raw} is not known: it is not among the profiles loaded from profiles/ or the R4 core.`
            : `${expr} claims profile ${raw}, which kap-bridge does not know: checked against base R4 only.`;
        out.push({
          ...issue(severity, 'not-supported', message, `${expr}.meta.profile`),
          layer: 'definitions',
        });
        continue;
      }
      const last = chain[chain.length - 1];
      if (last && last.type !== type) {
        out.push({
          ...issue('error', 'invalid', `Profile ${raw} is for ${last.type}, not ${type}.`, expr),
          layer: 'definitions',
        });
        continue;
      }
      for (const p of chain) {
        if (!scopes.some((s) => s.p.profile === p)) scopes.push({ p: indexOf(p.url), id: type });
      }
    }
    return scopes;
  }

  function validateResource(
    value: unknown,
    expr: string,
    root: Json | undefined,
    opts: ValidateOptions,
    out: Finding[],
    referenceType?: (ref: string) => string | undefined,
  ): void {
    const subject = expr || 'The input';
    if (!isObject(value)) {
      const what = Array.isArray(value) ? 'a list' : value === null ? 'null' : `a ${typeof value}`;
      out.push({
        ...issue(
          'error',
          'structure',
          `${subject} must be a JSON object with a resourceType, not ${what}.`,
          expr,
        ),
        layer: 'structure',
      });
      return;
    }
    const type = value.resourceType;
    if (typeof type !== 'string') {
      out.push({
        ...issue(
          'error',
          'required',
          `${subject} has no resourceType: add e.g. "resourceType": "Patient".`,
          expr,
        ),
        layer: 'structure',
      });
      return;
    }
    if (!elements.isResourceType(type)) {
      out.push({
        ...issue(
          'error',
          'not-supported',
          `${subject}: '${type}' is not an R4 resource type.`,
          `${expr}.resourceType`,
        ),
        layer: 'structure',
      });
      return;
    }
    const here = expr === '' ? type : expr;
    const structural = structure(value, here);
    out.push(...tag(structural, 'structure'));

    const scopes = scopesFor(value, here, root ? undefined : opts.profile, out);
    const refs = type === 'Bundle' ? bundleReferenceTypes(value) : undefined;
    const lookup = refs ? (r: string) => refs.get(r) ?? referenceType?.(r) : referenceType;
    const walked: Issue[] = [];
    const state: WalkState = {
      env: { resource: value, rootResource: root ?? value },
      out: walked,
      nested: (nested, at) => {
        const container =
          at.includes('.contained[') || at.endsWith('.contained') ? (root ?? value) : undefined;
        validateResource(nested, at, container, { ...opts, profile: undefined }, out, lookup);
      },
      ...(lookup ? { referenceType: lookup } : {}),
    };
    elements.checkResource(value, here, scopes, state);
    out.push(...tag(walked, 'definitions'));
    if (type === 'Bundle')
      out.push(
        ...tag(
          checkBundle(value, here, (t) => elements.isResourceType(t)),
          'bundle',
        ),
      );

    if (!structural.some((i) => i.severity === 'error')) {
      const kap = checkKapRules(value as unknown as Resource, {
        asKapPrescription: opts.asKapPrescription ?? false,
      });
      out.push(...tag(here === type ? kap : prefixIssues(kap, here, type), 'kap'));
    }
  }

  function validate(resource: unknown, opts: ValidateOptions = {}): Finding[] {
    // Every layer below recurses once per level: what nests deeper than any resource needs is not walked.
    if (nestedDeeperThan(resource)) {
      const message = `The resource is nested more than ${MAX_NESTING} levels deep; not checked.`;
      return [{ ...issue('error', 'too-costly', message), layer: 'structure' }];
    }
    const out: Finding[] = [];
    try {
      validateResource(resource, '', undefined, opts, out);
    } catch (e) {
      const message = `The validator failed on this input: ${(e as Error).message}`;
      out.push({ ...issue('fatal', 'exception', message), layer: 'structure' });
    }
    return out;
  }

  return {
    validate,
    validateJsonText(text, opts) {
      const parsed = parseJson(text);
      return parsed.ok ? validate(parsed.value, opts) : [{ ...parsed.issue, layer: 'parse' }];
    },
    profiles: () => Object.keys(defs.profiles).sort(),
  };
}

let shared: Validator | undefined;
const sharedValidator = (): Validator => {
  shared ??= createValidator();
  return shared;
};

/** Validates raw JSON text with the default validator (profiles from the package's profiles/). */
export const validateJsonText = (text: string, opts?: ValidateOptions): Finding[] =>
  sharedValidator().validateJsonText(text, opts);

/** Validates a parsed resource with the default validator. */
export const validateResource = (resource: unknown, opts?: ValidateOptions): Finding[] =>
  sharedValidator().validate(resource, opts);
