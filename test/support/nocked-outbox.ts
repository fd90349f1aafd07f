/**
 * The outbox worker against an EHR that nock plays, on a fresh SQLite store per test: registers the
 * suite's hooks (no real network; the worker stopped and the store dropped after each test) and
 * gives the store, its outbox, and a worker to start with the suite's options and the test's own.
 */
import nock from 'nock';
import { EhrGateway } from '../../src/ehr/gateway.js';
import { Outbox } from '../../src/outbox/outbox.js';
import { OutboxWorker, type WorkerOptions } from '../../src/outbox/worker.js';
import { Store } from '../../src/store/store.js';
import { sqliteDatabase, type TestDatabase } from './databases.js';

export interface NockedOutbox {
  store: Store;
  outbox: Outbox;
  startWorker(options?: Partial<WorkerOptions>): OutboxWorker;
}

export function nockedOutbox(
  baseUrl: string,
  defaults: Omit<WorkerOptions, 'outbox' | 'ehr' | 'pollMs' | 'batchSize'> & Partial<WorkerOptions>,
): NockedOutbox {
  let db: TestDatabase;
  let worker: OutboxWorker | undefined;
  const suite = {
    startWorker(options: Partial<WorkerOptions> = {}) {
      worker = new OutboxWorker({
        outbox: suite.outbox,
        ehr: new EhrGateway({ baseUrl, timeoutMs: 2000 }),
        pollMs: 10,
        batchSize: 10,
        concurrency: 1,
        random: () => 0.999,
        ...defaults,
        ...options,
      });
      worker.start();
      return worker;
    },
  } as NockedOutbox;
  beforeAll(() => nock.disableNetConnect());
  afterAll(() => nock.enableNetConnect());
  beforeEach(async () => {
    db = await sqliteDatabase();
    suite.store = await Store.open(db.options);
    suite.outbox = new Outbox(suite.store);
  });
  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
    nock.cleanAll();
    await suite.store.close();
    await db.drop();
  });
  return suite;
}
