/**
 * The durable outbox: therapist-side changes on their way to the EHR. A change is enqueued in the
 * same store transaction as the local change it mirrors, so both are kept or neither is; the
 * worker (./worker.ts) delivers each patient's queue in order, one instance per patient at a time
 * (a lease row per patient), and parks what the EHR refuses as `dead` for an operator.
 *
 * Usage from a write path:
 *
 *   await store.transaction(async (tx) => {
 *     await tx.saveEpisode(episode);
 *     await enqueue(tx, { patientRef: 'Patient/123', resource: episodeOfCare });
 *   });
 */
import { randomUUID } from 'node:crypto';
import type { OperationOutcome, Resource } from 'fhir/r4';
import type { BusinessIdentifier } from '../domain/model.js';
import { referenceTo } from '../fhir/ids.js';
import type { Store, StoreTx } from '../store/store.js';
import { isUniqueViolation, type Param, type TableSql } from '../store/tables.js';
import { OUTBOX_TABLES } from './migrations.js';

export type OutboxStatus = 'pending' | 'delivering' | 'delivered' | 'dead';
export const OUTBOX_STATUSES: readonly OutboxStatus[] = ['pending', 'delivering', 'delivered', 'dead'];

/** A change for the EHR: the resource as the EHR should hold it. */
export interface OutboxChange {
  /** The EHR Patient the change is about, `Patient/<id>`: one patient's changes arrive in the order enqueued. */
  patientRef: string;
  /**
   * The resource, without an EHR id: the first delivery is a conditional create on `identifier`;
   * once delivered, later changes with the same identifier become updates (`If-Match` on the
   * version the EHR gave).
   */
  resource: Resource;
  /** The business identifier the EHR knows it by; by default the resource's first identifier. */
  identifier?: BusinessIdentifier;
  /** Delivered ahead of the rest of the queue: what the prescriber must see at once. */
  priority?: boolean;
}

/** Why the last attempt failed: the EHR's status and OperationOutcome when it answered. */
export interface OutboxError {
  message: string;
  kind?: string;
  status?: number;
  outcome?: OperationOutcome;
}

export interface OutboxMessage {
  id: string;
  patientRef: string;
  /** Order within the patient's queue. */
  seq: number;
  resourceType: string;
  identifier: BusinessIdentifier;
  resource: Resource;
  status: OutboxStatus;
  attempts: number;
  nextAttemptAt: string;
  lastError?: OutboxError;
  createdAt: string;
  deliveredAt?: string;
  /** Where the EHR keeps it, `Type/id/_history/version`. */
  ehrRef?: string;
  leaseOwner?: string;
  leaseExpiresAt?: string;
}

/** A change that cannot be queued as given. */
export class OutboxChangeError extends Error {
  override name = 'OutboxChangeError';
}

const identifierOf = (change: OutboxChange): BusinessIdentifier => {
  if (change.identifier) return change.identifier;
  // Most resources carry a list of identifiers; a few (AdverseEvent, in R4) carry one.
  type Id = { system?: string; value?: string };
  const ids = (change.resource as { identifier?: Id[] | Id }).identifier;
  const first = Array.isArray(ids) ? ids[0] : ids;
  if (!first?.system || !first.value) {
    throw new OutboxChangeError(
      `A ${change.resource.resourceType} needs a business identifier (system and value) to be sent to the EHR`,
    );
  }
  return { system: first.system, value: first.value };
};

/**
 * Places in a patient's queue tried before an enqueue gives up. Each refusal means another
 * transaction took that place for the same patient, so a change tries at most once per writer in
 * flight ahead of it: 24 transactions enqueueing for one patient at once need up to 23.
 */
const ENQUEUE_ATTEMPTS = 100;

const PATIENT_REFERENCE = referenceTo('Patient');

/** The outbox's tables, in the store transaction (or read) `tx`. */
const outboxTables = (tx: StoreTx): TableSql => tx.tables(OUTBOX_TABLES);

