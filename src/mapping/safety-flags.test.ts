/**
 * The safety readers as readiness sees them: what the EHR sends (Condition, AllergyIntolerance,
 * AdverseEvent, the prescriber's ClinicalImpression) read into the record, and the safety reasons
 * that come of it.
 */
import type { AdverseEvent, AllergyIntolerance, ClinicalImpression, Condition } from 'fhir/r4';
import { fixture } from '../../test/support/fixtures.js';
import { emptyRecord, type PatientRecord, patientReadiness } from '../domain/readiness.js';
import { identityContext as ctx } from '../fhir/reference-context.js';
import { adverseEventFromFhir } from './adverse-event.js';
import { findingFromFhir } from './finding.js';
import { reviewFromFhir } from './review.js';

const CLINICAL = 'http://terminology.hl7.org/CodeSystem/condition-clinical';
const schizophrenia = (clinical = 'active'): Condition => ({
  resourceType: 'Condition',
  id: 'cond-1',
  meta: { versionId: '3' },
  clinicalStatus: { coding: [{ system: CLINICAL, code: clinical }] },
  code: {
    coding: [
      { system: 'http://hl7.org/fhir/sid/icd-10-cm', code: 'F20.0', display: 'Paranoid schizophrenia' },
    ],
  },
  subject: { reference: 'Patient/48213' },
  recordedDate: '2026-02-20',
});
const ketamineAllergy: AllergyIntolerance = {
  resourceType: 'AllergyIntolerance',
  id: 'alg-1',
  code: { text: 'Ketamine' },
  patient: { reference: 'Patient/48213' },
  recordedDate: '2026-02-20',
};
const review = (effectiveDateTime: string, status: ClinicalImpression['status'] = 'completed') => ({
  ...fixture<ClinicalImpression>('prescriber/safety-review.fhir.json'),
  status,
  effectiveDateTime,
});
const event = (changes: Partial<AdverseEvent> = {}): AdverseEvent => ({
  ...fixture<AdverseEvent>('ehr/adverseevent-serious.fhir.json'),
  ...changes,
});

type Sent = Condition | AllergyIntolerance | AdverseEvent | ClinicalImpression;

/** The record as intake would build it: each resource through its reader, kept when it reads. */
function recordOf(sent: Sent[]): PatientRecord {
  const record = emptyRecord('48213');
  for (const r of sent) {
    if (r.resourceType === 'ClinicalImpression') {
      const v = reviewFromFhir(r, ctx).value;
      if (v) record.reviews.push(v);
    } else if (r.resourceType === 'AdverseEvent') {
      const v = adverseEventFromFhir(r, ctx).value;
      if (v) record.adverseEvents.push(v);
    } else {
      const v = findingFromFhir(r, ctx).value;
      if (v) record.findings.push(v);
    }
  }
  return record;
}

const safetyReasons = (sent: Sent[]) =>
  patientReadiness(recordOf(sent), { date: '2026-03-20', now: '2026-03-19T12:00:00Z' })
    .reasons.filter((r) => r.code.startsWith('safety'))
    .map((r) => `${r.code} ${r.source}`);

test.each<[string, Sent[], string[]]>([
  ['an active contraindication', [schizophrenia()], ['safety-contraindication Condition/cond-1/_history/3']],
  ['a resolved one', [schizophrenia('resolved')], []],
  ['reviewed after it was recorded', [schizophrenia(), review('2026-03-04T16:20:00-05:00')], []],
  [
    'reviewed before it was recorded',
    [schizophrenia(), review('2026-02-10T09:00:00-05:00')],
    ['safety-contraindication Condition/cond-1/_history/3'],
  ],
  [
    'a review still in progress closes nothing',
    [schizophrenia(), review('2026-03-04T16:20:00-05:00', 'in-progress')],
    ['safety-contraindication Condition/cond-1/_history/3'],
  ],
  ['a ketamine allergy', [ketamineAllergy], ['safety-contraindication AllergyIntolerance/alg-1']],
  ['a serious adverse event', [event()], ['safety-adverse-event AdverseEvent/ae-30417/_history/2']],
  [
    'one of no stated seriousness',
    [event({ seriousness: undefined })],
    ['safety-adverse-event AdverseEvent/ae-30417/_history/2'],
  ],
  [
    'a non-serious one',
    [
      event({
        seriousness: {
          coding: [
            {
              system: 'http://terminology.hl7.org/CodeSystem/adverse-event-seriousness',
              code: 'Non-serious',
            },
          ],
        },
      }),
    ],
    [],
  ],
  ['a potential one', [event({ actuality: 'potential' })], []],
  ['a serious one reviewed after', [event(), review('2026-03-13T09:00:00-05:00')], []],
])('%s', (_case, sent, reasons) => {
  expect(safetyReasons(sent)).toEqual(reasons);
});

test('the reason names the finding and its group', () => {
  const [reason] = patientReadiness(recordOf([schizophrenia()]), {
    date: '2026-03-20',
    now: '2026-03-19T12:00:00Z',
  }).reasons.filter((r) => r.code === 'safety-contraindication');
  expect(reason?.message).toContain('Paranoid schizophrenia (psychosis)');
});
