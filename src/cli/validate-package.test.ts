/**
 * `kap-bridge validate --package FILE`: the profiles come from the FHIR package named (a .tgz or a
 * folder), not from profiles/; with no file named, the package's examples are validated.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './main.js';

const PROFILE = 'https://example.org/fhir/StructureDefinition/dated-patient';
const datedPatient = {
  resourceType: 'StructureDefinition',
  id: 'dated-patient',
  url: PROFILE,
  version: '1.0.0',
  name: 'DatedPatient',
  status: 'active',
  fhirVersion: '4.0.1',
  kind: 'resource',
  abstract: false,
  type: 'Patient',
  baseDefinition: 'http://hl7.org/fhir/StructureDefinition/Patient',
  derivation: 'constraint',
  differential: {
    element: [
      { id: 'Patient', path: 'Patient' },
      { id: 'Patient.birthDate', path: 'Patient.birthDate', min: 1 },
    ],
  },
};
const claiming = (extra: object) => ({
  resourceType: 'Patient',
  id: 'p1',
  meta: { profile: [PROFILE] },
  ...extra,
});

let dir: string;
const manifest = (fhirVersions: string[]) => ({
  name: 'example.dated',
  version: '1.0.0',
  fhirVersions,
  dependencies: { 'hl7.fhir.r4.core': '4.0.1' },
});

function writePackage(root: string, fhirVersions = ['4.0.1']) {
  mkdirSync(join(root, 'package', 'example'), { recursive: true });
  writeFileSync(join(root, 'package', 'package.json'), JSON.stringify(manifest(fhirVersions)));
  writeFileSync(
    join(root, 'package', 'StructureDefinition-dated-patient.json'),
    JSON.stringify(datedPatient),
  );
  writeFileSync(
    join(root, 'package', 'example', '.index.json'),
    JSON.stringify({ 'index-version': 1, files: [] }),
  );
  writeFileSync(
    join(root, 'package', 'example', 'Patient-p1.json'),
    JSON.stringify(claiming({ birthDate: '1980-02-03' })),
  );
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kap-cli-package-'));
  writePackage(join(dir, 'folder'));
  const tar = spawnSync('tar', ['-czf', join(dir, 'dated.tgz'), '-C', join(dir, 'folder'), 'package']);
  if (tar.status !== 0) throw new Error(`tar failed: ${tar.stderr}`);
  writePackage(join(dir, 'stu3'), ['3.0.2']);
  writeFileSync(join(dir, 'undated.json'), JSON.stringify(claiming({})));
  writeFileSync(join(dir, 'not-a-package.tgz'), 'plain text');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(argv, { stdout: (t) => out.push(t), stderr: (t) => err.push(t) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('kap-bridge validate --package', () => {
  it.each([
    ['a .tgz', 'dated.tgz'],
    ['a package folder', 'folder/package'],
    ['a folder holding package/', 'folder'],
  ])('checks inputs against the profiles of %s', async (_what, path) => {
    const r = await cli('validate', '--package', join(dir, path), join(dir, 'undated.json'));
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/Patient\.birthDate/);
    expect(r.err).toContain('example.dated#1.0.0');
  });

  it('without the package the same profile is unknown: a warning, not its rule', async () => {
    const r = await cli('validate', join(dir, 'undated.json'));
    expect(r.code).toBe(0);
    expect(r.out).not.toMatch(/birthDate/);
    expect(r.out).toMatch(/does not know/);
  });

  it("validates the package's examples when no file is named, leaving out .index.json", async () => {
    const r = await cli('validate', '--package', join(dir, 'dated.tgz'));
    expect(r.code).toBe(0);
    expect(r.out).toContain('dated.tgz:example/Patient-p1.json');
    expect(r.out).not.toContain('.index.json');
    expect(r.out).toMatch(/1 checked: 1 valid, 0 with errors/);
  });

  it.each([
    ['a file that is no .tgz', 'not-a-package.tgz', /not a gzipped tar archive/],
    ['a package for another FHIR version', 'stu3', /not a FHIR R4 package/],
    ['a path that does not exist', 'nowhere.tgz', /No such package/],
  ])('refuses %s with exit 2', async (_what, path, message) => {
    const r = await cli('validate', '--package', join(dir, path), join(dir, 'undated.json'));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
  });
});
