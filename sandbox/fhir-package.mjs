#!/usr/bin/env node
// npm run build:package: kap-bridge's FHIR package, made from profiles/ and fixtures/.
//
//   package/                 the package as a folder: package.json, .index.json, every
//                            StructureDefinition with its snapshot, the CodeSystems and ValueSets, the
//                            ImplementationGuide, a CapabilityStatement (the types and their
//                            profiles) and example/ (the valid fixtures that claim a profile)
//   generated/package.tgz    the same as a FHIR NPM package (what HAPI's package installer loads)
//   profiles/pages/          a Markdown page per profile: its constraints and bindings
//
// Snapshots are made by HAPI's snapshot generator (the FHIR core library's ProfileUtilities, the one
// HAPI validates with), run from the sandbox jar (`java -jar kap-hapi-sandbox.jar snapshots`), against
// the R4 core definitions HAPI ships: nothing is fetched. Plain Node 20 ESM, built-ins only.

import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { ensureJar, JAR_PATH, PACKAGE_TGZ, withBuildLock } from './sandbox.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const PROFILES_DIR = join(ROOT, 'profiles');
const FIXTURES_DIR = join(ROOT, 'fixtures');
export const PACKAGE_DIR = join(ROOT, 'package');
export const PAGES_DIR = join(PROFILES_DIR, 'pages');
export { PACKAGE_TGZ };

/** The package's identity: FHIR package name, the canonical base of every resource in it. */
export const PACKAGE_NAME = 'kap-bridge.fhir';
export const CANONICAL = 'https://fhir.kap-bridge.org';
const IG_ID = 'kap-bridge';
/** The R4 core, by package and by the ImplementationGuide resource of the specification itself. */
const CORE = {
  packageId: 'hl7.fhir.r4.core',
  version: '4.0.1',
  uri: 'http://hl7.org/fhir/ImplementationGuide/fhir',
};
/** Fixture folders whose resources are invalid on purpose: never examples. */
const NOT_EXAMPLES = ['invalid', 'invalid-kap-rules'];

const noop = () => {};
const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'));
const writeJson = (file, value) => writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((d) => (d.isDirectory() ? walk(join(dir, d.name)) : [join(dir, d.name)]))
    .sort();
}

const conformanceFiles = () =>
  readdirSync(PROFILES_DIR)
    .filter((f) => /^(StructureDefinition|CodeSystem|ValueSet)-.*\.json$/.test(f))
    .sort();

/** The version of the package: kap-bridge's own (package.json). */
export const packageVersion = () => readJson(join(ROOT, 'package.json')).version;

/** What the package is made from; it is rebuilt when any of them is newer than generated/package.tgz. */
function sources() {
  return [
    // The folder itself: its time changes when a file is added or removed.
    PROFILES_DIR,
    ...conformanceFiles().map((f) => join(PROFILES_DIR, f)),
    ...walk(FIXTURES_DIR),
    JAR_PATH,
    fileURLToPath(import.meta.url),
    join(ROOT, 'package.json'),
  ];
}

export function packageIsStale() {
  if (!existsSync(PACKAGE_TGZ) || !existsSync(join(PACKAGE_DIR, 'package.json'))) return true;
  const built = statSync(PACKAGE_TGZ).mtimeMs;
  return sources().some((f) => existsSync(f) && statSync(f).mtimeMs > built);
}

/** The sandbox jar and the package it installs at start, each built when missing or older than what it is made from. */
export async function ensurePackage({ log = noop } = {}) {
  await ensureJar({ log });
  if (!packageIsStale()) return PACKAGE_TGZ;
  return withBuildLock(
    log,
    async () => {
      if (packageIsStale()) await buildPackage({ log });
      return PACKAGE_TGZ;
    },
    PACKAGE_LOCK,
    'the FHIR package',
  );
}

/** Held while the package is built: one build at a time in a work tree. */
const PACKAGE_LOCK = join(dirname(PACKAGE_TGZ), '.package-build-lock');

function runSnapshots(inDir, outDir) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'java',
      ['-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-jar', JAR_PATH, 'snapshots', inDir, outDir],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (d) => {
      output += d;
    });
    child.stderr.on('data', (d) => {
      output += d;
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`HAPI's snapshot generator failed (exit ${code}):\n${output}`)),
    );
  });
}

/** Valid fixtures that claim one of our profiles, one per resource (the first by path). */
function examples() {
  const skip = NOT_EXAMPLES.map((d) => `${join(FIXTURES_DIR, d)}/`);
  const seen = new Set();
  const out = [];
  for (const file of walk(FIXTURES_DIR)) {
    if (!file.endsWith('.fhir.json') || skip.some((d) => file.startsWith(d))) continue;
    const resource = readJson(file);
    const claims = (resource.meta?.profile ?? []).filter((p) => p.startsWith(`${CANONICAL}/`));
    const key = `${resource.resourceType}/${resource.id}`;
    if (claims.length === 0 || !resource.id || seen.has(key)) continue;
    seen.add(key);
    out.push({ resource, profile: claims[0], source: relative(ROOT, file) });
  }
  return out;
}

