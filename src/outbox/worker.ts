/**
 * Delivers the outbox to the EHR. Each loop takes one due patient under a lease, sends that
 * patient's batch as one transaction Bundle (conditional creates, or PUT with If-Match for what
 * was delivered before), and records the outcome. What the EHR cannot take now is retried with
 * exponential backoff and full jitter, never sooner than its Retry-After; what it refuses is
 * found by sending the batch one change at a time, and parked as dead with the OperationOutcome
 * while the rest is delivered. Every resource travels with its Provenance (src/mapping/provenance.ts)
 * in the same Bundle, so the EHR holds both or neither; the Provenance's conditional create on the
 * message id keeps retries and redeliveries from adding a second one.
 */
import { randomUUID } from 'node:crypto';
import type { Bundle, BundleEntry, BundleEntryResponse, Resource } from 'fhir/r4';
import { Registry } from 'prom-client';
import type { AuditTrail } from '../audit/trail.js';
import type { BusinessIdentifier } from '../domain/model.js';
import { EhrError, type EhrGateway, normaliseError } from '../ehr/gateway.js';
import { contentOf } from '../fhir/content.js';
import { ehrIdForIdentifier, ID, practiceOfIdentifier, RESOURCE_TYPE } from '../fhir/ids.js';
import type { Logger } from '../log.js';
import { type ProvenanceActivity, provenanceFor, provenanceMatch } from '../mapping/provenance.js';
import { PRACTICE_IDENTIFIER_SYSTEM } from '../patient-link.js';
import { OutboxMetrics } from './metrics.js';
import type { Claim, Outbox, OutboxError, OutboxMessage } from './outbox.js';

/** The practice whose change a message carries, from the identifier value it is sent with (`<practice>/<id>`). */
function practiceOf(
  message: OutboxMessage,
  system: string | undefined,
): { practice?: { system: string; value: string } } {
  const value = system === undefined ? undefined : practiceOfIdentifier(message.identifier.value);
  return value === undefined || system === undefined ? {} : { practice: { system, value } };
}

export interface WorkerOptions {
  outbox: Outbox;
  ehr: EhrGateway;
  /** How long a loop sleeps when nothing is due. */
  pollMs: number;
  /** Failed attempts after which a message is dead. */
  maxAttempts: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** Most changes of one patient in one transaction Bundle. */
  batchSize: number;
  /** How long a patient stays ours without renewal; longer than one EHR request may take. */
  leaseMs?: number;
  /** Patients delivered at once by this process. */
  concurrency?: number;
  /**
   * This instance's name in lease rows, the same across its restarts and no other running
   * instance's: at start it takes back what it held when it stopped (see Outbox.reclaim).
   */
  owner: string;
  metrics?: OutboxMetrics;
  /** Where each delivery to the EHR, and each change given up on, is recorded as an AuditEvent. */
  audit?: AuditTrail;
  /**
   * The identifier system of practices' Organizations in the EHR (KAP_PRACTICE_IDENTIFIER_SYSTEM):
   * each Provenance names the practice that recorded the change under it. By default the patient
   * link's.
   */
  practiceSystem?: string;
  log?: Logger;
  random?: () => number;
}

/** Full jitter: a uniformly random wait below the exponential ceiling for this attempt (1-based). */
export function backoffMs(
  attempt: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}

/** Where the EHR kept a change: `Type/id/_history/version` in a Location. */
const DELIVERED_AT = new RegExp(`([A-Za-z]+)/(${ID})/_history/([^/?]+)`);

/** `Type/id/_history/v` from a response entry's location (absolute or relative) or its etag. */
export function ehrRefFrom(
  response: BundleEntryResponse | undefined,
  resource?: Resource,
): string | undefined {
  const m = DELIVERED_AT.exec(response?.location ?? '');
  if (m) return `${m[1]}/${m[2]}/_history/${m[3]}`;
  const version = /W\/"([^"]+)"/.exec(response?.etag ?? '')?.[1] ?? resource?.meta?.versionId;
  return resource?.id && version ? `${resource.resourceType}/${resource.id}/_history/${version}` : undefined;
}