/**
 * Queues a change inside the caller's transaction: if the transaction rolls back, nothing is queued.
 * Returns the message id. One identifier belongs to one patient's queue, which is what serialises
 * writes per identifier (conditional create is not safe under concurrency on HAPI).
 */
export async function enqueue(tx: StoreTx, change: OutboxChange): Promise<string> {
  const sql = outboxTables(tx);
  const identifier = identifierOf(change);
  const type = change.resource.resourceType;
  if (!PATIENT_REFERENCE.test(change.patientRef)) {
    throw new OutboxChangeError(`patientRef must be Patient/<id>; got '${change.patientRef}'`);
  }
  const owner = await sql.all<{ patient_ref: string }>(
    'SELECT patient_ref FROM outbox WHERE identifier_system = ? AND identifier_value = ? AND resource_type = ? LIMIT 1',
    [identifier.system, identifier.value, type],
  );
  if (owner[0] && owner[0].patient_ref !== change.patientRef) {
    throw new OutboxChangeError(
      `${type} ${identifier.system}|${identifier.value} is already queued for ${owner[0].patient_ref}, not ${change.patientRef}`,
    );
  }
  const id = randomUUID();
  const now = new Date().toISOString();
  const params = [
    id,
    change.patientRef,
    change.patientRef,
    type,
    identifier.system,
    identifier.value,
    JSON.stringify(change.resource),
    now,
    now,
    change.priority ? 1 : 0,
  ];
  // Two transactions may read the same MAX(seq) for one patient: the unique (patient_ref, seq) index
  // refuses the second insert once the first commits, and it is tried again on the new MAX (PostgreSQL
  // reads it afresh per statement; SQLite's transactions never overlap). The savepoint keeps the
  // caller's transaction usable after a refusal.
  for (let attempt = 1; ; attempt++) {
    await sql.run('SAVEPOINT outbox_enqueue');
    try {
      await sql.run(
        `INSERT INTO outbox (id, patient_ref, seq, resource_type, identifier_system, identifier_value, payload, status, attempts, next_attempt_at, created_at, priority)
         VALUES (?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM outbox WHERE patient_ref = ?), ?, ?, ?, ?, 'pending', 0, ?, ?, ?)`,
        params,
      );
      await sql.run('RELEASE SAVEPOINT outbox_enqueue');
      return id;
    } catch (e) {
      await sql.run('ROLLBACK TO SAVEPOINT outbox_enqueue');
      await sql.run('RELEASE SAVEPOINT outbox_enqueue');
      if (!isUniqueViolation(e) || attempt === ENQUEUE_ATTEMPTS) throw e;
    }
  }
}

/**
 * Makes the next delivery of a resource a conditional create again: the EHR deleted the copy the
 * outbox delivered, and an update of a deleted resource is refused.
 */
export async function forgetEhrCopy(
  tx: StoreTx,
  resourceType: string,
  identifier: { system: string; value: string },
): Promise<void> {
  await outboxTables(tx).run(
    "UPDATE outbox SET ehr_ref = NULL WHERE resource_type = ? AND identifier_system = ? AND identifier_value = ? AND status = 'delivered'",
    [resourceType, identifier.system, identifier.value],
  );
}

interface MessageRow {
  id: string;
  patient_ref: string;
  seq: number | string;
  resource_type: string;
  identifier_system: string;
  identifier_value: string;
  payload: string;
  status: OutboxStatus;
  attempts: number | string;
  next_attempt_at: string;
  last_error: string | null;
  created_at: string;
  delivered_at: string | null;
  ehr_ref: string | null;
  lease_owner: string | null;
  lease_expires_at: string | null;
  [key: string]: unknown;
}