const fileName = (r) => `${r.resourceType}-${r.id}.json`;
const narrative = (text) => ({
  status: 'generated',
  div: `<div xmlns="http://www.w3.org/1999/xhtml"><p>${text.replaceAll('&', '&amp;').replaceAll('<', '&lt;')}</p></div>`,
});

function indexEntry(r) {
  const entry = { filename: fileName(r), resourceType: r.resourceType, id: r.id };
  for (const k of ['url', 'version', 'kind', 'type']) if (typeof r[k] === 'string') entry[k] = r[k];
  return entry;
}

/**
 * What a server that speaks kap-bridge's FHIR interface supports (`kind: requirements`): each
 * resource type with the profiles of this package written for it. kap-bridge's own
 * CapabilityStatement (`GET /fhir/metadata`) instantiates it.
 */
function capabilityStatement(version, profiles, date) {
  // Resource profiles only: an extension's definition names no resource type a server takes.
  const resourceProfiles = profiles.filter((p) => p.kind === 'resource');
  const types = [...new Set(resourceProfiles.map((p) => p.type))].sort();
  return {
    resourceType: 'CapabilityStatement',
    id: IG_ID,
    url: `${CANONICAL}/CapabilityStatement/${IG_ID}`,
    version,
    name: 'KapBridgeServer',
    title: "kap-bridge's FHIR interface: the resource types it keeps and their profiles",
    status: 'active',
    experimental: false,
    date,
    publisher: 'kap-bridge',
    description:
      "A server speaking kap-bridge's FHIR interface takes these resource types conforming to these profiles.",
    text: narrative(
      `Resource types and their profiles: ${types.map((t) => `${t} (${resourceProfiles.filter((p) => p.type === t).length})`).join(', ')}.`,
    ),
    kind: 'requirements',
    fhirVersion: '4.0.1',
    format: ['json'],
    implementationGuide: [`${CANONICAL}/ImplementationGuide/${IG_ID}`],
    rest: [
      {
        mode: 'server',
        resource: types.map((type) => ({
          type,
          supportedProfile: resourceProfiles.filter((p) => p.type === type).map((p) => p.url),
        })),
      },
    ],
  };
}

function implementationGuide(version, conformance, exampleList) {
  return {
    resourceType: 'ImplementationGuide',
    id: IG_ID,
    url: `${CANONICAL}/ImplementationGuide/${IG_ID}`,
    version,
    name: 'KapBridge',
    title: 'kap-bridge: ketamine-assisted psychotherapy records between therapist and prescriber',
    status: 'active',
    experimental: false,
    publisher: 'kap-bridge',
    description:
      "The profiles, code systems and value sets of kap-bridge's FHIR R4 interface, with examples.",
    text: narrative(
      `FHIR package ${PACKAGE_NAME}#${version}: ${conformance.length} conformance resources and ${exampleList.length} examples.`,
    ),
    packageId: PACKAGE_NAME,
    license: 'Apache-2.0',
    fhirVersion: ['4.0.1'],
    dependsOn: [{ id: 'hl7_fhir_r4_core', uri: CORE.uri, packageId: CORE.packageId, version: CORE.version }],
    definition: {
      resource: [
        ...conformance.map((r) => ({
          reference: { reference: `${r.resourceType}/${r.id}` },
          name: r.title ?? r.name ?? r.id,
          ...(r.description ? { description: r.description } : {}),
          exampleBoolean: false,
        })),
        ...exampleList.map(({ resource, profile }) => ({
          reference: { reference: `${resource.resourceType}/${resource.id}` },
          name: `${resource.resourceType}/${resource.id}`,
          exampleCanonical: profile,
        })),
      ],
    },
  };
}

