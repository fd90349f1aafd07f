/**
 * Requests to /api/v1 are checked against the schemas of ./schemas.ts, the same ones the OpenAPI
 * document shows; a failure is an OperationOutcome whose expressions name the fields
 * (`identifiers[0].system`).
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { badRequest, type Issue, issue, OperationOutcomeError } from '../fhir/outcome.js';
import { REQUEST_SCHEMAS, type RequestSchemaName } from './schemas.js';

const ajv = new Ajv({ allErrors: true, strict: false });
(addFormats as unknown as (a: Ajv) => void)(ajv);

const compiled = new Map<string, ValidateFunction>();
function validatorFor(schemaName: RequestSchemaName): ValidateFunction {
  let v = compiled.get(schemaName);
  if (!v) {
    v = ajv.compile(REQUEST_SCHEMAS[schemaName]);
    compiled.set(schemaName, v);
  }
  return v;
}

/** `/identifiers/0/system` -> `identifiers[0].system`, with the missing property named. */
function expressionOf(e: ErrorObject, root: string): string {
  const parts = e.instancePath
    .split('/')
    .slice(1)
    .map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`));
  if (e.keyword === 'required') parts.push(`.${(e.params as { missingProperty: string }).missingProperty}`);
  if (e.keyword === 'additionalProperties')
    parts.push(`.${(e.params as { additionalProperty: string }).additionalProperty}`);
  const path = parts.join('').replace(/^\./, '');
  return path ? (root ? `${root}.${path}` : path) : root || '(body)';
}

function sentence(e: ErrorObject): string {
  if (e.keyword === 'required')
    return `${(e.params as { missingProperty: string }).missingProperty} is required.`;
  if (e.keyword === 'additionalProperties') {
    return `${(e.params as { additionalProperty: string }).additionalProperty} is not a known field.`;
  }
  return `The value ${e.message ?? 'is not valid'}.`;
}

/** Checks a value against a named schema of the document; throws a 400 OperationOutcomeError. */
export function checkAgainst(schemaName: RequestSchemaName, value: unknown, root = ''): void {
  const validate = validatorFor(schemaName);
  if (validate(value)) return;
  const issues: Issue[] = (validate.errors ?? []).map((e) =>
    issue('error', 'invalid', sentence(e), expressionOf(e, root)),
  );
  throw new OperationOutcomeError(badRequest(issues));
}
