/**
 * The database's schema: every module's tables, migrated at start, and the record of what is
 * applied (`module_migrations`: each module's migrations by version). A database migrated further
 * than this code knows is refused rather than read or written wrongly.
 */
import { isDeepStrictEqual } from 'node:util';
import { AUDIT_TABLES } from '../audit/migrations.js';
import { CDS_TABLES } from '../cds/migrations.js';
import { OUTBOX_TABLES } from '../outbox/migrations.js';
import { STORE_TABLES } from './migrations.js';
import type { Sql } from './sql.js';
import type { Tables } from './tables.js';

/**
 * Every module's tables, in the order they are migrated: a migration may read the tables of the
 * modules before its own (the store's seventh gives old rows the practice of the outbox queue that
 * carried them).
 */
export const SCHEMA: readonly Tables[] = [OUTBOX_TABLES, AUDIT_TABLES, STORE_TABLES, CDS_TABLES];

/** The schema this code migrates to and knows: each module's version, one per migration. */
export const SCHEMA_VERSIONS: Readonly<Record<string, number>> = Object.fromEntries(
  SCHEMA.map((t) => [t.module, t.migrations.length]),
);

/**
 * The one numbering of the migrations before each module had its own: `schema_migrations` version
 * n is the module's migration NUMBERED[n - 1]. That record is carried over once, and one more
 * version is added to it, PER_MODULE: a kap-bridge from before knows 12 and refuses to start on a
 * database recorded per module, whose later migrations it would not see.
 */
export const NUMBERED: readonly (readonly [module: string, version: number])[] = [
  ['store', 1],
  ['store', 2],
  ['store', 3],
  ['store', 4],
  ['outbox', 1],
  ['store', 5],
  ['audit', 1],
  ['store', 6],
  ['outbox', 2],
  ['store', 7],
  ['outbox', 3],
  ['store', 8],
];
const PER_MODULE = NUMBERED.length + 1;

/** The database was migrated by a newer kap-bridge: this (older) instance does not start on it. */
export class SchemaTooNewError extends Error {
  constructor(what: string, found: number, known: number) {
    super(
      `The database's schema (${what}) is at version ${found}, newer than version ${known}, the last this kap-bridge knows: a newer kap-bridge has migrated it. Start the newer version instead; this one does not read or write a schema it does not know.`,
    );
    this.name = 'SchemaTooNewError';
  }
}

/** Each module's highest applied version, as recorded. */
export async function schemaVersions(sql: Sql): Promise<Record<string, number>> {
  const rows = await sql.all<{ module: string; version: number | string }>(
    'SELECT module, MAX(version) AS version FROM module_migrations GROUP BY module',
  );
  return Object.fromEntries(rows.map((r) => [r.module, Number(r.version)]));
}

/** Whether the recorded schema is the one this code knows (not migrated further by a newer instance). */
export const isCurrent = (versions: Record<string, number>): boolean =>
  isDeepStrictEqual(versions, SCHEMA_VERSIONS);

/**
 * Applies every module's migrations not yet applied, in SCHEMA's order, each recorded as applied in
 * the same transaction, `tx`, which holds the migration lock.
 */
export async function migrate(tx: Sql): Promise<void> {
  await tx.exec(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)',
  );
  await tx.exec(
    `CREATE TABLE IF NOT EXISTS module_migrations (
       module TEXT NOT NULL, version INTEGER NOT NULL, applied_at TEXT NOT NULL, PRIMARY KEY (module, version))`,
  );
  await carryOverNumbered(tx);
  // A module unknown here is a newer kap-bridge's: known at version 0.
  for (const [module, found] of Object.entries(await schemaVersions(tx))) {
    const known = SCHEMA_VERSIONS[module] ?? 0;
    if (found > known) throw new SchemaTooNewError(`${module} tables`, found, known);
  }
  const applied = new Set(
    (
      await tx.all<{ module: string; version: number | string }>(
        'SELECT module, version FROM module_migrations',
      )
    ).map((r) => `${r.module}/${Number(r.version)}`),
  );
  for (const { module, migrations } of SCHEMA) {
    for (const [i, statements] of migrations.entries()) {
      if (applied.has(`${module}/${i + 1}`)) continue;
      for (const statement of statements) await tx.exec(statement);
      await recordApplied(tx, module, i + 1, new Date().toISOString());
    }
  }
}

const recordApplied = (tx: Sql, module: string, version: number, at: string): Promise<number> =>
  tx.run('INSERT INTO module_migrations (module, version, applied_at) VALUES (?, ?, ?)', [
    module,
    version,
    at,
  ]);

/** Records the migrations applied under the one numbering as their modules' own, once, keeping when each was applied. */
async function carryOverNumbered(tx: Sql): Promise<void> {
  const rows = await tx.all<{ version: number | string; applied_at: string }>(
    'SELECT version, applied_at FROM schema_migrations ORDER BY version',
  );
  const last = Number(rows.at(-1)?.version ?? 0);
  if (last > PER_MODULE) throw new SchemaTooNewError('schema_migrations', last, PER_MODULE);
  if (last === PER_MODULE) return;
  for (const row of rows) {
    const [module, version] = NUMBERED[Number(row.version) - 1]!;
    await recordApplied(tx, module, version, row.applied_at);
  }
  await tx.run('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)', [
    PER_MODULE,
    new Date().toISOString(),
  ]);
}
