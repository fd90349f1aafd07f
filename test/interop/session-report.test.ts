/**
 * The medicine session report as HAPI FHIR judges it: a document built by kap-bridge passes
 * `$validate` (the Bundle's document rules, the Composition on kap-session-report, each summarised
 * resource on its own profile), and the profile is in force: a report without its narrative fails.
 */
import type { Bundle, Composition, OperationOutcome } from 'fhir/r4';
import { DEFAULT_MEDICINE_POLICY } from '../../src/domain/medicine-session.js';
import { identityContext as ctx } from '../../src/fhir/reference-context.js';
import { sessionReportToFhir } from '../../src/mapping/session-report.js';
import { sandboxGateway } from '../support/sandbox.js';
import { sampleReport } from '../support/session-report.js';

const ehr = sandboxGateway();
const errorsOf = (outcome: OperationOutcome): string[] =>
  outcome.issue
    .filter((i) => i.severity === 'error' || i.severity === 'fatal')
    .map((i) => `${i.expression?.[0] ?? i.location?.[0] ?? ''}: ${i.diagnostics ?? ''}`);

const built = (): Bundle =>
  sessionReportToFhir(
    sampleReport({ override: 'alert, escorted', note: 'Calm <at> the end' }),
    DEFAULT_MEDICINE_POLICY,
    ctx,
  );

test('a built report passes HAPI $validate', async () => {
  expect(errorsOf(await ehr.validate(built()))).toEqual([]);
});

test('a report without its narrative fails on kap-session-report', async () => {
  const report = built();
  const { text: _text, ...composition } = report.entry![0]!.resource as Composition;
  report.entry![0] = { ...report.entry![0]!, resource: composition };
  const errors = errorsOf(await ehr.validate(report));
  expect(errors.some((e) => e.includes('Composition.text'))).toBe(true);
});