/** One message as entries of a transaction Bundle: the resource, and its Provenance. */
interface Write {
  message: OutboxMessage;
  entry: BundleEntry;
  provenance: BundleEntry;
  /** Set when the EHR already holds the resource: an update of this id at this version. */
  target?: { id: string; version: string };
}

/** A batch's lease kept alive while it is delivered. */
interface Heartbeat {
  timer: NodeJS.Timeout;
  lost: boolean;
}

/** Failures that say nothing about the message itself: wait and try again. */
const transient = (e: EhrError): boolean =>
  e.retryable || e.kind === 'unauthorized' || e.kind === 'malformed';

const asError = (e: EhrError): OutboxError => ({
  message: e.message,
  kind: e.kind,
  ...(e.status === undefined ? {} : { status: e.status }),
  ...(e.outcome ? { outcome: e.outcome } : {}),
});

/** A conditional reference on a business identifier, `Type?identifier=system|value` (each part URI-encoded). */
const CONDITIONAL = new RegExp(`^(${RESOURCE_TYPE})\\?identifier=([^|]+)\\|([^|&]+)$`);

/**
 * A Bundle's conditional references as the EHR's `Type/id`: the EHR keeps a Bundle (a document) as
 * it is, without resolving them as it does a transaction's, so the outbox resolves each to the copy
 * the EHR holds. The references not yet in the EHR come back as `missing`, and the Bundle is not sent.
 */
async function resolveInside(
  bundle: Resource,
  ehrRefOf: (type: string, identifier: BusinessIdentifier) => Promise<string | undefined>,
): Promise<{ resource: Resource; missing: string[] }> {
  const resolved = new Map<string, string | undefined>();
  JSON.stringify(bundle, (key, value) => {
    if (key === 'reference' && typeof value === 'string' && CONDITIONAL.test(value))
      resolved.set(value, undefined);
    return value;
  });
  for (const reference of resolved.keys()) {
    const [, type, system, value] = CONDITIONAL.exec(reference)!;
    const ref = await ehrRefOf(type!, {
      system: decodeURIComponent(system!),
      value: decodeURIComponent(value!),
    });
    resolved.set(reference, ref?.split('/_history/')[0]);
  }
  const missing = [...resolved].filter(([, ref]) => ref === undefined).map(([reference]) => reference);
  const resource = JSON.parse(JSON.stringify(bundle), (key, value) =>
    key === 'reference' && typeof value === 'string' ? (resolved.get(value) ?? value) : value,
  ) as Resource;
  return { resource, missing };
}

/** Types R4 gives no `identifier` search parameter: created by a PUT on kap-bridge's id instead. */
const NO_IDENTIFIER_SEARCH = new Set(['AdverseEvent']);

export class OutboxWorker {
  private readonly o: Required<Omit<WorkerOptions, 'log' | 'audit'>> & Pick<WorkerOptions, 'log' | 'audit'>;
  private stopping = false;
  private loops: Promise<void>[] = [];
  private readonly wakers = new Set<() => void>();

  constructor(options: WorkerOptions) {
    this.o = {
      leaseMs: 120_000,
      concurrency: 2,
      metrics: new OutboxMetrics(new Registry(), () => options.outbox.depth()),
      random: Math.random,
      practiceSystem: PRACTICE_IDENTIFIER_SYSTEM,
      ...options,
    };
  }

  get metrics(): OutboxMetrics {
    return this.o.metrics;
  }

  start(): void {
    this.stopping = false;
    const reclaimed = this.o.outbox.reclaim(this.o.owner).then(
      (patients) => {
        if (patients) this.o.log?.info({ patients }, 'outbox: took back the patients held before a restart');
      },
      (e) =>
        this.o.log?.warn(
          { err: { message: (e as Error).message } },
          'outbox: could not take back old leases',
        ),
    );
    for (let i = 0; i < this.o.concurrency; i++)
      this.loops.push(reclaimed.then(() => this.loop(`${this.o.owner}/${i}`)));
  }

