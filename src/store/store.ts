/**
 * The one store: patient links, the aligned FHIR record received from the EHR, and sync
 * checkpoints, on SQLite (default, a file under ./data) or PostgreSQL (DATABASE_URL, shared by
 * several kap-bridge instances). Both engines run the same SQL and the same contract tests.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Resource } from 'fhir/r4';
import type { BusinessIdentifier, Episode, PatientLink } from '../domain/model.js';
import { ehrIdentifierValue } from '../fhir/ids.js';
import { inSpan, SpanKind } from '../telemetry/tracing.js';
import { isCurrent, migrate, SCHEMA, schemaVersions } from './schema.js';
import { openPostgres, openSqlite, type Sql, type SqlEngine } from './sql.js';
import type { Param, Row, TableSql, Tables } from './tables.js';

export interface StoredResource {
  resource: Resource;
  /** The EHR Patient the resource is about (`Patient/<id>`), whether or not a link exists yet. */
  patientRef?: string;
  receivedAt: string;
  /** True for a resource kap-bridge wrote (the therapist's record), rather than received from the EHR. */
  ours?: boolean;
  /** For a resource kap-bridge wrote: the EHR's copy of it, `Type/id/_history/version`, once seen. */
  ehrSource?: string;
  /** For a resource kap-bridge wrote: the practice that recorded it (DEFAULT_TENANT when not said). */
  tenant?: string;
  /** For the EHR's copy of a resource kap-bridge wrote: the practice that wrote it. */
  writtenBy?: string;
  /**
   * For a resource kap-bridge wrote: the value of kap-bridge's identifier the EHR knows it by (see
   * ehrIdentifierValue), fixed when it is first stored.
   */
  ehrIdentifier?: string;
}

/** The key a practice's own resource is stored under: its EHR identifier value's form, which no EHR id takes. */
const ownKey = (tenant: string, id: string): string => `${tenant}/${id}`;

/** A registered patient with the practice it belongs to. */
export interface PracticePatient {
  tenant: string;
  link: PatientLink;
}

/** See StoreTx.searchResources. */
export interface ResourceQuery {
  resourceType: string;
  patientRef?: string;
  containing?: string;
}

/** What happened to a resource offered to the store. */
export type PutOutcome = 'stored' | 'duplicate' | 'stale';

/** The practice a patient or episode belongs to when none is named (one practice, or data from before tenancy). */
export const DEFAULT_TENANT = 'default';

export interface StoreOptions {
  /** `postgres://...` for PostgreSQL; otherwise a SQLite file path, or `:memory:`. */
  databaseUrl?: string;
  sqliteFile?: string;
}

/**
 * A version's place in time: the numeric versionId the EHR assigns, else the lastUpdated instant.
 * An offered resource replaces the stored one only when its rank is higher.
 */
export function versionRank(resource: Resource): number {
  const v = Number(resource.meta?.versionId);
  if (Number.isSafeInteger(v) && v >= 0) return v;
  const t = Date.parse(resource.meta?.lastUpdated ?? '');
  return Number.isNaN(t) ? 0 : t;
}

/** The PostgreSQL advisory lock held while migrating: "kap" in ASCII, a key used for nothing else. */
const MIGRATION_LOCK = 0x6b6170;

export class Store {
  private constructor(private readonly db: SqlEngine) {}

  static async open(options: StoreOptions): Promise<Store> {
    let db: SqlEngine;
    if (options.databaseUrl && /^postgres(ql)?:\/\//.test(options.databaseUrl)) {
      db = openPostgres(options.databaseUrl);
    } else {
      const file = options.sqliteFile ?? './data/kap-bridge.db';
      if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
      db = openSqlite(file);
    }
    const store = new Store(db);
    try {
      await store.migrate();
    } catch (e) {
      await db.close();
      throw e;
    }
    return store;
  }

  get engine(): SqlEngine['engine'] {
    return this.db.engine;
  }

