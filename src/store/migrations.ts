/**
 * The store's own tables: patients and their identifiers, courses (episodes), the resources held,
 * the EHR's identifiers, the record change counters and the sync checkpoints.
 */
import type { Tables } from './tables.js';

const migrations: Tables['migrations'] = [
  [
    `CREATE TABLE patients (
       id TEXT PRIMARY KEY,
       ehr_patient TEXT,
       created_at TEXT NOT NULL
     )`,
    'CREATE INDEX patients_ehr_patient ON patients (ehr_patient)',
    `CREATE TABLE patient_identifiers (
       system TEXT NOT NULL,
       value TEXT NOT NULL,
       patient_id TEXT NOT NULL REFERENCES patients (id),
       PRIMARY KEY (system, value)
     )`,
    'CREATE INDEX patient_identifiers_patient ON patient_identifiers (patient_id)',
    `CREATE TABLE resources (
       resource_type TEXT NOT NULL,
       id TEXT NOT NULL,
       version_id TEXT,
       version_rank BIGINT NOT NULL,
       last_updated TEXT,
       patient_ref TEXT,
       body TEXT NOT NULL,
       received_at TEXT NOT NULL,
       PRIMARY KEY (resource_type, id)
     )`,
    'CREATE INDEX resources_patient_ref ON resources (patient_ref)',
    'CREATE TABLE checkpoints (name TEXT PRIMARY KEY, value TEXT NOT NULL)',
  ],
  [
    `CREATE TABLE ehr_identifiers (
       system TEXT NOT NULL,
       value TEXT NOT NULL,
       patient_ref TEXT NOT NULL,
       PRIMARY KEY (system, value, patient_ref)
     )`,
  ],
  [
    `CREATE TABLE episodes (
       id TEXT PRIMARY KEY,
       body TEXT NOT NULL,
       created_at TEXT NOT NULL
     )`,
    `CREATE TABLE episode_patients (
       episode_id TEXT NOT NULL REFERENCES episodes (id),
       patient_id TEXT NOT NULL REFERENCES patients (id),
       PRIMARY KEY (episode_id, patient_id)
     )`,
    'CREATE INDEX episode_patients_patient ON episode_patients (patient_id)',
  ],
  // What kap-bridge writes is kept under its own id, marked as ours (origin); the EHR's copy (its id
  // and version) is remembered beside it.
  [
    'ALTER TABLE resources ADD COLUMN origin TEXT',
    'ALTER TABLE resources ADD COLUMN ehr_ref TEXT',
    'ALTER TABLE resources ADD COLUMN ehr_version TEXT',
  ],
  [
    // Tenancy: each patient and episode belongs to one practice (tenant). A practice's identifiers are
    // its own, so the same MRN may be registered by two practices without one seeing the other.
    "ALTER TABLE patients ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default'",
    "ALTER TABLE episodes ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default'",
    `CREATE TABLE tenant_patient_identifiers (
       tenant TEXT NOT NULL,
       system TEXT NOT NULL,
       value TEXT NOT NULL,
       patient_id TEXT NOT NULL REFERENCES patients (id),
       PRIMARY KEY (tenant, system, value)
     )`,
    `INSERT INTO tenant_patient_identifiers (tenant, system, value, patient_id)
       SELECT p.tenant, i.system, i.value, i.patient_id FROM patient_identifiers i JOIN patients p ON p.id = i.patient_id`,
    'DROP TABLE patient_identifiers',
    'ALTER TABLE tenant_patient_identifiers RENAME TO patient_identifiers',
    'CREATE INDEX patient_identifiers_patient ON patient_identifiers (patient_id)',
  ],
  [
    // A change counter per record scope (an EHR Patient ref, or the type of a resource about no
    // patient, such as Medication), raised by every write: a cached record is current while its
    // counters are unchanged, whichever instance wrote.
    'CREATE TABLE record_changes (scope TEXT PRIMARY KEY, changes BIGINT NOT NULL)',
  ],
  [
    // A practice's own records are its own: what kap-bridge wrote is kept with the practice that
    // recorded it (tenant); what the EHR sent has none. Rows written before are given the practice of
    // their course (a couple's Group is named by it), else of the first patient linked to their EHR
    // Patient, else of the patient whose outbox queue carried them (a joint session names no patient).
    // (The outbox's tables are migrated before the store's for it: src/store/schema.ts.)
    'ALTER TABLE resources ADD COLUMN tenant TEXT',
    `UPDATE resources SET tenant = COALESCE(
       (SELECT e.tenant FROM episodes e
          WHERE resources.resource_type IN ('Group', 'EpisodeOfCare') AND e.id = resources.id),
       (SELECT p.tenant FROM patients p WHERE p.ehr_patient = resources.patient_ref ORDER BY p.created_at, p.id LIMIT 1),
       (SELECT p.tenant FROM outbox o JOIN patients p ON p.ehr_patient = o.patient_ref
          WHERE o.resource_type = resources.resource_type AND o.identifier_value = resources.id
          ORDER BY p.created_at, p.id LIMIT 1),
       'default') WHERE origin = 'kap-bridge'`,
    // The EHR's copy of what a practice wrote is kept as the EHR's data, marked with the practice
    // that wrote it: to that practice its own row stands for it.
    'ALTER TABLE resources ADD COLUMN written_by TEXT',
  ],
  [
    // Each practice has its own id space: a patient, course or recorded resource is known by its
    // practice and its id together, so two practices may choose the same id without meeting.
    `CREATE TABLE practice_patients (
       tenant TEXT NOT NULL,
       id TEXT NOT NULL,
       ehr_patient TEXT,
       created_at TEXT NOT NULL,
       PRIMARY KEY (tenant, id)
     )`,
    'INSERT INTO practice_patients (tenant, id, ehr_patient, created_at) SELECT tenant, id, ehr_patient, created_at FROM patients',
    `CREATE TABLE practice_patient_identifiers (
       tenant TEXT NOT NULL,
       system TEXT NOT NULL,
       value TEXT NOT NULL,
       patient_id TEXT NOT NULL,
       PRIMARY KEY (tenant, system, value),
       FOREIGN KEY (tenant, patient_id) REFERENCES practice_patients (tenant, id)
     )`,
    'INSERT INTO practice_patient_identifiers (tenant, system, value, patient_id) SELECT tenant, system, value, patient_id FROM patient_identifiers',
    `CREATE TABLE practice_episodes (
       tenant TEXT NOT NULL,
       id TEXT NOT NULL,
       body TEXT NOT NULL,
       created_at TEXT NOT NULL,
       PRIMARY KEY (tenant, id)
     )`,
    'INSERT INTO practice_episodes (tenant, id, body, created_at) SELECT tenant, id, body, created_at FROM episodes',
    `CREATE TABLE practice_episode_patients (
       tenant TEXT NOT NULL,
       episode_id TEXT NOT NULL,
       patient_id TEXT NOT NULL,
       PRIMARY KEY (tenant, episode_id, patient_id),
       FOREIGN KEY (tenant, episode_id) REFERENCES practice_episodes (tenant, id),
       FOREIGN KEY (tenant, patient_id) REFERENCES practice_patients (tenant, id)
     )`,
    `INSERT INTO practice_episode_patients (tenant, episode_id, patient_id)
       SELECT e.tenant, p.episode_id, p.patient_id FROM episode_patients p JOIN episodes e ON e.id = p.episode_id`,
    'DROP TABLE episode_patients',
    'DROP TABLE episodes',
    'DROP TABLE patient_identifiers',
    'DROP TABLE patients',
    'ALTER TABLE practice_patients RENAME TO patients',
    'ALTER TABLE practice_patient_identifiers RENAME TO patient_identifiers',
    'ALTER TABLE practice_episodes RENAME TO episodes',
    'ALTER TABLE practice_episode_patients RENAME TO episode_patients',
    'CREATE INDEX patients_ehr_patient ON patients (ehr_patient)',
    'CREATE INDEX patient_identifiers_patient ON patient_identifiers (tenant, patient_id)',
    'CREATE INDEX episode_patients_patient ON episode_patients (tenant, patient_id)',
    // A practice's own resources are kept under `<practice>/<id>`, a key no EHR id can take (an id has
    // no "/"). The EHR knows each by the value of kap-bridge's identifier it was first sent with
    // (ehr_identifier): the bare id for what was written before, `<practice>/<id>` from now on.
    'ALTER TABLE resources ADD COLUMN ehr_identifier TEXT',
    "UPDATE resources SET ehr_identifier = id, id = tenant || '/' || id WHERE origin = 'kap-bridge'",
    'CREATE INDEX resources_ehr_identifier ON resources (resource_type, ehr_identifier)',
  ],
];

export const STORE_TABLES: Tables = { module: 'store', migrations };
