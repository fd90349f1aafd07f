import fc from 'fast-check';
import type { CarePlan, EpisodeOfCare, Goal } from 'fhir/r4';
import { courses } from '../../test/support/courses.js';
import type { Episode } from '../domain/model.js';
import { SYSTEM } from '../fhir/codes.js';
import { identityContext as ctx, type MappingContext } from '../fhir/reference-context.js';
import { episodeFromFhir, episodeToFhir } from './episode.js';

/** The course's EpisodeOfCare with the CarePlan that points at it and that plan's Goal. */
function episodeOf(resources: ReturnType<typeof courses>[number]['resources'], context: MappingContext) {
  const episodeOfCare = resources.find((r): r is EpisodeOfCare => r.resourceType === 'EpisodeOfCare')!;
  const carePlan = resources
    .filter((r): r is CarePlan => r.resourceType === 'CarePlan')
    .find((r) => (r.supportingInfo ?? []).some((s) => s.reference === `EpisodeOfCare/${episodeOfCare.id}`));
  const goal = context.resolve?.(carePlan?.goal?.[0]?.reference ?? '') as Goal | undefined;
  return { episodeOfCare, carePlan, goal };
}

describe('each course episode reads without issues and round-trips', () => {
  test.each(courses().map((c) => [c.name, c] as const))('%s', (_name, course) => {
    const input = episodeOf(course.resources, course.ctx);
    const first = episodeFromFhir(input, course.ctx);
    expect(first.issues).toEqual([]);
    const written = episodeToFhir(first.value!, course.ctx);
    expect(written.episodeOfCare).toEqual(input.episodeOfCare);
    expect(written.carePlan).toEqual(input.carePlan);
    expect(written.goal).toEqual(input.goal);
    const second = episodeFromFhir(written, course.ctx);
    expect(second).toEqual(first);
  });

  test('the couples course names both partners through its Group', () => {
    const course = courses().find((c) => c.name === 'couples-course')!;
    const read = episodeFromFhir(episodeOf(course.resources, course.ctx), course.ctx);
    expect(read.value).toMatchObject({ type: 'couples', patients: ['pat-ana-ruiz', 'pat-tomas-ruiz'] });
  });
});

const id = fc.stringMatching(/^[a-z0-9]{1,8}(-[a-z0-9]{1,8}){0,2}$/);
const day = fc
  .date({ min: new Date('2026-01-01T00:00:00Z'), max: new Date('2026-12-31T00:00:00Z'), noInvalidDate: true })
  .map((d) => d.toISOString().slice(0, 10));
const count = fc.integer({ min: 0, max: 3 });
const patients = fc.oneof(
  fc.record({ type: fc.constant('individual' as const), patients: fc.tuple(id) }),
  fc.uniqueArray(id, { minLength: 2, maxLength: 2 }).map((p) => ({ type: 'couples' as const, patients: p })),
);
const episode: fc.Arbitrary<Episode> = fc
  .tuple(
    patients,
    fc.record(
      {
        id,
        status: fc.constantFrom('planned', 'active', 'onhold', 'finished', 'cancelled', 'entered-in-error'),
        therapist: id.map((t) => `Practitioner/${t}`),
        start: day,
        end: day,
        intention: fc.string({ minLength: 1 }),
        plannedSessions: fc.record({ preparation: count, medicine: count, integration: count }),
      },
      { requiredKeys: ['id', 'status', 'plannedSessions'] },
    ),
  )
  .map(([p, rest]) => ({ ...rest, ...p, patients: [...p.patients] }));

test('domain -> FHIR -> domain gives back the episode', () => {
  fc.assert(
    fc.property(episode, (e) => {
      const written = episodeToFhir(e, ctx);
      expect(written.episodeOfCare.meta?.profile?.[0]).toMatch(/kap-episode$/);
      expect(written.carePlan.identifier).toEqual([
        { system: 'https://fhir.kap-bridge.org/identifier/CarePlan', value: e.id },
      ]);
      expect(written.couple === undefined).toBe(e.type === 'individual');
      const read = episodeFromFhir(written, ctx);
      expect(read.issues).toEqual([]);
      expect(read.value).toEqual(e);
    }),
  );
});

describe('reading is tolerant', () => {
  const episodeOfCare: EpisodeOfCare = {
    resourceType: 'EpisodeOfCare',
    id: 'ehr-77',
    status: 'waitlist',
    patient: { reference: 'Patient/p1' },
  };

  test('no profile, no type, waitlisted, no CarePlan: read with warnings', () => {
    const read = episodeFromFhir({ episodeOfCare }, ctx);
    expect(read.value).toEqual({
      id: 'ehr-77',
      type: 'individual',
      status: 'planned',
      patients: ['p1'],
      plannedSessions: { preparation: 0, medicine: 0, integration: 0 },
    });
    expect(read.issues.every((i) => i.severity === 'warning')).toBe(true);
    expect(read.issues.map((i) => i.expression)).toEqual([
      'EpisodeOfCare.status',
      'EpisodeOfCare.type',
      'CarePlan',
    ]);
  });

  test('a couples plan without its Group keeps the first partner and says so; odd activities are skipped', () => {
    const carePlan: CarePlan = {
      resourceType: 'CarePlan',
      status: 'active',
      intent: 'plan',
      subject: { reference: 'Group/g1' },
      description: 'to feel at home in my body',
      activity: [
        {
          detail: {
            status: 'scheduled',
            code: {
              coding: [
                { system: 'urn:other', code: 'x' },
                { system: SYSTEM.sessionPhase, code: 'medicine' },
              ],
            },
          },
        },
        { detail: { status: 'scheduled', code: { text: 'walk' } } },
      ],
    };
    const read = episodeFromFhir({ episodeOfCare: { ...episodeOfCare, status: 'active' }, carePlan }, ctx);
    expect(read.value).toMatchObject({
      type: 'couples',
      patients: ['p1'],
      intention: 'to feel at home in my body',
      plannedSessions: { preparation: 0, medicine: 1, integration: 0 },
    });
    expect(read.issues.map((i) => i.expression)).toEqual([
      'EpisodeOfCare.type',
      'CarePlan.subject',
      'CarePlan.activity[1].detail.code',
    ]);
  });

  test('nothing to read: errors, no value, no throw', () => {
    const read = episodeFromFhir({}, ctx);
    expect(read.value).toBeUndefined();
    expect(read.issues.filter((i) => i.severity === 'error').length).toBeGreaterThan(0);
  });
});