/** Builds package/, generated/package.tgz and profiles/pages/. */
export async function buildPackage({ log = noop } = {}) {
  const started = Date.now();
  const version = packageVersion();
  // Made in generated/ (not in git), then moved into place whole.
  const staging = join(dirname(PACKAGE_TGZ), `package.tmp-${process.pid}`);
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(join(staging, 'example'), { recursive: true });
  try {
    log('[package] generating snapshots with HAPI FHIR...');
    await runSnapshots(PROFILES_DIR, staging);

    const conformance = [];
    for (const f of conformanceFiles()) {
      const source = readJson(join(PROFILES_DIR, f));
      const resource =
        source.resourceType === 'StructureDefinition' ? readJson(join(staging, fileName(source))) : source;
      if (fileName(source) !== f) throw new Error(`profiles/${f} should be named ${fileName(source)}`);
      if (resource.url !== `${CANONICAL}/${resource.resourceType}/${resource.id}`)
        throw new Error(
          `profiles/${f}: url ${resource.url} is not ${CANONICAL}/${resource.resourceType}/${resource.id}`,
        );
      if (resource.version !== version)
        throw new Error(`profiles/${f}: version ${resource.version} is not the package's ${version}`);
      if (source.resourceType !== 'StructureDefinition') writeJson(join(staging, f), resource);
      conformance.push(resource);
    }
    const date = new Date().toISOString().slice(0, 10);
    conformance.push(
      capabilityStatement(
        version,
        conformance.filter((r) => r.resourceType === 'StructureDefinition'),
        date,
      ),
    );
    writeJson(join(staging, fileName(conformance.at(-1))), conformance.at(-1));
    const exampleList = examples();
    for (const { resource } of exampleList) writeJson(join(staging, 'example', fileName(resource)), resource);
    const ig = implementationGuide(version, conformance, exampleList);
    writeJson(join(staging, fileName(ig)), ig);

    writeJson(join(staging, 'package.json'), {
      name: PACKAGE_NAME,
      version,
      canonical: CANONICAL,
      url: CANONICAL,
      title: ig.title,
      description: ig.description,
      fhirVersions: ['4.0.1'],
      dependencies: { [CORE.packageId]: CORE.version },
      author: 'kap-bridge',
      license: 'Apache-2.0',
      type: 'fhir.ig',
      jurisdiction: 'urn:iso:std:iso:3166#US',
    });
    writeJson(join(staging, '.index.json'), {
      'index-version': 1,
      files: [...conformance, ig].map(indexEntry),
    });
    writeJson(join(staging, 'example', '.index.json'), {
      'index-version': 1,
      files: exampleList.map(({ resource }) => indexEntry(resource)),
    });

    writePages(conformance.filter((r) => r.resourceType === 'StructureDefinition'));

    rmSync(PACKAGE_DIR, { recursive: true, force: true });
    renameSync(staging, PACKAGE_DIR);
    mkdirSync(dirname(PACKAGE_TGZ), { recursive: true });
    const tmpTgz = `${PACKAGE_TGZ}.tmp-${process.pid}`;
    writeFileSync(tmpTgz, gzipSync(tar(PACKAGE_DIR, 'package')));
    renameSync(tmpTgz, PACKAGE_TGZ);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  log(
    `[package] ${PACKAGE_NAME}#${version}: ${relative(ROOT, PACKAGE_DIR)}/ and ${relative(ROOT, PACKAGE_TGZ)} in ${((Date.now() - started) / 1000).toFixed(0)} s`,
  );
}

// --- tar (POSIX ustar), so the package is the same bytes on every machine ---

function tarHeader(name, size) {
  const h = Buffer.alloc(512);
  let prefix = '';
  let base = name;
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf('/', 155);
    prefix = name.slice(0, cut);
    base = name.slice(cut + 1);
    if (cut < 0 || Buffer.byteLength(base) > 100) throw new Error(`path too long for a tar entry: ${name}`);
  }
  const field = (text, at, len) => h.write(text, at, len, 'utf8');
  const octal = (n, at, len) => field(`${n.toString(8).padStart(len - 1, '0')}\0`, at, len);
  field(base, 0, 100);
  octal(0o644, 100, 8);
  octal(0, 108, 8);
  octal(0, 116, 8);
  octal(size, 124, 12);
  octal(0, 136, 12);
  field('        ', 148, 8);
  field('0', 156, 1);
  field('ustar\0', 257, 6);
  field('00', 263, 2);
  field(prefix, 345, 155);
  let sum = 0;
  for (const b of h) sum += b;
  field(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
  return h;
}

/** The files under `dir` as a tar archive whose entries start with `root/`. */
function tar(dir, root) {
  const parts = [];
  for (const file of walk(dir)) {
    const data = readFileSync(file);
    parts.push(tarHeader(`${root}/${relative(dir, file).split('\\').join('/')}`, data.length), data);
    parts.push(Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

// --- Markdown pages ---

const cardinality = (e) => `${e.min ?? ''}..${e.max ?? ''}`;
const code = (v) => `\`${String(v).replaceAll('|', '\\|').replaceAll('`', "'")}\``;
const cell = (v) =>
  String(v ?? '')
    .replaceAll('|', '\\|')
    .replaceAll('\n', ' ');

function fixedOrPattern(e) {
  const key = Object.keys(e).find((k) => /^(fixed|pattern)[A-Z]/.test(k));
  if (!key) return '';
  const value = e[key];
  const codings = value?.coding ?? (value?.system && value?.code ? [value] : []);
  const shown = codings.length
    ? codings.map((c) => `${c.system}#${c.code}`).join(', ')
    : JSON.stringify(value);
  return `${key.startsWith('fixed') ? 'fixed' : 'pattern'} ${code(shown)}`;
}

function types(e) {
  return (e.type ?? [])
    .map((t) => {
      const targets = (t.targetProfile ?? t.profile ?? []).map((p) => p.replace(/^.*\//, ''));
      return targets.length ? `${t.code}(${targets.join(' \\| ')})` : t.code;
    })
    .join(', ');
}

function page(sd) {
  const byId = new Map(sd.snapshot.element.map((e) => [e.id, e]));
  const lines = [
    `# ${sd.title ?? sd.name}`,
    '',
    `${sd.description ?? ''}`,
    '',
    `- Canonical URL: \`${sd.url}\``,
    `- Version: ${sd.version}`,
    `- Resource: ${sd.type}; derives from \`${sd.baseDefinition}\``,
    `- In the package: \`package/StructureDefinition-${sd.id}.json\` (differential and snapshot, ${sd.snapshot.element.length} elements)`,
    '',
    '## Elements this profile constrains',
    '',
    'MS: must support (kap-bridge writes it when it has it and reads it when it is there).',
    '',
    '| element | card. | MS | type | value | meaning |',
    '|---|---|---|---|---|---|',
  ];
  for (const d of sd.differential.element) {
    const s = byId.get(d.id) ?? d;
    lines.push(
      `| ${code(d.id)} | ${cardinality(s)} | ${s.mustSupport ? 'MS' : ''} | ${cell(types(d))} | ${fixedOrPattern(d)} | ${cell(d.short ?? s.short)} |`,
    );
  }
  const constraints = new Map();
  for (const e of sd.snapshot.element) {
    for (const c of e.constraint ?? []) {
      if (c.key === 'ele-1' || c.key === 'ext-1' || constraints.has(c.key)) continue;
      constraints.set(c.key, { ...c, at: e.id });
    }
  }
  lines.push(
    '',
    '## Constraints',
    '',
    '| key | severity | on | rule | expression |',
    '|---|---|---|---|---|',
  );
  for (const c of constraints.values()) {
    lines.push(
      `| ${c.key} | ${c.severity} | ${code(c.at)} | ${cell(c.human)} | ${code(c.expression ?? '')} |`,
    );
  }
  const constrained = new Set(sd.differential.element.map((e) => e.id));
  const bindings = sd.snapshot.element.filter(
    (e) =>
      e.binding?.valueSet &&
      (constrained.has(e.id) || e.binding.strength === 'required' || e.binding.strength === 'extensible'),
  );
  lines.push('', '## Bindings', '', '| element | strength | value set |', '|---|---|---|');
  for (const e of bindings)
    lines.push(`| ${code(e.id)} | ${e.binding.strength} | ${code(e.binding.valueSet)} |`);
  lines.push(
    '',
    `Made by \`npm run build:package\` from \`profiles/StructureDefinition-${sd.id}.json\`; do not edit.`,
    '',
  );
  return lines.join('\n');
}

/** The Markdown pages of profiles/pages/ for these StructureDefinitions (with snapshots), by file name. */
export function renderPages(profiles) {
  const pages = new Map();
  const index = [
    '# kap-bridge profiles',
    '',
    `FHIR package \`${PACKAGE_NAME}\`, canonical base \`${CANONICAL}\`. One page per profile: the elements it`,
    'constrains, its constraints (invariants, its own and inherited) and its bindings.',
    '',
    '| profile | resource | derives from |',
    '|---|---|---|',
  ];
  for (const sd of profiles) {
    pages.set(`${sd.id}.md`, page(sd));
    index.push(
      `| [${sd.title ?? sd.name}](${sd.id}.md) | ${sd.type} | ${sd.baseDefinition.replace(/^.*\//, '')} |`,
    );
  }
  index.push('', 'Made by `npm run build:package`; do not edit.', '');
  pages.set('README.md', index.join('\n'));
  return pages;
}

function writePages(profiles) {
  rmSync(PAGES_DIR, { recursive: true, force: true });
  mkdirSync(PAGES_DIR, { recursive: true });
  for (const [name, text] of renderPages(profiles)) writeFileSync(join(PAGES_DIR, name), text);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const log = (m) => console.error(m);
  try {
    await ensureJar({ log });
    await withBuildLock(log, () => buildPackage({ log }), PACKAGE_LOCK, 'the FHIR package');
  } catch (err) {
    console.error(`[package] ${err.message}`);
    process.exit(1);
  }
}
