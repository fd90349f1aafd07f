/** The outbox's tables: the queue of changes for the EHR and the per-patient delivery leases. */
import type { Tables } from '../store/tables.js';

const migrations: Tables['migrations'] = [
  [
    // The outbox: therapist-side changes on their way to the EHR, in order per patient (seq).
    `CREATE TABLE outbox (
       id TEXT PRIMARY KEY,
       patient_ref TEXT NOT NULL,
       seq BIGINT NOT NULL,
       resource_type TEXT NOT NULL,
       identifier_system TEXT NOT NULL,
       identifier_value TEXT NOT NULL,
       payload TEXT NOT NULL,
       status TEXT NOT NULL CHECK (status IN ('pending', 'delivering', 'delivered', 'dead')),
       attempts INTEGER NOT NULL DEFAULT 0,
       next_attempt_at TEXT NOT NULL,
       last_error TEXT,
       created_at TEXT NOT NULL,
       delivered_at TEXT,
       ehr_ref TEXT,
       lease_owner TEXT,
       lease_expires_at TEXT
     )`,
    'CREATE INDEX outbox_queue ON outbox (patient_ref, status, seq)',
    'CREATE INDEX outbox_status ON outbox (status, next_attempt_at)',
    'CREATE INDEX outbox_identifier ON outbox (identifier_system, identifier_value, resource_type)',
    // One row per patient being delivered: who delivers it, until when.
    'CREATE TABLE outbox_leases (patient_ref TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at TEXT NOT NULL)',
  ],
  [
    // One place per change in a patient's outbox queue: two enqueues could read the same MAX(seq).
    // Places already given twice are renumbered first, keeping the order delivery follows.
    `CREATE TABLE outbox_places AS
       SELECT id, ROW_NUMBER() OVER (PARTITION BY patient_ref ORDER BY seq, created_at, id) AS seq FROM outbox`,
    'CREATE INDEX outbox_places_id ON outbox_places (id)',
    'UPDATE outbox SET seq = (SELECT p.seq FROM outbox_places p WHERE p.id = outbox.id)',
    'DROP TABLE outbox_places',
    'CREATE UNIQUE INDEX outbox_patient_seq ON outbox (patient_ref, seq)',
  ],
  [
    // A change the prescriber must see at once (a serious adverse event, a vital out of range) goes
    // ahead of the rest of its patient's queue, and its patient ahead of the others.
    'ALTER TABLE outbox ADD COLUMN priority INTEGER NOT NULL DEFAULT 0',
  ],
];

export const OUTBOX_TABLES: Tables = { module: 'outbox', migrations };
