/**
 * Schema changes, in order; each entry is one migration. Never edit an applied one: add another.
 * The SQL is the common ground of SQLite and PostgreSQL.
 */
export const MIGRATIONS: readonly (readonly string[])[] = [
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
];