const toMessage = (r: MessageRow): OutboxMessage => ({
  id: r.id,
  patientRef: r.patient_ref,
  seq: Number(r.seq),
  resourceType: r.resource_type,
  identifier: { system: r.identifier_system, value: r.identifier_value },
  resource: JSON.parse(r.payload) as Resource,
  status: r.status,
  attempts: Number(r.attempts),
  nextAttemptAt: r.next_attempt_at,
  ...(r.last_error === null ? {} : { lastError: JSON.parse(r.last_error) as OutboxError }),
  createdAt: r.created_at,
  ...(r.delivered_at === null ? {} : { deliveredAt: r.delivered_at }),
  ...(r.ehr_ref === null ? {} : { ehrRef: r.ehr_ref }),
  ...(r.lease_owner === null ? {} : { leaseOwner: r.lease_owner }),
  ...(r.lease_expires_at === null ? {} : { leaseExpiresAt: r.lease_expires_at }),
});

const later = (ms: number, from = Date.now()): string => new Date(from + ms).toISOString();
const marks = (n: number): string => Array.from({ length: n }, () => '?').join(', ');
const OPEN = "status IN ('pending', 'delivering')";

/** A patient's batch, taken under a lease: only `owner` may deliver it until the lease expires. */
export interface Claim {
  patientRef: string;
  owner: string;
  messages: OutboxMessage[];
}

/** What the worker records about one message after an attempt. */
export type Settlement =
  | { status: 'delivered'; ehrRef: string }
  | { status: 'pending'; nextAttemptAt: string; error?: OutboxError; countAttempt: boolean }
  | { status: 'dead'; error: OutboxError };

/** The outbox's queue operations on a Store: for the worker, the CLI and metrics. */
export class Outbox {
  /** `clock`: the time leases and retries are counted on (milliseconds); the system's by default. */
  constructor(
    private readonly store: Store,
    private readonly clock: () => number = Date.now,
  ) {}

  private stamp(): string {
    return new Date(this.clock()).toISOString();
  }

  /** The same as the module's `enqueue`, for callers handed an Outbox. */
  enqueue(tx: StoreTx, change: OutboxChange): Promise<string> {
    return enqueue(tx, change);
  }

  private run<T>(fn: (sql: TableSql) => Promise<T>): Promise<T> {
    return this.store.transaction((tx) => fn(outboxTables(tx)));
  }

  /** Reads only, on the store's read path. */
  private read<T>(fn: (sql: TableSql) => Promise<T>): Promise<T> {
    return this.store.read((tx) => fn(outboxTables(tx)));
  }

  async get(id: string): Promise<OutboxMessage | undefined> {
    const rows = await this.read((sql) => sql.all<MessageRow>('SELECT * FROM outbox WHERE id = ?', [id]));
    return rows[0] ? toMessage(rows[0]) : undefined;
  }

  /** Messages by patient and order, optionally of one status or patient. */
  async list(
    filter: { status?: OutboxStatus; patientRef?: string; limit?: number } = {},
  ): Promise<OutboxMessage[]> {
    const where: string[] = [];
    const params: Param[] = [];
    if (filter.status) {
      where.push('status = ?');
      params.push(filter.status);
    }
    if (filter.patientRef) {
      where.push('patient_ref = ?');
      params.push(filter.patientRef);
    }
    params.push(filter.limit ?? 1000);
    const rows = await this.read((sql) =>
      sql.all<MessageRow>(
        `SELECT * FROM outbox ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at, patient_ref, seq LIMIT ?`,
        params,
      ),
    );
    return rows.map(toMessage);
  }

  /** Puts a dead message back in its queue, as if new; false when there is no dead message with this id. */
  async retry(id: string): Promise<boolean> {
    const n = await this.run((sql) =>
      sql.run(
        "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ?, last_error = NULL WHERE id = ? AND status = 'dead'",
        [this.stamp(), id],
      ),
    );
    return n > 0;
  }

  /** Every dead message back in its queue; returns how many. */
  retryAllDead(): Promise<number> {
    return this.run((sql) =>
      sql.run(
        "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ?, last_error = NULL WHERE status = 'dead'",
        [this.stamp()],
      ),
    );
  }

