/**
 * The outbox under faults between kap-bridge and a real EHR (the HAPI sandbox), with changes
 * recorded through the therapist API and counted afterwards in HAPI by business identifier, not by
 * our own bookkeeping: an EHR unreachable for a while (connections refused, reset, or cut after HAPI
 * kept the write and before its answer came back), and kap-bridge killed with SIGKILL in the middle
 * of delivery and started again on the same SQLite file. Every change arrives, none twice, and so
 * does its Provenance (one per outbox message, counted in HAPI by its tag).
 * (429, 503 and a refused change are worker.failures.test.ts's.)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Patient, Provenance } from 'fhir/r4';
import { OUTBOX_MESSAGE_SYSTEM } from '../../src/mapping/provenance.js';
import { Outbox } from '../../src/outbox/outbox.js';
import type { Service } from '../../src/service.js';
import { Store } from '../../src/store/store.js';
import { authEnv, kapFetch } from '../support/auth.js';
import { EhrProxy } from '../support/ehr-proxy.js';
import { ROOT } from '../support/fixtures.js';
import { eventually, sandboxGateway, uniqueId } from '../support/sandbox.js';
import { startTestService } from '../support/service.js';
import { countInEhr, inParallel, therapistObservation } from '../support/therapist-changes.js';

const ehr = sandboxGateway();

// biome-ignore lint/suspicious/noExplicitAny: tests read answers field by field, as a client would
type Json = any;

async function post(base: string, path: string, body: unknown): Promise<Json> {
  const res = await kapFetch(`${base}/api/v1${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const answer = await res.json();
  if (res.status >= 300) throw new Error(`POST ${path}: ${res.status} ${JSON.stringify(answer)}`);
  return answer;
}

/** EHR Patients in HAPI, registered with kap-bridge as the therapist's patients linked to them. */
async function linkedPatients(base: string, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = uniqueId('fault-pt');
    await ehr.update<Patient & { id: string }>({
      resourceType: 'Patient',
      id,
      identifier: [{ system: 'urn:kap-fault-test:mrn', value: id }],
    });
    await post(base, '/patients', {
      id,
      identifiers: [{ system: 'urn:kap-fault-test:mrn', value: id }],
      ehrPatient: `Patient/${id}`,
    });
    ids.push(id);
  }
  return ids;
}

/** `n` scores and vitals recorded through the therapist API, round-robin over the patients; returns their ids. */
async function recordObservations(base: string, patients: string[], n: number): Promise<string[]> {
  const run = uniqueId('fault-obs');
  const ids = Array.from({ length: n }, (_, i) => `${run}-${i}`);
  // A few therapists at once, as in a practice.
  await inParallel(n, 4, (i) =>
    post(base, `/patients/${patients[i % patients.length]}/observations`, therapistObservation(ids[i]!, i)),
  );
  return ids;
}

/** How many Provenances HAPI holds for each outbox message id (by their tag, 50 at a time). */
async function provenancesInEhr(messageIds: string[]): Promise<Map<string, number>> {
  const counts = new Map<string, number>(messageIds.map((id) => [id, 0]));
  for (let i = 0; i < messageIds.length; i += 50) {
    const _tag = messageIds
      .slice(i, i + 50)
      .map((id) => `${OUTBOX_MESSAGE_SYSTEM}|${id}`)
      .join(',');
    for await (const p of ehr.search<Provenance>('Provenance', { _tag, _count: '100' })) {
      const id = p.meta?.tag?.find((t) => t.system === OUTBOX_MESSAGE_SYSTEM)?.code ?? '';
      if (counts.has(id)) counts.set(id, counts.get(id)! + 1);
    }
  }
  return counts;
}

/** Each value once: the list of those HAPI holds zero or several times (empty when all is well). */
const notExactlyOnce = (counts: Map<string, number>): string[] =>
  [...counts].filter(([, n]) => n !== 1).map(([v, n]) => `${v}: ${n}`);

// Fast retries so that an outage of a few seconds costs many attempts, and never a dead message.
const RETRIES = {
  KAP_OUTBOX_POLL_MS: '50',
  KAP_OUTBOX_BACKOFF_BASE_MS: '50',
  KAP_OUTBOX_BACKOFF_MAX_MS: '400',
  KAP_OUTBOX_MAX_ATTEMPTS: '1000',
  KAP_SUBSCRIBE_ON_START: 'false',
  KAP_SYNC_INTERVAL_SECONDS: '0',
};

let dir: string;
let proxy: EhrProxy;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kap-outbox-faults-'));
  proxy = new EhrProxy();
  await proxy.listen();
});
afterEach(async () => {
  await proxy.close();
  rmSync(dir, { recursive: true, force: true });
});

