/**
 * The status a generated request must get, derived from what the request is, so that a fuzz test
 * names the one status it expects: a body the route's request schema refuses is answered with that
 * refusal's status (`statusOf` the outcome the schema check gives); a body it takes is no hostile
 * input at all, and the generator is told so (undefined).
 */
import { checkAgainst } from '../../src/api/request-validation.js';
import type { RequestSchemaName } from '../../src/api/schemas.js';
import { OperationOutcomeError, statusOf } from '../../src/fhir/outcome.js';

/** The status of a JSON body sent to a therapist-API route whose body has `schema`; undefined when the schema takes it. */
export function statusOfApiBody(schema: RequestSchemaName, body: unknown): number | undefined {
  try {
    checkAgainst(schema, body);
    return undefined;
  } catch (e) {
    if (e instanceof OperationOutcomeError) return statusOf(e.outcome);
    throw e;
  }
}
