/**
 * Layer (a): the shape of one resource against the FHIR R4 JSON schema, with the validators
 * generated at build time (generate.ts), one per resource type. Nested resources (contained,
 * Bundle entries) are not looked into here: the element walker validates each against its own type.
 */
import type { ErrorObject, ValidateFunction } from 'ajv';
import { type Issue, issue } from '../fhir/outcome.js';

/** What each primitive's pattern means, for messages a person can act on. */
const PRIMITIVE_FORMAT: Record<string, string> = {
  id: 'an id is 1-64 letters, digits, "-" or "."',
  date: 'a date is YYYY, YYYY-MM or YYYY-MM-DD',
  dateTime: 'a dateTime is YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss with a time zone (Z or +hh:mm)',
  instant: 'an instant is YYYY-MM-DDThh:mm:ss(.sss) with a time zone (Z or +hh:mm)',
  time: 'a time is hh:mm:ss',
  code: 'a code has no leading, trailing or double spaces',
  uri: 'a URI has no spaces',
  url: 'a URL has no spaces',
  canonical: 'a canonical URL has no spaces',
  oid: 'an OID looks like urn:oid:1.2.3',
  uuid: 'a UUID looks like urn:uuid:xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx (lower case)',
  string: 'a string must not be empty or only whitespace',
  markdown: 'markdown must not be empty',
};

export type StructureCheck = (resource: Record<string, unknown>, expression: string) => Issue[];

export function createStructureCheck(validators: Record<string, ValidateFunction>): StructureCheck {
  return (resource, expression) => {
    const validate = validators[String(resource.resourceType)];
    if (!validate) throw new Error(`No JSON schema validator for resource type ${resource.resourceType}`);
    if (validate(resource)) return [];
    return (validate.errors ?? []).flatMap((e) => toIssue(e, expression) ?? []);
  };
}

/** `/name/0/_given/1` -> `Patient.name[0].given[1]` (FHIRPath names the element, not its JSON key). */
export function jsonPointerToExpression(base: string, pointer: string): string {
  let out = base;
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(seg) ? `[${seg}]` : `.${seg.startsWith('_') ? seg.slice(1) : seg}`;
  }
  return out;
}

function toIssue(e: ErrorObject, base: string): Issue | undefined {
  // null (allowed inside primitive lists that carry extensions) and empty strings are the
  // element walker's to judge, with better words.
  if (e.data === null || (e.data === '' && e.keyword === 'pattern')) return undefined;
  const at = jsonPointerToExpression(base, e.instancePath);
  const field = at.slice(at.lastIndexOf('.') + 1);
  switch (e.keyword) {
    case 'additionalProperties': {
      const name = String(e.params.additionalProperty);
      return issue(
        'error',
        'structure',
        `Unknown element '${name}' in ${field}: FHIR R4 does not define it here (names are case-sensitive; extra data goes in an extension).`,
        jsonPointerToExpression(at, `/${name}`),
      );
    }
    case 'type': {
      const want = String(e.params.type);
      const shape =
        want === 'array'
          ? 'a list (JSON array), even with one item'
          : want === 'object'
            ? 'a JSON object'
            : `a JSON ${want}`;
      return issue('error', 'structure', `${at} must be ${shape}.`, at);
    }
    case 'pattern': {
      const primitive = /#\/definitions\/(\w+)\/pattern$/.exec(e.schemaPath)?.[1] ?? 'value';
      const hint = PRIMITIVE_FORMAT[primitive];
      return issue('error', 'value', `${at} is not a valid ${primitive}${hint ? `: ${hint}` : ''}.`, at);
    }
    case 'enum':
      return issue(
        'error',
        'code-invalid',
        `${at} has a code outside its required value set; use one of: ${(e.params.allowedValues as unknown[]).join(', ')}.`,
        at,
      );
    case 'const':
      return issue('error', 'invalid', `${at} must be '${String(e.params.allowedValue)}'.`, at);
    default:
      return issue('error', 'structure', `${at} ${e.message ?? 'is not valid'}.`, at);
  }
}
