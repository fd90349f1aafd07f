import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEvent } from 'fhir/r4';
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

test('event ids sort in the order the events were made, within one millisecond too', () => {
  const ids = Array.from(
    { length: 2000 },
    () =>
      auditEvent({
        principal: therapist,
        action: 'R',
        route: 'GET /api/v1/patients/:id',
        entities: [],
        status: 200,
      }).id!,
  );
  expect(new Set(ids).size).toBe(ids.length);
  expect([...ids].sort()).toEqual(ids);
  expect(ids[0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});

test('the newest events come first, the same instant ordered by id', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kap-trail-'));
  const store = await Store.open({ sqliteFile: join(dir, 'kap.db') });
  try {
    const trail = new AuditTrail(store, createLogger('silent'));
    const recorded = '2026-11-26T09:00:00.000Z';
    for (const status of [200, 201, 204])
      trail.record({ principal: therapist, action: 'R', route: 'GET /x', entities: [], status, recorded });
    await trail.flushed();
    const found = (await trail.search({ count: 10 })).entry?.map(
      (e) => (e.resource as AuditEvent).outcomeDesc,
    );
    expect(found).toEqual(['GET /x answered 204', 'GET /x answered 201', 'GET /x answered 200']);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
