/**
 * Readiness checked against a second, plain implementation written from the README alone
 * (test/support/readiness-reference.ts), on generated records; and the properties that make it
 * fail closed: a ready record with any one unsafe fact added, or any one needed source taken away,
 * is never ready. And the README's rules table, parsed, against RULE_IDS and REASONS.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import {
  coupleScenarioArb,
  type ReadyScenario,
  readyScenarioArb,
  type Scenario,
  SOURCES,
  scenarioArb,
  UNSAFE,
} from '../../test/support/readiness-arbitraries.js';
import { referenceEpisodeReadiness, referenceReadiness } from '../../test/support/readiness-reference.js';
import {
  episodeReadiness,
  type Outcome,
  patientReadiness,
  REASONS,
  type ReasonCode,
  RULE_IDS,
} from './readiness.js';

const codesOf = (reasons: readonly { code: ReasonCode }[]): ReasonCode[] =>
  [...new Set(reasons.map((r) => r.code))].sort();

const ALL_CODES = Object.keys(REASONS) as ReasonCode[];

const show = (value: unknown): string => JSON.stringify(value, null, 1);

describe('readiness agrees with a plain reading of the README', () => {
  const agree = ({ record, query, policy, episode }: Scenario, seen?: Set<string>) => {
    const actual = patientReadiness(record, query, policy, ...(episode === undefined ? [] : [episode]));
    const expected = referenceReadiness(record, query, policy, episode);
    const got = { codes: codesOf(actual.reasons), verdict: actual.verdict };
    if (show(got) !== show(expected)) {
      throw new Error(`readiness.ts says ${show(got)}\nthe README says ${show(expected)}`);
    }
    expect(actual.ready).toBe(expected.verdict === 'ready');
    for (const code of expected.codes) seen?.add(code);
    seen?.add(expected.verdict);
  };

  it('on 10,000 generated records, reason for reason, every reason of a patient among them', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(scenarioArb, (s) => agree(s, seen)),
      { numRuns: 10_000 },
    );
    const patientCodes = ALL_CODES.filter((code) => REASONS[code].rule !== 'couple');
    expect(patientCodes.filter((code) => !seen.has(code))).toEqual([]);
  });

  const patientUnsafe = Object.values(UNSAFE).filter((u) => u.level === 'patient');
  const nearReady = readyScenarioArb.chain((ready) =>
    fc
      .subarray(patientUnsafe, { maxLength: 2 })
      .chain((unsafe) =>
        unsafe.reduce<fc.Arbitrary<ReadyScenario>>(
          (arb, u) => arb.chain((s) => (u.level === 'patient' ? u.apply(s) : fc.constant(s))),
          fc.constant(ready),
        ),
      ),
  );

  it('on 2,000 records at the edge of ready: ready ones with none, one or two unsafe facts', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(nearReady, (s) => agree(s, seen)),
      { numRuns: 2_000 },
    );
    expect([...seen]).toEqual(expect.arrayContaining(['ready', 'not-ready']));
  });

  it('on 2,000 generated couples courses, partner for partner', () => {
    fc.assert(
      fc.property(coupleScenarioArb, ({ episode, records, query, policy }) => {
        const actual = episodeReadiness(episode, records, query, policy);
        const expected = referenceEpisodeReadiness(episode, records, query, policy);
        const got = {
          codes: codesOf(actual.reasons.filter((r) => REASONS[r.code].rule === 'couple')),
          verdict: actual.verdict,
          patients: actual.patients.map((p) => ({
            patientId: p.patientId,
            codes: codesOf(p.reasons),
            verdict: p.verdict,
          })),
        };
        if (show(got) !== show(expected)) {
          throw new Error(`readiness.ts says ${show(got)}\nthe README says ${show(expected)}`);
        }
        expect(actual.ready).toBe(expected.verdict === 'ready');
      }),
      { numRuns: 2_000 },
    );
  });
});

describe('readiness fails closed', () => {
  it('a generated ready record is ready, by both readings, alone and as a couple', () => {
    fc.assert(
      fc.property(readyScenarioArb, (s) => {
        expect(patientReadiness(s.record, s.query, s.policy, s.episode).reasons).toEqual([]);
        expect(referenceReadiness(s.record, s.query, s.policy, s.episode)).toEqual({
          codes: [],
          verdict: 'ready',
        });
        const course = episodeReadiness(s.episode, [s.record, s.partner], s.query, s.policy);
        expect(course.reasons).toEqual([]);
        expect(course.verdict).toBe('ready');
      }),
      { numRuns: 300 },
    );
  });

  const unsafeCodes = ALL_CODES.filter((code) => REASONS[code].outcome !== 'day-of');

  it('has an unsafe fact to add for every reason code that blocks or cannot tell', () => {
    expect(unsafeCodes.filter((code) => UNSAFE[code] === undefined)).toEqual([]);
    expect(Object.keys(UNSAFE).sort()).toEqual([...unsafeCodes].sort());
  });

  it.each(unsafeCodes)('a ready record with one unsafe fact (%s) is never ready, and says why', (code) => {
    const unsafe = UNSAFE[code];
    if (unsafe === undefined) throw new Error(`No unsafe fact for ${code}`);
    if (unsafe.level === 'patient') {
      const arb = readyScenarioArb.chain((s) => unsafe.apply(s));
      fc.assert(
        fc.property(arb, (s) => {
          const actual = patientReadiness(
            s.record,
            s.query,
            s.policy,
            ...(s.episode === undefined ? [] : [s.episode]),
          );
          const expected = referenceReadiness(s.record, s.query, s.policy, s.episode);
          const course =
            s.episode === undefined
              ? undefined
              : episodeReadiness(s.episode, [s.record, s.partner], s.query, s.policy);
          const holds =
            actual.verdict === 'not-ready' &&
            !actual.ready &&
            codesOf(actual.reasons).includes(code) &&
            expected.codes.includes(code) &&
            (course === undefined || course.verdict === 'not-ready');
          if (!holds) {
            throw new Error(
              `${show(s)}\nreadiness.ts: ${show(codesOf(actual.reasons))}\nreference: ${show(expected.codes)}`,
            );
          }
        }),
        { numRuns: 100 },
      );
    } else {
      const arb = readyScenarioArb.chain((s) => unsafe.apply(s).map((course) => ({ s, course })));
      fc.assert(
        fc.property(arb, ({ s, course }) => {
          const actual = episodeReadiness(course.episode, course.records, s.query, s.policy);
          const expected = referenceEpisodeReadiness(course.episode, course.records, s.query, s.policy);
          const holds =
            actual.verdict === 'not-ready' &&
            !actual.ready &&
            codesOf(actual.reasons).includes(code) &&
            expected.codes.includes(code) &&
            expected.verdict === 'not-ready';
          if (!holds) throw new Error(`${show(course)}\nreadiness.ts: ${show(codesOf(actual.reasons))}`);
        }),
        { numRuns: 100 },
      );
    }
  });

  it.each(Object.keys(SOURCES))('a ready record without its %s is never ready', (source) => {
    const remove = SOURCES[source] as (typeof SOURCES)[string];
    fc.assert(
      fc.property(readyScenarioArb, (ready) => {
        const s = remove(ready);
        const actual = patientReadiness(
          s.record,
          s.query,
          s.policy,
          ...(s.episode === undefined ? [] : [s.episode]),
        );
        expect(actual.verdict).not.toBe('ready');
        expect(actual.ready).toBe(false);
        expect(referenceReadiness(s.record, s.query, s.policy, s.episode).verdict).not.toBe('ready');
      }),
      { numRuns: 100 },
    );
  });
});

describe("the README's rules table", () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const section =
    readme
      .split('### Readiness rules')[1]
      ?.split('\n\n')
      .find((block) => block.startsWith('|')) ?? '';
  const rows = section
    .split('\n')
    .filter((line) => line.startsWith('|'))
    .map((line) =>
      line
        .slice(1, -1)
        .split('|')
        .map((cell) => cell.trim()),
    );
  const header = rows[0] ?? [];
  const body = rows.slice(2);
  const column = (name: string): number => header.indexOf(name);
  const backticked = (cell: string): string[] =>
    [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1] as string).sort();

  it('is found, with its columns', () => {
    expect(header).toEqual(['rule', 'reads', 'passes when', 'blocks', 'unknown', 'day-of']);
    expect(body.length).toBeGreaterThan(0);
  });

  it('states the rules of readiness.ts, in order', () => {
    expect(body.map((row) => row[0])).toEqual([...RULE_IDS]);
  });

  const outcomes: [Outcome, string][] = [
    ['block', 'blocks'],
    ['unknown', 'unknown'],
    ['day-of', 'day-of'],
  ];
  it.each(outcomes)('names, rule by rule, exactly the reasons that %s', (outcome, name) => {
    for (const row of body) {
      const rule = row[0];
      const inCode = ALL_CODES.filter(
        (code) => REASONS[code].rule === rule && REASONS[code].outcome === outcome,
      ).sort();
      expect({ rule, codes: backticked(row[column(name)] ?? '') }).toEqual({ rule, codes: inCode });
    }
  });
});
