/** The outbox worker's settings: how often it looks, how it retries, how much it sends at once, its leases. */
import { type Declarations, integer, text } from '../variables.js';

export interface OutboxConfig {
  pollMs: number;
  maxAttempts: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  batchSize: number;
  concurrency: number;
  /** How long a patient's queue stays one instance's; unset: 3 × the EHR timeout, at least a minute. */
  leaseMs?: number;
  /** This instance's name on outbox leases, the same across its restarts; unset: host name and port. */
  owner?: string;
}

export const OUTBOX_VARIABLES: Declarations<OutboxConfig> = {
  pollMs: {
    name: 'KAP_OUTBOX_POLL_MS',
    description: 'How often the outbox worker looks for changes to send to the EHR when idle',
    default: '1000',
    parse: integer(10, 3_600_000),
  },
  maxAttempts: {
    name: 'KAP_OUTBOX_MAX_ATTEMPTS',
    description:
      'Failed delivery attempts after which an outbox message is dead (kap-bridge outbox list --status dead)',
    default: '10',
    parse: integer(1, 1000),
  },
  backoffBaseMs: {
    name: 'KAP_OUTBOX_BACKOFF_BASE_MS',
    description: 'Outbox retry: the first wait ceiling, doubled per attempt, with full jitter',
    default: '1000',
    parse: integer(1, 3_600_000),
  },
  backoffMaxMs: {
    name: 'KAP_OUTBOX_BACKOFF_MAX_MS',
    description: "Outbox retry: the longest wait between attempts (the EHR's Retry-After may ask for longer)",
    default: '300000',
    parse: integer(1, 86_400_000),
  },
  batchSize: {
    name: 'KAP_OUTBOX_BATCH_SIZE',
    description: "Most of one patient's changes sent in one transaction Bundle",
    default: '20',
    parse: integer(1, 500),
  },
  concurrency: {
    name: 'KAP_OUTBOX_CONCURRENCY',
    description: 'Patients whose outbox batches one instance delivers to the EHR at the same time',
    default: '2',
    parse: integer(1, 32),
  },
  leaseMs: {
    name: 'KAP_OUTBOX_LEASE_MS',
    description:
      "How long a patient's queue stays with the instance delivering it: after a crash, how long before another instance takes it over; longer than KAP_EHR_TIMEOUT_MS",
    parse: integer(1000, 3_600_000),
  },
  owner: {
    name: 'KAP_OUTBOX_OWNER',
    description:
      "This instance's name on the outbox leases it holds: the same across its restarts, so that a restarted instance takes back at once the patients it held, and no other running instance's",
    parse: text,
  },
};

/** A lease that runs out during a slow EHR request would let a second instance deliver the same patient. */
export const outboxProblems = (outbox: OutboxConfig, ehrTimeoutMs: number): string[] =>
  outbox.leaseMs !== undefined && outbox.leaseMs <= ehrTimeoutMs
    ? [`KAP_OUTBOX_LEASE_MS must be longer than KAP_EHR_TIMEOUT_MS (${ehrTimeoutMs}); got ${outbox.leaseMs}`]
    : [];
