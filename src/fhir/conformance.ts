/**
 * Our conformance resources (StructureDefinitions, CodeSystems, ValueSets) as files in profiles/,
 * read by one loader for the validator and for the code that needs a ValueSet's content.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package's root: two levels above this file, in src/ as in dist/. */
export const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const PROFILES_DIR = join(packageRoot, 'profiles');

/** The parsed JSON of every `<prefix>*.json` in `dir` (`StructureDefinition-`, `ValueSet-`...), by file name order. */
export function readConformance(prefix: string, dir = PROFILES_DIR): Record<string, unknown>[] {
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')) : [];
  return files
    .filter((f) => f.startsWith(prefix))
    .sort()
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Record<string, unknown>);
}
