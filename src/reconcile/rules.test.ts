import type { Encounter, Observation, Resource, Task } from 'fhir/r4';
import { identifierSystem } from '../fhir/codes.js';
import { contentOf } from '../fhir/content.js';
import { compareRecords, type LocalResource } from './rules.js';

const heartRate = (id: string, value: number, extra: Partial<Observation> = {}): Observation => ({
  resourceType: 'Observation',
  id,
  status: 'final',
  category: [
    {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }],
    },
  ],
  code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
  subject: { reference: 'Patient/p1' },
  valueQuantity: { value, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
  ...extra,
});

/** Ours as kept here (local id = business identifier) and as the EHR holds it (its own id). */
const oursHere = (id: string, value: number, extra: Partial<LocalResource> = {}): LocalResource => ({
  resource: {
    ...heartRate(id, value, { encounter: { reference: 'Encounter/s1' } }),
    identifier: [{ system: identifierSystem('Observation'), value: id }],
    meta: { versionId: '1' },
  } as Resource,
  ours: true,
  delivered: `Observation/e-${id}/_history/1`,
  ...extra,
});
const oursThere = (id: string, value: number, version = '1'): Observation => ({
  ...heartRate(`e-${id}`, value, { encounter: { reference: 'Encounter/e-s1' } }),
  identifier: [{ system: identifierSystem('Observation'), value: id }],
  meta: { versionId: version, lastUpdated: '2026-03-05T10:00:00Z' },
});
const session: LocalResource = {
  resource: {
    resourceType: 'Encounter',
    id: 's1',
    status: 'finished',
    class: { code: 'AMB' },
    subject: { reference: 'Patient/p1' },
    identifier: [{ system: identifierSystem('Encounter'), value: 's1' }],
  } as Encounter,
  ours: true,
  delivered: 'Encounter/e-s1/_history/1',
};
const sessionThere = { ...session.resource, id: 'e-s1', meta: { versionId: '1' } } as Encounter;
const theirs = (version: string, value = 60): Observation =>
  heartRate('t1', value, { meta: { versionId: version } });

