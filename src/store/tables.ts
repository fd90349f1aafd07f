/**
 * What a module with tables of its own (src/outbox, src/audit, and the store's own) declares, and
 * what it is given to reach them: its migrations, and, inside a store transaction or read,
 * statements bound to it (StoreTx.tables). Nothing else of the store's engine.
 */
export type Param = string | number | null;
export type Row = Record<string, unknown>;

/**
 * A module's tables: its name, under which the store records its applied version, and its schema
 * changes in order, each entry one migration. Never edit an applied one: add another. The SQL is
 * the common ground of SQLite and PostgreSQL.
 */
export interface Tables {
  readonly module: string;
  readonly migrations: readonly (readonly string[])[];
}

/** A module's statements, with `?` placeholders, in the transaction (or read) it was handed for. */
export interface TableSql {
  all<T extends Row = Row>(sql: string, params?: Param[]): Promise<T[]>;
  /** The number of rows changed. */
  run(sql: string, params?: Param[]): Promise<number>;
}

/** Whether a statement was refused by a unique index or key, on either engine. */
export const isUniqueViolation = (e: unknown): boolean => {
  const code = (e as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
};
