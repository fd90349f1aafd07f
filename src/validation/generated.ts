/**
 * Loads what the build step made (generate.ts): the prepared R4 definitions and the compiled
 * JSON-schema validators, an ES module imported like any other. Run from the TypeScript sources
 * (development, tests), they are made first when missing or stale; built code only loads them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import type { ValidateFunction } from 'ajv';
import type { Definitions } from './definitions.js';
import { ensureGenerated, FILES, GENERATED_DIR } from './generate.js';

if (import.meta.url.endsWith('.ts')) {
  if (ensureGenerated() === 'generated') process.stderr.write(`kap-bridge: made ${GENERATED_DIR} afresh.\n`);
} else if (!existsSync(FILES.manifest)) {
  throw new Error(
    `The validator's generated code is missing from ${GENERATED_DIR}: run \`npm run prepare\`.`,
  );
}

/** One validator per R4 resource type, by type name. */
export const structureValidators = (await import(pathToFileURL(FILES.structure).href)) as Record<
  string,
  ValidateFunction
>;

let definitions: Definitions | undefined;
/** The R4 base definitions, read on first use. */
export function baseDefinitions(): Definitions {
  definitions ??= JSON.parse(readFileSync(FILES.definitions, 'utf8')) as Definitions;
  return definitions;
}