  /** Lets the batches in flight finish (a batch sent one change at a time stops between changes), then returns. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const wake of this.wakers) wake();
    await Promise.all(this.loops);
    this.loops = [];
  }

  /** Delivers until nothing is due; returns the number of batches. For jobs and tests. */
  async drain(owner = this.o.owner): Promise<number> {
    let batches = 0;
    while (await this.deliverNext(owner)) batches++;
    return batches;
  }

  private async loop(owner: string): Promise<void> {
    while (!this.stopping) {
      let worked = false;
      try {
        worked = await this.deliverNext(owner);
      } catch (e) {
        this.o.log?.warn(
          { err: { message: (e as Error).message } },
          'outbox delivery failed; tried again later',
        );
      }
      if (!worked && !this.stopping) {
        await new Promise<void>((resolve) => {
          const wake = () => {
            clearTimeout(timer);
            this.wakers.delete(wake);
            resolve();
          };
          const timer = setTimeout(wake, this.o.pollMs);
          this.wakers.add(wake);
        });
      }
    }
  }

  /** Takes one due patient and delivers its batch; false when nothing was due. */
  async deliverNext(owner = this.o.owner): Promise<boolean> {
    const claim = await this.o.outbox.claim(owner, { batchSize: this.o.batchSize, leaseMs: this.o.leaseMs });
    if (!claim) return false;
    const heartbeat = this.heartbeat(claim);
    try {
      await this.deliver(claim, heartbeat);
    } finally {
      clearInterval(heartbeat.timer);
      await this.o.outbox.release(claim.patientRef, owner);
    }
    return true;
  }

  /**
   * Renews the patient's lease every third of its length while its batch is being delivered (a
   * Bundle may wait on the EHR for up to its timeout, and retries add to that); `lost` once another
   * instance holds the patient, after which nothing more is sent.
   */
  private heartbeat(claim: Claim): Heartbeat {
    const heartbeat: Heartbeat = {
      lost: false,
      timer: setInterval(() => {
        this.o.outbox.renew(claim.patientRef, claim.owner, this.o.leaseMs).then(
          (held) => {
            if (!held) heartbeat.lost = true;
          },
          // A renewal the store could not make is tried again at the next beat, well before expiry.
          () => undefined,
        );
      }, this.o.leaseMs / 3),
    };
    heartbeat.timer.unref();
    return heartbeat;
  }

  /** The Provenance of a message's write; `target` is the entry's fullUrl or the EHR's reference. */
  private provenance(message: OutboxMessage, target: string, activity: ProvenanceActivity): BundleEntry {
    return {
      fullUrl: `urn:uuid:${randomUUID()}`,
      resource: provenanceFor({
        messageId: message.id,
        target,
        activity,
        recorded: message.createdAt,
        resource: message.resource,
        ...practiceOf(message, this.o.practiceSystem),
      }),
      request: { method: 'POST', url: 'Provenance', ifNoneExist: provenanceMatch(message.id) },
    };
  }

  /**
   * The message as a write, or why it waits: a Bundle naming resources that have not reached the
   * EHR yet is not sent with references the EHR cannot resolve.
   */
  private async plan(message: OutboxMessage): Promise<Write | { waits: EhrError }> {
    if (message.resource.resourceType !== 'Bundle') return this.planWrite(message, message.resource);
    const { resource, missing } = await resolveInside(message.resource, (type, identifier) =>
      this.o.outbox.ehrRefOf(type, identifier),
    );
    if (missing.length === 0) return this.planWrite(message, resource);
    return {
      waits: new EhrError(
        'not-found',
        `Waits for what it names to reach the EHR: ${missing.map((r) => r.split('?')[0]).join(', ')}`,
      ),
    };
  }

