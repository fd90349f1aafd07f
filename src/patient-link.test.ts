import type { CareTeam, Resource, Task } from 'fhir/r4';
import { DEFAULT_PATIENT_LINK, ehrConfirmsCare, PRACTICE_IDENTIFIER_SYSTEM } from './patient-link.js';
import type { StoredResource } from './store/store.js';

const PATIENT = 'Patient/ehr-1';
const at = '2026-12-01T00:00:00Z';

const task = (status: Task['status'], extra: Partial<StoredResource> = {}): StoredResource => ({
  resource: {
    resourceType: 'Task',
    id: 'ref-1',
    status,
    intent: 'order',
    for: { reference: PATIENT },
  } as Task,
  patientRef: PATIENT,
  receivedAt: at,
  ours: true,
  tenant: 'practice-a',
  ehrSource: 'Task/900/_history/2',
  ...extra,
});

const team = (member: CareTeam['participant'], status: CareTeam['status'] = 'active'): StoredResource => ({
  resource: {
    resourceType: 'CareTeam',
    id: 'ct-1',
    status,
    subject: { reference: PATIENT },
    participant: member,
  } as Resource,
  patientRef: PATIENT,
  receivedAt: at,
});

const org = (value: string, system = PRACTICE_IDENTIFIER_SYSTEM) => [
  { member: { type: 'Organization', identifier: { system, value } } },
];

const confirms = (resources: StoredResource[], tenant = 'practice-a') =>
  ehrConfirmsCare(resources, PATIENT, tenant, DEFAULT_PATIENT_LINK);

describe('the EHR confirms a practice care of a patient', () => {
  test.each(['accepted', 'in-progress', 'completed'] as const)(
    'by its referral Task %s in the EHR',
    (status) => {
      expect(confirms([task(status)])).toBe(true);
    },
  );

  test.each(['requested', 'received', 'rejected', 'cancelled', 'draft'] as const)(
    'not by a Task %s',
    (status) => {
      expect(confirms([task(status)])).toBe(false);
    },
  );

  test("not by another practice's accepted Task, an EHR Task, or one the EHR has not been seen to hold", () => {
    expect(confirms([task('accepted', { tenant: 'practice-b' })])).toBe(false);
    expect(confirms([task('accepted', { ours: undefined, tenant: undefined })])).toBe(false);
    const { ehrSource: _, ...unseen } = task('accepted');
    expect(confirms([unseen])).toBe(false);
  });

  test('by an active CareTeam naming the practice Organization under the configured system', () => {
    expect(confirms([team(org('practice-a'))])).toBe(true);
    expect(confirms([team(org('practice-a'))], 'practice-b')).toBe(false);
    expect(confirms([team(org('practice-a'), 'inactive')])).toBe(false);
    expect(confirms([team(org('practice-a', 'urn:other'))])).toBe(false);
    expect(confirms([team([{ member: { reference: 'Organization/practice-a' } }])])).toBe(false);
  });

  test('not by a CareTeam about another patient, nor by nothing', () => {
    const other = team(org('practice-a'));
    (other.resource as CareTeam).subject = { reference: 'Patient/ehr-2' };
    expect(confirms([other])).toBe(false);
    expect(confirms([])).toBe(false);
  });

  test('mrn mode takes the MRN alone', () => {
    expect(ehrConfirmsCare([], PATIENT, 'practice-a', { ...DEFAULT_PATIENT_LINK, mode: 'mrn' })).toBe(true);
  });
});
