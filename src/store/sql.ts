/**
 * The two SQL engines behind the store, reduced to what the store needs. Queries are written once
 * with `?` placeholders; the PostgreSQL driver numbers them. SQLite runs on one connection, so its
 * transactions are serialised by a queue; PostgreSQL gives each transaction its own connection.
 * The store's alone: another module is handed statements on its own tables (./tables.ts).
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { Param, Row, TableSql } from './tables.js';

export interface Sql extends TableSql {
  readonly engine: 'sqlite' | 'postgres';
  exec(sql: string): Promise<void>;
}

export interface SqlEngine extends Sql {
  /** Runs `fn` in one transaction: all of it is kept, or none. */
  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T>;
  /**
   * For reads only: never takes a write lock nor waits behind a transaction, and sees only what is
   * committed. SQLite: a read-only connection of its own (WAL lets it read while a write goes on);
   * PostgreSQL: the pool, statement by statement.
   */
  readonly reader: Sql;
  close(): Promise<void>;
}

/**
 * Copies the WAL back into the database file from a thread of its own, every half second: done by
 * the connection that commits (SQLite's default), a checkpoint stalls whichever request commits
 * when the WAL is full, for milliseconds, and every request waiting behind it on the event loop.
 * PASSIVE never waits for readers or writers.
 */
const CHECKPOINTER = `
const { workerData, parentPort } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file);
db.pragma('busy_timeout = 5000');
const timer = setInterval(() => db.pragma('wal_checkpoint(PASSIVE)'), 500);
parentPort.on('message', () => { clearInterval(timer); db.close(); process.exit(0); });
`;

function startCheckpointer(file: string): Worker {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(CHECKPOINTER, { eval: true, workerData: { file, driver } });
  worker.unref();
  return worker;
}

function sqliteSql(db: Database.Database): Sql {
  const statements = new Map<string, Database.Statement>();
  const prepare = (sql: string) => {
    let s = statements.get(sql);
    if (!s) {
      s = db.prepare(sql);
      statements.set(sql, s);
    }
    return s;
  };
  return {
    engine: 'sqlite',
    all: async <T extends Row>(q: string, params: Param[] = []) => {
      const s = prepare(q);
      if (s.reader) return s.all(...params) as T[];
      s.run(...params);
      return [];
    },
    run: async (q, params = []) => prepare(q).run(...params).changes,
    exec: async (q) => {
      db.exec(q);
    },
  };
}

export function openSqlite(file: string): SqlEngine {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  // A file database is checkpointed off the event loop; an in-memory one has no WAL.
  const checkpointer = file === ':memory:' ? undefined : startCheckpointer(file);
  if (checkpointer) {
    db.pragma('wal_autocheckpoint = 0');
    // Should the thread fail, the connection checkpoints itself again, as by default.
    checkpointer.on('error', () => db.pragma('wal_autocheckpoint = 1000'));
  }
  const sql = sqliteSql(db);
  // An in-memory database exists on its one connection only.
  const readDb =
    file === ':memory:' ? undefined : new Database(file, { readonly: true, fileMustExist: true });
  readDb?.pragma('busy_timeout = 5000');
  const reader = readDb ? sqliteSql(readDb) : sql;
  let queue: Promise<unknown> = Promise.resolve();
  return {
    ...sql,
    reader,
    transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
      const next = queue.then(async () => {
        db.exec('BEGIN IMMEDIATE');
        try {
          const result = await fn(sql);
          db.exec('COMMIT');
          return result;
        } catch (e) {
          db.exec('ROLLBACK');
          throw e;
        }
      });
      queue = next.catch(() => undefined);
      return next;
    },
    close: async () => {
      await queue;
      if (checkpointer) {
        const exited = new Promise((resolve) => checkpointer.once('exit', resolve));
        checkpointer.ref(); // until it has closed its connection
        checkpointer.postMessage('stop');
        await exited;
      }
      readDb?.close();
      db.close();
    },
  };
}

const numbered = (q: string): string => {
  let n = 0;
  return q.replace(/\?/g, () => `$${++n}`);
};

function pgSql(client: pg.Pool | pg.PoolClient): Sql {
  return {
    engine: 'postgres',
    all: async <T extends Row>(q: string, params: Param[] = []) =>
      (await client.query(numbered(q), params)).rows as T[],
    run: async (q, params = []) => (await client.query(numbered(q), params)).rowCount ?? 0,
    exec: async (q) => {
      await client.query(q);
    },
  };
}

export function openPostgres(connectionString: string): SqlEngine {
  const pool = new pg.Pool({ connectionString, max: 10 });
  // An idle connection dropped by the server must not bring the process down.
  pool.on('error', () => undefined);
  const direct = pgSql(pool);
  return {
    ...direct,
    reader: direct,
    async transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await fn(pgSql(client));
        await client.query('COMMIT');
        return result;
      } catch (e) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw e;
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
  };
}
