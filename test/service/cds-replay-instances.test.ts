/**
 * A CDS client JWT is let in once by any of the kap-bridge instances on one PostgreSQL database
 * (src/cds/token-ledger.ts): replayed to the second instance, the token is refused with a 401
 * naming its jti, just as on the first.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CDS_ISSUER, CdsClient, cdsClientKeys } from '../support/cds-client.js';
import { postgresDatabase, type TestDatabase } from '../support/databases.js';
import { startTestService, type TestService } from '../support/service.js';

/** The one address the EHR calls, as behind a balancer: every token's audience. */
const PUBLIC_BASE = 'https://kap.example';
const PATH = '/cds-services';
let db: TestDatabase;
let dir: string;
let client: CdsClient;
const instances: TestService[] = [];

beforeAll(async () => {
  db = await postgresDatabase();
  dir = mkdtempSync(join(tmpdir(), 'kap-cds-replay-'));
  const { keys, jwks } = await cdsClientKeys();
  writeFileSync(join(dir, 'ehr-jwks.json'), JSON.stringify(jwks));
  client = new CdsClient(PUBLIC_BASE, keys.privateKey);
  for (const owner of ['a', 'b']) {
    instances.push(
      await startTestService({
        DATABASE_URL: db.options.databaseUrl!,
        KAP_PUBLIC_BASE_URL: PUBLIC_BASE,
        KAP_CDS_ISSUERS: CDS_ISSUER,
        KAP_CDS_JWKS: join(dir, 'ehr-jwks.json'),
        KAP_OUTBOX_OWNER: owner,
      }),
    );
  }
});
afterAll(async () => {
  for (const i of instances) await i.close();
  await db?.drop();
  rmSync(dir, { recursive: true, force: true });
});

/** Discovery on one instance with `token`: the status and the diagnostics of a refusal. */
const discover = async (instance: TestService, token: string) => {
  const res = await fetch(`${instance.url}${PATH}`, { headers: { authorization: `Bearer ${token}` } });
  const body = (await res.json()) as { issue?: { diagnostics?: string }[] };
  return { status: res.status, diagnostics: body.issue?.[0]?.diagnostics };
};

test('a token let in by one instance is refused by the other, naming its jti', async () => {
  const [a, b] = instances as [TestService, TestService];
  const token = await client.sign(PATH);
  expect(await discover(a, token)).toEqual({ status: 200, diagnostics: undefined });
  const replayed = await discover(b, token);
  expect(replayed.status).toBe(401);
  expect(replayed.diagnostics).toMatch(/ERR_JWT_REPLAYED on claim jti/);
  expect(await discover(a, token)).toEqual(replayed);
});

test('the same token sent to both instances at once is let in by one of them only', async () => {
  const token = await client.sign(PATH);
  const answers = await Promise.all([...instances, ...instances].map((i) => discover(i, token)));
  expect(answers.map((a) => a.status).sort()).toEqual([200, 401, 401, 401]);
});

test('fresh tokens are let in by either instance', async () => {
  for (const instance of instances)
    expect((await discover(instance, await client.sign(PATH))).status).toBe(200);
});