  private async planWrite(message: OutboxMessage, resource: Resource): Promise<Write> {
    // The EHR assigns id and version; the profiles the resource claims travel with it.
    const { id: _id, meta, ...local } = resource;
    const body = meta?.profile ? { ...local, meta: { profile: meta.profile } } : local;
    const type = message.resourceType;
    const ref = await this.o.outbox.ehrRefOf(type, message.identifier);
    const [, id, , version] = ref?.split('/') ?? [];
    // The Provenance points at the entry's fullUrl, which the EHR turns into the resource's id.
    const fullUrl = `urn:uuid:${message.id}`;
    if (id && version) {
      return {
        message,
        target: { id, version },
        provenance: this.provenance(message, fullUrl, 'UPDATE'),
        entry: {
          fullUrl,
          resource: { ...body, id } as Resource,
          request: { method: 'PUT', url: `${type}/${id}`, ifMatch: `W/"${version}"` },
        },
      };
    }
    const { system, value } = message.identifier;
    if (NO_IDENTIFIER_SEARCH.has(type)) {
      // No conditional create without the search: the id is kap-bridge's, so a retry updates, never duplicates.
      return {
        message,
        provenance: this.provenance(message, fullUrl, 'CREATE'),
        entry: {
          fullUrl,
          resource: { ...body, id: ehrIdForIdentifier(value) } as Resource,
          request: { method: 'PUT', url: `${type}/${ehrIdForIdentifier(value)}` },
        },
      };
    }
    return {
      message,
      provenance: this.provenance(message, fullUrl, 'CREATE'),
      entry: {
        fullUrl,
        resource: body as Resource,
        request: {
          method: 'POST',
          url: type,
          ifNoneExist: `identifier=${encodeURIComponent(system)}|${encodeURIComponent(value)}`,
        },
      },
    };
  }

  /**
   * Delivers the batch up to the first change that waits for others (what precedes it may be what
   * it waits for): the rest goes back to the queue as it was, and the next claim plans it again.
   * A change that waits at the head of the queue is tried again later, counted as an attempt.
   */
  private async deliver(claim: Claim, heartbeat: Heartbeat): Promise<void> {
    const writes: Write[] = [];
    for (const m of claim.messages) {
      const w = await this.plan(m);
      if ('waits' in w) {
        if (writes.length === 0) return this.retryLater(claim, claim.messages, w.waits);
        break;
      }
      writes.push(w);
    }
    if (writes.length > 1) {
      try {
        const response = await this.send(writes);
        for (const [i, w] of writes.entries()) {
          await this.delivered(claim, w, response.entry?.[i]?.response, response.entry?.[i]?.resource);
        }
        return;
      } catch (e) {
        const err = normaliseError(e, 'Delivering the outbox');
        if (transient(err))
          return this.retryLater(
            claim,
            writes.map((w) => w.message),
            err,
          );
        this.o.log?.info(
          { patient: claim.patientRef, status: err.status },
          'outbox batch refused; sent one by one',
        );
      }
    }
    // One change at a time, in order: finds the change the EHR refuses and delivers the others.
    for (const [i, w] of writes.entries()) {
      if (this.stopping || heartbeat.lost) return;
      const retry = await this.deliverOne(claim, w);
      if (retry) {
        return this.retryLater(
          claim,
          writes.slice(i).map((x) => x.message),
          retry,
        );
      }
    }
  }

  /** One transaction: the resources first (answer i is write i's), then their Provenances. */
  private send(writes: Write[]): Promise<Bundle> {
    return this.sendEntries([...writes.map((w) => w.entry), ...writes.map((w) => w.provenance)]);
  }

  private sendEntries(entry: BundleEntry[]): Promise<Bundle> {
    return this.o.ehr.transaction({ resourceType: 'Bundle', type: 'transaction', entry });
  }

  /** Sends one change; returns the error when it is worth trying again later. */
  private async deliverOne(claim: Claim, w: Write): Promise<EhrError | undefined> {
    try {
      const response = await this.send([w]);
      await this.delivered(claim, w, response.entry?.[0]?.response, response.entry?.[0]?.resource);
      return undefined;
    } catch (e) {
      const err = normaliseError(e, `Delivering ${w.message.resourceType} ${w.message.identifier.value}`);
      if (transient(err)) return err;
      if (err.kind === 'conflict' && w.target) return this.resolveConflict(claim, w, err);
      await this.dead(claim, w.message, err);
      return undefined;
    }
  }

