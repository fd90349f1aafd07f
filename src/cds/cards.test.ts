/**
 * The cards a course's readiness gives: one per reason (every reason code of the rule table), the
 * sessions card, interacting medicines, and "ready" only when every rule passes. Every card is
 * checked against the CDS Hooks Card model.
 */
import { Ajv } from 'ajv';
import { REASONS, type Readiness, type Reason, type ReasonCode } from '../domain/readiness.js';
import {
  type Card,
  courseCards,
  type LastMedicineSession,
  noCourseCard,
  PARTNER_RULES,
  PARTNER_SAFETY_SUMMARY,
  type PartnerReadiness,
  REASON_SUMMARIES,
  unreadableRecordCard,
} from './cards.js';
import { CDS_HOOKS_SCHEMAS, SCHEMA_BASE } from './schema.js';

const ajv = new Ajv({ allErrors: true, strict: false });
for (const s of CDS_HOOKS_SCHEMAS) ajv.addSchema(s);
const validCards = (cards: Card[]) => {
  const validate = ajv.getSchema(`${SCHEMA_BASE}ServiceResponse`)!;
  const ok = validate({ cards });
  return ok ? [] : validate.errors;
};

let n = 0;
const newId = () => `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`;
const SOURCE = 'Observation/obs-1/_history/2';

const readiness = (reasons: Reason[], over: Partial<Readiness> = {}): Readiness => ({
  patientId: 'p1',
  date: '2026-12-03',
  episodeId: 'ep-1',
  ready: reasons.length === 0,
  verdict:
    reasons.length === 0
      ? 'ready'
      : reasons.every((r) => r.outcome === 'day-of')
        ? 'pending-day-of-checks'
        : 'not-ready',
  reasons,
  warnings: [],
  status: {},
  ...over,
});
const reasonOf = (code: ReasonCode): Reason => ({
  code,
  outcome: REASONS[code].outcome,
  message: `The rule says ${code}.`,
  source: SOURCE,
});
const cardsOf = (r: Readiness, lastMedicineSession?: LastMedicineSession, partner?: PartnerReadiness) =>
  courseCards({
    readiness: r,
    ...(lastMedicineSession ? { lastMedicineSession } : {}),
    ...(partner ? { partner } : {}),
    ehrPatientId: 'ehr-1',
    publicBaseUrl: 'https://kap.example',
    now: '2026-12-03T09:00:00Z',
    newId,
  });
const topics = (cards: Card[]) => cards.map((c) => c.source.topic.code);

const codes = Object.keys(REASONS) as ReasonCode[];
const SESSION_CODES: ReasonCode[] = ['no-doses-left', 'doses-unknown'];

describe('a card per readiness reason', () => {
  test.each(codes.filter((c) => !SESSION_CODES.includes(c)))('%s', (code) => {
    const cards = cardsOf(readiness([reasonOf(code)]));
    expect(validCards(cards)).toEqual([]);
    const card = cards.find((c) => c.source.topic.code === code)!;
    expect(card.summary).toBe(REASON_SUMMARIES[code]);
    expect(card.summary.length).toBeLessThan(140);
    expect(card.source.label).toContain(SOURCE);
    expect(card.detail).toContain('The rule says');
    expect(card.links).toEqual([
      {
        label: 'Open the course in the KAP console',
        url: 'https://kap.example/console#/course/ep-1',
        type: 'absolute',
      },
    ]);
    const safety = REASONS[code].rule === 'safety';
    expect(card.indicator).toBe(
      safety || code === 'safety-blood-pressure'
        ? 'critical'
        : REASONS[code].outcome === 'day-of'
          ? 'info'
          : 'warning',
    );
    // A safety flag suggests the prescriber's review, as a Task on the flagged resource.
    expect(card.suggestions?.[0]?.actions[0]?.resource).toEqual(
      safety
        ? expect.objectContaining({
            resourceType: 'Task',
            status: 'requested',
            intent: 'order',
            for: { reference: 'Patient/ehr-1' },
            focus: { reference: SOURCE },
          })
        : undefined,
    );
    // Anything short of every rule passing is never "ready".
    expect(topics(cards)).not.toContain('ready');
  });
});

