/**
 * The mapped record kept between reads stays current when another kap-bridge instance, sharing the
 * database, writes: the patient's resources, a Medication they reference, or the patient's link.
 */
import type { CareTeam, Medication, MedicationRequest } from 'fhir/r4';
import { DEFAULT_PATIENT_LINK, type PatientLinkPolicy } from '../../src/patient-link.js';
import { currentRecord } from '../../src/record.js';
import { DEFAULT_TENANT, Store } from '../../src/store/store.js';
import { ENGINES, type TestDatabase } from '../support/databases.js';

const at = '2026-11-26T12:00:00Z';
/** These tests are about the cache following writes: the patient link is taken on the MRN's word. */
const MRN: PatientLinkPolicy = { ...DEFAULT_PATIENT_LINK, mode: 'mrn' };
const CHECKPOINT = 'ehr:last-heard';

const prescription = (
  versionId: string,
  status: MedicationRequest['status'],
  patient = 'ehr-1',
): MedicationRequest => ({
  resourceType: 'MedicationRequest',
  id: 'rx1',
  meta: { versionId },
  status,
  intent: 'order',
  authoredOn: '2026-11-20',
  medicationReference: { reference: 'Medication/med1' },
  subject: { reference: `Patient/${patient}` },
  // A whole KAP order: an active one missing its dose or route never authorises.
  dosageInstruction: [
    {
      route: { coding: [{ system: 'http://snomed.info/sct', code: '37839007' }] },
      doseAndRate: [
        { doseQuantity: { value: 100, unit: 'mg', system: 'http://unitsofmeasure.org', code: 'mg' } },
      ],
    },
  ],
  dispenseRequest: { validityPeriod: { start: '2026-11-20', end: '2027-02-20' } },
});

const medication = (versionId: string, text: string): Medication => ({
  resourceType: 'Medication',
  id: 'med1',
  meta: { versionId },
  code: { text },
});

describe.each(ENGINES)('current record on $name', (engine) => {
  let db: TestDatabase;
  let reader: Store;
  let writer: Store;

  beforeEach(async () => {
    db = await engine.create();
    reader = await Store.open(db.options);
    writer = await Store.open(db.options);
    await writer.savePatient({
      id: 'p1',
      identifiers: [{ system: 's', value: 'p1' }],
      ehrPatient: 'Patient/ehr-1',
    });
  });
  afterEach(async () => {
    await reader.close();
    await writer.close();
    await db.drop();
  });

  const prescriptions = async () =>
    (await currentRecord(reader, 'p1', DEFAULT_TENANT, CHECKPOINT, MRN))?.record.prescriptions;

  test("follows another instance's writes to the patient's resources and to a referenced Medication", async () => {
    await writer.putResource({ resource: medication('1', 'ketamine 100 mg troche'), receivedAt: at });
    expect(await prescriptions()).toEqual([]);

    await writer.putResource({
      resource: prescription('1', 'active'),
      patientRef: 'Patient/ehr-1',
      receivedAt: at,
    });
    expect(await prescriptions()).toMatchObject([{ status: 'active', medication: { isKetamine: true } }]);
    expect(await prescriptions()).toMatchObject([{ status: 'active' }]);

    await writer.transaction(async (tx) => {
      await tx.putResource({
        resource: prescription('2', 'stopped'),
        patientRef: 'Patient/ehr-1',
        receivedAt: at,
      });
      await tx.setCheckpoint(CHECKPOINT, at);
    });
    const current = await currentRecord(reader, 'p1', DEFAULT_TENANT, CHECKPOINT, MRN);
    expect(current?.record.prescriptions).toMatchObject([{ status: 'stopped' }]);
    expect(current?.checkpoint).toBe(at);

    await writer.putResource({ resource: medication('2', 'esketamine nasal spray'), receivedAt: at });
    expect(await prescriptions()).toMatchObject([{ medication: { isKetamine: false } }]);
  });

  test('follows the resource to the patient it moved to, and the link to another EHR Patient', async () => {
    await writer.savePatient({
      id: 'p2',
      identifiers: [{ system: 's', value: 'p2' }],
      ehrPatient: 'Patient/ehr-2',
    });
    await writer.putResource({ resource: medication('1', 'ketamine 100 mg troche'), receivedAt: at });
    await writer.putResource({
      resource: prescription('1', 'active'),
      patientRef: 'Patient/ehr-1',
      receivedAt: at,
    });
    expect(await prescriptions()).toHaveLength(1);
    expect(
      (await currentRecord(reader, 'p2', DEFAULT_TENANT, CHECKPOINT, MRN))?.record.prescriptions,
    ).toEqual([]);

    await writer.putResource({
      resource: prescription('2', 'active', 'ehr-2'),
      patientRef: 'Patient/ehr-2',
      receivedAt: at,
    });
    expect(await prescriptions()).toEqual([]);
    expect(
      (await currentRecord(reader, 'p2', DEFAULT_TENANT, CHECKPOINT, MRN))?.record.prescriptions,
    ).toHaveLength(1);

    await writer.savePatient({
      id: 'p1',
      identifiers: [{ system: 's', value: 'p1' }],
      ehrPatient: 'Patient/ehr-2',
    });
    expect(await prescriptions()).toHaveLength(1);
  });

  test("follows the EHR's confirmation of the practice's care: pending, then the EHR's record", async () => {
    await writer.putResource({ resource: medication('1', 'ketamine 100 mg troche'), receivedAt: at });
    await writer.putResource({
      resource: prescription('1', 'active'),
      patientRef: 'Patient/ehr-1',
      receivedAt: at,
    });
    const seen = async () => (await currentRecord(reader, 'p1', DEFAULT_TENANT, CHECKPOINT))!.record;
    expect(await seen()).toMatchObject({ link: 'pending', prescriptions: [] });
    await writer.putResource({
      resource: {
        resourceType: 'CareTeam',
        id: 'ct1',
        status: 'active',
        subject: { reference: 'Patient/ehr-1' },
        managingOrganization: [
          { identifier: { system: DEFAULT_PATIENT_LINK.practiceSystem, value: 'default' } },
        ],
      } as CareTeam,
      patientRef: 'Patient/ehr-1',
      receivedAt: at,
    });
    expect(await seen()).toMatchObject({ link: 'confirmed', prescriptions: [{ status: 'active' }] });
  });

  test('is nothing for an unregistered patient, and shared records cannot be changed by a reader', async () => {
    expect(await currentRecord(reader, 'nobody', DEFAULT_TENANT, CHECKPOINT)).toBeUndefined();
    await writer.putResource({
      resource: prescription('1', 'active'),
      patientRef: 'Patient/ehr-1',
      receivedAt: at,
    });
    const record = (await currentRecord(reader, 'p1', DEFAULT_TENANT, CHECKPOINT, MRN))!.record;
    expect(() => record.prescriptions.push(record.prescriptions[0]!)).toThrow(TypeError);
  });
});