  /**
   * Removes a pending or dead message for good. Delivered messages stay: they hold the EHR version
   * later updates need; a message being delivered cannot be dropped.
   */
  async drop(id: string): Promise<'dropped' | 'not-found' | OutboxStatus> {
    return this.run(async (sql) => {
      const rows = await sql.all<{ status: OutboxStatus }>('SELECT status FROM outbox WHERE id = ?', [id]);
      const status = rows[0]?.status;
      if (!status) return 'not-found';
      if (status !== 'pending' && status !== 'dead') return status;
      await sql.run('DELETE FROM outbox WHERE id = ?', [id]);
      return 'dropped';
    });
  }

  /** How many messages are in each status, and when the oldest undelivered one was queued. */
  async depth(): Promise<{ byStatus: Record<OutboxStatus, number>; oldestPendingAt?: string }> {
    return this.read(async (sql) => {
      const byStatus = { pending: 0, delivering: 0, delivered: 0, dead: 0 };
      for (const r of await sql.all<{ status: OutboxStatus; n: number | string }>(
        'SELECT status, COUNT(*) AS n FROM outbox GROUP BY status',
      )) {
        byStatus[r.status] = Number(r.n);
      }
      const oldest = await sql.all<{ at: string | null }>(
        `SELECT MIN(created_at) AS at FROM outbox WHERE ${OPEN}`,
      );
      return { byStatus, ...(oldest[0]?.at ? { oldestPendingAt: oldest[0].at } : {}) };
    });
  }

  /** The EHR's reference (`Type/id/_history/v`) of the last delivered change with this identifier. */
  async ehrRefOf(resourceType: string, identifier: BusinessIdentifier): Promise<string | undefined> {
    const rows = await this.read((sql) =>
      sql.all<{ ehr_ref: string }>(
        `SELECT ehr_ref FROM outbox WHERE resource_type = ? AND identifier_system = ? AND identifier_value = ?
           AND status = 'delivered' AND ehr_ref IS NOT NULL ORDER BY seq DESC, delivered_at DESC LIMIT 1`,
        [resourceType, identifier.system, identifier.value],
      ),
    );
    return rows[0]?.ehr_ref;
  }

  /**
   * Takes the next due patient under a lease for `owner` and returns its batch: up to `batchSize`
   * open messages in order, stopping before a second change to the same identifier (it must wait
   * for the first one's EHR version). Each lease is taken with one atomic upsert in its own short
   * transaction, so two processes on one PostgreSQL database never hold the same patient.
   */
  async claim(owner: string, options: { batchSize: number; leaseMs: number }): Promise<Claim | undefined> {
    const now = this.stamp();
    const heads = await this.run((sql) =>
      sql.all<{ patient_ref: string }>(
        `SELECT o.patient_ref FROM outbox o
          WHERE o.${OPEN} AND o.next_attempt_at <= ?
            AND (o.priority > 0 OR o.seq = (SELECT MIN(i.seq) FROM outbox i WHERE i.patient_ref = o.patient_ref AND i.${OPEN}))
            AND NOT EXISTS (SELECT 1 FROM outbox_leases l WHERE l.patient_ref = o.patient_ref AND l.expires_at > ?)
          ORDER BY o.priority DESC, o.next_attempt_at, o.patient_ref LIMIT 20`,
        [now, now],
      ),
    );
    for (const patientRef of new Set(heads.map((h) => h.patient_ref))) {
      const taken = await this.run((sql) =>
        sql.run(
          `INSERT INTO outbox_leases (patient_ref, owner, expires_at) VALUES (?, ?, ?)
           ON CONFLICT (patient_ref) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
           WHERE outbox_leases.expires_at <= ?`,
          [patientRef, owner, later(options.leaseMs, this.clock()), this.stamp()],
        ),
      );
      if (taken === 0) continue;
      const messages = await this.run(async (sql) => {
        const rows = await sql.all<MessageRow>(
          `SELECT * FROM outbox WHERE patient_ref = ? AND ${OPEN} ORDER BY priority DESC, seq, created_at, id LIMIT ?`,
          [patientRef, options.batchSize],
        );
        // Someone else may have delivered the patient between our look and our lease.
        if (!rows[0] || rows[0].next_attempt_at > this.stamp()) return [];
        const seen = new Set<string>();
        const batch: MessageRow[] = [];
        for (const r of rows) {
          const key = `${r.resource_type}|${r.identifier_system}|${r.identifier_value}`;
          if (seen.has(key)) break;
          seen.add(key);
          batch.push(r);
        }
        await sql.run(
          `UPDATE outbox SET status = 'delivering', lease_owner = ?, lease_expires_at = ? WHERE id IN (${marks(batch.length)})`,
          [owner, later(options.leaseMs, this.clock()), ...batch.map((r) => r.id)],
        );
        return batch.map((r) => ({ ...toMessage(r), status: 'delivering' as const, leaseOwner: owner }));
      });
      if (messages.length) return { patientRef, owner, messages };
      await this.release(patientRef, owner);
    }
    return undefined;
  }