  /**
   * The EHR's version moved since ours (409 from HAPI, 412 per the specification): re-read; if it
   * already holds our content we are done (its Provenance sent on its own, a no-op when the write
   * that put it there carried it), otherwise update on its version once more with the Provenance;
   * a second conflict parks the message as dead with the conflict kept.
   */
  private async resolveConflict(claim: Claim, w: Write, conflict: EhrError): Promise<EhrError | undefined> {
    const type = w.message.resourceType;
    const desired = w.entry.resource as Resource & { id: string };
    this.o.metrics.failures.inc({ outcome: 'conflict', kind: conflict.kind });
    try {
      const current = await this.o.ehr.read(type as never, desired.id);
      if (contentOf(current) === contentOf(desired)) {
        await this.sendEntries([this.provenance(w.message, `${type}/${desired.id}`, 'UPDATE')]);
        return this.delivered(claim, w, undefined, current);
      }
      const { ifMatch: _stale, ...request } = w.entry.request!;
      const version = current.meta?.versionId;
      const again: Write = {
        ...w,
        entry: { ...w.entry, request: version ? { ...request, ifMatch: `W/"${version}"` } : request },
      };
      const response = await this.send([again]);
      await this.delivered(claim, again, response.entry?.[0]?.response, response.entry?.[0]?.resource);
      return undefined;
    } catch (e) {
      const err = normaliseError(e, `Updating ${type}/${desired.id} after a conflict`);
      if (transient(err)) return err;
      await this.dead(claim, w.message, err);
      return undefined;
    }
  }

  private async delivered(
    claim: Claim,
    w: Write,
    response: BundleEntryResponse | undefined,
    resource: Resource | undefined,
  ): Promise<undefined> {
    const ehrRef = ehrRefFrom(response, resource);
    if (!ehrRef) {
      await this.dead(
        claim,
        w.message,
        new EhrError('malformed', 'The EHR did not say where it kept the change'),
      );
      return undefined;
    }
    await this.o.outbox.settle(w.message.id, claim.owner, { status: 'delivered', ehrRef });
    const outcome = w.target ? 'updated' : response?.status?.startsWith('200') ? 'matched' : 'created';
    this.o.metrics.deliveries.inc({ outcome });
    this.audited(w.message, w.target ? 'U' : 'C', 200, ehrRef.split('/_history/')[0]!);
    return undefined;
  }

  /** kap-bridge itself wrote (or gave up writing) PHI to the EHR: our resource and the EHR's copy. */
  private audited(message: OutboxMessage, action: 'C' | 'U', status: number, ehrRef?: string): void {
    this.o.audit?.record({
      principal: { client: 'kap-bridge outbox' },
      action,
      route: 'outbox delivery to the EHR',
      entities: [`${message.resourceType}/${message.identifier.value}`, ...(ehrRef ? [ehrRef] : [])],
      status,
    });
  }

  private async dead(claim: Claim, message: OutboxMessage, err: EhrError): Promise<void> {
    await this.o.outbox.settle(message.id, claim.owner, { status: 'dead', error: asError(err) });
    this.o.metrics.failures.inc({ outcome: 'dead', kind: err.kind });
    this.audited(message, 'C', err.status ?? 502);
    this.o.log?.warn(
      { outbox: message.id, patient: message.patientRef, status: err.status, kind: err.kind },
      'outbox message is dead; `kap-bridge outbox list --status dead` shows it',
    );
  }

  /** Back to the queue, all at the same time so their order holds; dead after too many attempts. */
  private async retryLater(claim: Claim, messages: OutboxMessage[], err: EhrError): Promise<void> {
    const attempt = (messages[0]?.attempts ?? 0) + 1;
    const wait = Math.max(
      err.retryAfterMs ?? 0,
      backoffMs(attempt, this.o.backoffBaseMs, this.o.backoffMaxMs, this.o.random),
    );
    const nextAttemptAt = new Date(Date.now() + wait).toISOString();
    for (const m of messages) {
      if (m.attempts + 1 >= this.o.maxAttempts) {
        await this.dead(claim, m, err);
      } else {
        await this.o.outbox.settle(m.id, claim.owner, {
          status: 'pending',
          nextAttemptAt,
          error: asError(err),
          countAttempt: true,
        });
        this.o.metrics.failures.inc({ outcome: 'retry', kind: err.kind });
      }
    }
  }
}
