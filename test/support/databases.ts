/**
 * Fresh databases for the suites that need one: a SQLite file in a temporary folder, or a new database on
 * the PostgreSQL server at KAP_TEST_DATABASE_URL (postgres@127.0.0.1:5432 by default).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { NUMBERED, SCHEMA } from '../../src/store/schema.js';
import { openPostgres, openSqlite, type Sql } from '../../src/store/sql.js';
import type { Store, StoreOptions } from '../../src/store/store.js';
import type { Tables } from '../../src/store/tables.js';

const ADMIN_URL = process.env.KAP_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  options: StoreOptions;
  drop(): Promise<void>;
}

export async function sqliteDatabase(): Promise<TestDatabase> {
  const dir = mkdtempSync(join(tmpdir(), 'kap-db-'));
  return {
    options: { sqliteFile: join(dir, 'kap-bridge.db') },
    drop: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

export async function postgresDatabase(): Promise<TestDatabase> {
  const name = `kap_test_${process.pid}_${Math.floor(Math.random() * 1e9)}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  try {
    await admin.connect();
  } catch (e) {
    throw new Error(
      `PostgreSQL is not reachable at ${ADMIN_URL} (${(e as Error).message}). Start it, or set KAP_TEST_DATABASE_URL.`,
    );
  }
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    options: { databaseUrl: url.toString() },
    drop: async () => {
      const c = new pg.Client({ connectionString: ADMIN_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export const ENGINES = [
  { name: 'sqlite', create: sqliteDatabase },
  { name: 'postgres', create: postgresDatabase },
];

/**
 * Makes a database as a kap-bridge from before per-module migrations left it: its first `version`
 * migrations under the one numbering (src/store/schema.ts NUMBERED), each applied and recorded in
 * `schema_migrations`; then `seed` writes rows as that version did.
 */
export async function numberedDatabase(
  { databaseUrl, sqliteFile }: StoreOptions,
  version: number,
  seed: (tx: Sql) => Promise<void> = async () => undefined,
): Promise<void> {
  const raw = databaseUrl ? openPostgres(databaseUrl) : openSqlite(sqliteFile!);
  try {
    await raw.transaction(async (tx) => {
      await tx.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)');
      for (const [i, [module, n]] of NUMBERED.slice(0, version).entries()) {
        const owner = SCHEMA.find((t) => t.module === module)!;
        for (const statement of owner.migrations[n - 1]!) await tx.exec(statement);
        await tx.run('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)', [
          i + 1,
          '2026-11-26T12:00:00Z',
        ]);
      }
      await seed(tx);
    });
  } finally {
    await raw.close();
  }
}

/** How many rows each module's tables hold, `table=n` in order, read in one transaction through each module's port. */
export const rowCounts = (
  store: Store,
  modules: readonly (readonly [owner: Tables, tables: readonly string[]])[],
): Promise<string> =>
  store.transaction(async (tx) => {
    const counts: string[] = [];
    for (const [owner, tables] of modules)
      for (const table of tables) {
        const [row] = await tx
          .tables(owner)
          .all<{ n: number | string }>(`SELECT COUNT(*) AS n FROM ${table}`);
        counts.push(`${table}=${Number(row!.n)}`);
      }
    return counts.join(' ');
  });