describe('the sessions card', () => {
  const rx = (over: object) => ({
    status: {
      prescription: {
        status: 'active' as const,
        medication: { text: 'ketamine', isKetamine: true },
        source: 'MedicationRequest/rx-1/_history/3',
        dosesAdministered: 2,
        ...over,
      },
    },
  });
  test('sessions authorised, taken and left, from the current order', () => {
    const cards = cardsOf(readiness([], rx({ dosesAuthorised: 6, dosesRemaining: 4 }) as never));
    const card = cards.find((c) => c.source.topic.code === 'sessions')!;
    expect(card).toMatchObject({
      summary: 'Ketamine order: 2 of 6 medicine sessions taken, 4 left',
      indicator: 'info',
      source: { label: 'kap-bridge readiness: MedicationRequest/rx-1/_history/3' },
    });
    expect(topics(cards)).toEqual(['sessions', 'ready']);
    expect(validCards(cards)).toEqual([]);
  });
  test.each(SESSION_CODES)('%s is said by the sessions card, as a warning', (code) => {
    const left = code === 'no-doses-left' ? { dosesAuthorised: 2, dosesRemaining: 0 } : {};
    const cards = cardsOf(readiness([reasonOf(code)], rx(left) as never));
    expect(topics(cards)).toEqual(['sessions']);
    expect(cards[0]!.indicator).toBe('warning');
    expect(cards[0]!.detail).toContain(`The rule says ${code}.`);
  });
});

test('an interacting medicine is a warning card; cards come most urgent first', () => {
  const cards = cardsOf(
    readiness([reasonOf('predose-blood-pressure'), reasonOf('safety-cssrs-risk'), reasonOf('no-consent')], {
      warnings: [
        {
          code: 'interacting-medication',
          message: 'An active order for phenelzine.',
          source: 'MedicationRequest/m-2/_history/1',
        },
      ],
    }),
  );
  expect(cards.map((c) => [c.source.topic.code, c.indicator])).toEqual([
    ['safety-cssrs-risk', 'critical'],
    ['no-consent', 'warning'],
    ['interacting-medication', 'warning'],
    ['predose-blood-pressure', 'info'],
  ]);
  expect(validCards(cards)).toEqual([]);
});

test('no course, and a record that cannot be read, are cards of their own', () => {
  const cards = [noCourseCard(newId, 'ehr-1'), unreadableRecordCard(newId, 'p1')];
  expect(cards.map((c) => [c.source.topic.code, c.indicator])).toEqual([
    ['no-course', 'warning'],
    ['record-unreadable', 'critical'],
  ]);
  expect(validCards(cards)).toEqual([]);
});

test('every card has its own uuid, and so has every suggestion', () => {
  const cards = cardsOf(readiness(codes.map(reasonOf)));
  const ids = cards.flatMap((c) => [c.uuid, ...(c.suggestions ?? []).map((s) => s.uuid)]);
  expect(new Set(ids).size).toBe(ids.length);
});

describe('the last medicine session card', () => {
  const HR_HIGH = {
    kind: 'heart-rate' as const,
    at: '2026-12-01T10:40:00Z',
    message: 'heart rate 130/min is outside 50-110',
    source: 'Observation/hr-1/_history/1',
  };
  const REPORT = 'Bundle/ehr-report-9/_history/1';
  const session = (over: Partial<LastMedicineSession> = {}): LastMedicineSession => ({
    session: 'Encounter/med-1/_history/3',
    sessionId: 'joint-1',
    at: '2026-12-01T10:00:00Z',
    completed: true,
    outOfRange: [HR_HIGH],
    ...over,
  });
  const reported = (over: Partial<LastMedicineSession> = {}) => session({ report: REPORT, ...over });
  const last = (s: LastMedicineSession) =>
    cardsOf(readiness([reasonOf('no-integration-session')]), s).find(
      (c) => c.source.topic.code === 'last-medicine-session',
    )!;
  const COURSE_LINK = {
    label: 'Open the course in the KAP console',
    url: 'https://kap.example/console#/course/ep-1',
    type: 'absolute',
  };

  test('its report is the source; its readings out of range, each with its source: a warning', () => {
    const card = last(reported());
    expect(card).toMatchObject({
      summary: 'Last medicine session (2026-12-01), report written: 1 vital sign reading out of range',
      indicator: 'warning',
      source: { label: `kap-bridge readiness: ${REPORT}` },
    });
    expect(card.detail).toContain(`Session report: \`${REPORT}\`.`);
    expect(card.detail).toContain(`- Source: \`${REPORT}\``);
    expect(card.detail).toContain('- Session: `Encounter/med-1/_history/3`');
    expect(card.detail).toContain('heart rate 130/min is outside 50-110 (`Observation/hr-1/_history/1`)');
    // The console's page of the session, where the report is shown, then the course's.
    expect(card.links).toEqual([
      {
        label: 'Open the medicine session and its report in the KAP console',
        url: 'https://kap.example/console#/session/ep-1/joint-1',
        type: 'absolute',
      },
      COURSE_LINK,
    ]);
    expect(validCards([card])).toEqual([]);
  });

  test('none out of range: information', () => {
    expect(last(reported({ outOfRange: [] }))).toMatchObject({
      summary: 'Last medicine session (2026-12-01), report written: every vital sign reading within range',
      indicator: 'info',
    });
  });

  test.each<[string, Partial<LastMedicineSession>, string, string]>([
    [
      'completed without a report',
      {},
      'no report yet',
      'The session was completed, but no session report is written for it yet.',
    ],
    [
      'not completed',
      { completed: false },
      'not completed, no report yet',
      'The session is not completed yet, so it has no session report yet.',
    ],
  ])('%s: the card says there is no report; its source the session', (_name, over, said, line) => {
    const card = last(session(over));
    expect(card).toMatchObject({
      summary: `Last medicine session (2026-12-01), ${said}: 1 vital sign reading out of range`,
      indicator: 'warning',
      source: { label: 'kap-bridge readiness: Encounter/med-1/_history/3' },
    });
    expect(card.summary.length).toBeLessThan(140);
    expect(card.detail).toContain(line);
    expect(card.detail).not.toContain('Bundle/');
    expect(card.links).toEqual([
      {
        label: 'Open the medicine session in the KAP console',
        url: 'https://kap.example/console#/session/ep-1/joint-1',
        type: 'absolute',
      },
      COURSE_LINK,
    ]);
    expect(validCards([card])).toEqual([]);
  });

  test('only the last medicine session card links to the session', () => {
    const cards = cardsOf(readiness([reasonOf('no-consent')]), reported());
    for (const c of cards.filter((c) => c.source.topic.code !== 'last-medicine-session'))
      expect(c.links).toEqual([COURSE_LINK]);
  });
});

