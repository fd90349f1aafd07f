/** Fixture and profile files as tests read them: every `*.fhir.json` under fixtures/, every profile. */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Resource } from 'fhir/r4';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((d) => (d.isDirectory() ? walk(join(dir, d.name)) : [join(dir, d.name)]))
    .sort();
}

export interface Fixture {
  /** Path from the repository root, e.g. `fixtures/prescriber/clearance-cleared.fhir.json`. */
  name: string;
  resource: Resource;
}

const load = (file: string): Fixture => ({
  name: relative(ROOT, file),
  resource: JSON.parse(readFileSync(file, 'utf8')) as Resource,
});

/** Fixtures that are meant to be valid: everything but fixtures/invalid/. */
export const validFixtures = (): Fixture[] =>
  walk(join(ROOT, 'fixtures'))
    .filter((f) => f.endsWith('.fhir.json') && !f.includes(`${join('fixtures', 'invalid')}`))
    .map(load);

export interface InvalidFixture extends Fixture {
  expected: { severity: string; expression: string }[];
}

export const invalidFixtures = (): InvalidFixture[] =>
  walk(join(ROOT, 'fixtures', 'invalid'))
    .filter((f) => f.endsWith('.fhir.json'))
    .map((f) => ({
      ...load(f),
      expected: JSON.parse(readFileSync(f.replace(/\.fhir\.json$/, '.expected.json'), 'utf8')),
    }));

/** StructureDefinitions, CodeSystems and ValueSets in profiles/. */
export const conformanceResources = (): Fixture[] =>
  walk(join(ROOT, 'profiles'))
    .filter((f) => f.endsWith('.json'))
    .map(load);
