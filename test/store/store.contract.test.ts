/**
 * One contract, two engines: the same tests run on SQLite (a real file) and on PostgreSQL (the
 * server at KAP_TEST_DATABASE_URL, by default postgres@127.0.0.1:5432), each in a fresh database.
 */
import type { MedicationRequest } from 'fhir/r4';
import { MIGRATIONS } from '../../src/store/migrations.js';
import { DEFAULT_TENANT, IdentifierTakenError, Store } from '../../src/store/store.js';
import { ENGINES, type TestDatabase } from '../support/databases.js';

const rx = (id: string, versionId: string, status: MedicationRequest['status']): MedicationRequest => ({
  resourceType: 'MedicationRequest',
  id,
  meta: { versionId, lastUpdated: `2026-11-2${versionId}T10:00:00Z` },
  status,
  intent: 'order',
  medicationCodeableConcept: { text: 'ketamine' },
  subject: { reference: 'Patient/ehr-1' },
});

describe.each(ENGINES)('store contract on $name', (engine) => {
  let store: Store;
  let db: TestDatabase;

  beforeEach(async () => {
    db = await engine.create();
    store = await Store.open(db.options);
  });
  afterEach(async () => {
    await store.close();
    await db.drop();
  });

  test('runs its migrations on first open and not again', async () => {
    expect(await store.schemaVersion()).toBe(MIGRATIONS.length);
    await store.close();
    store = await Store.open(db.options);
    expect(await store.schemaVersion()).toBe(MIGRATIONS.length);
    expect(store.engine).toBe(engine.name);
  });

  test('links a patient by identifiers and finds it by any of them', async () => {
    const link = {
      id: 'p1',
      identifiers: [
        { system: 'urn:ehr:mrn', value: 'MRN-1' },
        { system: 'urn:therapist:client', value: 'C-7' },
      ],
      ehrPatient: 'Patient/ehr-1',
    };
    await store.savePatient(link);
    expect(await store.getPatient('p1')).toEqual(link);
    expect(
      (await store.findPatient({ system: 'urn:therapist:client', value: 'C-7' }, DEFAULT_TENANT))?.id,
    ).toBe('p1');
    expect((await store.findPatientByEhrRef('Patient/ehr-1'))?.id).toBe('p1');
    expect(
      await store.findPatient({ system: 'urn:ehr:mrn', value: 'MRN-2' }, DEFAULT_TENANT),
    ).toBeUndefined();
  });

  test('keeps each practice to its own patients and episodes, even with the same identifier', async () => {
    const mrn = { system: 'urn:ehr:mrn', value: 'MRN-shared' };
    await store.savePatient({ id: 'pa', identifiers: [mrn] }, 'practice-a');
    await store.savePatient({ id: 'pb', identifiers: [mrn] }, 'practice-b');
    expect((await store.findPatient(mrn, 'practice-a'))?.id).toBe('pa');
    expect((await store.findPatient(mrn, 'practice-b'))?.id).toBe('pb');
    expect(await store.findPatient(mrn, 'practice-c')).toBeUndefined();
    expect((await store.findPatients(mrn)).map((p) => p.id)).toEqual(['pa', 'pb']);
    expect(await store.tenantOf('patient', 'pa')).toBe('practice-a');
    // A later save (the EHR link appearing) never moves a patient to another practice.
    await store.savePatient({ id: 'pa', identifiers: [mrn], ehrPatient: 'Patient/e1' });
    expect(await store.tenantOf('patient', 'pa')).toBe('practice-a');
    await store.saveEpisode(
      {
        id: 'ep',
        type: 'individual',
        status: 'active',
        patients: ['pb'],
        plannedSessions: { preparation: 1, medicine: 1, integration: 1 },
      },
      'practice-b',
    );
    expect(await store.tenantOf('episode', 'ep')).toBe('practice-b');
    expect(await store.tenantOf('episode', 'nope')).toBeUndefined();
  });

  test('refuses to give one identifier to two patients, and keeps nothing of the attempt', async () => {
    await store.savePatient({ id: 'p1', identifiers: [{ system: 's', value: 'v' }] });
    await expect(
      store.savePatient({
        id: 'p2',
        identifiers: [
          { system: 's2', value: 'x' },
          { system: 's', value: 'v' },
        ],
      }),
    ).rejects.toBeInstanceOf(IdentifierTakenError);
    expect(await store.getPatient('p2')).toBeUndefined();
    expect(await store.findPatient({ system: 's2', value: 'x' }, DEFAULT_TENANT)).toBeUndefined();
  });

  test('dedupes by (type, id, versionId) and never lets an older version overwrite a newer one', async () => {
    const at = '2026-11-26T12:00:00Z';
    expect(
      await store.putResource({
        resource: rx('rx1', '1', 'active'),
        patientRef: 'Patient/ehr-1',
        receivedAt: at,
      }),
    ).toBe('stored');
    expect(
      await store.putResource({
        resource: rx('rx1', '1', 'active'),
        patientRef: 'Patient/ehr-1',
        receivedAt: at,
      }),
    ).toBe('duplicate');
    expect(
      await store.putResource({
        resource: rx('rx1', '3', 'on-hold'),
        patientRef: 'Patient/ehr-1',
        receivedAt: at,
      }),
    ).toBe('stored');
    expect(
      await store.putResource({
        resource: rx('rx1', '2', 'stopped'),
        patientRef: 'Patient/ehr-1',
        receivedAt: at,
      }),
    ).toBe('stale');
    const kept = await store.getResource('MedicationRequest', 'rx1');
    expect(kept?.resource).toMatchObject({ status: 'on-hold', meta: { versionId: '3' } });
  });

  test('keeps resources for a patient not linked yet, found once the link appears', async () => {
    const at = '2026-11-26T12:00:00Z';
    await store.putResource({
      resource: rx('rx9', '1', 'active'),
      patientRef: 'Patient/ehr-9',
      receivedAt: at,
    });
    expect(await store.findPatientByEhrRef('Patient/ehr-9')).toBeUndefined();
    await store.savePatient({
      id: 'p9',
      identifiers: [{ system: 'urn:ehr:mrn', value: '9' }],
      ehrPatient: 'Patient/ehr-9',
    });
    const link = await store.findPatientByEhrRef('Patient/ehr-9');
    expect((await store.resourcesFor(link!.ehrPatient!)).map((s) => s.resource.id)).toEqual(['rx9']);
  });

  test('a transaction is all or nothing', async () => {
    const at = '2026-11-26T12:00:00Z';
    await expect(
      store.transaction(async (tx) => {
        await tx.putResource({ resource: rx('a', '1', 'active'), receivedAt: at });
        await tx.setCheckpoint('sync', 'x');
        throw new Error('the second half failed');
      }),
    ).rejects.toThrow('the second half failed');
    expect(await store.getResource('MedicationRequest', 'a')).toBeUndefined();
    expect(await store.getCheckpoint('sync')).toBeUndefined();

    await store.transaction(async (tx) => {
      await tx.putResource({ resource: rx('a', '1', 'active'), receivedAt: at });
      await tx.setCheckpoint('sync', 'y');
    });
    expect(await store.getResource('MedicationRequest', 'a')).toBeDefined();
    expect(await store.getCheckpoint('sync')).toBe('y');
  });

  test('keeps episodes and finds them by either partner', async () => {
    await store.savePatient({ id: 'a', identifiers: [{ system: 's', value: 'a' }] });
    await store.savePatient({ id: 'b', identifiers: [{ system: 's', value: 'b' }] });
    const episode = {
      id: 'ep1',
      type: 'couples' as const,
      status: 'active' as const,
      patients: ['a', 'b'],
      plannedSessions: { preparation: 2, medicine: 1, integration: 1 },
    };
    await store.saveEpisode(episode);
    expect(await store.getEpisode('ep1')).toEqual(episode);
    expect((await store.episodesOf('b')).map((e) => e.id)).toEqual(['ep1']);
    await expect(store.saveEpisode({ ...episode, id: 'ep2', patients: ['a', 'nobody'] })).rejects.toThrow();
    expect(await store.getEpisode('ep2')).toBeUndefined();
  });

  test('checkpoints overwrite', async () => {
    await store.setCheckpoint('sync:MedicationRequest', '2026-11-26T10:00:00Z');
    await store.setCheckpoint('sync:MedicationRequest', '2026-11-26T11:00:00Z');
    expect(await store.getCheckpoint('sync:MedicationRequest')).toBe('2026-11-26T11:00:00Z');
  });

  test('data survives closing and opening again', async () => {
    await store.savePatient({
      id: 'p1',
      identifiers: [{ system: 's', value: 'v' }],
      ehrPatient: 'Patient/e1',
    });
    await store.putResource({
      resource: rx('rx1', '2', 'on-hold'),
      patientRef: 'Patient/e1',
      receivedAt: 'now',
    });
    await store.close();
    store = await Store.open(db.options);
    expect((await store.getPatient('p1'))?.ehrPatient).toBe('Patient/e1');
    expect((await store.getResource('MedicationRequest', 'rx1'))?.resource).toMatchObject({
      status: 'on-hold',
    });
  });

  test('concurrent writers keep the newest version', async () => {
    const versions = Array.from({ length: 20 }, (_, i) =>
      rx('race', String(i + 1), i === 19 ? 'completed' : 'active'),
    );
    await Promise.all(
      versions.reverse().map((resource) => store.putResource({ resource, receivedAt: 'now' })),
    );
    expect((await store.getResource('MedicationRequest', 'race'))?.resource.meta?.versionId).toBe('20');
  });
});