describe("a couples course: the partner's readiness, as its own card", () => {
  /** The partner's reasons, each with a message and source the card must not show. */
  const partnerReason = (code: ReasonCode): Reason => ({
    code,
    outcome: REASONS[code].outcome,
    message: `The partner's PHQ-9 item 9 is 2 (${code}).`,
    source: 'Observation/partner-phq9/_history/4',
  });
  const partner = (codes: ReasonCode[]): PartnerReadiness => {
    const reasons = codes.map(partnerReason);
    return { readable: true, verdict: readiness(reasons).verdict, reasons };
  };
  const partnerCardOf = (cards: Card[]) =>
    cards.find((c) => ['partner-not-ready', 'couple-unreadable'].includes(c.source.topic.code));

  test('an open safety flag of the partner: a critical card, and never "ready"', () => {
    const cards = cardsOf(readiness([]), undefined, partner(['safety-phq9-item9', 'no-consent']));
    expect(validCards(cards)).toEqual([]);
    expect(topics(cards)).toEqual(['partner-not-ready']);
    const card = partnerCardOf(cards)!;
    expect(card).toMatchObject({
      summary: PARTNER_SAFETY_SUMMARY,
      indicator: 'critical',
      source: { label: 'kap-bridge readiness: the partner in the couples course' },
      links: [{ url: 'https://kap.example/console#/course/ep-1' }],
    });
    expect(card.summary.length).toBeLessThan(140);
    expect(card.detail).toContain(`- ${PARTNER_RULES.safety}`);
    expect(card.detail).toContain(`- ${PARTNER_RULES.consent}`);
    // The kinds of rule only: no suggestion for the partner, none of the partner's facts.
    expect(card.suggestions).toBeUndefined();
    expect(card.detail).not.toMatch(/PHQ-9|partner-phq9|Observation\/|item 9/);
  });

  test.each<[string, ReasonCode[], string]>([
    ['not ready (no consent)', ['no-consent'], 'warning'],
    ['blood pressure above the threshold', ['safety-blood-pressure'], 'critical'],
    ['only the day-of checks to do', ['predose-blood-pressure'], 'info'],
  ])('the partner %s: a card as urgent as their most urgent reason', (_name, codes, indicator) => {
    const cards = cardsOf(readiness([]), undefined, partner(codes));
    const card = partnerCardOf(cards)!;
    expect(card).toMatchObject({
      summary: REASON_SUMMARIES['partner-not-ready'],
      indicator,
    });
    expect(topics(cards)).not.toContain('ready');
  });

  test('a partner whose record cannot be read: critical, and never "ready"', () => {
    const cards = cardsOf(readiness([]), undefined, { readable: false });
    expect(cards.map((c) => [c.source.topic.code, c.indicator])).toEqual([['couple-unreadable', 'critical']]);
    expect(validCards(cards)).toEqual([]);
  });

  test('a ready partner adds no card; the asked partner ready too: "ready"', () => {
    expect(topics(cardsOf(readiness([]), undefined, partner([])))).toEqual(['ready']);
    // The asked partner's own reasons stay their own cards, beside the partner's.
    expect(
      topics(cardsOf(readiness([reasonOf('no-consent')]), undefined, partner(['no-clearance']))),
    ).toEqual(['no-consent', 'partner-not-ready']);
  });
});
