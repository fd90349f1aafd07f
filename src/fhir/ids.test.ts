import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FHIR_ID, PATH_ID, parseReference, referencePattern, referencesIn } from './ids.js';

test('a reference names its type and id, relative, absolute or at a version; anything else names none', () => {
  expect(parseReference('Patient/p-1.2')).toEqual({ type: 'Patient', id: 'p-1.2' });
  expect(parseReference({ reference: 'https://ehr.example/fhir/MedicationRequest/rx1/_history/3' })).toEqual({
    type: 'MedicationRequest',
    id: 'rx1',
    version: '3',
  });
  expect(
    ['patient/p1', 'Patient/', `Patient/${'x'.repeat(65)}`, 'Patient/p 1', '#contained', undefined].map((r) =>
      parseReference(r),
    ),
  ).toEqual([undefined, undefined, undefined, undefined, undefined, undefined]);
});

test('an id is 1-64 letters, digits, "-" and "."; in a path "." and ".." are none', () => {
  expect(['a', 'A-1.b', 'x'.repeat(64), '.', '..'].map((id) => FHIR_ID.test(id))).toEqual([
    true,
    true,
    true,
    true,
    true,
  ]);
  expect(['', 'x'.repeat(65), 'a/b', 'a_b'].some((id) => FHIR_ID.test(id))).toBe(false);
  expect(['.', '..', '...'].map((id) => PATH_ID.test(id))).toEqual([false, false, true]);
  expect(new RegExp(referencePattern('Patient')).test('Patient/p1')).toBe(true);
  expect(new RegExp(referencePattern('Patient')).test('Group/g1')).toBe(false);
  expect(
    [...referencesIn('{"subject":{"reference":"Group/g1"},"x":{"reference":"#c"}}')].map((m) => m[0]),
  ).toEqual(['"reference":"Group/g1"']);
});

/** Every TypeScript file under `dir`. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : sources(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

test('the id pattern is written out in ids.ts alone', () => {
  const root = join(import.meta.dirname, '..', '..');
  const files = ['src', 'test', 'bench', 'demo'].flatMap((d) => sources(join(root, d)));
  const here = join(import.meta.dirname, 'ids.ts');
  const written = files.filter(
    (f) =>
      f !== here &&
      f !== import.meta.filename &&
      /A-Za-z0-9\\{1,2}-\.\]\{1,64\}/.test(readFileSync(f, 'utf8')),
  );
  expect(written.map((f) => f.slice(root.length + 1))).toEqual([]);
});
