/** The audit trail's tables: the AuditEvents and the entities each names. */
import type { Tables } from '../store/tables.js';

const migrations: Tables['migrations'] = [
  [
    // The audit trail: one AuditEvent per read or write of PHI through kap-bridge. Append-only: the
    // store has no statement that changes or deletes a row here.
    `CREATE TABLE audit_events (
       id TEXT PRIMARY KEY,
       recorded TEXT NOT NULL,
       tenant TEXT,
       client TEXT NOT NULL,
       action TEXT NOT NULL,
       outcome TEXT NOT NULL,
       body TEXT NOT NULL
     )`,
    'CREATE INDEX audit_events_recorded ON audit_events (recorded)',
    `CREATE TABLE audit_entities (
       audit_id TEXT NOT NULL REFERENCES audit_events (id),
       reference TEXT NOT NULL,
       PRIMARY KEY (reference, audit_id)
     )`,
  ],
];

export const AUDIT_TABLES: Tables = { module: 'audit', migrations };
