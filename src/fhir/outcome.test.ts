import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  allOk,
  badGateway,
  badRequest,
  businessRule,
  conflict,
  created,
  forbidden,
  headersTooLarge,
  issue,
  noContent,
  notAllowed,
  notFound,
  notRegistered,
  OperationOutcomeError,
  outcomeWithStatus,
  preconditionFailed,
  serverError,
  statusOf,
  throttled,
  timedOut,
  toOutcome,
  tooLarge,
  unauthorized,
  unavailable,
  unknownReference,
  unsupportedMediaType,
} from './outcome.js';

test('an outcome without issues says so', () => {
  expect(toOutcome([]).issue[0]?.severity).toBe('information');
  expect(toOutcome([issue('error', 'required', 'x', 'Patient.name')]).issue[0]?.expression).toEqual([
    'Patient.name',
  ]);
});

test('each builder gives the status of its kind, and nothing else decides one', () => {
  const said = 'Something.';
  expect(
    [
      allOk(),
      created(),
      noContent(),
      badRequest(said),
      unauthorized(said),
      forbidden(said),
      notFound(said),
      notAllowed(said),
      timedOut(said),
      conflict(said),
      preconditionFailed(said),
      tooLarge(said),
      unsupportedMediaType(said),
      businessRule(said),
      throttled(said),
      headersTooLarge(said),
      serverError(said),
      badGateway(said),
      unavailable(said),
    ].map(statusOf),
  ).toEqual([200, 201, 204, 400, 401, 403, 404, 405, 408, 409, 412, 413, 415, 422, 429, 431, 500, 502, 503]);
  // An outcome that names no kind (an EHR's, say) is no answer of ours: a server error.
  expect(statusOf(toOutcome([issue('error', 'invalid', said)]))).toBe(500);
  expect(statusOf(outcomeWithStatus(415, said))).toBe(415);
  expect(statusOf(outcomeWithStatus(418, said))).toBe(400);
});

test('a builder words its issue with the field and code given, or its own code', () => {
  expect(badRequest('The id is not valid.', 'Patient.id', 'value').issue).toEqual([
    { severity: 'error', code: 'value', diagnostics: 'The id is not valid.', expression: ['Patient.id'] },
  ]);
  expect(conflict('Already held.').issue[0]?.code).toBe('conflict');
  const error = new OperationOutcomeError(notRegistered('patient', 'p1'));
  expect([error.kind, error.message, statusOf(error.outcome)]).toEqual([
    'not-found',
    'No patient p1 is registered.',
    404,
  ]);
});

test('an unknown patient named in a body is refused in the same words as an unknown id in the path, naming the field', () => {
  const inBody = unknownReference('patient', 'p1', 'patients[1]');
  expect(statusOf(inBody)).toBe(422);
  expect(inBody.issue).toEqual([
    {
      severity: 'error',
      code: 'not-found',
      diagnostics: 'No patient p1 is registered.',
      expression: ['patients[1]'],
    },
  ]);
  expect(notRegistered('patient', 'p1').issue[0]?.diagnostics).toBe(inBody.issue[0]?.diagnostics);
});

/** Every source file under src/ but the tests. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sources(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [path] : [];
  });
}

test('no HTTP status is written out for an answer outside the outcomes module', () => {
  const src = join(import.meta.dirname, '..');
  // src/ehr reads the EHR's statuses; answers of kap-bridge take theirs from statusOf alone.
  const answering = sources(src).filter(
    (f) => !f.startsWith(join(src, 'ehr')) && f !== join(src, 'fhir', 'outcome.ts'),
  );
  const literal =
    /OperationOutcomeError\(\s*\d|\.status\(\s*\d{3}|writeHead\(\s*\d{3}|status(Code)?\s*[:=]{1,3}\s*[1-5]\d\d\b|\b[45]\d\d\s*:\s*\d{3}/;
  const found = answering.flatMap((f) =>
    readFileSync(f, 'utf8')
      .split('\n')
      .flatMap((line, i) =>
        literal.test(line) ? [`${f.slice(src.length + 1)}:${i + 1}: ${line.trim()}`] : [],
      ),
  );
  expect(found).toEqual([]);
});
