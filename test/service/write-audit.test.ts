/**
 * The audit record of a write is committed in the write's own transaction, on SQLite and on
 * PostgreSQL: with the group commit never storing anything, a write's record is there as soon as
 * the answer is; a write refused and rolled back leaves no row and exactly one record, of the
 * refusal; reads stay group-committed.
 */
import type { AuditEvent } from 'fhir/r4';
import { AUDIT_TABLES } from '../../src/audit/migrations.js';
import { AuditTrail } from '../../src/audit/trail.js';
import { bearer } from '../support/auth.js';
import { ENGINES, type TestDatabase } from '../support/databases.js';
import { startTestService, type TestService } from '../support/service.js';

describe.each(ENGINES)('the audit record of a write, on $name', (engine) => {
  let db: TestDatabase;
  let service: TestService;
  /** What was asked of the group commit, by route and status; nothing of it reaches the store. */
  let groupCommitted: string[];
  const record = AuditTrail.prototype.record;

  beforeAll(async () => {
    db = await engine.create();
    groupCommitted = [];
    AuditTrail.prototype.record = (entry) => {
      groupCommitted.push(`${entry.route} ${entry.status}`);
    };
    service = await startTestService(db.options.databaseUrl ? { DATABASE_URL: db.options.databaseUrl } : {});
  });
  afterAll(async () => {
    AuditTrail.prototype.record = record;
    await service?.close();
    await db?.drop();
  });

  const post = (path: string, body: unknown) =>
    fetch(`${service.url}${path}`, {
      method: 'POST',
      headers: { ...bearer('therapist'), 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  /** The stored audit events naming `entity`, read straight from the store (no flush waited for). */
  const eventsNaming = (entity: string): Promise<AuditEvent[]> =>
    service.store.read(async (tx) =>
      (
        await tx
          .tables(AUDIT_TABLES)
          .all<{ body: string }>(
            'SELECT body FROM audit_events WHERE id IN (SELECT audit_id FROM audit_entities WHERE reference = ?)',
            [entity],
          )
      ).map((r) => JSON.parse(r.body) as AuditEvent),
    );

  test('a write through the FHIR endpoint has its record in its transaction too', async () => {
    const res = await fetch(`${service.url}/fhir/Patient/audit-ehr`, {
      method: 'PUT',
      headers: { ...bearer('ehr'), 'content-type': 'application/fhir+json' },
      body: JSON.stringify({ resourceType: 'Patient', id: 'audit-ehr', meta: { versionId: '1' } }),
    });
    expect(res.status).toBe(201);
    const events = await eventsNaming('Patient/audit-ehr');
    expect(events.map((e) => [e.action, e.outcome, e.outcomeDesc])).toEqual([
      ['U', '0', 'PUT /fhir/:type/:id committed its write'],
    ]);
    expect(groupCommitted.filter((g) => g.startsWith('PUT /fhir'))).toEqual([]);
  });

  test('a committed write has its record as soon as the answer is, without the group commit', async () => {
    const res = await post('/api/v1/patients', {
      id: 'audit-kept',
      identifiers: [{ system: 'urn:therapist:client', value: 'AUDIT-KEPT' }],
      ehrPatient: 'Patient/audit-ehr',
    });
    expect(res.status).toBe(201);
    const events = await eventsNaming('Patient/audit-kept');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      action: 'C',
      outcome: '0',
      outcomeDesc: 'POST /api/v1/patients committed its write',
      agent: [{ who: { identifier: { value: 'therapy-a' } } }],
      source: { site: 'practice-a' },
    });
    // Not asked of the group commit as well: recorded once.
    expect(groupCommitted.filter((g) => g.startsWith('POST /api/v1/patients'))).toEqual([]);
  });

  test("an episode's record, kept in its transaction, names the episode and its patient", async () => {
    const res = await post('/api/v1/episodes', {
      id: 'audit-episode',
      type: 'individual',
      patients: ['audit-kept'],
    });
    expect(res.status).toBe(201);
    const [event, ...more] = await eventsNaming('EpisodeOfCare/audit-episode');
    expect(more).toEqual([]);
    // The episode, its patient (named in the body) and whatever else the transaction wrote (its CarePlan).
    expect(event?.entity?.map((e) => e.what?.reference)).toEqual(
      expect.arrayContaining(['EpisodeOfCare/audit-episode', 'Patient/audit-kept', 'CarePlan/audit-episode']),
    );
    expect(groupCommitted.filter((g) => g.startsWith('POST /api/v1/episodes'))).toEqual([]);
  });

  test('a write rolled back leaves no row and one record, of the refusal, after the answer', async () => {
    // The identifier is another patient's: the transaction writing the new patient is rolled back.
    const res = await post('/api/v1/patients', {
      id: 'audit-refused',
      identifiers: [{ system: 'urn:therapist:client', value: 'AUDIT-KEPT' }],
    });
    expect(res.status).toBe(409);
    expect(await service.store.getPatient('audit-refused', 'practice-a')).toBeUndefined();
    expect(await eventsNaming('Patient/audit-refused')).toEqual([]);
    // Recorded after the answer, once, with the refusal's status ('close' comes just after the answer).
    const deadline = Date.now() + 2000;
    while (!groupCommitted.includes('POST /api/v1/patients 409') && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 10));
    expect(groupCommitted.filter((g) => g.startsWith('POST /api/v1/patients'))).toEqual([
      'POST /api/v1/patients 409',
    ]);
  });

  test('reads stay group-committed', async () => {
    const res = await fetch(`${service.url}/api/v1/patients/audit-kept`, { headers: bearer('therapist') });
    expect(res.status).toBe(200);
    const deadline = Date.now() + 2000;
    while (!groupCommitted.includes('GET /api/v1/patients/:id 200') && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 10));
    expect(groupCommitted).toContain('GET /api/v1/patients/:id 200');
    // Only the writes' records are in the store: the read's went to the group commit alone.
    expect((await eventsNaming('Patient/audit-kept')).map((e) => e.outcomeDesc).sort()).toEqual([
      'POST /api/v1/episodes committed its write',
      'POST /api/v1/patients committed its write',
    ]);
  });

  test("a score on a course names the patient of its body, as the patient's own address would", async () => {
    const res = await post('/api/v1/episodes/audit-episode/observations', {
      patient: 'audit-kept',
      value: { kind: 'heart-rate', perMinute: 70 },
      effective: '2026-03-02T10:00:00Z',
    });
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: string };
    const [event, ...more] = await eventsNaming(`Observation/${id}`);
    expect(more).toEqual([]);
    expect(event?.entity?.map((e) => e.what?.reference)).toEqual(
      expect.arrayContaining(['EpisodeOfCare/audit-episode', 'Patient/audit-kept', `Observation/${id}`]),
    );
  });
});