test('the EHR unreachable during 200 changes, then back: all delivered, none twice', async () => {
  await proxy.down();
  let service: Service | undefined;
  try {
    service = await startTestService({ ...RETRIES, KAP_EHR_BASE_URL: proxy.baseUrl }, { dir });
    const outbox = service.outbox;
    const patients = await linkedPatients(service.url, 20);
    const values = await recordObservations(service.url, patients, 200);

    // Refused: every patient's head has failed a few times and nothing got through.
    await eventually('attempts against a closed port', async () => {
      const pending = await outbox.list({ status: 'pending', limit: 200 });
      return pending.filter((m) => m.attempts >= 2).length >= 20 ? true : undefined;
    });
    expect((await outbox.depth()).byStatus.delivered).toBe(0);

    // Reset before HAPI sees the request, or cut after HAPI kept the write and before its answer.
    await proxy.up();
    proxy.mode = 'flaky';
    await eventually('answers lost after HAPI kept the writes', async () =>
      proxy.seen.answerLost >= 10 && proxy.seen.refused >= 10 ? true : undefined,
    );
    expect((await outbox.depth()).byStatus.delivered).toBe(0);

    proxy.mode = 'up';
    await eventually(
      '200 deliveries',
      async () => ((await outbox.depth()).byStatus.delivered === 200 ? true : undefined),
      30_000,
    );
    expect((await outbox.depth()).byStatus.dead).toBe(0);

    const counts = await countInEhr(ehr, values);
    expect(notExactlyOnce(counts)).toEqual([]);
    const delivered = await outbox.list({ status: 'delivered', limit: 200 });
    expect(notExactlyOnce(await provenancesInEhr(delivered.map((m) => m.id)))).toEqual([]);
  } finally {
    await service?.close();
  }
}, 60_000);

/** `kap-bridge serve` in its own process, as deployed. */
async function serve(env: Record<string, string>): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts'), 'serve'], {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const url = new Promise<string>((resolve, reject) => {
    const look = (chunk: Buffer) => {
      output += chunk.toString();
      const m = /"url":"(http:\/\/[^"]+)"/.exec(output);
      if (m) resolve(m[1]!);
    };
    child.stdout!.on('data', look);
    child.stderr!.on('data', look);
    child.once('exit', (code) =>
      reject(new Error(`kap-bridge serve exited (${code}) before listening:\n${output}`)),
    );
  });
  return { url: await url, child };
}

const killed = (child: ChildProcess, signal: NodeJS.Signals) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill(signal);
  });

test('kap-bridge killed with SIGKILL in the middle of delivery and started again: all delivered, none twice', async () => {
  const sqliteFile = join(dir, 'kap.db');
  const env = {
    ...authEnv(),
    ...RETRIES,
    KAP_SQLITE_FILE: sqliteFile,
    KAP_EHR_BASE_URL: proxy.baseUrl,
    KAP_EHR_TIMEOUT_MS: '2000',
    // Started again under the same name, it takes back at once the patients it held when killed,
    // without waiting for their leases (a minute here) to run out.
    KAP_OUTBOX_OWNER: 'faults-instance',
  };
  // A few Bundles answered, then HAPI keeps the writes and the worker waits for answers that never come.
  proxy.mode = 'hold';
  proxy.passBeforeHold = 4;
  let first = await serve(env);
  let values: string[];
  try {
    const patients = await linkedPatients(first.url, 20);
    values = await recordObservations(first.url, patients, 200);
    await eventually('a write kept by HAPI and unanswered', async () =>
      proxy.seen.held > 0 ? true : undefined,
    );
  } finally {
    await killed(first.child, 'SIGKILL');
  }

  const store = await Store.open({ sqliteFile });
  const before = await new Outbox(store).depth();
  await store.close();
  const inEhr = [...(await countInEhr(ehr, values)).values()].filter((n) => n > 0).length;
  // Killed mid-way: some delivered, not all; HAPI holds writes the outbox never heard back about.
  expect(before.byStatus.delivered).toBeGreaterThan(0);
  expect(before.byStatus.delivered).toBeLessThan(200);
  expect(inEhr).toBeGreaterThan(before.byStatus.delivered);

  proxy.dropHeld();
  proxy.mode = 'up';
  first = await serve(env);
  try {
    await eventually(
      '200 deliveries after the restart',
      async () => {
        const metrics = await (await kapFetch(`${first.url}/metrics`)).text();
        return /kap_outbox_messages\{status="delivered"\} 200\n/.test(metrics) ? true : undefined;
      },
      30_000,
    );
  } finally {
    await killed(first.child, 'SIGTERM');
  }
  const counts = await countInEhr(ehr, values);
  expect(notExactlyOnce(counts)).toEqual([]);
  const after = await Store.open({ sqliteFile });
  const messages = await new Outbox(after).list({ status: 'delivered', limit: 200 });
  await after.close();
  expect(messages).toHaveLength(200);
  expect(notExactlyOnce(await provenancesInEhr(messages.map((m) => m.id)))).toEqual([]);
}, 60_000);
