/**
 * The CDS client JWTs accepted (src/cds/token-ledger.ts), on both engines: a key is taken once
 * while its token can be accepted, by one of two stores on the same database taking it at once, and
 * again only once it has expired; expired rows are pruned.
 */
import { CDS_TABLES } from '../../src/cds/migrations.js';
import { storeTokenLedger } from '../../src/cds/token-ledger.js';
import { Store } from '../../src/store/store.js';
import { ENGINES, type TestDatabase } from '../support/databases.js';

describe.each(ENGINES)('the CDS token ledger on $name', ({ name, create }) => {
  let db: TestDatabase;
  let stores: Store[];
  let clock: number;
  const now = () => clock;
  beforeAll(async () => {
    db = await create();
    stores = [await Store.open(db.options), await Store.open(db.options)];
  });
  afterAll(async () => {
    for (const s of stores) await s.close();
    await db.drop();
  });
  beforeEach(() => {
    clock = 1_800_000_000_000;
  });
  const rows = async (store: Store) =>
    store.read((tx) =>
      tx
        .tables(CDS_TABLES)
        .all<{ token_key: string }>('SELECT token_key FROM cds_token_ids ORDER BY token_key'),
    );

  test('a key is taken once; its replay, on the same store or another on the database, is refused', async () => {
    const [a, b] = stores.map((s) => storeTokenLedger(s, now)) as [
      ReturnType<typeof storeTokenLedger>,
      ReturnType<typeof storeTokenLedger>,
    ];
    expect(await a.take('["iss","once"]', clock + 60_000)).toBe(true);
    expect(await a.take('["iss","once"]', clock + 60_000)).toBe(false);
    expect(await b.take('["iss","once"]', clock + 60_000)).toBe(false);
  });

  test('taken at once, ten times: exactly one gets it', async () => {
    // PostgreSQL: two instances on the database. SQLite is one instance's file, its writes serialised.
    const ledgers = (name === 'postgres' ? stores : stores.slice(0, 1)).map((s) => storeTokenLedger(s, now));
    const got = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        ledgers[i % ledgers.length]!.take('["iss","race"]', clock + 60_000),
      ),
    );
    expect(got.filter(Boolean)).toEqual([true]);
  });

  test('an expired key is taken again; expired rows are pruned', async () => {
    const ledger = storeTokenLedger(stores[0]!, now);
    expect(await ledger.take('["iss","short"]', clock + 1_000)).toBe(true);
    clock += 2_000;
    // Pruned on this instance's first take (a fresh ledger prunes at once), then taken anew.
    expect(await storeTokenLedger(stores[1]!, now).take('["iss","other"]', clock + 60_000)).toBe(true);
    expect((await rows(stores[0]!)).map((r) => r.token_key)).not.toContain('["iss","short"]');
    expect(await ledger.take('["iss","short"]', clock + 1_000)).toBe(true);
    expect(await ledger.take('["iss","short"]', clock + 1_000)).toBe(false);
  });

  test('an expired row not pruned yet does not refuse its key', async () => {
    const ledger = storeTokenLedger(stores[0]!, now);
    expect(await ledger.take('["iss","late"]', clock + 1_000)).toBe(true);
    clock += 2_000;
    // The same ledger pruned a moment ago: the expired row is still there, and is taken over.
    expect((await rows(stores[0]!)).map((r) => r.token_key)).toContain('["iss","late"]');
    expect(await ledger.take('["iss","late"]', clock + 1_000)).toBe(true);
    expect(await ledger.take('["iss","late"]', clock + 1_000)).toBe(false);
  });
});
