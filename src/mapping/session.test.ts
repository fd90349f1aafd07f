import fc from 'fast-check';
import type { Encounter, Group } from 'fhir/r4';
import { courseResources } from '../../test/support/courses.js';
import type { Session } from '../domain/model.js';
import { CPT, SYSTEM } from '../fhir/codes.js';
import { identityContext as ctx } from '../fhir/reference-context.js';
import { codesIn } from './coding.js';
import { coupleToFhir } from './episode.js';
import { sessionFromFhir, sessionToFhir } from './session.js';

const fixtures = courseResources<Encounter>('Encounter');

describe('every Encounter fixture reads without issues and round-trips', () => {
  test.each(fixtures)('%s', (_name, encounter, context) => {
    const first = sessionFromFhir(encounter, context);
    expect(first.issues).toEqual([]);
    const written = sessionToFhir(first.value!, context);
    expect(written).toEqual(encounter);
    expect(sessionFromFhir(written, context)).toEqual(first);
  });

  test('each couples partner session is part of a joint session of the couple', () => {
    const couples = fixtures.filter(([name]) => name.startsWith('couples-course'));
    const read = couples.map(([, e, c]) => sessionFromFhir(e, c).value!);
    const joint = read.filter((s) => s.couple !== undefined);
    expect(joint).toHaveLength(3);
    for (const j of joint) {
      const partners = read.filter((s) => s.jointSessionId === j.id);
      expect(partners.map((p) => p.patientId).sort()).toEqual([...j.couple!].sort());
      expect(partners.every((p) => p.phase === j.phase)).toBe(true);
    }
  });
});

const id = fc.stringMatching(/^[a-z0-9]{1,8}(-[a-z0-9]{1,8}){0,2}$/);
const instant = fc
  .date({ min: new Date('2026-01-01T00:00:00Z'), max: new Date('2026-12-31T23:59:59Z'), noInvalidDate: true })
  .map((d) => d.toISOString());
const who = fc.oneof(
  id.map((patientId) => ({ patientId })),
  fc.tuple(id, id).map(([patientId, jointSessionId]) => ({ patientId, jointSessionId })),
  fc
    .uniqueArray(id, { minLength: 2, maxLength: 2 })
    .map((p) => ({ couple: [p[0]!, p[1]!] as [string, string] })),
);
const session: fc.Arbitrary<Session> = fc
  .tuple(
    who,
    fc.record(
      {
        id,
        episodeId: id,
        phase: fc.constantFrom('preparation', 'medicine', 'integration'),
        status: fc.constantFrom('planned', 'in-progress', 'finished', 'cancelled', 'entered-in-error'),
        start: instant,
        end: instant,
        therapist: id.map((t) => `Practitioner/${t}`),
      },
      { requiredKeys: ['id', 'episodeId', 'phase', 'status'] },
    ),
  )
  .map(([w, rest]) => ({ ...rest, ...w }));

test('domain -> FHIR -> domain gives back the session', () => {
  fc.assert(
    fc.property(session, (s) => {
      const written = sessionToFhir(s, ctx);
      expect(written.meta?.profile?.[0]).toMatch(s.couple ? /kap-joint-session$/ : /kap-session$/);
      const couple: Group | undefined = s.couple && coupleToFhir(s.episodeId, s.couple, ctx);
      const read = sessionFromFhir(written, ctx, couple);
      expect(read.issues).toEqual([]);
      expect(read.value).toEqual(s);
    }),
  );
});

describe('CPT codes only where the session justifies them', () => {
  const base: Session = { id: 's', episodeId: 'e', phase: 'preparation', status: 'finished', patientId: 'p' };
  const cptOf = (s: Session) => codesIn(sessionToFhir(s, ctx).type, SYSTEM.cpt);
  test.each([
    ['60 minutes', '2026-05-01T10:00:00Z', '2026-05-01T11:00:00Z', [CPT.psychotherapy60]],
    ['45 minutes', '2026-05-01T10:00:00Z', '2026-05-01T10:45:00Z', [CPT.psychotherapy45]],
    ['30 minutes', '2026-05-01T10:00:00Z', '2026-05-01T10:30:00Z', []],
  ])('a finished individual session of %s', (_n, start, end, expected) => {
    expect(cptOf({ ...base, start, end })).toEqual(expected);
  });
  test('joint 90847, partner none, planned none', () => {
    expect(cptOf({ ...base, patientId: undefined, couple: ['a', 'b'] })).toEqual([CPT.couples]);
    expect(
      cptOf({ ...base, jointSessionId: 'j', start: '2026-05-01T10:00:00Z', end: '2026-05-01T11:00:00Z' }),
    ).toEqual([]);
    expect(
      cptOf({ ...base, status: 'planned', start: '2026-05-01T10:00:00Z', end: '2026-05-01T11:00:00Z' }),
    ).toEqual([]);
  });
});

describe('reading is tolerant', () => {
  const encounter: Encounter = {
    resourceType: 'Encounter',
    id: 'ehr-5',
    status: 'arrived',
    class: { code: 'AMB' },
    type: [
      { coding: [{ system: SYSTEM.cpt, code: '90837' }] },
      {
        coding: [
          { system: 'urn:ehr:visit', code: 'KAP-MED' },
          { system: SYSTEM.sessionPhase, code: 'medicine' },
        ],
      },
    ],
    subject: { reference: 'https://ehr.example.org/fhir/Patient/p9' },
    episodeOfCare: [{ reference: 'EpisodeOfCare/e9/_history/3' }],
  };

  test('no profile, phase among other codings, absolute and versioned references, arrived', () => {
    const read = sessionFromFhir(encounter, ctx);
    expect(read.value).toEqual({
      id: 'ehr-5',
      episodeId: 'e9',
      phase: 'medicine',
      status: 'in-progress',
      patientId: 'p9',
    });
    expect(read.issues.map((i) => [i.severity, i.expression])).toEqual([['warning', 'Encounter.status']]);
  });

  test('an unknown phase code is an error at its type', () => {
    const read = sessionFromFhir(
      { ...encounter, type: [{ coding: [{ system: SYSTEM.sessionPhase, code: 'ceremony' }] }] },
      ctx,
    );
    expect(read.value).toBeUndefined();
    expect(read.issues.map((i) => [i.severity, i.expression])).toContainEqual(['error', 'Encounter.type[0]']);
  });

  test('a joint session whose Group is not at hand: an error, no throw', () => {
    const read = sessionFromFhir({ ...encounter, subject: { reference: 'Group/g1' } }, ctx);
    expect(read.value).toBeUndefined();
    expect(read.issues.map((i) => i.expression)).toContain('Encounter.subject');
  });
});
