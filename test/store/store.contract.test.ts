/**
 * One contract, two engines: the same tests run on SQLite (a real file) and on PostgreSQL (the
 * server at KAP_TEST_DATABASE_URL, by default postgres@127.0.0.1:5432), each in a fresh database.
 */
import type { Consent, MedicationRequest } from 'fhir/r4';
import { AUDIT_TABLES } from '../../src/audit/migrations.js';
import { AuditTrail, type WriteAudit, withWriteAudit } from '../../src/audit/trail.js';
import type { Principal } from '../../src/auth/authentication.js';
import { createLogger } from '../../src/log.js';
import { OUTBOX_TABLES } from '../../src/outbox/migrations.js';
import { STORE_TABLES } from '../../src/store/migrations.js';
import { NUMBERED, SCHEMA_VERSIONS } from '../../src/store/schema.js';
import { DEFAULT_TENANT, IdentifierTakenError, Store } from '../../src/store/store.js';
import {
  ENGINES,
  numberedDatabase,
  postgresDatabase,
  rowCounts,
  type TestDatabase,
} from '../support/databases.js';

const rx = (
  id: string,
  versionId: string,
  status: MedicationRequest['status'],
  patient = 'ehr-1',
): MedicationRequest => ({
  resourceType: 'MedicationRequest',
  id,
  meta: { versionId, lastUpdated: `2026-11-2${versionId}T10:00:00Z` },
  status,
  intent: 'order',
  medicationCodeableConcept: { text: 'ketamine' },
  subject: { reference: `Patient/${patient}` },
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

  test("runs every module's migrations on first open and not again", async () => {
    expect(await store.schemaVersions()).toEqual(SCHEMA_VERSIONS);
    await store.close();
    store = await Store.open(db.options);
    expect(await store.schemaVersions()).toEqual(SCHEMA_VERSIONS);
    expect(await store.schemaCurrent()).toBe(true);
    expect(store.engine).toBe(engine.name);
  });

  /** Records a module's migration as applied, as a newer kap-bridge would. */
  const recordApplied = (module: string, version: number) =>
    store.transaction((tx) =>
      tx
        .tables(STORE_TABLES)
        .run('INSERT INTO module_migrations (module, version, applied_at) VALUES (?, ?, ?)', [
          module,
          version,
          new Date().toISOString(),
        ]),
    );

  test.each([
    ['migrated further', 'outbox', SCHEMA_VERSIONS.outbox! + 1],
    ['added', 'consent-log', 1],
  ])('refuses to start on a database with a module a newer kap-bridge %s', async (_, module, version) => {
    await recordApplied(module, version);
    expect(await store.schemaCurrent()).toBe(false);
    await store.close();
    await expect(Store.open(db.options)).rejects.toThrow(
      `The database's schema (${module} tables) is at version ${version}, newer than version ${SCHEMA_VERSIONS[module] ?? 0}, the last this kap-bridge knows`,
    );
    await db.drop();
    db = await engine.create();
    store = await Store.open(db.options);
  });

  test("hands a module its tables' statements only for tables the store migrates", async () => {
    const unknown = { module: 'outbox', migrations: OUTBOX_TABLES.migrations };
    await expect(store.read(async (tx) => tx.tables(unknown))).rejects.toThrow(
      "The store migrates no tables of 'outbox'",
    );
  });

  test('starts on a database recorded under the one numbering of before, its history kept per module and its rows kept', async () => {
    await store.close();
    await db.drop();
    db = await engine.create();
    const at = '2026-11-26T12:00:00Z';
    await numberedDatabase(db.options, NUMBERED.length, async (tx) => {
      await tx.run(
        "INSERT INTO patients (tenant, id, ehr_patient, created_at) VALUES ('practice-a', 'p1', 'Patient/e1', ?)",
        [at],
      );
      await tx.run(
        `INSERT INTO outbox (id, patient_ref, seq, resource_type, identifier_system, identifier_value, payload, status, next_attempt_at, created_at)
         VALUES ('m1', 'Patient/e1', 1, 'Encounter', 's', 'v', '{}', 'pending', ?, ?)`,
        [at, at],
      );
      await tx.run(
        "INSERT INTO audit_events (id, recorded, client, action, outcome, body) VALUES ('a1', ?, 'c', 'R', '0', '{}')",
        [at],
      );
    });
    for (let open = 0; open < 2; open++) {
      store = await Store.open(db.options);
      expect(await store.schemaVersions()).toEqual(SCHEMA_VERSIONS);
      const history = await store.read(async (tx) => ({
        modules: await tx
          .tables(STORE_TABLES)
          .all('SELECT module, version, applied_at FROM module_migrations ORDER BY module, version'),
        // A kap-bridge from before knows up to NUMBERED.length: it refuses a database past it.
        numbered: await tx.tables(STORE_TABLES).all('SELECT MAX(version) AS v FROM schema_migrations'),
      }));
      // Every module's migrations: those of the one numbering kept as applied then, the later ones applied now.
      const numbered = new Set(NUMBERED.map(([module, version]) => `${module}/${version}`));
      expect(history.modules).toEqual(
        Object.entries(SCHEMA_VERSIONS)
          .flatMap(([module, n]) => Array.from({ length: n }, (_, i) => [module, i + 1] as const))
          .sort(([m1, v1], [m2, v2]) => m1.localeCompare(m2) || v1 - v2)
          .map(([module, version]) => ({
            module,
            version,
            applied_at: numbered.has(`${module}/${version}`) ? at : expect.not.stringMatching(at),
          })),
      );
      expect(history.numbered).toEqual([{ v: NUMBERED.length + 1 }]);
      expect(
        await rowCounts(store, [
          [STORE_TABLES, ['patients']],
          [OUTBOX_TABLES, ['outbox']],
          [AUDIT_TABLES, ['audit_events']],
        ]),
      ).toBe('patients=1 outbox=1 audit_events=1');
      expect((await store.getPatient('p1', 'practice-a'))?.ehrPatient).toBe('Patient/e1');
      await store.close();
    }
    store = await Store.open(db.options);
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
    expect(await store.getPatient('p1', DEFAULT_TENANT)).toEqual(link);
    expect(
      (await store.findPatient({ system: 'urn:therapist:client', value: 'C-7' }, DEFAULT_TENANT))?.id,
    ).toBe('p1');
    expect(await store.patientsLinkedTo('Patient/ehr-1')).toEqual([{ id: 'p1', tenant: DEFAULT_TENANT }]);
    expect(await store.patientsLinkedTo('Patient/ehr-unknown')).toEqual([]);
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
    expect((await store.findPatients(mrn)).map((p) => [p.tenant, p.link.id])).toEqual([
      ['practice-a', 'pa'],
      ['practice-b', 'pb'],
    ]);
    expect(await store.getPatient('pa', 'practice-a')).toBeDefined();
    expect(await store.getPatient('pa', 'practice-b')).toBeUndefined();
    // A later save (the EHR link appearing) never moves a patient to another practice.
    await store.savePatient({ id: 'pa', identifiers: [mrn], ehrPatient: 'Patient/e1' }, 'practice-a');
    expect((await store.getPatient('pa', 'practice-a'))?.ehrPatient).toBe('Patient/e1');
    expect(await store.getPatient('pa', DEFAULT_TENANT)).toBeUndefined();
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
    expect(await store.getEpisode('ep', 'practice-b')).toBeDefined();
    expect(await store.getEpisode('ep', 'practice-a')).toBeUndefined();
    expect(await store.getEpisode('nope', 'practice-b')).toBeUndefined();
  });

  test('gives each practice its own id space: the same ids in two practices are two patients, courses and records', async () => {
    const at = '2026-11-26T12:00:00Z';
    const course = (patient: string) => ({
      id: 'course-1',
      type: 'individual' as const,
      status: 'active' as const,
      patients: [patient],
      plannedSessions: { preparation: 1, medicine: 1, integration: 1 },
    });
    const consent = (note: string) =>
      ({
        resourceType: 'Consent',
        id: 'consent-1',
        status: 'active',
        patient: { reference: 'Patient/ehr-1' },
        identifier: [{ system: 'urn:x', value: note }],
      }) as unknown as MedicationRequest;
    for (const [tenant, mrn] of [
      ['practice-a', 'MRN-A'],
      ['practice-b', 'MRN-B'],
    ] as const) {
      await store.savePatient(
        {
          id: 'patient-1',
          identifiers: [{ system: 'urn:ehr:mrn', value: mrn }],
          ehrPatient: 'Patient/ehr-1',
        },
        tenant,
      );
      await store.saveEpisode(course('patient-1'), tenant);
      expect(
        await store.putResource({
          resource: consent(tenant),
          patientRef: 'Patient/ehr-1',
          receivedAt: at,
          ours: true,
          tenant,
        }),
      ).toBe('stored');
    }
    for (const [tenant, mrn] of [
      ['practice-a', 'MRN-A'],
      ['practice-b', 'MRN-B'],
    ] as const) {
      expect((await store.getPatient('patient-1', tenant))?.identifiers).toEqual([
        { system: 'urn:ehr:mrn', value: mrn },
      ]);
      expect((await store.episodesOf('patient-1', tenant)).map((e) => e.id)).toEqual(['course-1']);
      const own = await store.getOwn('Consent', 'consent-1', tenant);
      expect(own).toMatchObject({ tenant, ehrIdentifier: `${tenant}/consent-1` });
      expect((own?.resource as unknown as Consent | undefined)?.identifier?.[0]?.value).toBe(tenant);
      expect(await store.ownByEhrIdentifier('Consent', `${tenant}/consent-1`)).toEqual(own);
      expect((await store.resourcesFor('Patient/ehr-1', tenant)).map((s) => s.tenant)).toEqual([tenant]);
    }
    // A practice's own row is never the EHR's resource with the same id, nor the other way round.
    expect(await store.getResource('Consent', 'consent-1')).toBeUndefined();
    expect(await store.getOwn('Consent', 'consent-1', 'practice-c')).toBeUndefined();
    expect(await store.patientsLinkedTo('Patient/ehr-1')).toHaveLength(2);
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
    expect(await store.getPatient('p2', DEFAULT_TENANT)).toBeUndefined();
    expect(await store.findPatient({ system: 's2', value: 'x' }, DEFAULT_TENANT)).toBeUndefined();
  });

  test('dedupes by (type, id, versionId) and never lets an older version overwrite a newer one', async () => {
    const put = (version: string, status: MedicationRequest['status']) =>
      store.putResource({
        resource: rx('rx1', version, status),
        patientRef: 'Patient/ehr-1',
        receivedAt: '2026-11-26T12:00:00Z',
      });
    expect(await put('1', 'active')).toBe('stored');
    expect(await put('1', 'active')).toBe('duplicate');
    expect(await put('3', 'on-hold')).toBe('stored');
    expect(await put('2', 'stopped')).toBe('stale');
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
    expect(await store.patientsLinkedTo('Patient/ehr-9')).toEqual([]);
    await store.savePatient({
      id: 'p9',
      identifiers: [{ system: 'urn:ehr:mrn', value: '9' }],
      ehrPatient: 'Patient/ehr-9',
    });
    const [found] = await store.patientsLinkedTo('Patient/ehr-9');
    expect(
      (
        await store.resourcesFor((await store.getPatient(found!.id, found!.tenant))!.ehrPatient!, 'default')
      ).map((s) => s.resource.id),
    ).toEqual(['rx9']);
  });

  test("gives each practice its own records and the EHR's data, never another practice's own rows", async () => {
    const at = '2026-11-26T12:00:00Z';
    const consent = (id: string) =>
      ({
        resourceType: 'Consent',
        id,
        status: 'active',
        patient: { reference: 'Patient/ehr-1' },
      }) as unknown as MedicationRequest;
    await store.putResource({
      resource: rx('ehr-rx', '1', 'active'),
      patientRef: 'Patient/ehr-1',
      receivedAt: at,
    });
    await store.putResource({
      resource: consent('a-consent'),
      patientRef: 'Patient/ehr-1',
      receivedAt: at,
      ours: true,
      tenant: 'practice-a',
    });
    await store.putResource({
      resource: consent('b-consent'),
      patientRef: 'Patient/ehr-1',
      receivedAt: at,
      ours: true,
      tenant: 'practice-b',
    });
    const ids = async (tenant: string) =>
      (await store.resourcesFor('Patient/ehr-1', tenant)).map((s) => s.resource.id);
    expect(await ids('practice-a')).toEqual(['a-consent', 'ehr-rx']);
    expect(await ids('practice-b')).toEqual(['b-consent', 'ehr-rx']);
    expect((await store.getOwn('Consent', 'b-consent', 'practice-b'))?.tenant).toBe('practice-b');
    // B's consent delivered and read back (twice, the EHR having lost the first copy): the EHR's
    // copies are data to A; to B its own row stands for them.
    await store.transaction(async (tx) => {
      for (const id of ['900', '901']) {
        await tx.attachEhrCopy('Consent', { id: 'b-consent', tenant: 'practice-b' }, `Consent/${id}`, '1');
        await tx.putResource({
          resource: { ...consent(id), meta: { versionId: '1' } },
          patientRef: 'Patient/ehr-1',
          receivedAt: at,
          writtenBy: 'practice-b',
        });
      }
    });
    expect(await ids('practice-a')).toEqual(['900', '901', 'a-consent', 'ehr-rx']);
    expect(await ids('practice-b')).toEqual(['b-consent', 'ehr-rx']);
    expect(await ids('practice-c')).toEqual(['900', '901', 'ehr-rx']);
    expect((await store.getResource('Consent', '901'))?.writtenBy).toBe('practice-b');
  });

  test('gives what kap-bridge wrote before practices were kept apart the practice of its course, patient or queue, and the bare id the EHR knows it by', async () => {
    await store.close();
    await db.drop();
    db = await engine.create();
    // Up to the migration that gave resources their practice; it and the per-practice id spaces follow.
    const before = NUMBERED.findIndex(
      ([module, version]) =>
        module === STORE_TABLES.module &&
        STORE_TABLES.migrations[version - 1]!.some((s) => s.includes('ADD COLUMN written_by')),
    );
    const at = '2026-11-26T12:00:00Z';
    await numberedDatabase(db.options, before, async (tx) => {
      await tx.run(
        "INSERT INTO patients (id, ehr_patient, created_at, tenant) VALUES ('pb', 'Patient/e1', ?, 'practice-b')",
        [at],
      );
      await tx.run(
        "INSERT INTO episodes (id, body, created_at, tenant) VALUES ('ep-b', '{}', ?, 'practice-b')",
        [at],
      );
      const row = (type: string, id: string, patientRef: string | null, origin: string | null) =>
        tx.run(
          'INSERT INTO resources (resource_type, id, version_rank, patient_ref, body, received_at, origin) VALUES (?, ?, 1, ?, ?, ?, ?)',
          [type, id, patientRef, JSON.stringify({ resourceType: type, id }), at, origin],
        );
      await row('Consent', 'c1', 'Patient/e1', 'kap-bridge');
      await row('Group', 'ep-b', null, 'kap-bridge');
      await row('Encounter', 'joint-1', null, 'kap-bridge');
      await row('Encounter', 'lost-1', null, 'kap-bridge');
      await row('MedicationRequest', 'rx1', 'Patient/e1', null);
      await tx.run(
        `INSERT INTO outbox (id, patient_ref, seq, resource_type, identifier_system, identifier_value, payload, status, next_attempt_at, created_at)
         VALUES ('m1', 'Patient/e1', 1, 'Encounter', 's', 'joint-1', '{}', 'pending', ?, ?)`,
        [at, at],
      );
    });
    store = await Store.open(db.options);
    const owners = await Promise.all(
      [
        ['Consent', 'c1', 'practice-b'],
        ['Group', 'ep-b', 'practice-b'],
        ['Encounter', 'joint-1', 'practice-b'],
        ['Encounter', 'lost-1', 'default'],
      ].map(async ([type, id, tenant]) => {
        const own = await store.getOwn(type!, id!, tenant!);
        return [own?.tenant, own?.ehrIdentifier];
      }),
    );
    expect(owners).toEqual([
      ['practice-b', 'c1'],
      ['practice-b', 'ep-b'],
      ['practice-b', 'joint-1'],
      ['default', 'lost-1'],
    ]);
    expect((await store.ownByEhrIdentifier('Consent', 'c1'))?.tenant).toBe('practice-b');
    expect(await store.getResource('Consent', 'c1')).toBeUndefined();
    expect((await store.getResource('MedicationRequest', 'rx1'))?.tenant).toBeUndefined();
    expect((await store.getPatient('pb', 'practice-b'))?.ehrPatient).toBe('Patient/e1');
    expect(await store.getEpisode('ep-b', 'practice-b')).toEqual({});
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
    expect(await store.getEpisode('ep1', DEFAULT_TENANT)).toEqual(episode);
    expect((await store.episodesOf('b', DEFAULT_TENANT)).map((e) => e.id)).toEqual(['ep1']);
    await expect(store.saveEpisode({ ...episode, id: 'ep2', patients: ['a', 'nobody'] })).rejects.toThrow();
    expect(await store.getEpisode('ep2', DEFAULT_TENANT)).toBeUndefined();
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
    expect((await store.getPatient('p1', DEFAULT_TENANT))?.ehrPatient).toBe('Patient/e1');
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

  describe('record marks', () => {
    const at = '2026-11-26T12:00:00Z';
    const head = (s: Store = store) =>
      s.recordHead('p1', DEFAULT_TENANT, { shared: 'Medication', checkpoint: 'ehr:last-heard' });
    const medication = (versionId: string) => ({
      resourceType: 'Medication' as const,
      id: 'med1',
      meta: { versionId },
      code: { text: 'ketamine' },
    });
    beforeEach(async () => {
      await store.savePatient({
        id: 'p1',
        identifiers: [{ system: 's', value: 'p1' }],
        ehrPatient: 'Patient/ehr-1',
      });
    });

    test('name the link and the checkpoint asked for, in one answer; nothing for an unknown patient', async () => {
      expect(
        await store.recordHead('nobody', DEFAULT_TENANT, {
          shared: 'Medication',
          checkpoint: 'ehr:last-heard',
        }),
      ).toBeUndefined();
      expect(await head()).toEqual({
        ehrPatient: 'Patient/ehr-1',
        tenant: 'default',
        mark: expect.any(String),
      });
      await store.setCheckpoint('ehr:last-heard', at);
      expect((await head())?.checkpoint).toBe(at);
      await store.savePatient({ id: 'p2', identifiers: [{ system: 's', value: 'p2' }] });
      expect(
        (await store.recordHead('p2', DEFAULT_TENANT, { shared: 'Medication', checkpoint: 'x' }))?.ehrPatient,
      ).toBeNull();
    });

    test("change with every stored version of the patient's resources, not with duplicates or stale ones", async () => {
      const marks = [(await head())?.mark];
      const put = async (versionId: string, status: MedicationRequest['status']) => {
        const outcome = await store.putResource({
          resource: rx('rx1', versionId, status),
          patientRef: 'Patient/ehr-1',
          receivedAt: at,
        });
        marks.push((await head())?.mark);
        return outcome;
      };
      expect(await put('2', 'active')).toBe('stored');
      expect(marks[1]).not.toBe(marks[0]);
      expect(await put('2', 'active')).toBe('duplicate');
      expect(await put('1', 'stopped')).toBe('stale');
      expect(marks[3]).toBe(marks[1]);
      expect(marks[2]).toBe(marks[1]);
      expect(await put('3', 'on-hold')).toBe('stored');
      expect(marks[4]).not.toBe(marks[1]);
      // Another patient's resources leave this mark alone.
      await store.putResource({
        resource: rx('rx2', '1', 'active', 'ehr-2'),
        patientRef: 'Patient/ehr-2',
        receivedAt: at,
      });
      expect((await head())?.mark).toBe(marks[4]);
    });

    test('change for both patients when a newer version moves a resource from one to the other', async () => {
      await store.savePatient({
        id: 'p2',
        identifiers: [{ system: 's', value: 'p2' }],
        ehrPatient: 'Patient/ehr-2',
      });
      const head2 = () => store.recordHead('p2', DEFAULT_TENANT, { shared: 'Medication', checkpoint: 'x' });
      await store.putResource({
        resource: rx('rx1', '1', 'active'),
        patientRef: 'Patient/ehr-1',
        receivedAt: at,
      });
      const [before1, before2] = [await head(), await head2()];
      await store.putResource({
        resource: rx('rx1', '2', 'active', 'ehr-2'),
        patientRef: 'Patient/ehr-2',
        receivedAt: at,
      });
      expect((await head())?.mark).not.toBe(before1?.mark);
      expect((await head2())?.mark).not.toBe(before2?.mark);
    });

    test('change with a write in a transaction once it commits, and not for one rolled back', async () => {
      const before = (await head())?.mark;
      await expect(
        store.transaction(async (tx) => {
          await tx.putResource({
            resource: rx('rx1', '1', 'active'),
            patientRef: 'Patient/ehr-1',
            receivedAt: at,
          });
          throw new Error('the second half failed');
        }),
      ).rejects.toThrow('the second half failed');
      expect((await head())?.mark).toBe(before);
      await store.transaction(async (tx) => {
        await tx.putResource({
          resource: rx('rx1', '1', 'active'),
          patientRef: 'Patient/ehr-1',
          receivedAt: at,
        });
        await tx.putResource({
          resource: rx('rx2', '1', 'active'),
          patientRef: 'Patient/ehr-1',
          receivedAt: at,
        });
      });
      expect((await head())?.mark).not.toBe(before);
    });

    test("change when the EHR's copy of our resource is attached", async () => {
      await store.putResource({
        resource: rx('ours1', '1', 'active'),
        patientRef: 'Patient/ehr-1',
        receivedAt: at,
        ours: true,
      });
      const before = (await head())?.mark;
      await store.transaction((tx) =>
        tx.attachEhrCopy(
          'MedicationRequest',
          { id: 'ours1', tenant: DEFAULT_TENANT },
          'MedicationRequest/e9',
          '1',
        ),
      );
      expect((await head())?.mark).not.toBe(before);
    });

    test('change with every stored version of a Medication, which any record may reference', async () => {
      const before = (await head())?.mark;
      await store.putResource({ resource: medication('1'), receivedAt: at });
      const after = (await head())?.mark;
      expect(after).not.toBe(before);
      await store.putResource({ resource: medication('1'), receivedAt: at });
      expect((await head())?.mark).toBe(after);
    });

    test('show one instance the writes of another sharing the database', async () => {
      const other = await Store.open(db.options);
      try {
        const before = (await head())?.mark;
        await other.putResource({
          resource: rx('rx1', '1', 'active'),
          patientRef: 'Patient/ehr-1',
          receivedAt: at,
        });
        expect((await head())?.mark).not.toBe(before);
        await other.savePatient({
          id: 'p1',
          identifiers: [{ system: 's', value: 'p1' }],
          ehrPatient: 'Patient/ehr-9',
        });
        expect((await head())?.ehrPatient).toBe('Patient/ehr-9');
      } finally {
        await other.close();
      }
    });

    test('two transactions writing the same two patients in opposite orders both commit', async () => {
      await store.savePatient({
        id: 'p2',
        identifiers: [{ system: 's', value: 'p2' }],
        ehrPatient: 'Patient/ehr-2',
      });
      const before = [
        (await head())?.mark,
        (await store.recordHead('p2', DEFAULT_TENANT, { shared: 'Medication', checkpoint: 'x' }))?.mark,
      ];
      let firstDone!: () => void;
      const firsts = [
        new Promise<void>((r) => {
          firstDone = r;
        }),
        Promise.resolve(),
      ];
      let arrived = 0;
      // Each waits (briefly: SQLite runs transactions one after the other) until both hold their first write.
      const bothStarted = () => {
        arrived += 1;
        if (arrived === 2) firstDone();
        return Promise.race([firsts[0], new Promise((r) => setTimeout(r, 300))]);
      };
      const write = (order: string[], tag: string) =>
        store.transaction(async (tx) => {
          for (const [i, p] of order.entries()) {
            await tx.putResource({
              resource: rx(`${tag}-${p}`, '1', 'active', p),
              patientRef: `Patient/${p}`,
              receivedAt: at,
            });
            if (i === 0) await bothStarted();
          }
        });
      await Promise.all([write(['ehr-1', 'ehr-2'], 'a'), write(['ehr-2', 'ehr-1'], 'b')]);
      expect((await store.resourcesFor('Patient/ehr-1', 'default')).length).toBe(2);
      expect((await head())?.mark).not.toBe(before[0]);
      expect(
        (await store.recordHead('p2', DEFAULT_TENANT, { shared: 'Medication', checkpoint: 'x' }))?.mark,
      ).not.toBe(before[1]);
    });
  });

  test('keeps the audit trail: many events in one flush, found by what they name, by client and by time', async () => {
    const trail = new AuditTrail(store, createLogger('silent'));
    const principal: Principal = { client: 'therapy-a', kind: 'therapist', tenant: 'practice-a', scopes: [] };
    for (let i = 0; i < 250; i++) {
      trail.record({
        principal,
        action: i % 2 ? 'R' : 'C',
        route: 'GET /api/v1/patients/:id',
        entities: [`Patient/p${i % 5}`, `Observation/o${i}`],
        status: 200,
        recorded: `2026-11-26T10:00:${String(i % 60).padStart(2, '0')}.000Z`,
      });
    }
    trail.record({ action: 'R', route: 'GET /api/v1/patients/:id', entities: ['Patient/p0'], status: 401 });
    await trail.flushed();
    expect((await trail.search({ entity: 'Patient/p0', count: 500 })).entry).toHaveLength(51);
    expect((await trail.search({ entity: 'Observation/o7', count: 500 })).entry).toHaveLength(1);
    expect((await trail.search({ client: 'unverified', count: 500 })).entry).toHaveLength(1);
    expect(
      (
        await trail.search({
          tenant: 'practice-a',
          since: '2026-11-26T10:00:59Z',
          until: '2026-11-27',
          count: 500,
        })
      ).entry,
    ).toHaveLength(4);
  });

  test("a write's audit record commits in the write's transaction, and rolls back with it", async () => {
    const trail = new AuditTrail(store, createLogger('silent'));
    const principal: Principal = { client: 'therapy-a', kind: 'therapist', tenant: 'practice-a', scopes: [] };
    const request = (): WriteAudit => ({
      entry: () => ({ principal, action: 'C', route: 'POST /api/v1/patients', entities: [] }),
    });
    // The group commit intercepted: whatever is asked of it is counted and never stored.
    let groupCommitted = 0;
    trail.record = () => {
      groupCommitted++;
    };
    const events = async (entity: string) =>
      ((await trail.search({ entity, count: 500 })).entry ?? []).map((e) => e.resource!);

    const kept = request();
    await withWriteAudit(kept, async () => {
      await store.transaction((tx) => tx.savePatient({ id: 'p-kept', identifiers: [] }, 'practice-a'));
      // A later transaction of the same request: what it writes is indexed under the same record.
      await store.transaction((tx) =>
        tx.putResource({ resource: rx('rx-kept', '1', 'active'), receivedAt: '2026-11-26T10:00:00Z' }),
      );
    });
    const [event, ...more] = await events('Patient/p-kept');
    expect(more).toEqual([]);
    expect(event).toMatchObject({
      id: kept.stored?.id,
      outcome: '0',
      outcomeDesc: 'POST /api/v1/patients committed its write',
      source: { site: 'practice-a' },
    });
    expect((await events('MedicationRequest/rx-kept')).map((e) => e.id)).toEqual([event!.id]);

    const refused = request();
    await expect(
      withWriteAudit(refused, () =>
        store.transaction(async (tx) => {
          await tx.savePatient({ id: 'p-refused', identifiers: [] }, 'practice-a');
          throw new Error('refused after writing');
        }),
      ),
    ).rejects.toThrow('refused after writing');
    expect(await store.getPatient('p-refused', 'practice-a')).toBeUndefined();
    expect(refused.stored).toBeUndefined();
    expect(await events('Patient/p-refused')).toEqual([]);
    // The group commit was never asked for either record: the kept one is in the store without it.
    expect(groupCommitted).toBe(0);
  });
});

// Several instances share one PostgreSQL database (SQLite is one process's file).
describe('first start on an empty PostgreSQL database', () => {
  test('five instances starting at once all migrate and serve, ten times over', async () => {
    for (let round = 0; round < 10; round++) {
      const db = await postgresDatabase();
      const stores = await Promise.allSettled(Array.from({ length: 5 }, () => Store.open(db.options)));
      try {
        const opened = stores.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
        expect(stores.filter((s) => s.status === 'rejected')).toEqual([]);
        await Promise.all(
          opened.map(async (s, i) => {
            expect(await s.schemaVersions()).toEqual(SCHEMA_VERSIONS);
            await s.setCheckpoint(`instance-${i}`, String(round));
          }),
        );
        for (const [i, s] of opened.entries())
          expect(await s.getCheckpoint(`instance-${4 - i}`)).toBe(String(round));
      } finally {
        await Promise.all(stores.map((s) => (s.status === 'fulfilled' ? s.value.close() : undefined)));
        await db.drop();
      }
    }
  });
});