  /**
   * Migrates every module's tables (src/store/schema.ts) in one transaction that first takes the
   * migration lock: several instances may start together on one empty database, and nothing may
   * touch the schema (not even creating its record) until one has the lock. On SQLite the
   * transaction's write lock is that lock.
   */
  private async migrate(): Promise<void> {
    await this.db.transaction(async (tx) => {
      if (tx.engine === 'postgres') await tx.exec(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`);
      await migrate(tx);
    });
  }

  /** Each module's applied schema version. */
  schemaVersions(): Promise<Record<string, number>> {
    return schemaVersions(this.db.reader);
  }

  /** Whether the database's schema is the one this code knows (not migrated further by a newer instance). */
  async schemaCurrent(): Promise<boolean> {
    return isCurrent(await this.schemaVersions());
  }

  close(): Promise<void> {
    return this.db.close();
  }

  /** A cheap round trip, for readiness checks. */
  async ping(): Promise<void> {
    await this.db.reader.all('SELECT 1 AS ok');
  }

  /**
   * Runs `fn` against a store bound to one transaction: all its writes are kept, or none. The
   * change counters of the records it touched are raised last, in scope order, so that concurrent
   * transactions hold their locks briefly and never wait on each other in a circle.
   */
  transaction<T>(fn: (store: StoreTx) => Promise<T>): Promise<T> {
    return inSpan(
      'store transaction',
      { 'db.system.name': this.db.engine === 'postgres' ? 'postgresql' : 'sqlite' },
      async () => {
        let committed: (() => void) | undefined;
        const result = await this.db.transaction(async (sql) => {
          const touched = new Set<string>();
          const tx = new StoreTx(sql, touched, []);
          const result = await fn(tx);
          await raiseChanges(sql, touched);
          committed = await this.lastStep?.(tx);
          return result;
        });
        committed?.();
        return result;
      },
      { kind: SpanKind.INTERNAL },
    );
  }

  private lastStep: LastStep | undefined;

  /**
   * Gives every transaction a last write before it commits (src/audit: the audit record of the
   * request the transaction serves, so that the write and its record are kept together or not at all).
   */
  beforeEveryCommit(step: LastStep): void {
    this.lastStep = step;
  }

  /**
   * Runs reads only, on the read path (SqlEngine.reader): no write lock is taken, and no read waits
   * behind a write transaction. Each statement sees what is committed when it runs.
   */
  read<T>(fn: (store: StoreTx) => Promise<T>): Promise<T> {
    return fn(this.reading);
  }

  /** Outside a transaction every call stands alone. */
  private get direct(): StoreTx {
    return new StoreTx(this.db);
  }

  /** Reads outside a transaction, on the read path. */
  private get reading(): StoreTx {
    return new StoreTx(this.db.reader);
  }

  savePatient(link: PatientLink, tenant?: string): Promise<void> {
    return this.transaction((tx) => tx.savePatient(link, tenant));
  }
  getPatient(id: string, tenant: string): Promise<PatientLink | undefined> {
    return this.reading.getPatient(id, tenant);
  }
  /** See StoreTx.recordHead. */
  recordHead(
    patientId: string,
    tenant: string,
    at: { shared: string; checkpoint: string },
  ): Promise<RecordHead | undefined> {
    return this.reading.recordHead(patientId, tenant, at);
  }
  findPatient(identifier: BusinessIdentifier, tenant: string): Promise<PatientLink | undefined> {
    return this.reading.findPatient(identifier, tenant);
  }
  findPatients(identifier: BusinessIdentifier): Promise<PracticePatient[]> {
    return this.reading.findPatients(identifier);
  }
  patientsLinkedTo(ehrPatient: string): Promise<{ id: string; tenant: string }[]> {
    return this.reading.patientsLinkedTo(ehrPatient);
  }
  practicesOf(ehrPatient: string): Promise<string[]> {
    return this.reading.practicesOf(ehrPatient);
  }
  searchResources(query: ResourceQuery): Promise<StoredResource[]> {
    return this.reading.searchResources(query);
  }
  /** In a transaction of its own: the change counters rise with the resource, never apart from it. */
  putResource(stored: StoredResource): Promise<PutOutcome> {
    return this.transaction((tx) => tx.putResource(stored));
  }
  getResource(resourceType: string, id: string): Promise<StoredResource | undefined> {
    return this.reading.getResource(resourceType, id);
  }
  getOwn(resourceType: string, id: string, tenant: string): Promise<StoredResource | undefined> {
    return this.reading.getOwn(resourceType, id, tenant);
  }
  ownByEhrIdentifier(resourceType: string, value: string): Promise<StoredResource | undefined> {
    return this.reading.ownByEhrIdentifier(resourceType, value);
  }
  resourcesFor(patientRef: string, tenant: string): Promise<StoredResource[]> {
    return this.reading.resourcesFor(patientRef, tenant);
  }
  findEhrPatients(identifier: BusinessIdentifier): Promise<string[]> {
    return this.reading.findEhrPatients(identifier);
  }
  saveEpisode(episode: Episode, tenant?: string): Promise<void> {
    return this.transaction((tx) => tx.saveEpisode(episode, tenant));
  }
  getEpisode(id: string, tenant: string): Promise<Episode | undefined> {
    return this.reading.getEpisode(id, tenant);
  }
  /** Every registered patient, with its practice, in order. */
  async patientIds(): Promise<{ tenant: string; id: string }[]> {
    return this.db.reader.all<{ tenant: string; id: string }>(
      'SELECT tenant, id FROM patients ORDER BY tenant, id',
    );
  }
  episodesOf(patientId: string, tenant: string): Promise<Episode[]> {
    return this.reading.episodesOf(patientId, tenant);
  }
  /** Every course of a practice, oldest first. */
  async episodesOfPractice(tenant: string): Promise<Episode[]> {
    const rows = await this.db.all<{ body: string }>(
      'SELECT body FROM episodes WHERE tenant = ? ORDER BY created_at, id',
      [tenant],
    );
    return rows.map((r) => JSON.parse(r.body) as Episode);
  }
  /**
   * A mark that changes whenever the practice's list of patients changes, the practice writes to
   * one of its patients' records, or the EHR's data of one of them changes and `confirmed` (the EHR
   * confirms the practice's care of that EHR Patient): what an open console page is told to read
   * again. Another practice's own writes never move it.
   */
  async practiceChanges(
    tenant: string,
    /** Whether the EHR confirms the practice's care; `counters` moves whenever the answer may have. */
    confirmed: (ehrPatient: string, counters: string) => Promise<boolean>,
  ): Promise<string> {
    const rows = await this.db.all<{
      ehr_patient: string | null;
      own: number | string | null;
      ehr: number | string | null;
    }>(
      `SELECT p.ehr_patient,
         (SELECT changes FROM record_changes WHERE scope = ? || p.ehr_patient) AS own,
         (SELECT changes FROM record_changes WHERE scope = 'ehr|' || p.ehr_patient) AS ehr
       FROM patients p WHERE p.tenant = ?`,
      [`practice:${tenant}|`, tenant],
    );
    let changes = 0;
    for (const r of rows) {
      changes += Number(r.own ?? 0);
      if (
        r.ehr_patient !== null &&
        r.ehr !== null &&
        (await confirmed(r.ehr_patient, `${r.own ?? 0}/${r.ehr}`))
      )
        changes += Number(r.ehr);
    }
    return `${rows.length}/${changes}`;
  }
  getCheckpoint(name: string): Promise<string | undefined> {
    return this.reading.getCheckpoint(name);
  }
  setCheckpoint(name: string, value: string): Promise<void> {
    return this.direct.setCheckpoint(name, value);
  }
}

interface ResourceRow {
  body: string;
  patient_ref: string | null;
  received_at: string;
  version_rank: number | string;
  origin: string | null;
  ehr_ref: string | null;
  ehr_version: string | null;
  tenant: string | null;
  written_by: string | null;
  ehr_identifier: string | null;
  [key: string]: unknown;
}

const toStored = (r: ResourceRow): StoredResource => ({
  resource: JSON.parse(r.body) as Resource,
  ...(r.patient_ref === null ? {} : { patientRef: r.patient_ref }),
  receivedAt: r.received_at,
  ...(r.origin === OURS ? { ours: true, tenant: r.tenant ?? DEFAULT_TENANT } : {}),
  ...(r.ehr_identifier === null ? {} : { ehrIdentifier: r.ehr_identifier }),
  ...(r.written_by === null ? {} : { writtenBy: r.written_by }),
  ...(r.ehr_ref === null
    ? {}
    : { ehrSource: r.ehr_version === null ? r.ehr_ref : `${r.ehr_ref}/_history/${r.ehr_version}` }),
});

const ROW =
  'body, patient_ref, received_at, version_rank, origin, ehr_ref, ehr_version, tenant, written_by, ehr_identifier';
const OURS = 'kap-bridge';

/** See StoreTx.recordHead. */
export interface RecordHead {
  /** The EHR Patient the patient is linked to; null while unlinked. */
  ehrPatient: string | null;
  /** The practice the patient belongs to: the record is that practice's view. */
  tenant: string;
  /** Equal marks (for the same ehrPatient) mean nothing the record is read from was written between. */
  mark: string;
  checkpoint?: string;
}

/** The change-counter scope of a stored resource: its patient, or its type when it is about no patient. */
const scopeOf = (resourceType: string, patientRef: string | null | undefined): string =>
  patientRef ?? resourceType;

/**
 * A scope's counter and its counter of one side's writes: a practice's own (`tenant`) or the EHR's
 * (none), so that a practice's change mark moves only for changes it can see (practiceChanges).
 */
const sided = (scope: string, tenant: string | undefined): string[] => [
  scope,
  `${tenant === undefined ? 'ehr' : `practice:${tenant}`}|${scope}`,
];

/** Raises the change counter of each scope, in order (the lock order concurrent writers share). */
async function raiseChanges(sql: Sql, scopes: ReadonlySet<string>): Promise<void> {
  const ordered = [...scopes].sort();
  for (let i = 0; i < ordered.length; i += 100) {
    const chunk = ordered.slice(i, i + 100);
    await sql.run(
      `INSERT INTO record_changes (scope, changes) VALUES ${chunk.map(() => '(?, 1)').join(', ')}
       ON CONFLICT (scope) DO UPDATE SET changes = record_changes.changes + 1`,
      chunk,
    );
  }
}

/**
 * A transaction's last write, given the transaction; what it answers is called once the transaction
 * has committed (never when it rolled back).
 */
export type LastStep = (tx: StoreTx) => Promise<(() => void) | undefined>;

/** The store's operations on one connection or transaction. */
export class StoreTx {
  /**
   * `touched` collects the record scopes written, raised when the transaction ends; without it (no
   * transaction) they are raised right after each write.
   */
  constructor(
    private readonly sql: Sql,
    private readonly touched?: Set<string>,
    /** The patients, episodes and resources the transaction wrote, `Type/id` (in a transaction only). */
    readonly written?: string[],
  ) {}

  /**
   * What a cached record of a practice's registered patient is checked against, in one round trip: its EHR
   * link and a mark that changes with every write to the patient's resources or to resources of
   * the `shared` type (about no patient, e.g. Medication), by this instance or any other sharing
   * the database; and, alongside, the value of `checkpoint`. Undefined when the patient is unknown.
   */
  async recordHead(
    patientId: string,
    tenant: string,
    { shared, checkpoint }: { shared: string; checkpoint: string },
  ): Promise<RecordHead | undefined> {
    const rows = await this.sql.all<{
      ehr_patient: string | null;
      tenant: string;
      own: number | string | null;
      shared: number | string | null;
      checkpoint: string | null;
    }>(
      `SELECT p.ehr_patient, p.tenant,
         (SELECT changes FROM record_changes WHERE scope = p.ehr_patient) AS own,
         (SELECT changes FROM record_changes WHERE scope = ?) AS shared,
         (SELECT value FROM checkpoints WHERE name = ?) AS checkpoint
       FROM patients p WHERE p.tenant = ? AND p.id = ?`,
      [shared, checkpoint, tenant, patientId],
    );
    const row = rows[0];
    if (!row) return undefined;
    return {
      ehrPatient: row.ehr_patient,
      tenant: row.tenant,
      mark: `${row.own ?? 0}/${row.shared ?? 0}`,
      ...(row.checkpoint === null ? {} : { checkpoint: row.checkpoint }),
    };
  }

  /**
   * The statements of a module's own tables (src/outbox, src/audit), bound to this transaction or
   * read: a module's rows are kept or dropped with the writes beside them. Given only to a module
   * whose tables the store migrates, and nothing else of the engine.
   */
  tables(owner: Tables): TableSql {
    if (!SCHEMA.includes(owner)) throw new Error(`The store migrates no tables of '${owner.module}'`);
    return {
      all: <T extends Row>(q: string, params?: Param[]) => this.sql.all<T>(q, params),
      run: (q, params) => this.sql.run(q, params),
    };
  }

  /** Marks records as changed; always after the write, so a reader never pairs a new mark with old rows. */
  private async touch(...scopes: string[]): Promise<void> {
    if (this.touched) for (const s of scopes) this.touched.add(s);
    else await raiseChanges(this.sql, new Set(scopes));
  }

  /** Registers or updates a patient link; `tenant` is its practice on first save and never changes after. */
  async savePatient(link: PatientLink, tenant = DEFAULT_TENANT): Promise<void> {
    this.written?.push(`Patient/${link.id}`);
    const now = new Date().toISOString();
    await this.sql.run(
      'INSERT INTO patients (id, ehr_patient, created_at, tenant) VALUES (?, ?, ?, ?) ON CONFLICT (tenant, id) DO UPDATE SET ehr_patient = excluded.ehr_patient',
      [link.id, link.ehrPatient ?? null, now, tenant],
    );
    for (const i of link.identifiers) {
      const taken = await this.sql.run(
        'INSERT INTO patient_identifiers (tenant, system, value, patient_id) VALUES (?, ?, ?, ?) ON CONFLICT (tenant, system, value) DO NOTHING',
        [tenant, i.system, i.value, link.id],
      );
      if (taken === 0) {
        const owner = await this.sql.all<{ patient_id: string }>(
          'SELECT patient_id FROM patient_identifiers WHERE tenant = ? AND system = ? AND value = ?',
          [tenant, i.system, i.value],
        );
        if (owner[0]?.patient_id !== link.id) throw new IdentifierTakenError(i);
      }
    }
  }

  /** The practice's patient with this id; another practice's patient with the same id is another patient. */
  async getPatient(id: string, tenant: string): Promise<PatientLink | undefined> {
    const rows = await this.sql.all<{ id: string; ehr_patient: string | null }>(
      'SELECT id, ehr_patient FROM patients WHERE tenant = ? AND id = ?',
      [tenant, id],
    );
    const row = rows[0];
    if (!row) return undefined;
    const identifiers = await this.sql.all<{ system: string; value: string }>(
      'SELECT system, value FROM patient_identifiers WHERE tenant = ? AND patient_id = ? ORDER BY system, value',
      [tenant, id],
    );
    return {
      id: row.id,
      identifiers: identifiers.map(({ system, value }) => ({ system, value })),
      ...(row.ehr_patient === null ? {} : { ehrPatient: row.ehr_patient }),
    };
  }

  /** The practice's patient carrying this identifier. */
  async findPatient(identifier: BusinessIdentifier, tenant: string): Promise<PatientLink | undefined> {
    const rows = await this.sql.all<{ patient_id: string }>(
      'SELECT patient_id FROM patient_identifiers WHERE tenant = ? AND system = ? AND value = ?',
      [tenant, identifier.system, identifier.value],
    );
    return rows[0] ? this.getPatient(rows[0].patient_id, tenant) : undefined;
  }

  private async practicePatients(rows: { tenant: string; id: string }[]): Promise<PracticePatient[]> {
    const found = await Promise.all(
      rows.map(async ({ tenant, id }) => {
        const link = await this.getPatient(id, tenant);
        return link && { tenant, link };
      }),
    );
    return found.filter((p) => p !== undefined);
  }

  /** Every practice's patient carrying this identifier: an EHR Patient may be in care with several. */
  findPatients(identifier: BusinessIdentifier): Promise<PracticePatient[]> {
    return this.sql
      .all<{ tenant: string; id: string }>(
        'SELECT tenant, patient_id AS id FROM patient_identifiers WHERE system = ? AND value = ? ORDER BY tenant, patient_id',
        [identifier.system, identifier.value],
      )
      .then((rows) => this.practicePatients(rows));
  }

  /** Every practice's patient linked to this EHR Patient, with the practice. */
  async patientsLinkedTo(ehrPatient: string): Promise<{ id: string; tenant: string }[]> {
    return this.sql.all<{ id: string; tenant: string }>(
      'SELECT id, tenant FROM patients WHERE ehr_patient = ? ORDER BY tenant, id',
      [ehrPatient],
    );
  }

  /** The practices with a patient linked to this EHR Patient (`Patient/<id>`). */
  async practicesOf(ehrPatient: string): Promise<string[]> {
    const rows = await this.sql.all<{ tenant: string }>(
      'SELECT DISTINCT tenant FROM patients WHERE ehr_patient = ? ORDER BY tenant',
      [ehrPatient],
    );
    return rows.map((r) => r.tenant);
  }

  /**
   * The held resources of a type, by id: about one patient, and whose JSON holds a text (a first
   * sieve for a search by identifier, which the caller then checks exactly).
   */
  async searchResources({ resourceType, patientRef, containing }: ResourceQuery): Promise<StoredResource[]> {
    const where = ['resource_type = ?'];
    const params: string[] = [resourceType];
    if (patientRef !== undefined) {
      where.push('patient_ref = ?');
      params.push(patientRef);
    }
    if (containing !== undefined) {
      where.push("body LIKE ? ESCAPE '\\'");
      params.push(`%${containing.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
    }
    const rows = await this.sql.all<ResourceRow>(
      `SELECT ${ROW} FROM resources WHERE ${where.join(' AND ')} ORDER BY id`,
      params,
    );
    return rows.map(toStored);
  }

  /**
   * Keeps a resource received from the EHR unless the store already has this version or a newer
   * one: inbound dedupe by (type, id, versionId), and an older version never overwrites a newer.
   */
  async putResource({
    resource,
    patientRef,
    receivedAt,
    ours,
    tenant,
    writtenBy,
    ehrIdentifier,
  }: StoredResource): Promise<PutOutcome> {
    if (!resource.id) throw new Error('A resource without an id cannot be stored');
    const { resourceType } = resource;
    // A practice's own resource is kept in the practice's id space; the EHR's under the EHR's id.
    const owner = ours ? (tenant ?? DEFAULT_TENANT) : undefined;
    const id = owner === undefined ? resource.id : ownKey(owner, resource.id);
    this.written?.push(`${resourceType}/${resource.id}`);
    const rank = versionRank(resource);
    const values = [
      resource.meta?.versionId ?? null,
      rank,
      resource.meta?.lastUpdated ?? null,
      patientRef ?? null,
      JSON.stringify(resource),
      receivedAt,
      ours ? OURS : null,
      ours ? (tenant ?? DEFAULT_TENANT) : null,
      ours ? null : (writtenBy ?? null),
      ours ? (ehrIdentifier ?? ehrIdentifierValue(tenant ?? DEFAULT_TENANT, resource.id)) : null,
    ];
    // The stored version is read (and on PostgreSQL locked) first: a newer version may move the
    // resource to another patient, and that patient's record changes too.
    let held = await this.heldVersion(resourceType, id);
    if (!held) {
      const inserted = await this.sql.run(
        `INSERT INTO resources (version_id, version_rank, last_updated, patient_ref, body, received_at, origin, tenant, written_by, ehr_identifier, resource_type, id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (resource_type, id) DO NOTHING`,
        [...values, resourceType, id],
      );
      if (inserted > 0) {
        await this.touch(...sided(scopeOf(resourceType, patientRef), owner));
        return 'stored';
      }
      // Another writer stored it meanwhile: compare with theirs.
      held = await this.heldVersion(resourceType, id);
      if (!held) throw new Error(`${resourceType}/${id} was neither stored nor found`);
    }
    if (held.rank >= rank) return held.rank === rank ? 'duplicate' : 'stale';
    await this.sql.run(
      `UPDATE resources SET version_id = ?, version_rank = ?, last_updated = ?, patient_ref = ?, body = ?,
         received_at = ?, origin = ?, tenant = ?, written_by = ?, ehr_identifier = COALESCE(ehr_identifier, ?)
       WHERE resource_type = ? AND id = ?`,
      [...values, resourceType, id],
    );
    await this.touch(
      ...sided(scopeOf(resourceType, held.patientRef), owner),
      ...sided(scopeOf(resourceType, patientRef), owner),
    );
    return 'stored';
  }

  private async heldVersion(
    resourceType: string,
    id: string,
  ): Promise<{ rank: number; patientRef: string | null } | undefined> {
    const lock = this.sql.engine === 'postgres' ? ' FOR UPDATE' : '';
    const rows = await this.sql.all<{ version_rank: number | string; patient_ref: string | null }>(
      `SELECT version_rank, patient_ref FROM resources WHERE resource_type = ? AND id = ?${lock}`,
      [resourceType, id],
    );
    const row = rows[0];
    return row ? { rank: Number(row.version_rank), patientRef: row.patient_ref } : undefined;
  }

  private async getRow(resourceType: string, id: string): Promise<ResourceRow | undefined> {
    const rows = await this.sql.all<ResourceRow>(
      `SELECT ${ROW} FROM resources WHERE resource_type = ? AND id = ?`,
      [resourceType, id],
    );
    return rows[0];
  }

  /** A resource the EHR holds, under the EHR's id. */
  async getResource(resourceType: string, id: string): Promise<StoredResource | undefined> {
    const row = await this.getRow(resourceType, id);
    return row ? toStored(row) : undefined;
  }

  /** A resource the practice recorded, under its id in the practice's id space. */
  async getOwn(resourceType: string, id: string, tenant: string): Promise<StoredResource | undefined> {
    const row = await this.getRow(resourceType, ownKey(tenant, id));
    return row ? toStored(row) : undefined;
  }

  /** The practice's own resource the EHR knows by this value of kap-bridge's identifier, whichever practice's. */
  async ownByEhrIdentifier(resourceType: string, value: string): Promise<StoredResource | undefined> {
    const rows = await this.sql.all<ResourceRow>(
      `SELECT ${ROW} FROM resources WHERE resource_type = ? AND ehr_identifier = ? AND origin = '${OURS}'`,
      [resourceType, value],
    );
    return rows[0] ? toStored(rows[0]) : undefined;
  }

  /**
   * A patient's resources as one practice sees them: what the practice itself recorded, and what the
   * EHR holds (another practice's records among it, once the EHR's copy was read back). The EHR's
   * copies of the practice's own records (written by it, whichever EHR id they had) are left out:
   * the practice's own row stands for them. Another practice's local rows never reach it.
   */
  async resourcesFor(patientRef: string, tenant: string): Promise<StoredResource[]> {
    const rows = await this.sql.all<ResourceRow>(
      `SELECT ${ROW} FROM resources WHERE patient_ref = ? AND (
         (origin = '${OURS}' AND tenant = ?) OR (origin IS NULL AND (written_by IS NULL OR written_by <> ?)))
       ORDER BY resource_type, id`,
      [patientRef, tenant, tenant],
    );
    return rows.map(toStored);
  }

  /**
   * Remembers that the EHR holds a copy of a practice's own resource (`ehrRef` = `Type/id`), at
   * `ehrVersion`; an older version never replaces a newer one. False when there is no such local resource.
   */
  async attachEhrCopy(
    resourceType: string,
    own: { id: string; tenant: string },
    ehrRef: string,
    ehrVersion?: string,
  ): Promise<boolean> {
    const id = ownKey(own.tenant, own.id);
    const row = await this.getRow(resourceType, id);
    if (!row) return false;
    const held = Number(row.ehr_version);
    const offered = Number(ehrVersion);
    if (row.ehr_ref === ehrRef && (ehrVersion === undefined || offered <= held)) return true;
    await this.sql.run(
      'UPDATE resources SET ehr_ref = ?, ehr_version = ? WHERE resource_type = ? AND id = ?',
      [ehrRef, ehrVersion ?? null, resourceType, id],
    );
    await this.touch(...sided(scopeOf(resourceType, row.patient_ref), own.tenant));
    return true;
  }

  async saveEpisode(episode: Episode, tenant = DEFAULT_TENANT): Promise<void> {
    this.written?.push(`EpisodeOfCare/${episode.id}`, ...episode.patients.map((p) => `Patient/${p}`));
    for (const p of episode.patients) {
      if (!(await this.getPatient(p, tenant)))
        throw new Error(`Episode ${episode.id} names patient ${p}, who is not registered`);
    }
    await this.sql.run(
      'INSERT INTO episodes (id, body, created_at, tenant) VALUES (?, ?, ?, ?) ON CONFLICT (tenant, id) DO UPDATE SET body = excluded.body',
      [episode.id, JSON.stringify(episode), new Date().toISOString(), tenant],
    );
    await this.sql.run('DELETE FROM episode_patients WHERE tenant = ? AND episode_id = ?', [
      tenant,
      episode.id,
    ]);
    const scopes: string[] = [];
    for (const p of episode.patients) {
      await this.sql.run('INSERT INTO episode_patients (tenant, episode_id, patient_id) VALUES (?, ?, ?)', [
        tenant,
        episode.id,
        p,
      ]);
      const ehrPatient = (await this.getPatient(p, tenant))?.ehrPatient;
      if (ehrPatient !== undefined) scopes.push(ehrPatient);
    }
    // Each partner's record holds the course: a change to it changes their records.
    await this.touch(...scopes.flatMap((s) => sided(s, tenant)));
  }

  /** The practice's course with this id. */
  async getEpisode(id: string, tenant: string): Promise<Episode | undefined> {
    const rows = await this.sql.all<{ body: string }>(
      'SELECT body FROM episodes WHERE tenant = ? AND id = ?',
      [tenant, id],
    );
    return rows[0] ? (JSON.parse(rows[0].body) as Episode) : undefined;
  }

  /** The episodes a patient takes part in, oldest first. */
  async episodesOf(patientId: string, tenant: string): Promise<Episode[]> {
    const rows = await this.sql.all<{ body: string }>(
      `SELECT e.body FROM episodes e JOIN episode_patients p ON p.tenant = e.tenant AND p.episode_id = e.id
       WHERE p.tenant = ? AND p.patient_id = ? ORDER BY e.created_at, e.id`,
      [tenant, patientId],
    );
    return rows.map((r) => JSON.parse(r.body) as Episode);
  }

  /** Remembers an identifier of an EHR Patient, so a patient registered later can be linked to it. */
  async indexEhrIdentifier(
    patientRef: string,
    system: string | undefined,
    value: string | undefined,
  ): Promise<void> {
    if (!system || !value) return;
    await this.sql.run(
      'INSERT INTO ehr_identifiers (system, value, patient_ref) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
      [system, value, patientRef],
    );
  }

  /** The EHR Patients (`Patient/<id>`) known to carry an identifier. */
  async findEhrPatients(identifier: BusinessIdentifier): Promise<string[]> {
    const rows = await this.sql.all<{ patient_ref: string }>(
      'SELECT patient_ref FROM ehr_identifiers WHERE system = ? AND value = ? ORDER BY patient_ref',
      [identifier.system, identifier.value],
    );
    return rows.map((r) => r.patient_ref);
  }

  async getCheckpoint(name: string): Promise<string | undefined> {
    const rows = await this.sql.all<{ value: string }>('SELECT value FROM checkpoints WHERE name = ?', [
      name,
    ]);
    return rows[0]?.value;
  }

  async setCheckpoint(name: string, value: string): Promise<void> {
    await this.sql.run(
      'INSERT INTO checkpoints (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value',
      [name, value],
    );
  }
}

/** An identifier already links another patient: linking it twice would merge two people. */
export class IdentifierTakenError extends Error {
  constructor(readonly identifier: BusinessIdentifier) {
    super(`The identifier ${identifier.system}|${identifier.value} already belongs to another patient`);
    this.name = 'IdentifierTakenError';
  }
}
