/** Fixture and profile files as tests read them: every `*.fhir.json` under fixtures/, every profile. */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Resource } from 'fhir/r4';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((d) => (d.isDirectory() ? walk(join(dir, d.name)) : [join(dir, d.name)]))
    .sort();
}

/** One fixture file, by its path under fixtures/. */
export const fixture = <T>(path: string): T =>
  JSON.parse(readFileSync(join(ROOT, 'fixtures', path), 'utf8')) as T;

export interface Fixture {
  /** Path from the repository root, e.g. `fixtures/prescriber/clearance-cleared.fhir.json`. */
  name: string;
  resource: Resource;
}

const load = (file: string): Fixture => ({
  name: relative(ROOT, file),
  resource: JSON.parse(readFileSync(file, 'utf8')) as Resource,
});

/**
 * Folders of fixtures that are meant to be invalid, each `*.fhir.json` with an `*.expected.json`:
 * - `invalid`: rejected by kap-bridge and by any FHIR server that knows our profiles (HAPI);
 * - `invalid-kap-rules`: rejected by kap-bridge's KAP rules only, because they break a rule a
 *   practice configures (fixtures/invalid-kap-rules/README.md); a server is expected to accept them.
 */
export const INVALID_FOLDERS = ['invalid', 'invalid-kap-rules'] as const;
export type InvalidFolder = (typeof INVALID_FOLDERS)[number];

/** Fixtures that are meant to be valid: everything but the INVALID_FOLDERS. */
export const validFixtures = (): Fixture[] => {
  const invalid = INVALID_FOLDERS.map((d) => join(ROOT, 'fixtures', d) + sep);
  return walk(join(ROOT, 'fixtures'))
    .filter((f) => f.endsWith('.fhir.json') && !invalid.some((d) => f.startsWith(d)))
    .map(load);
};

export interface InvalidFixture extends Fixture {
  expected: { severity: string; expression: string }[];
}

/** The fixtures of one invalid folder with what kap-bridge's validator is expected to report. */
export const invalidFixtures = (folder: InvalidFolder = 'invalid'): InvalidFixture[] =>
  walk(join(ROOT, 'fixtures', folder))
    .filter((f) => f.endsWith('.fhir.json'))
    .map((f) => ({
      ...load(f),
      expected: JSON.parse(readFileSync(f.replace(/\.fhir\.json$/, '.expected.json'), 'utf8')),
    }));

/** fixtures/invalid-kap-rules/: invalid by a configured KAP rule only; HAPI is expected to accept them. */
export const kapRuleFixtures = (): InvalidFixture[] => invalidFixtures('invalid-kap-rules');

/** StructureDefinitions, CodeSystems and ValueSets in profiles/. */
export const conformanceResources = (): Fixture[] =>
  walk(join(ROOT, 'profiles'))
    .filter((f) => f.endsWith('.json'))
    .map(load);
