/**
 * kap-bridge's FHIR package (npm run build:package; the jest set-up builds it when stale): what an
 * integration engineer loads with their own tools. Its index matches its files, every profile has
 * a snapshot, the canonical URLs agree, the ImplementationGuide lists every resource, the .tgz holds
 * the folder, the pages are those of the profiles. HAPI's package installer took it: the sandbox
 * holds every conformance resource of it, by URL and version, with the package's snapshot, and
 * validates every example against it.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type {
  CapabilityStatement,
  ImplementationGuide,
  OperationOutcome,
  Resource,
  StructureDefinition,
} from 'fhir/r4';
import { untar } from '../../src/fhir/fhir-package.js';
import { PACKAGE_CAPABILITY } from '../../src/fhir-endpoint/capability.js';
import { ROOT } from '../support/fixtures.js';
import { sandboxGateway } from '../support/sandbox.js';

interface Built {
  PACKAGE_DIR: string;
  PACKAGE_TGZ: string;
  PAGES_DIR: string;
  PACKAGE_NAME: string;
  CANONICAL: string;
  packageVersion(): string;
  renderPages(profiles: StructureDefinition[]): Map<string, string>;
}
const built = (await import(join(ROOT, 'sandbox', 'fhir-package.mjs'))) as Built;
const { PACKAGE_DIR, CANONICAL } = built;

interface IndexEntry {
  filename: string;
  resourceType: string;
  id: string;
  url?: string;
  version?: string;
}
type Conformance = Resource & { id: string; url: string; version: string };

const readJson = <T>(...path: string[]): T => JSON.parse(readFileSync(join(...path), 'utf8')) as T;
const jsonFiles = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.json') && !f.startsWith('.'));
const manifest = readJson<{
  name: string;
  version: string;
  fhirVersions: string[];
  dependencies: Record<string, string>;
  canonical: string;
}>(PACKAGE_DIR, 'package.json');
const index = readJson<{ files: IndexEntry[] }>(PACKAGE_DIR, '.index.json').files;
const exampleIndex = readJson<{ files: IndexEntry[] }>(PACKAGE_DIR, 'example', '.index.json').files;
const resources = jsonFiles(PACKAGE_DIR)
  .filter((f) => f !== 'package.json')
  .map((f) => ({ file: f, resource: readJson<Conformance>(PACKAGE_DIR, f) }));
const profiles = resources
  .map((r) => r.resource)
  .filter((r): r is Conformance & StructureDefinition => r.resourceType === 'StructureDefinition');
const sourceProfiles = readdirSync(join(ROOT, 'profiles')).filter((f) =>
  f.startsWith('StructureDefinition-'),
);
const ig = resources.find((r) => r.resource.resourceType === 'ImplementationGuide')
  ?.resource as unknown as ImplementationGuide;

describe('the FHIR package', () => {
  test('package.json names an R4 package on hl7.fhir.r4.core 4.0.1 with the canonical base', () => {
    expect(manifest).toMatchObject({
      name: built.PACKAGE_NAME,
      version: built.packageVersion(),
      fhirVersions: ['4.0.1'],
      dependencies: { 'hl7.fhir.r4.core': '4.0.1' },
      canonical: CANONICAL,
    });
  });

  test('.index.json lists every resource file once, with its type, id, url and version', () => {
    expect(index.map((e) => e.filename).sort()).toEqual(resources.map((r) => r.file).sort());
    for (const entry of index) {
      const { resource } = resources.find((r) => r.file === entry.filename)!;
      expect(entry).toMatchObject({
        resourceType: resource.resourceType,
        id: resource.id,
        url: resource.url,
      });
      expect(entry.version).toBe(manifest.version);
    }
    expect(exampleIndex.map((e) => e.filename).sort()).toEqual(
      jsonFiles(join(PACKAGE_DIR, 'example')).sort(),
    );
  });

  test('every profile of profiles/ is in it', () => {
    expect(profiles.map((p) => `StructureDefinition-${p.id}.json`).sort()).toEqual(sourceProfiles.sort());
  });

  test.each(profiles.map((p) => [p.id, p] as const))(
    '%s has a snapshot that holds its differential',
    (_id, sd) => {
      const snapshot = sd.snapshot?.element ?? [];
      const differential = sd.differential?.element ?? [];
      expect(snapshot.length).toBeGreaterThanOrEqual(differential.length);
      expect(snapshot[0]?.path).toBe(sd.type);
      const ids = new Set(snapshot.map((e) => e.id));
      expect(differential.map((e) => e.id).filter((id) => !ids.has(id))).toEqual([]);
      // The source in profiles/ is what the snapshot was made from.
      const source = readJson<StructureDefinition>(ROOT, 'profiles', `StructureDefinition-${sd.id}.json`);
      expect(sd.differential).toEqual(source.differential);
    },
  );

  test("every resource's canonical URL is the base, its type and its id", () => {
    for (const { resource } of resources)
      expect(resource.url).toBe(`${CANONICAL}/${resource.resourceType}/${resource.id}`);
  });

  test('the vital-sign profiles derive from the core ones', () => {
    const base = (id: string) => profiles.find((p) => p.id === id)?.baseDefinition;
    expect([base('kap-blood-pressure'), base('kap-heart-rate'), base('kap-spo2')]).toEqual([
      'http://hl7.org/fhir/StructureDefinition/bp',
      'http://hl7.org/fhir/StructureDefinition/heartrate',
      'http://hl7.org/fhir/StructureDefinition/oxygensat',
    ]);
  });

  test('every element a resource profile constrains is mustSupport, but for one it forbids', () => {
    // An extension's definition says what the extension is; whether it must be supported is said
    // where a resource profile uses it.
    for (const sd of profiles.filter((p) => p.kind === 'resource')) {
      const notMustSupport = sd
        .differential!.element.slice(1)
        .filter((e) => e.max !== '0' && e.mustSupport !== true)
        .map((e) => e.id);
      expect({ profile: sd.id, notMustSupport }).toEqual({ profile: sd.id, notMustSupport: [] });
    }
  });

  test("the CapabilityStatement lists every profile under its type, and kap-bridge's /fhir instantiates it", () => {
    const cs = resources.find((r) => r.resource.resourceType === 'CapabilityStatement')
      ?.resource as unknown as CapabilityStatement;
    expect(cs.url).toBe(PACKAGE_CAPABILITY);
    expect(cs.kind).toBe('requirements');
    const listed = (cs.rest?.[0]?.resource ?? []).flatMap((r) =>
      (r.supportedProfile ?? []).map((p) => `${r.type} ${p}`),
    );
    expect(listed.sort()).toEqual(
      profiles
        .filter((p) => p.kind === 'resource')
        .map((p) => `${p.type} ${p.url}`)
        .sort(),
    );
  });

  test('the ImplementationGuide lists every resource and example, and names the package', () => {
    expect(ig).toMatchObject({ packageId: manifest.name, version: manifest.version, fhirVersion: ['4.0.1'] });
    expect(ig.dependsOn).toEqual([
      expect.objectContaining({ packageId: 'hl7.fhir.r4.core', version: '4.0.1' }),
    ]);
    const listed = (ig.definition?.resource ?? []).map((r) => r.reference.reference).sort();
    const expected = [...index.filter((e) => e.resourceType !== 'ImplementationGuide'), ...exampleIndex].map(
      (e) => `${e.resourceType}/${e.id}`,
    );
    expect(listed).toEqual(expected.sort());
  });

  test('the .tgz holds the package folder, byte for byte', () => {
    const files = untar(gunzipSync(readFileSync(built.PACKAGE_TGZ)));
    const folder = [
      ...readdirSync(PACKAGE_DIR).filter((f) => f.endsWith('.json')),
      ...readdirSync(join(PACKAGE_DIR, 'example')).map((f) => `example/${f}`),
    ].map((f) => `package/${f}`);
    expect([...files.keys()].sort()).toEqual(folder.sort());
    for (const [name, data] of files)
      expect(data.equals(readFileSync(join(PACKAGE_DIR, name.slice('package/'.length))))).toBe(true);
  });

  test('profiles/pages/ are the pages of these profiles, one per profile, as committed', () => {
    const pages = built.renderPages(profiles);
    expect(readdirSync(built.PAGES_DIR).sort()).toEqual([...pages.keys()].sort());
    for (const [name, text] of pages) expect(readFileSync(join(built.PAGES_DIR, name), 'utf8')).toBe(text);
    // The build writes them; what it wrote must be what git holds, or the README links stale pages.
    const git = spawnSync('git', ['status', '--porcelain', '--', 'profiles/pages'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    expect(git.status).toBe(0);
    expect(git.stdout).toBe('');
  });
});

describe("HAPI's package installer took the package", () => {
  const ehr = sandboxGateway();
  const errorsOf = (outcome: OperationOutcome) =>
    outcome.issue
      .filter((i) => i.severity === 'error' || i.severity === 'fatal')
      .map((i) => `${i.expression?.[0] ?? ''}: ${i.diagnostics}`);
  const installed = index.filter((e) =>
    ['CodeSystem', 'ValueSet', 'StructureDefinition'].includes(e.resourceType),
  );

  test.each(installed.map((e) => [`${e.resourceType}/${e.id}`, e] as const))(
    'HAPI holds %s, once, at the package version',
    async (_name, entry) => {
      const found: Resource[] = [];
      for await (const r of ehr.search<Resource>(entry.resourceType, {
        url: entry.url!,
        version: entry.version!,
      }))
        found.push(r);
      expect(found).toHaveLength(1);
      if (entry.resourceType === 'StructureDefinition') {
        const ours = readJson<StructureDefinition>(PACKAGE_DIR, entry.filename);
        expect((found[0] as StructureDefinition).snapshot?.element.length).toBe(
          ours.snapshot?.element.length,
        );
      }
    },
  );

  test.each(['ImplementationGuide', 'CapabilityStatement'])('HAPI finds the %s valid', async (type) => {
    const entry = index.find((e) => e.resourceType === type)!;
    expect(errorsOf(await ehr.validate(readJson<Resource>(PACKAGE_DIR, entry.filename)))).toEqual([]);
  });

  const examples = exampleIndex.map((e) => readJson<Resource>(PACKAGE_DIR, 'example', e.filename));
  test.each(examples.map((r) => [`${r.resourceType}/${r.id}`, r] as const))(
    'HAPI finds example %s valid against the profile it claims',
    async (_name, resource) => {
      expect(errorsOf(await ehr.validate(resource, resource.meta!.profile![0]))).toEqual([]);
    },
  );
});
