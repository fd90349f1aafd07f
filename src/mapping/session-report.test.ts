import type { Composition } from 'fhir/r4';
import { observations, sampleReport } from '../../test/support/session-report.js';
import { DEFAULT_MEDICINE_POLICY } from '../domain/medicine-session.js';
import { identityContext as ctx } from '../fhir/reference-context.js';
import { createValidator } from '../validation/validator.js';
import { escapeXhtml, type SessionReport, sessionReportToFhir } from './session-report.js';

const compositionOf = (r: SessionReport) =>
  sessionReportToFhir(r, DEFAULT_MEDICINE_POLICY, ctx).entry![0]!.resource as Composition;
const sectionText = (r: SessionReport, title: string) =>
  compositionOf(r).section!.find((s) => s.title === title)!.text!.div;

test('the report is a FHIR document, its Composition first, identified and timed', () => {
  const bundle = sessionReportToFhir(sampleReport(), DEFAULT_MEDICINE_POLICY, ctx);
  expect(bundle).toMatchObject({
    resourceType: 'Bundle',
    type: 'document',
    timestamp: '2026-03-05T11:40:00Z',
    identifier: { value: 'report-s-1' },
  });
  expect(compositionOf(sampleReport())).toMatchObject({
    resourceType: 'Composition',
    status: 'final',
    subject: {
      type: 'Patient',
      identifier: { system: 'https://ehr.example/identifier/mrn', value: 'MRN-1' },
    },
    encounter: { identifier: { value: 's-1' } },
  });
});

test('every section entry is a resource of the document, and every summarised record is an entry', () => {
  const bundle = sessionReportToFhir(sampleReport(), DEFAULT_MEDICINE_POLICY, ctx);
  const inDocument = bundle.entry!.slice(1).map((e) => e.fullUrl);
  const referenced = compositionOf(sampleReport()).section!.flatMap((s) =>
    (s.entry ?? []).map((e) => e.reference),
  );
  expect(referenced.sort()).toEqual([...inDocument].sort());
  const ids = bundle.entry!.slice(1).map((e) => `${e.resource!.resourceType}/${e.resource!.id}`);
  // The monitoring readings, the doses and the event; a PHQ-9 of the same session is not monitoring.
  expect(ids.sort()).toEqual(
    [
      'AdverseEvent/ae-1',
      'MedicationAdministration/ma-1',
      'MedicationAdministration/ma-2',
      ...observations.filter((o) => o.value.kind !== 'phq9').map((o) => `Observation/${o.id}`),
    ].sort(),
  );
});

test('doses in order, the first a dose and the later a booster; monitoring time from the first dose', () => {
  const doses = sectionText(sampleReport(), 'Doses');
  expect(doses.indexOf('Dose at 2026-03-05T09:20:00Z')).toBeGreaterThan(-1);
  expect(doses.indexOf('Booster at 2026-03-05T09:45:00Z')).toBeGreaterThan(doses.indexOf('Dose at'));
  expect(doses).toContain('100 mg, sublingual');
  // The lot where it was recorded, and where it was not, said so.
  expect(doses).toContain(
    'Dose at 2026-03-05T09:20:00Z: ketamine 100 mg sublingual troche, 100 mg, sublingual; lot KT-2026-0412',
  );
  expect(doses).toContain(
    'Booster at 2026-03-05T09:45:00Z: ketamine 100 mg sublingual troche, 50 mg, sublingual; lot not recorded',
  );
  expect(sectionText(sampleReport(), 'Session')).toContain('140 minutes from the first dose to discharge');
  expect(sectionText(sampleReport(), 'Session')).toContain('remote');
  expect(sectionText(sampleReport(), 'Session')).toContain('Sam Reyes');
});

test('readings say their minutes after the first dose, and an out-of-range one says so', () => {
  const monitoring = sectionText(sampleReport(), 'Monitoring');
  expect(monitoring).toContain('blood pressure 162/95 mmHg - OUT OF RANGE');
  expect(monitoring).toContain('(40 min after the first dose): blood pressure 162/95');
  expect(monitoring).toContain('(10 min before the first dose): blood pressure 128/82');
  expect(monitoring).toContain('sedation MOAA/S 3');
  expect(monitoring).toContain('dissociation CADSS 21');
  expect(monitoring).not.toContain('blood pressure 128/82 mmHg - OUT OF RANGE');
});

test('concomitant medications, adverse events, the override with its reason and the note are in the narrative', () => {
  const r = sampleReport({
    override: 'patient alert and escorted',
    unmet: [{ code: 'not-alert', message: 'The last MOAA/S after the dose is 3.' }],
    note: 'Processed grief <well>',
  });
  expect(sectionText(r, 'Concomitant medications')).toContain('sertraline 50 mg tablet: one tablet daily');
  expect(sectionText(r, 'Adverse events')).toContain('nausea, mild, not serious; action taken: ondansetron');
  expect(sectionText(r, 'Discharge')).toContain('Reason: patient alert and escorted');
  expect(sectionText(r, 'Discharge')).toContain('Unmet: The last MOAA/S after the dose is 3.');
  expect(sectionText(sampleReport(), 'Discharge')).toContain('The discharge criteria held.');
  // Escaped, never markup; and the whole report is in the Composition's own narrative.
  expect(sectionText(r, "Therapist's note")).toContain('Processed grief &lt;well&gt;');
  expect(compositionOf(r).text!.div).toContain('Processed grief &lt;well&gt;');
  expect(compositionOf(r).text!.div).toContain('<h3>Concomitant medications</h3>');
});

test('an empty section says why it is empty', () => {
  const none = compositionOf(sampleReport({ adverseEvents: [] })).section!.find(
    (s) => s.title === 'Adverse events',
  )!;
  expect(none.entry).toBeUndefined();
  expect(none.emptyReason?.coding?.[0]?.code).toBe('nilknown');
});

test('escapeXhtml escapes every markup character', () => {
  expect(escapeXhtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
});

test("the report passes kap-bridge's validator on kap-session-report, with its entries on theirs", () => {
  const issues = createValidator()
    .validate(sessionReportToFhir(sampleReport({ note: 'a <b> note' }), DEFAULT_MEDICINE_POLICY, ctx))
    .filter((i) => i.severity === 'error' || i.severity === 'fatal')
    .map((i) => `${i.expression ?? ''}: ${i.message}`);
  expect(issues).toEqual([]);
});
