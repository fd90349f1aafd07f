/**
 * The therapist-side course fixtures (fixtures/individual-course, fixtures/couples-course) with a
 * mapping context that resolves references among each course's own resources, as a store would.
 */
import type { Resource } from 'fhir/r4';
import { identityContext, type MappingContext } from '../../src/fhir/reference-context.js';
import { validFixtures } from './fixtures.js';

export const COURSES = ['individual-course', 'couples-course'] as const;

export interface Course {
  name: (typeof COURSES)[number];
  resources: Resource[];
  ctx: MappingContext;
}

export function courses(): Course[] {
  const all = validFixtures();
  return COURSES.map((name) => {
    const resources = all.filter((f) => f.name.startsWith(`fixtures/${name}/`)).map((f) => f.resource);
    const ctx: MappingContext = {
      ...identityContext,
      resolve: (reference) => resources.find((r) => `${r.resourceType}/${r.id}` === reference),
    };
    return { name, resources, ctx };
  });
}

/** `[label, resource, ctx]` rows for test.each over every resource of one type in the courses. */
export function courseResources<T extends Resource>(type: T['resourceType']): [string, T, MappingContext][] {
  return courses().flatMap((c) =>
    c.resources
      .filter((r): r is T => r.resourceType === type)
      .map((r): [string, T, MappingContext] => [`${c.name}/${r.resourceType}/${r.id}`, r, c.ctx]),
  );
}