  /** Extends our lease; false when it is no longer ours (expired and taken), and we must stop. */
  renew(patientRef: string, owner: string, leaseMs: number): Promise<boolean> {
    return this.run(async (sql) => {
      const expires = later(leaseMs, this.clock());
      const n = await sql.run(
        'UPDATE outbox_leases SET expires_at = ? WHERE patient_ref = ? AND owner = ? AND expires_at > ?',
        [expires, patientRef, owner, this.stamp()],
      );
      if (n > 0)
        await sql.run(
          `UPDATE outbox SET lease_expires_at = ? WHERE patient_ref = ? AND lease_owner = ? AND status = 'delivering'`,
          [expires, patientRef, owner],
        );
      return n > 0;
    });
  }

  /**
   * Takes back at start what this instance held when it stopped without releasing (killed, or lost
   * its database): the leases of `instance` and of its worker loops (`instance/<n>`), and their
   * messages back to pending, at once rather than when the leases run out. Returns how many patients.
   * Only safe because one owner name belongs to one running instance.
   */
  reclaim(instance: string): Promise<number> {
    const heldBy = (column: string) => `(${column} = ? OR substr(${column}, 1, ?) = ?)`;
    const mine = [instance, instance.length + 1, `${instance}/`];
    return this.run(async (sql) => {
      await sql.run(
        `UPDATE outbox SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL
          WHERE status = 'delivering' AND ${heldBy('lease_owner')}`,
        mine,
      );
      return sql.run(`DELETE FROM outbox_leases WHERE ${heldBy('owner')}`, mine);
    });
  }

  /** Gives the patient back: messages of ours still being delivered return to pending. */
  release(patientRef: string, owner: string): Promise<void> {
    return this.run(async (sql) => {
      await sql.run(
        `UPDATE outbox SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL
          WHERE patient_ref = ? AND lease_owner = ? AND status = 'delivering'`,
        [patientRef, owner],
      );
      await sql.run('DELETE FROM outbox_leases WHERE patient_ref = ? AND owner = ?', [patientRef, owner]);
    });
  }

  /** Records an attempt's result, only while the message is still ours; false when it was not. */
  async settle(id: string, owner: string, s: Settlement): Promise<boolean> {
    const now = this.stamp();
    const common =
      "lease_owner = NULL, lease_expires_at = NULL WHERE id = ? AND lease_owner = ? AND status = 'delivering'";
    const n = await this.run((sql) => {
      switch (s.status) {
        case 'delivered':
          return sql.run(
            `UPDATE outbox SET status = 'delivered', attempts = attempts + 1, delivered_at = ?, ehr_ref = ?, last_error = NULL, ${common}`,
            [now, s.ehrRef, id, owner],
          );
        case 'pending':
          return sql.run(
            `UPDATE outbox SET status = 'pending', attempts = attempts + ?, next_attempt_at = ?, last_error = COALESCE(?, last_error), ${common}`,
            [s.countAttempt ? 1 : 0, s.nextAttemptAt, s.error ? JSON.stringify(s.error) : null, id, owner],
          );
        case 'dead':
          return sql.run(
            `UPDATE outbox SET status = 'dead', attempts = attempts + 1, last_error = ?, ${common}`,
            [JSON.stringify(s.error), id, owner],
          );
      }
    });
    return n > 0;
  }
}
