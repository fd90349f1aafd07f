/**
 * The per-client rate limit with two instances on one PostgreSQL database: each instance keeps its
 * own buckets (README, Hardening), so a client that has spent its burst on one instance still has a
 * full one on the other. With n instances behind a balancer a client gets up to n times the limit.
 */
import { kapFetch } from '../support/auth.js';
import { postgresDatabase, type TestDatabase } from '../support/databases.js';
import { startTestService, type TestService } from '../support/service.js';

const PER_SECOND = 1;
const BURST = 2 * PER_SECOND;
let db: TestDatabase;
const instances: TestService[] = [];

beforeAll(async () => {
  db = await postgresDatabase();
  for (const owner of ['a', 'b']) {
    instances.push(
      await startTestService({
        DATABASE_URL: db.options.databaseUrl!,
        KAP_RATE_LIMIT_PER_SECOND: String(PER_SECOND),
        KAP_OUTBOX_OWNER: owner,
      }),
    );
  }
});
afterAll(async () => {
  for (const i of instances) await i.close();
  await db?.drop();
});

/** The statuses of `n` requests sent at once by the therapist client to one instance (its course list: an authenticated read). */
const burst = async (instance: TestService, n: number): Promise<number[]> =>
  Promise.all(
    Array.from({ length: n }, async () => (await kapFetch(`${instance.url}/api/v1/episodes`)).status),
  );

test('each instance limits a client on its own: the burst spent on one is whole on the other', async () => {
  const [a, b] = instances as [TestService, TestService];
  const onA = await burst(a, BURST + 2);
  expect(onA.filter((s) => s === 200).length).toBe(BURST);
  expect(onA.filter((s) => s === 429).length).toBe(2);
  // The same client, at once, on the other instance of the same database: a bucket of its own.
  const onB = await burst(b, BURST + 2);
  expect(onB.filter((s) => s === 200).length).toBe(BURST);
  expect(onB.filter((s) => s === 429).length).toBe(2);
});
