/**
 * The audit trail: one FHIR AuditEvent for every read and write of PHI through kap-bridge (who, what,
 * when, outcome), kept in the store and queryable by an operator. Append-only: nothing here updates
 * or deletes a row, and no route does either.
 *
 * The record of a write is committed in the write's own transaction (Store.beforeEveryCommit): the
 * write is never in the store without its record. Every other record (reads, and writes that wrote
 * nothing: refused, rolled back) is group-committed after the answer: events recorded within a few
 * milliseconds, or while a flush is running, go in one transaction, so auditing every read costs one
 * insert batch per burst, not one transaction per request.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { AuditEvent, Bundle } from 'fhir/r4';
import { v7 as uuidv7 } from 'uuid';
import type { Principal } from '../auth/authentication.js';
import { isClientErrorStatus, isSuccessStatus } from '../fhir/outcome.js';
import type { Logger } from '../log.js';
import type { Store, StoreTx } from '../store/store.js';
import type { Param, TableSql } from '../store/tables.js';
import { AUDIT_TABLES } from './migrations.js';

export type AuditAction = 'C' | 'R' | 'U' | 'D' | 'E';

export interface AuditEntry {
  /** Who; undefined when the request named no one the service could verify. */
  principal?: Pick<Principal, 'client' | 'tenant' | 'user'>;
  action: AuditAction;
  /** The route as declared, e.g. `GET /api/v1/patients/:id`, or the job: what was done, without PHI. */
  route: string;
  /** Resources read or written, `Type/id`. */
  entities: readonly string[];
  /** HTTP status of the answer; 'committed' for the record kept in the write's own transaction, before the answer. */
  status: number | 'committed';
  /** The caller's network address. */
  address?: string;
  recorded?: string;
}

/** How long an event waits for others to share its transaction. */
const FLUSH_DELAY_MS = 10;

const AUDIT_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-event-type';
const CLIENT_SYSTEM = 'urn:kap-bridge:client';
const UNVERIFIED = 'unverified';

/**
 * UUIDv7 ids sort by time (milliseconds, then a counter within one, then randomness against other
 * instances), so each new row goes at the end of the table's index instead of a random place in it.
 */
const timeOrderedId = (): string => uuidv7();

/** 0 success, 4 the client's mistake or refusal, 8 the service failed (FHIR AuditEvent.outcome). */
const outcomeOf = (status: number | 'committed'): '0' | '4' | '8' =>
  status === 'committed' || isSuccessStatus(status) ? '0' : isClientErrorStatus(status) ? '4' : '8';

export function auditEvent(entry: AuditEntry): AuditEvent {
  const { principal } = entry;
  return {
    resourceType: 'AuditEvent',
    id: timeOrderedId(),
    type: { system: AUDIT_TYPE, code: 'rest', display: 'RESTful Operation' },
    action: entry.action,
    recorded: entry.recorded ?? new Date().toISOString(),
    outcome: outcomeOf(entry.status),
    outcomeDesc:
      entry.status === 'committed'
        ? `${entry.route} committed its write`
        : `${entry.route} answered ${entry.status}`,
    agent: [
      {
        requestor: true,
        who: { identifier: { system: CLIENT_SYSTEM, value: principal?.client ?? UNVERIFIED } },
        ...(principal?.user ? { altId: principal.user } : {}),
        ...(entry.address ? { network: { address: entry.address, type: '2' as const } } : {}),
      },
    ],
    source: {
      observer: { display: 'kap-bridge' },
      ...(principal?.tenant ? { site: principal.tenant } : {}),
    },
    entity: [...new Set(entry.entities)].map((reference) => ({ what: { reference } })),
  };
}

/** Most events one query returns, whoever asks (the API's `_count`, the CLI's `--limit`). */
export const MAX_AUDIT_COUNT = 500;

export interface AuditQuery {
  /** Events naming this resource, `Type/id`. */
  entity?: string;
  /** Events by this client. */
  client?: string;
  tenant?: string;
  /** recorded >= since, recorded < until (ISO instants or dates). */
  since?: string;
  until?: string;
  /** At most MAX_AUDIT_COUNT; more is answered with that many. */
  count: number;
  /** How many matching events (newest first) come before the page; 0 when not said. */
  offset?: number;
}

/** Events and the entities they name, many rows per statement (one round trip per hundred events). */
async function insertEvents(
  sql: TableSql,
  batch: { event: AuditEvent; tenant: string | null }[],
): Promise<void> {
  const events: Param[][] = batch.map(({ event, tenant }) => [
    event.id!,
    event.recorded!,
    tenant,
    event.agent[0]?.who?.identifier?.value ?? UNVERIFIED,
    event.action ?? 'E',
    event.outcome ?? '0',
    JSON.stringify(event),
  ]);
  const entities: Param[][] = batch.flatMap(({ event }) =>
    (event.entity ?? [])
      .map((e) => e.what?.reference ?? '')
      .filter(Boolean)
      .map((reference) => [event.id!, reference]),
  );
  await insertRows(sql, 'audit_events (id, recorded, tenant, client, action, outcome, body)', events);
  await insertRows(sql, 'audit_entities (audit_id, reference)', entities);
}

/**
 * The audit record of a write request, while its handler runs: the first transaction that commits
 * within it carries the record; a later one adds the objects it wrote to the record's entity index.
 * A request whose record is stored so is not recorded again after the answer.
 */
