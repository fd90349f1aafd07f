/**
 * Practices sharing an EHR Patient: the EHR's copy of a practice's record counts in another
 * practice's view only once the EHR confirms the writing practice's care of the patient, and a
 * practice's change mark moves only for changes it can see.
 */
import type { CareTeam, Observation } from 'fhir/r4';
import { DEFAULT_PATIENT_LINK } from '../../src/patient-link.js';
import { practiceView } from '../../src/record.js';
import { Store } from '../../src/store/store.js';
import { ENGINES, type TestDatabase } from '../support/databases.js';

const at = '2026-11-26T12:00:00Z';
const PATIENT = 'Patient/ehr-1';

const careTeam = (practice: string): CareTeam => ({
  resourceType: 'CareTeam',
  id: `ct-${practice}`,
  status: 'active',
  subject: { reference: PATIENT },
  managingOrganization: [{ identifier: { system: DEFAULT_PATIENT_LINK.practiceSystem, value: practice } }],
});

const reading = (id: string): Observation => ({
  resourceType: 'Observation',
  id,
  status: 'final',
  code: { text: 'blood pressure' },
  subject: { reference: PATIENT },
});

describe.each(ENGINES)('practices sharing an EHR Patient on $name', (engine) => {
  let db: TestDatabase;
  let store: Store;

  beforeEach(async () => {
    db = await engine.create();
    store = await Store.open(db.options);
    for (const tenant of ['practice-a', 'practice-b'])
      await store.savePatient(
        { id: 'p1', identifiers: [{ system: 's', value: tenant }], ehrPatient: PATIENT },
        tenant,
      );
    await store.putResource({ resource: careTeam('practice-b'), patientRef: PATIENT, receivedAt: at });
  });
  afterEach(async () => {
    await store.close();
    await db.drop();
  });

  const seenByB = async () =>
    (await practiceView(store, PATIENT, 'practice-b', DEFAULT_PATIENT_LINK)).resources.map((r) => r.id);

  test("the EHR's copy of a pending practice's record counts for another practice only once the EHR confirms the writer", async () => {
    await store.putResource({
      resource: reading('obs-a'),
      patientRef: PATIENT,
      receivedAt: at,
      writtenBy: 'practice-a',
    });
    expect(await seenByB()).not.toContain('obs-a');
    await store.putResource({ resource: careTeam('practice-a'), patientRef: PATIENT, receivedAt: at });
    expect(await seenByB()).toContain('obs-a');
  });

  test("another practice's write does not move a practice's change mark; its own write does", async () => {
    const markOfA = () => store.practiceChanges('practice-a', async () => false);
    const before = await markOfA();
    await store.putResource({
      resource: reading('obs-b'),
      patientRef: PATIENT,
      receivedAt: at,
      ours: true,
      tenant: 'practice-b',
    });
    expect(await markOfA()).toBe(before);
    await store.putResource({
      resource: reading('obs-a'),
      patientRef: PATIENT,
      receivedAt: at,
      ours: true,
      tenant: 'practice-a',
    });
    expect(await markOfA()).not.toBe(before);
    const moved = await markOfA();
    await store.putResource({ resource: reading('obs-ehr'), patientRef: PATIENT, receivedAt: at });
    expect(await markOfA()).toBe(moved);
    expect(await store.practiceChanges('practice-a', async () => true)).not.toBe(moved);
  });
});
