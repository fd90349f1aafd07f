/**
 * Checks of single request parameters (a path id, a date, a count) against inline JSON schemas,
 * compiled once; a failure is a 400 OperationOutcome naming the parameter.
 */
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { badRequest, OperationOutcomeError } from '../fhir/outcome.js';

const ajv = new Ajv({ allErrors: true, strict: false });
(addFormats as unknown as (a: Ajv) => void)(ajv);

/** A check of one parameter against an inline schema, compiled once. */
export function parameterCheck(name: string, schema: object): (value: unknown) => void {
  const v = ajv.compile(schema);
  return (value) => {
    if (!v(value)) {
      throw new OperationOutcomeError(
        badRequest(`${name}: the value ${v.errors?.[0]?.message ?? 'is not valid'}.`, name),
      );
    }
  };
}
