/**
 * Our profiles and fixtures, judged by HAPI FHIR, which installed them from kap-bridge's FHIR
 * package at start (its package installer; see package.test.ts): every conformance resource of
 * profiles/ is there, every profile gets a snapshot, and HAPI's `$validate` agrees with our validator. The agreement table
 * is printed; the suite fails wherever the two disagree on a valid fixture or on one in
 * fixtures/invalid/. Fixtures in fixtures/invalid-kap-rules/ break a rule a practice configures,
 * which no profile states: we must reject them, HAPI is expected to accept them (its verdict is
 * printed, not required).
 */
import type { OperationOutcome, Resource, StructureDefinition } from 'fhir/r4';
import { createValidator } from '../../src/validation/validator.js';
import {
  conformanceResources,
  type Fixture,
  invalidFixtures,
  kapRuleFixtures,
  validFixtures,
} from '../support/fixtures.js';
import { sandboxGateway } from '../support/sandbox.js';

const ehr = sandboxGateway();
const validator = createValidator();

const errorsOf = (outcome: OperationOutcome): string[] =>
  outcome.issue
    .filter((i) => i.severity === 'error' || i.severity === 'fatal')
    .map((i) => `${i.expression?.[0] ?? i.location?.[0] ?? ''}: ${i.diagnostics ?? ''}`);

const profilesClaimed = (r: Resource): string[] => r.meta?.profile ?? [];

/** What HAPI says of a resource: against each profile it claims, or the base when it claims none. */
async function hapiErrors(resource: Resource): Promise<string[]> {
  const profiles = profilesClaimed(resource);
  const outcomes = await Promise.all(
    (profiles.length ? profiles : [undefined]).map((p) => ehr.validate(resource, p)),
  );
  return outcomes.flatMap(errorsOf);
}

const conformance = conformanceResources();

describe('HAPI holds every profile, CodeSystem and ValueSet in profiles/', () => {
  test.each(conformance.map((c) => [c.name, c.resource] as const))('%s', async (_name, resource) => {
    const { url, version } = resource as unknown as { url: string; version: string };
    const held: Resource[] = [];
    for await (const r of ehr.search<Resource>(resource.resourceType, { url, version })) held.push(r);
    expect(held.map((r) => (r as { url?: string }).url)).toEqual([url]);
  });

  const profiles = conformance.filter((c) => c.resource.resourceType === 'StructureDefinition');
  test.each(profiles.map((c) => [c.name, c.resource as StructureDefinition] as const))(
    'HAPI builds a snapshot of %s',
    async (_name, sd) => {
      const snapshot = await ehr.operation<StructureDefinition>('StructureDefinition', '$snapshot', {
        url: sd.url!,
      });
      expect(snapshot.snapshot?.element.length).toBeGreaterThan(sd.differential?.element.length ?? 0);
      expect(snapshot.snapshot?.element[0]?.path).toBe(sd.type);
    },
  );
});

interface Row {
  fixture: string;
  /** `kap-rules`: invalid by a configured KAP rule only, so HAPI accepting it is expected by design. */
  expected: 'valid' | 'invalid' | 'kap-rules';
  ours: string[];
  hapi: string[];
}

const rows: Row[] = [];
const judge = async (f: Fixture, expected: Row['expected']): Promise<Row> => {
  const ours = validator
    .validate(f.resource)
    .filter((i) => i.severity === 'error' || i.severity === 'fatal')
    .map((i) => `${i.expression ?? ''}: ${i.message}`);
  const row = { fixture: f.name, expected, ours, hapi: await hapiErrors(f.resource) };
  rows.push(row);
  return row;
};

describe('HAPI $validate agrees with our validator', () => {
  afterAll(() => {
    const verdict = (errors: string[]) => (errors.length ? `invalid (${errors.length})` : 'valid');
    const expected = (r: Row) => (r.expected === 'kap-rules' ? 'invalid, KAP rule only' : r.expected);
    const byDesign = (r: Row) =>
      r.expected === 'kap-rules' ? (r.hapi.length ? '  (HAPI rejects too)' : '  (expected by design)') : '';
    const width = Math.max(70, ...rows.map((r) => r.fixture.length));
    const lines = rows.map(
      (r) =>
        `${r.fixture.padEnd(width)} ${expected(r).padEnd(23)} ${verdict(r.ours).padEnd(14)} ${verdict(r.hapi)}${byDesign(r)}`,
    );
    // The agreement table is part of the test output on purpose.
    const header = `${'fixture'.padEnd(width)} ${'expected'.padEnd(23)} ${'ours'.padEnd(14)} HAPI`;
    console.log([header, ...lines].join('\n'));
  });

  test.each(validFixtures().map((f) => [f.name, f] as const))('valid: %s', async (_name, f) => {
    const row = await judge(f, 'valid');
    expect(row.ours).toEqual([]);
    expect(row.hapi).toEqual([]);
  });

  test.each(invalidFixtures().map((f) => [f.name, f] as const))('invalid: %s', async (_name, f) => {
    const row = await judge(f, 'invalid');
    expect(row.ours.length).toBeGreaterThan(0);
    expect(row.hapi.length).toBeGreaterThan(0);
  });

  test.each(kapRuleFixtures().map((f) => [f.name, f] as const))(
    'invalid by a configured KAP rule only (HAPI may accept it): %s',
    async (_name, f) => {
      const row = await judge(f, 'kap-rules');
      expect(row.ours.length).toBeGreaterThan(0);
    },
  );
});
