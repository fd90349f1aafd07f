/**
 * The handlers' answers are typed by the schemas the OpenAPI document shows (`Answer<name>`): an
 * answer the schema does not allow does not typecheck. `npm run typecheck` runs these lines; each
 * `@ts-expect-error` fails the typecheck should the schema start allowing what it marks.
 */
import type { Answer } from './schemas.js';

test('an answer missing what its schema requires, or with a value it does not allow, is a type error', () => {
  const session: Answer<'Session'> = {
    id: 'se-1',
    episodeId: 'ep-1',
    phase: 'medicine',
    status: 'planned',
    source: 'Encounter/se-1',
  };
  // @ts-expect-error a session's answer names its FHIR source
  const sourceless: Answer<'Session'> = {
    id: 'se-1',
    episodeId: 'ep-1',
    phase: 'medicine',
    status: 'planned',
  };
  const status: Answer<'MedicationStatus'>['verdict'] = 'not-ready';
  // @ts-expect-error a verdict is one of the three the schema lists
  const maybe: Answer<'MedicationStatus'>['verdict'] = 'maybe';
  // @ts-expect-error a recording's sources are strings by role
  const sources: Answer<'Recorded'> = { id: 'r-1', sources: { task: 42 } };
  expect([session, sourceless, status, maybe, sources].length).toBe(5);
});
