/** CDS Hooks' tables: the CDS client JWTs accepted, so that each is let in once (./token-ledger.ts). */
import type { Tables } from '../store/tables.js';

const migrations: Tables['migrations'] = [
  [
    // The CDS client JWTs accepted (their issuer and jti as one key), until each could no longer be
    // accepted anyway (expires_at, epoch milliseconds): a token is let in once, whichever instance
    // on the database it reaches.
    'CREATE TABLE cds_token_ids (token_key TEXT PRIMARY KEY, expires_at BIGINT NOT NULL)',
    'CREATE INDEX cds_token_ids_expires ON cds_token_ids (expires_at)',
  ],
];

export const CDS_TABLES: Tables = { module: 'cds', migrations };
