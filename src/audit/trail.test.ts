import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseScopes } from '../auth/scopes.js';
import { createLogger } from '../log.js';
import { Store } from '../store/store.js';
import { createValidator } from '../validation/validator.js';
import { AuditTrail, auditEvent } from './trail.js';

const therapist = {
  client: 'therapy-a',
  kind: 'therapist',
  tenant: 'practice-a',
  user: 'dr-rivera',
  scopes: parseScopes('user/*.rs'),
} as const;

test('an AuditEvent is valid FHIR R4: who, what, when, outcome', () => {
  const event = auditEvent({
    principal: therapist,
    action: 'R',
    route: 'GET /api/v1/patients/:id',
    entities: ['Patient/p1'],
    status: 200,
    address: '127.0.0.1',
  });
  const errors = createValidator()
    .validate(event)
    .filter((f) => f.severity === 'error' || f.severity === 'fatal');
  expect(errors).toEqual([]);
  expect(event).toMatchObject({
    action: 'R',
    outcome: '0',
    agent: [{ requestor: true, altId: 'dr-rivera', network: { address: '127.0.0.1', type: '2' } }],
    source: { site: 'practice-a' },
    entity: [{ what: { reference: 'Patient/p1' } }],
  });
  expect(auditEvent({ action: 'C', route: 'x', entities: [], status: 403 }).outcome).toBe('4');
  expect(auditEvent({ action: 'C', route: 'x', entities: [], status: 502 }).outcome).toBe('8');
});

test('events recorded together are stored together, and every one is found by what it names', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kap-trail-'));
  const store = await Store.open({ sqliteFile: join(dir, 'kap.db') });
  try {
    const trail = new AuditTrail(store, createLogger('silent'));
    for (let i = 0; i < 300; i++) {
      trail.record({
        principal: therapist,
        action: 'R',
        route: 'GET /api/v1/patients/:id',
        entities: [`Patient/p${i % 3}`],
        status: 200,
      });
    }
    await trail.flushed();
    const count = async (entity: string) => (await trail.search({ entity, count: 500 })).entry?.length;
    expect([await count('Patient/p0'), await count('Patient/p1'), await count('Patient/p2')]).toEqual([
      100, 100, 100,
    ]);
    expect((await trail.search({ count: 500, tenant: 'practice-b' })).entry).toEqual([]);
    expect((await trail.search({ count: 7 })).entry).toHaveLength(7);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
