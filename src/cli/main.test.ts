import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './main.js';

const patient = { resourceType: 'Patient', id: 'p1', gender: 'female' };

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kap-cli-'));
  mkdirSync(join(dir, 'valid'));
  writeFileSync(join(dir, 'valid', 'patient.json'), JSON.stringify(patient));
  writeFileSync(join(dir, 'valid', 'notes.txt'), 'not FHIR');
  writeFileSync(join(dir, 'bad-gender.json'), JSON.stringify({ ...patient, gender: 'f' }));
  writeFileSync(join(dir, 'broken.json'), '{ "resourceType": "Patient", ');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(argv, { stdout: (t) => out.push(t), stderr: (t) => err.push(t) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('kap-bridge', () => {
  it('lists its commands', async () => {
    const r = await cli('--help');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/validate\s+validate FHIR R4/);
  });

  it('rejects an unknown command with the list of commands', async () => {
    const r = await cli('valdate');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/Unknown command 'valdate'[\s\S]*validate/);
  });
});

describe('kap-bridge validate', () => {
  it('exits 0 when every input is valid (folders searched for .json)', async () => {
    const r = await cli('validate', join(dir, 'valid'));
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/1 checked: 1 valid, 0 with errors/);
  });

  it('exits 1 and reports each problem when an input has errors', async () => {
    const r = await cli(
      'validate',
      join(dir, 'valid'),
      join(dir, 'bad-gender.json'),
      join(dir, 'broken.json'),
    );
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/FAIL .*bad-gender.json \(1 error\)\n.*Patient.gender/);
    expect(r.out).toMatch(/FAIL .*broken.json[\s\S]*fatal .*not valid JSON at line 1/);
    expect(r.out).toMatch(/3 checked: 1 valid, 2 with errors/);
  });

  it('prints the OperationOutcome with --json', async () => {
    const r = await cli('validate', '--json', join(dir, 'bad-gender.json'));
    expect(r.code).toBe(1);
    const outcome = JSON.parse(r.out);
    expect(outcome).toMatchObject({
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'code-invalid', expression: ['Patient.gender'] }],
    });
    const several = JSON.parse(
      (await cli('validate', '--json', join(dir, 'valid'), join(dir, 'broken.json'))).out,
    );
    expect(several.entry.map((e: { resource: { resourceType: string } }) => e.resource.resourceType)).toEqual(
      ['OperationOutcome', 'OperationOutcome'],
    );
  });

  it.each([
    [[], /Name at least one file/],
    [['missing.json'], /No such file or folder: missing.json/],
    [['--profile'], /--profile needs a URL/],
    [['--strict', 'x.json'], /Unknown option '--strict'/],
  ])('exits 2 on a usage mistake: %j', async (args, message) => {
    const r = await cli('validate', ...args);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
  });

  it('exits 2 for an unknown --profile, listing the known ones', async () => {
    const r = await cli(
      'validate',
      '--profile',
      'https://x.example/StructureDefinition/nope',
      join(dir, 'valid'),
    );
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/Unknown profile https:\/\/x.example/);
  });

  it('runs as a process', () => {
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'validate', join(dir, 'bad-gender.json')],
      {
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/Patient.gender/);
  });
});