describe('compareRecords', () => {
  it('leaves out the Provenances of our writes: they are the EHR audit trail, not the aligned record', () => {
    const provenance = {
      resourceType: 'Provenance',
      id: 'pv1',
      meta: { versionId: '1', tag: [{ system: identifierSystem('outbox-message'), code: 'm1' }] },
      target: [{ reference: 'Observation/e-o1' }],
      recorded: '2026-03-05T10:00:00Z',
      agent: [{ who: { identifier: { system: 'https://fhir.kap-bridge.org/device', value: 'kap-bridge' } } }],
    } as Resource;
    const c = compareRecords([session, oursHere('o1', 70)], [sessionThere, oursThere('o1', 70), provenance]);
    expect(c).toEqual({ here: 2, there: 2, matched: 2, drift: [] });
  });

  it('finds no drift when both sides hold the same content, ids, meta and references aside', () => {
    const c = compareRecords(
      [session, oursHere('o1', 70), { resource: theirs('1'), ours: false }],
      [sessionThere, oursThere('o1', 70), theirs('1')],
    );
    expect(c).toEqual({ here: 3, there: 3, matched: 3, drift: [] });
  });

  it("takes another practice's delivered score in as the EHR's data (pull), not as lost here", () => {
    const c = compareRecords([], [oursThere('o9', 70)], new Map(), new Set(['Observation/e-o9']));
    expect(c.drift).toEqual([
      expect.objectContaining({ kind: 'missing-here', there: 'Observation/e-o9/_history/1', remedy: 'pull' }),
    ]);
    expect(compareRecords([], [oursThere('o9', 70)]).drift).toEqual([
      expect.objectContaining({ kind: 'missing-here', remedy: 'person' }),
    ]);
  });

  it('reports an EHR resource kap-bridge keeps but does not hold as missing here, to pull', () => {
    const c = compareRecords([], [theirs('2')]);
    expect(c.drift).toEqual([
      expect.objectContaining({ kind: 'missing-here', there: 'Observation/t1/_history/2', remedy: 'pull' }),
    ]);
  });

  it('leaves out EHR resources that are not KAP, and flags ours that this store does not know', () => {
    const lab = {
      ...theirs('1'),
      id: 'lab',
      code: { coding: [{ system: 'http://loinc.org', code: '2345-7' }] },
    };
    const c = compareRecords([], [lab as Observation, oursThere('o9', 70)]);
    expect(c.drift).toEqual([expect.objectContaining({ kind: 'missing-here', remedy: 'person' })]);
  });

  it('reports ours the EHR lacks as missing there, to resend, unless a change is queued', () => {
    const c = compareRecords([session, oursHere('o1', 70)], [sessionThere]);
    expect(c.drift).toEqual([
      expect.objectContaining({
        kind: 'missing-there',
        here: 'Observation/o1/_history/1',
        there: 'Observation/e-o1/_history/1',
        remedy: 'resend',
      }),
    ]);
    expect(compareRecords([session, oursHere('o1', 70, { pending: true })], [sessionThere]).drift).toEqual(
      [],
    );
  });

  it('reports an EHR resource the EHR no longer holds as missing there, for a person', () => {
    const c = compareRecords([{ resource: theirs('1'), ours: false }], []);
    expect(c.drift).toEqual([expect.objectContaining({ kind: 'missing-there', remedy: 'person' })]);
  });

  it('reports different content: ours resent, theirs pulled when the EHR version is newer', () => {
    const c = compareRecords(
      [session, oursHere('o1', 70), { resource: theirs('1'), ours: false }],
      [sessionThere, oursThere('o1', 99, '2'), theirs('2', 65)],
    );
    expect(c.drift).toEqual([
      expect.objectContaining({ kind: 'different-content', resourceType: 'Observation', remedy: 'resend' }),
      expect.objectContaining({
        kind: 'different-content',
        there: 'Observation/t1/_history/2',
        remedy: 'pull',
      }),
    ]);
    const older = compareRecords([{ resource: theirs('3'), ours: false }], [theirs('3', 65)]);
    expect(older.drift).toEqual([expect.objectContaining({ kind: 'different-content', remedy: 'person' })]);
  });

  it("names the prescriber's work on our Task as a change to take in, and anything more as ours to resend", () => {
    const task = (extra: Partial<Task> = {}): Task => ({
      resourceType: 'Task',
      id: 'r1',
      identifier: [{ system: identifierSystem('Task'), value: 'r1' }],
      status: 'requested',
      intent: 'order',
      for: { reference: 'Patient/p1' },
      authoredOn: '2026-03-01T09:00:00Z',
      meta: { versionId: '1' },
      ...extra,
    });
    const here: LocalResource = { resource: task(), ours: true, delivered: 'Task/e-r1/_history/1' };
    const accepted = task({
      id: 'e-r1',
      status: 'accepted',
      businessStatus: { text: 'booked' },
      meta: { versionId: '2' },
    });
    expect(compareRecords([here], [accepted]).drift).toEqual([
      expect.objectContaining({ kind: 'different-content', there: 'Task/e-r1/_history/2', remedy: 'pull' }),
    ]);
    const alsoFor = { ...accepted, for: { reference: 'Patient/p2' } };
    expect(compareRecords([here], [alsoFor]).drift).toEqual([
      expect.objectContaining({ kind: 'different-content', remedy: 'resend' }),
    ]);
  });

  it('reports conflicting versions when ours is queued and the EHR moved on; not when the EHR did not', () => {
    const pending = oursHere('o1', 80, { pending: true });
    const moved = compareRecords([session, pending], [sessionThere, oursThere('o1', 99, '2')]);
    expect(moved.drift).toEqual([
      expect.objectContaining({
        kind: 'conflicting-versions',
        here: 'Observation/o1/_history/1',
        remedy: 'person',
      }),
    ]);
    expect(compareRecords([session, pending], [sessionThere, oursThere('o1', 70, '1')]).drift).toEqual([]);
  });

  it('matches ours by where it was delivered when the EHR copy lost our identifier', () => {
    const { identifier: _, ...stripped } = oursThere('o1', 70);
    const c = compareRecords([session, oursHere('o1', 70)], [sessionThere, stripped as Observation]);
    expect(c.matched).toBe(2);
    expect(c.drift).toEqual([expect.objectContaining({ kind: 'different-content', remedy: 'resend' })]);
  });

  it('reads references to ours outside both sets through the aliases it is given', () => {
    const here = oursHere('o1', 70);
    const there = oursThere('o1', 70);
    expect(compareRecords([here], [there]).drift).toHaveLength(1);
    expect(compareRecords([here], [there], new Map([['Encounter/e-s1', 'Encounter/s1']])).drift).toEqual([]);
  });
});

describe('contentOf', () => {
  it('ignores id, meta, text and key order', () => {
    const a = theirs('1');
    const b = { text: { status: 'generated', div: '<div/>' }, ...theirs('7'), id: 'other' };
    expect(contentOf(b as Observation)).toBe(contentOf(a));
  });
});