export interface WriteAudit {
  /** The record as known when a transaction commits (the entities named so far). */
  entry(): Omit<AuditEntry, 'status'>;
  /** The stored record's id and the entities it is indexed under, once a transaction carried it. */
  stored?: { id: string; entities: Set<string> };
  /** Settles when the handler has finished (set by withWriteAudit). */
  handled?: Promise<void>;
  /** Set once the request is answered and its handler finished: no transaction carries its record after that. */
  closed?: boolean;
}

const writeAudits = new AsyncLocalStorage<WriteAudit>();

/** The audit tables, in the store transaction (or read) `tx`. */
const auditTables = (tx: StoreTx): TableSql => tx.tables(AUDIT_TABLES);

/** Runs a write request's handler with its audit record, for the transactions it opens to carry. */
export const withWriteAudit = <T>(audit: WriteAudit, fn: () => Promise<T>): Promise<T> => {
  const running = writeAudits.run(audit, fn);
  audit.handled = running.then(
    () => undefined,
    () => undefined,
  );
  return running;
};

async function insertRows(sql: TableSql, into: string, rows: Param[][]): Promise<void> {
  for (let i = 0; i < rows.length; i += 100) {
    const chunk = rows.slice(i, i + 100);
    const row = `(${chunk[0]!.map(() => '?').join(', ')})`;
    await sql.run(`INSERT INTO ${into} VALUES ${chunk.map(() => row).join(', ')}`, chunk.flat());
  }
}

export class AuditTrail {
  private pending: { event: AuditEvent; tenant: string | null }[] = [];
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
  ) {
    store.beforeEveryCommit(async (tx) => {
      const audit = writeAudits.getStore();
      if (!audit || audit.closed) return undefined;
      if (audit.stored) {
        const { id, entities } = audit.stored;
        const more = [...new Set(tx.written)].filter((r) => !entities.has(r));
        await insertRows(
          auditTables(tx),
          'audit_entities (audit_id, reference)',
          more.map((r) => [id, r]),
        );
        return () => {
          for (const r of more) entities.add(r);
        };
      }
      const entry = audit.entry();
      const event = auditEvent({
        ...entry,
        entities: [...entry.entities, ...(tx.written ?? [])],
        status: 'committed',
      });
      await insertEvents(auditTables(tx), [{ event, tenant: entry.principal?.tenant ?? null }]);
      return () => {
        audit.stored = {
          id: event.id!,
          entities: new Set((event.entity ?? []).map((e) => e.what?.reference ?? '')),
        };
      };
    });
  }

  /** Queues the event; it is in the store once `flushed()` resolves. */
  record(entry: AuditEntry): void {
    this.pending.push({ event: auditEvent(entry), tenant: entry.principal?.tenant ?? null });
    this.flushing ??= this.flush();
  }

  /** Resolves when every event recorded so far is stored (or, the store failing, still waiting). */
  async flushed(): Promise<void> {
    if (!this.flushing && this.pending.length) this.flushing = this.flush();
    while (this.flushing) await this.flushing;
  }

  private async flush(): Promise<void> {
    // Let the requests of the next few milliseconds join the batch: under load, one transaction
    // carries dozens of events instead of one each (a transaction costs more than its rows).
    await new Promise((resolve) => setTimeout(resolve, FLUSH_DELAY_MS));
    const batch = this.pending;
    this.pending = [];
    try {
      // Outside any request's context: this transaction carries no write's record but the batch.
      await writeAudits.exit(() => this.store.transaction((tx) => insertEvents(auditTables(tx), batch)));
    } catch (e) {
      // Kept for the next flush (the next request's): a passing store failure drops no audit record.
      this.pending = [...batch, ...this.pending];
      this.log.error(
        { err: { message: (e as Error).message }, waiting: this.pending.length },
        'audit write failed',
      );
      this.flushing = undefined;
      return;
    }
    this.flushing = this.pending.length ? this.flush() : undefined;
  }

  /** The events matching `query`, newest first, as a FHIR searchset Bundle with the total (paging links are the caller's: it knows the URL). */
  async search(query: AuditQuery): Promise<Bundle<AuditEvent>> {
    await this.flushed();
    const where: string[] = [];
    const params: Param[] = [];
    const add = (clause: string, value: string) => {
      where.push(clause);
      params.push(value);
    };
    if (query.entity) add('id IN (SELECT audit_id FROM audit_entities WHERE reference = ?)', query.entity);
    if (query.client) add('client = ?', query.client);
    if (query.tenant) add('tenant = ?', query.tenant);
    // Stored instants are all toISOString()'s form, so the bounds are put in it too before comparing.
    if (query.since) add('recorded >= ?', new Date(query.since).toISOString());
    if (query.until) add('recorded < ?', new Date(query.until).toISOString());
    const filter = where.length ? ` WHERE ${where.join(' AND ')}` : '';
    const limit = Math.min(query.count, MAX_AUDIT_COUNT);
    const offset = Math.max(0, Math.floor(query.offset ?? 0));
    const [rows, total] = await this.store.read(
      async (tx) =>
        [
          await auditTables(tx).all<{ body: string }>(
            `SELECT body FROM audit_events${filter} ORDER BY recorded DESC, id DESC LIMIT ${limit} OFFSET ${offset}`,
            params,
          ),
          Number(
            (
              await auditTables(tx).all<{ n: number | string }>(
                `SELECT COUNT(*) AS n FROM audit_events${filter}`,
                params,
              )
            )[0]?.n ?? 0,
          ),
        ] as const,
    );
    return {
      resourceType: 'Bundle',
      type: 'searchset',
      total,
      entry: rows.map((r) => ({ resource: JSON.parse(r.body) as AuditEvent, search: { mode: 'match' } })),
    };
  }
}
