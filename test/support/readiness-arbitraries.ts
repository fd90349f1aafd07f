/**
 * fast-check arbitraries for readiness: whole patient records around an asked day, drawn from small
 * pools of ids and times so that ties, boundaries (the day's edges, the session's instant, the
 * clearance's maximum age, the EHR's freshness) and cross-references (priorPrescription, hasMember,
 * a dose's or dispense's order) happen often. And a generator of records that are ready, with one
 * unsafe fact per reason code to add to them.
 */
import fc from 'fast-check';
import type {
  Administration,
  ClearanceDecision,
  ClinicalFinding,
  Dispense,
  Episode,
  InformedConsent,
  KapAdverseEvent,
  KapObservation,
  Medication,
  ObservationValue,
  Phq9Items,
  PrescriberReview,
  Prescription,
  Session,
  UnreadableSource,
} from '../../src/domain/model.js';
import {
  DEFAULT_POLICY,
  emptyRecord,
  type PatientRecord,
  type ReadinessPolicy,
  type ReadinessQuery,
  type ReasonCode,
} from '../../src/domain/readiness.js';
import { spanOf } from '../../src/domain/time.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const opt = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(arb, { nil: undefined });

/** Drops keys whose value is undefined, as the FHIR readers never set them. */
function compact<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

export const TIME_ZONES = ['UTC', 'America/Los_Angeles', 'Europe/Berlin', 'Pacific/Kiritimati'] as const;

/** Asked days, some on a daylight-saving change in one of the zones, one on a leap day. */
export const ASKED_DATES = [
  '2026-12-03',
  '2026-03-29',
  '2026-03-08',
  '2026-10-25',
  '2026-11-01',
  '2024-02-29',
  '2026-12-31',
] as const;

export const addDays = (date: string, k: number): string =>
  new Date(Date.parse(`${date}T00:00:00Z`) + k * DAY).toISOString().slice(0, 10);

/** The instant the asked day starts in the practice's zone. */
export function dayStart(date: string, timeZone: string): number {
  const span = spanOf(date, timeZone);
  if (span === undefined) throw new RangeError(date);
  return span.start;
}

const iso = (t: number): string => new Date(t).toISOString();

const OFFSETS = ['Z', '+14:00', '-08:00', '+01:00', '-07:00', '+02:00', '-10:00'] as const;
const DAY_OFFSETS = [-400, -200, -181, -180, -179, -30, -7, -2, -1, 0, 0, 0, 1, 2] as const;

/** A FHIR date or dateTime near `date`: date-only, or an instant with one of several offsets. */
export const timeNear: (date: string) => fc.Arbitrary<string> = memo((date) => makeTimeNear(date as string));

function makeTimeNear(date: string): fc.Arbitrary<string> {
  const days = DAY_OFFSETS.map((k) => addDays(date, k));
  const instants = days.flatMap((day) =>
    [0, 1, 9, 10, 11, 14, 23].flatMap((hour) =>
      ['00', '30'].flatMap((minute) =>
        OFFSETS.map((offset) => `${day}T${String(hour).padStart(2, '0')}:${minute}:00${offset}`),
      ),
    ),
  );
  return fc.oneof(fc.constantFrom(...days), fc.constantFrom(...instants));
}

export interface Scenario {
  record: PatientRecord;
  query: ReadinessQuery;
  policy: ReadinessPolicy;
  /** The course asked about; undefined asks about the patient's current one. */
  episode?: Episode;
}

export const policyArb: fc.Arbitrary<ReadinessPolicy> = fc.record({
  systolicMax: fc.constant(DEFAULT_POLICY.systolicMax),
  diastolicMax: fc.constant(DEFAULT_POLICY.diastolicMax),
  ehrFreshnessHours: fc.constantFrom(24, 1),
  timeZone: fc.constantFrom(...TIME_ZONES),
  clearanceMaxDays: fc.constantFrom(180, 30),
  requireDispense: fc.boolean(),
  requireIntegration: fc.boolean(),
});

/**
 * A question about `date`: with or without a start instant on that day (the API refuses one that is
 * not on it), and an EHR checkpoint.
 */
export const queryArb: (date: string, timeZone: string) => fc.Arbitrary<ReadinessQuery> = memo(
  (date, timeZone) => makeQueryArb(date as string, timeZone as string),
);

function makeQueryArb(date: string, timeZone: string): fc.Arbitrary<ReadinessQuery> {
  const start = dayStart(date, timeZone);
  return fc
    .record({
      atHour: opt(fc.constantFrom(0, 1, 9, 10, 11, 22)),
      nowHours: fc.constantFrom(-48, -24, 0, 8, 10, 30),
      heard: opt(
        fc.oneof(
          fc.constantFrom(0, 1, 23, 24, 25, 48).map((h) => ({ hoursBefore: h })),
          fc.constant({ date: date }),
        ),
      ),
    })
    .map(({ atHour, nowHours, heard }) => {
      const at = atHour === undefined ? undefined : start + atHour * HOUR;
      const now = at ?? start + nowHours * HOUR;
      const ehrLastHeardAt =
        heard === undefined ? undefined : 'date' in heard ? heard.date : iso(now - heard.hoursBefore * HOUR);
      return compact({ date, at: at === undefined ? undefined : iso(at), now: iso(now), ehrLastHeardAt });
    });
}

const EPISODE_IDS = ['e1', 'e2', 'e3'] as const;
const RX_IDS = ['rx1', 'rx2', 'rx3'] as const;
const OBS_IDS = ['o1', 'o2', 'o3', 'o4', 'o5', 'o6', 'o7'] as const;

const ketamine: Medication = { rxnorm: '6130', text: 'ketamine 100 mg sublingual troche', isKetamine: true };
const other: Medication = { text: 'ondansetron 4 mg tablet', isKetamine: false };

function episodeArb(patientId: string): fc.Arbitrary<Episode> {
  return fc.record({
    id: fc.constantFrom(...EPISODE_IDS),
    type: fc.constantFrom('individual' as const, 'couples' as const),
    status: fc.constantFrom(
      'planned',
      'active',
      'active',
      'onhold',
      'finished',
      'cancelled',
      'entered-in-error',
    ),
    patients: fc.constant([patientId]),
    plannedSessions: fc.constant({ preparation: 1, medicine: 2, integration: 1 }),
  });
}

function consentArb(patientId: string, date: string, i: number): fc.Arbitrary<InformedConsent> {
  const t = timeNear(date);
  return fc
    .record({
      episodeId: opt(fc.constantFrom(...EPISODE_IDS)),
      status: fc.constantFrom(
        'draft',
        'proposed',
        'active',
        'active',
        'rejected',
        'inactive',
        'entered-in-error',
      ),
      dateTime: t,
      period: opt(fc.record({ start: opt(t), end: opt(t) }).map(compact)),
    })
    .map((c) => compact({ id: `consent${i}`, patientId, ...c, source: `Consent/consent${i}/_history/1` }));
}

function clearanceArb(patientId: string, date: string, i: number): fc.Arbitrary<ClearanceDecision> {
  const t = timeNear(date);
  return fc
    .record({
      result: fc.constantFrom('cleared', 'cleared', 'not-cleared', 'needs-review'),
      status: fc.constantFrom(
        'preliminary',
        'final',
        'final',
        'amended',
        'corrected',
        'cancelled',
        'entered-in-error',
      ),
      decidedAt: t,
      validUntil: opt(t),
    })
    .map((c) => compact({ id: `clr${i}`, patientId, ...c, source: `Observation/clr${i}/_history/1` }));
}

function prescriptionArb(patientId: string, date: string, i: number): fc.Arbitrary<Prescription> {
  const t = timeNear(date);
  return fc
    .record({
      status: fc.constantFrom(
        'active',
        'active',
        'on-hold',
        'cancelled',
        'completed',
        'stopped',
        'entered-in-error',
        'draft',
        'unknown',
      ),
      medication: fc.constantFrom(ketamine, ketamine, ketamine, other),
      intent: fc.constantFrom(
        'order',
        'original-order',
        'instance-order',
        'filler-order',
        'plan',
        'proposal',
      ),
      priorPrescription: opt(fc.constantFrom(...RX_IDS).map((id) => `MedicationRequest/${id}`)),
      authoredOn: opt(t),
      versionTime: opt(t),
      doses: fc.oneof(fc.integer({ min: 0, max: 4 }), fc.constant(undefined)),
      validFrom: opt(t),
      validUntil: opt(t),
    })
    .map(({ doses, ...rx }) =>
      compact({
        id: RX_IDS[i] as string,
        patientId,
        ...rx,
        dosePerSession: { value: 100, unit: 'mg' },
        route: 'sublingual' as const,
        dosesAuthorised: doses,
        sessionsUnknown: doses === undefined ? 'dispenseRequest.quantity is absent' : undefined,
        source: `MedicationRequest/${RX_IDS[i]}/_history/1`,
      }),
    );
}

function dispenseArb(patientId: string, date: string, i: number): fc.Arbitrary<Dispense> {
  return fc
    .record({
      prescriptionId: opt(fc.constantFrom(...RX_IDS)),
      status: fc.constantFrom(
        'preparation',
        'in-progress',
        'cancelled',
        'on-hold',
        'completed',
        'completed',
        'entered-in-error',
        'stopped',
        'declined',
        'unknown',
      ),
      whenHandedOver: opt(timeNear(date)),
    })
    .map((d) =>
      compact({
        id: `disp${i}`,
        patientId,
        ...d,
        medication: ketamine,
        source: `MedicationDispense/disp${i}/_history/1`,
      }),
    );
}

function sessionArb(patientId: string, date: string, i: number): fc.Arbitrary<Session> {
  const t = timeNear(date);
  return fc
    .record({
      episodeId: fc.constantFrom('e1', 'e1', 'e2'),
      phase: fc.constantFrom('preparation', 'medicine', 'integration'),
      status: fc.constantFrom(
        'planned',
        'in-progress',
        'finished',
        'finished',
        'cancelled',
        'entered-in-error',
      ),
      start: opt(t),
      end: opt(t),
    })
    .map((s) => compact({ id: `s${i}`, patientId, ...s }));
}

function administrationArb(patientId: string, date: string, i: number): fc.Arbitrary<Administration> {
  return fc
    .record({
      prescriptionId: opt(fc.constantFrom(...RX_IDS)),
      status: fc.constantFrom(
        'in-progress',
        'not-done',
        'on-hold',
        'completed',
        'completed',
        'entered-in-error',
        'stopped',
        'unknown',
      ),
      administeredAt: timeNear(date),
    })
    .map((a) =>
      compact({
        id: `adm${i}`,
        patientId,
        sessionId: `s${i}`,
        ...a,
        medication: ketamine,
        dose: { value: 100, unit: 'mg' },
        route: 'sublingual' as const,
      }),
    );
}

const answer = fc.integer({ min: 0, max: 3 });
const items: fc.Arbitrary<Phq9Items> = fc.tuple(
  answer,
  answer,
  answer,
  answer,
  answer,
  answer,
  answer,
  answer,
  fc.constantFrom(0, 0, 1, 3),
);

const observationValue: fc.Arbitrary<ObservationValue> = fc.oneof(
  fc
    .record({
      total: opt(fc.integer({ min: 0, max: 27 })),
      items: opt(items),
      item9: opt(fc.constantFrom(0, 0, 1, 2)),
      members: opt(
        fc.array(
          fc.constantFrom(...OBS_IDS).map((id) => `Observation/${id}`),
          { maxLength: 2 },
        ),
      ),
    })
    .map((v) => compact({ kind: 'phq9' as const, ...v })),
  fc.record({ kind: fc.constant('phq9-item9' as const), answer: fc.constantFrom(0, 0, 1, 3) }),
  fc.record({ kind: fc.constant('cssrs' as const), risk: fc.constantFrom('low', 'moderate', 'high') }),
  fc.record({
    kind: fc.constant('blood-pressure' as const),
    systolic: fc.constantFrom(110, 139, 140, 141, 170),
    diastolic: fc.constantFrom(70, 89, 90, 91, 110),
  }),
  fc.record({
    kind: fc.constant('blood-pressure' as const),
    systolic: fc.constantFrom(110, 120, 130),
    diastolic: fc.constantFrom(70, 80),
  }),
  fc.record({ kind: fc.constant('gad7' as const), total: fc.integer({ min: 0, max: 21 }) }),
);

function observationArb(patientId: string, date: string, i: number): fc.Arbitrary<KapObservation> {
  return fc
    .record({
      status: fc.constantFrom(
        'registered',
        'preliminary',
        'final',
        'final',
        'final',
        'amended',
        'corrected',
        'cancelled',
        'entered-in-error',
        'unknown',
      ),
      effective: timeNear(date),
      value: observationValue,
    })
    .map((o) => ({
      id: OBS_IDS[i] as string,
      patientId,
      ...o,
      source: `Observation/${OBS_IDS[i]}/_history/1`,
    }));
}

function findingArb(patientId: string, date: string, i: number): fc.Arbitrary<ClinicalFinding> {
  return fc
    .record({
      type: fc.constantFrom('Condition' as const, 'AllergyIntolerance' as const),
      active: fc.boolean(),
      contraindication: opt(fc.constantFrom('psychosis', 'uncontrolled-hypertension')),
      recorded: opt(timeNear(date)),
      versionTime: opt(timeNear(date)),
    })
    .map((f) =>
      compact({ id: `f${i}`, patientId, ...f, text: 'finding', source: `Condition/f${i}/_history/1` }),
    );
}

function reviewArb(patientId: string, date: string, i: number): fc.Arbitrary<PrescriberReview> {
  return timeNear(date).map((reviewedAt) => ({
    id: `rev${i}`,
    patientId,
    reviewedAt,
    source: `ClinicalImpression/rev${i}/_history/1`,
  }));
}

function adverseEventArb(patientId: string, date: string, i: number): fc.Arbitrary<KapAdverseEvent> {
  return fc
    .record({ occurredAt: timeNear(date), serious: fc.boolean() })
    .map((e) => ({ id: `ae${i}`, patientId, ...e, source: `AdverseEvent/ae${i}/_history/1` }));
}

function unreadableArb(date: string, i: number): fc.Arbitrary<UnreadableSource> {
  return fc
    .record({
      kind: fc.constantFrom(
        'clearance' as const,
        'prescription' as const,
        'blood-pressure' as const,
        'safety-finding' as const,
      ),
      at: opt(timeNear(date)),
    })
    .map((u) =>
      compact({ ...u, source: `Observation/unread${i}/_history/1`, problem: 'The value has no unit.' }),
    );
}

/** Up to `max` values, the i-th from `arb(i)` (the index gives each its id). */
function some<T>(max: number, arb: (i: number) => fc.Arbitrary<T>): fc.Arbitrary<T[]> {
  return fc.oneof(
    ...Array.from({ length: max + 1 }, (_, n) =>
      n === 0 ? fc.constant([] as T[]) : fc.tuple(...Array.from({ length: n }, (_, i) => arb(i))),
    ),
  );
}

/** Built once per key: the arbitraries are drawn from thousands of times. */
function memo<A>(make: (...keys: string[]) => A): (...keys: string[]) => A {
  const made = new Map<string, A>();
  return (...keys) => {
    const key = keys.join('|');
    let a = made.get(key);
    if (a === undefined) {
      a = make(...keys);
      made.set(key, a);
    }
    return a;
  };
}

/** Any record of patient `patientId` around the asked `date`. */
export const recordArb: (patientId: string, date: string) => fc.Arbitrary<PatientRecord> = memo(
  (patientId, date) => makeRecordArb(patientId as string, date as string),
);

function makeRecordArb(patientId: string, date: string): fc.Arbitrary<PatientRecord> {
  return fc.record({
    patientId: fc.constant(patientId),
    link: fc.constantFrom(
      'confirmed' as const,
      'confirmed' as const,
      'confirmed' as const,
      'pending' as const,
    ),
    episodes: some(3, () => episodeArb(patientId)),
    consents: some(3, (i) => consentArb(patientId, date, i)),
    clearances: some(3, (i) => clearanceArb(patientId, date, i)),
    prescriptions: some(3, (i) => prescriptionArb(patientId, date, i)),
    dispenses: some(3, (i) => dispenseArb(patientId, date, i)),
    sessions: some(5, (i) => sessionArb(patientId, date, i)),
    administrations: some(3, (i) => administrationArb(patientId, date, i)),
    observations: some(7, (i) => observationArb(patientId, date, i)),
    findings: some(2, (i) => findingArb(patientId, date, i)),
    reviews: some(2, (i) => reviewArb(patientId, date, i)),
    adverseEvents: some(2, (i) => adverseEventArb(patientId, date, i)),
    unreadable: some(2, (i) => unreadableArb(date, i)),
  });
}

/** A record of p1 around `date` with a question in `timeZone`, and sometimes a named course. */
const askedArb = memo((date, timeZone) =>
  fc.record({
    record: recordArb('p1', date as string),
    query: queryArb(date as string, timeZone as string),
    named: fc.oneof(fc.constant(undefined), fc.nat(2), episodeArb('p1')),
  }),
);

/** Any question about any record: an asked day, a policy, and sometimes a named course. */
export const scenarioArb: fc.Arbitrary<Scenario> = fc
  .record({ date: fc.constantFrom(...ASKED_DATES), policy: policyArb })
  .chain(({ date, policy }) =>
    askedArb(date, policy.timeZone).map(({ record, query, named }) => {
      const episode = typeof named === 'number' ? record.episodes[named] : named;
      return compact({ record, query, policy, episode });
    }),
  );

/** A couples course, both partners' records (one sometimes missing), and a question. */
export interface CoupleScenario {
  episode: Episode;
  records: PatientRecord[];
  query: ReadinessQuery;
  policy: ReadinessPolicy;
}

/** The parts of a couples scenario around `date` in `timeZone`. */
const coupleArb = memo((date, timeZone) => {
  const d = date as string;
  const policy = { ...DEFAULT_POLICY, timeZone: timeZone as string };
  return fc.record({
    status: fc.constantFrom('active', 'active', 'active', 'onhold', 'finished'),
    patients: fc.constantFrom(['p1', 'p2'], ['p1', 'p2'], ['p1', 'p2'], ['p1'], ['p1', 'p2', 'p3']),
    ready: fc.tuple(readyRecordArb('p1', d, policy), readyRecordArb('p2', d, policy)),
    noisy: fc.tuple(recordArb('p1', d), recordArb('p2', d)),
    which: fc.tuple(
      fc.constantFrom('ready', 'noisy', 'missing'),
      fc.constantFrom('ready', 'noisy', 'missing'),
    ),
    query: queryArb(d, timeZone as string),
  });
});

export const coupleScenarioArb: fc.Arbitrary<CoupleScenario> = fc
  .record({ date: fc.constantFrom(...ASKED_DATES), policy: policyArb })
  .chain(({ date, policy }) =>
    coupleArb(date, policy.timeZone).map(({ status, patients, ready, noisy, which, query }) => {
      const episode: Episode = {
        id: 'e1',
        type: 'couples',
        status: status as Episode['status'],
        patients: [...patients],
        plannedSessions: { preparation: 1, medicine: 2, integration: 1 },
      };
      const records: PatientRecord[] = [];
      for (const k of [0, 1] as const) {
        if (which[k] === 'ready') records.push(ready[k]);
        if (which[k] === 'noisy') records.push(noisy[k]);
      }
      return { episode, records, query: withCheckpoint(query, date, policy.timeZone), policy };
    }),
  );

/** A question whose EHR checkpoint is fresh, as in a ready scenario. */
function withCheckpoint(query: ReadinessQuery, date: string, timeZone: string): ReadinessQuery {
  const at = query.at === undefined ? undefined : dayStart(date, timeZone) + 10 * HOUR;
  const now = at ?? dayStart(date, timeZone) + 90 * 60_000;
  return compact({
    date,
    at: at === undefined ? undefined : iso(at),
    now: iso(now),
    ehrLastHeardAt: iso(now - HOUR),
  });
}

// ---------------------------------------------------------------------------------------------
// Ready records

/** How a ready record is written: the forms its dates take, and where its PHQ-9 item 9 arrives. */
interface ReadyShape {
  dateOnly: boolean;
  offset: (typeof OFFSETS)[number];
  item9Via: 'component' | 'items' | 'member' | 'standalone';
  medicineHistory: boolean;
  clearanceUntil: boolean;
  consentPeriod: boolean;
  noise: boolean;
}

const readyShapeArb: fc.Arbitrary<ReadyShape> = fc.record({
  dateOnly: fc.boolean(),
  offset: fc.constantFrom(...OFFSETS),
  item9Via: fc.constantFrom('component', 'items', 'member', 'standalone'),
  medicineHistory: fc.boolean(),
  clearanceUntil: fc.boolean(),
  consentPeriod: fc.boolean(),
  noise: fc.boolean(),
});

/**
 * A record of `patientId` that is ready for a medicine session of course e1 on `date` under
 * `policy`, for a session starting no earlier than 2 hours into the day: every source a rule
 * reads is there and says yes.
 */
export function readyRecord(
  patientId: string,
  date: string,
  policy: ReadinessPolicy,
  shape: ReadyShape,
): PatientRecord {
  const t = (k: number): string =>
    shape.dateOnly ? addDays(date, k) : `${addDays(date, k)}T12:00:00${shape.offset}`;
  const start = dayStart(date, policy.timeZone);
  const rxId = `rx-${patientId}`;
  const record = emptyRecord(patientId);
  record.episodes = [
    {
      id: 'e1',
      type: patientId === 'p1' || patientId === 'p2' ? 'couples' : 'individual',
      status: 'active',
      patients: ['p1', 'p2'],
      plannedSessions: { preparation: 1, medicine: 2, integration: 1 },
    },
  ];
  record.consents = [
    compact({
      id: `consent-${patientId}`,
      patientId,
      episodeId: 'e1',
      status: 'active' as const,
      dateTime: t(-30),
      period: shape.consentPeriod ? { start: addDays(date, -30), end: addDays(date, 60) } : undefined,
      source: `Consent/consent-${patientId}/_history/1`,
    }),
  ];
  record.sessions = [
    {
      id: `prep-${patientId}`,
      episodeId: 'e1',
      phase: 'preparation',
      status: 'finished',
      patientId,
      start: t(-10),
    },
  ];
  if (shape.medicineHistory) {
    record.sessions.push(
      {
        id: `med-${patientId}`,
        episodeId: 'e1',
        phase: 'medicine',
        status: 'finished',
        patientId,
        start: t(-7),
      },
      {
        id: `int-${patientId}`,
        episodeId: 'e1',
        phase: 'integration',
        status: 'finished',
        patientId,
        start: t(-5),
      },
    );
    record.administrations = [
      {
        id: `adm-${patientId}`,
        patientId,
        sessionId: `med-${patientId}`,
        prescriptionId: rxId,
        status: 'completed',
        medication: ketamine,
        dose: { value: 100, unit: 'mg' },
        route: 'sublingual',
        administeredAt: t(-7),
      },
    ];
  }
  record.clearances = [
    compact({
      id: `clr-${patientId}`,
      patientId,
      result: 'cleared' as const,
      status: 'final' as const,
      decidedAt: t(-20),
      validUntil: shape.clearanceUntil ? addDays(date, 30) : undefined,
      source: `Observation/clr-${patientId}/_history/1`,
    }),
  ];
  record.prescriptions = [
    {
      id: rxId,
      patientId,
      status: 'active',
      medication: ketamine,
      dosePerSession: { value: 100, unit: 'mg' },
      route: 'sublingual',
      intent: 'order',
      quantity: { value: 3, unit: '{troche}' },
      dosesAuthorised: 3,
      authoredOn: t(-20),
      validUntil: addDays(date, 60),
      source: `MedicationRequest/${rxId}/_history/1`,
    },
  ];
  record.dispenses = [
    {
      id: `disp-${patientId}`,
      patientId,
      prescriptionId: rxId,
      status: 'completed',
      whenHandedOver: t(-15),
      medication: ketamine,
      source: `MedicationDispense/disp-${patientId}/_history/1`,
    },
  ];
  const phq9: KapObservation = {
    id: `phq9-${patientId}`,
    patientId,
    status: 'final',
    effective: t(-25),
    value:
      shape.item9Via === 'component'
        ? { kind: 'phq9', total: 4, item9: 0 }
        : shape.item9Via === 'items'
          ? { kind: 'phq9', total: 4, items: [1, 1, 1, 1, 0, 0, 0, 0, 0] }
          : { kind: 'phq9', total: 4, members: [`Observation/item9-${patientId}`] },
    source: `Observation/phq9-${patientId}/_history/1`,
  };
  record.observations = [
    ...(shape.item9Via === 'standalone'
      ? [
          {
            id: `item9-${patientId}`,
            patientId,
            status: 'final' as const,
            effective: t(-25),
            value: { kind: 'phq9-item9' as const, answer: 0 },
          },
        ]
      : [phq9]),
    ...(shape.item9Via === 'member'
      ? [
          {
            id: `item9-${patientId}`,
            patientId,
            status: 'final' as const,
            effective: t(-25),
            value: { kind: 'phq9-item9' as const, answer: 0 },
          },
        ]
      : []),
    {
      id: `cssrs-${patientId}`,
      patientId,
      status: 'final',
      effective: t(-25),
      value: { kind: 'cssrs', risk: 'low' },
    },
    {
      id: `bp-${patientId}`,
      patientId,
      status: 'final',
      effective: iso(start + HOUR),
      value: { kind: 'blood-pressure', systolic: 120, diastolic: 80 },
      source: `Observation/bp-${patientId}/_history/1`,
    },
  ];
  if (shape.noise) {
    // Things that are there and must not matter: a cancelled older clearance, an older reading
    // that was high, a GAD-7, an inactive finding, a minor adverse event, a non-ketamine order.
    record.clearances.unshift({
      id: `clr-old-${patientId}`,
      patientId,
      result: 'not-cleared',
      status: 'cancelled',
      decidedAt: t(-19),
    });
    record.observations.push(
      {
        id: `bp-old-${patientId}`,
        patientId,
        status: 'entered-in-error',
        effective: iso(start + HOUR + 60_000),
        value: { kind: 'blood-pressure', systolic: 180, diastolic: 110 },
      },
      {
        id: `gad7-${patientId}`,
        patientId,
        status: 'final',
        effective: t(-2),
        value: { kind: 'gad7', total: 12 },
      },
    );
    record.findings.push({
      id: `f-${patientId}`,
      patientId,
      type: 'Condition',
      active: false,
      contraindication: 'psychosis',
      recorded: t(-2),
      text: 'resolved',
    });
    record.adverseEvents.push({ id: `ae-${patientId}`, patientId, occurredAt: t(-2), serious: false });
    record.prescriptions.push({
      id: `rx-other-${patientId}`,
      patientId,
      status: 'active',
      medication: other,
      intent: 'order',
      authoredOn: t(-1),
    });
  }
  return record;
}

function readyRecordArb(
  patientId: string,
  date: string,
  policy: ReadinessPolicy,
): fc.Arbitrary<PatientRecord> {
  return readyShapeArb.map((shape) => readyRecord(patientId, date, policy, shape));
}

/** A ready scenario: patient p1 of couples course e1 with partner p2, both ready. */
export interface ReadyScenario extends Scenario {
  episode: Episode;
  partner: PatientRecord;
  date: string;
}

export const readyScenarioArb: fc.Arbitrary<ReadyScenario> = fc
  .record({
    date: fc.constantFrom(...ASKED_DATES),
    policy: policyArb.map((p) => ({ ...p, ehrFreshnessHours: 24 })),
    atHour: opt(fc.constantFrom(2, 10, 22)),
  })
  .chain(({ date, policy, atHour }) =>
    fc
      .record({ record: readyRecordArb('p1', date, policy), partner: readyRecordArb('p2', date, policy) })
      .map(({ record, partner }) => {
        const start = dayStart(date, policy.timeZone);
        const at = atHour === undefined ? undefined : start + atHour * HOUR;
        const now = at ?? start + 90 * 60_000;
        const query: ReadinessQuery = compact({
          date,
          at: at === undefined ? undefined : iso(at),
          now: iso(now),
          ehrLastHeardAt: iso(now - HOUR),
        });
        return { record, partner, query, policy, episode: record.episodes[0] as Episode, date };
      }),
  );

// ---------------------------------------------------------------------------------------------
// One unsafe fact per reason code

/** A scenario for a whole course: the course and the records handed to episodeReadiness. */
export interface Course {
  episode: Episode;
  records: PatientRecord[];
}

/** What an unsafe fact does to a ready scenario: it changes p1's scenario, or the course. */
export type Unsafe =
  | { level: 'patient'; apply: (s: ReadyScenario) => fc.Arbitrary<ReadyScenario> }
  | { level: 'course'; apply: (s: ReadyScenario) => fc.Arbitrary<Course> };

const clone = (s: ReadyScenario): ReadyScenario => structuredClone(s);

/** p1's scenario with `change` made to a copy of it. */
function patient(change: (s: ReadyScenario) => void): Unsafe {
  return {
    level: 'patient',
    apply: (s) => {
      const c = clone(s);
      change(c);
      return fc.constant(c);
    },
  };
}

/** As `patient`, with a value drawn from `arb`. */
function patientWith<T>(arb: fc.Arbitrary<T>, change: (s: ReadyScenario, value: T) => void): Unsafe {
  return {
    level: 'patient',
    apply: (s) =>
      arb.map((value) => {
        const c = clone(s);
        change(c, value);
        return c;
      }),
  };
}

/** The day before the asked one at noon UTC: after every review and decision of a ready record. */
const dayBefore = (s: ReadyScenario): string => `${addDays(s.date, -1)}T12:00:00Z`;
const earlyOnTheDay = (s: ReadyScenario): string => iso(dayStart(s.date, s.policy.timeZone) + HOUR + 60_000);
const rxOf = (s: ReadyScenario): Prescription => s.record.prescriptions[0] as Prescription;

/**
 * An unsafe fact for each reason code that blocks or cannot tell. Day-of codes are not unsafe
 * facts: they are what is missing on the day.
 */
export const UNSAFE: Partial<Record<ReasonCode, Unsafe>> = {
  'link-pending': patient((s) => {
    s.record.link = 'pending';
  }),
  'no-episode': patient((s) => {
    s.record.episodes = [];
    delete (s as Partial<ReadyScenario>).episode;
  }),
  'episode-not-active': patientWith(
    fc.constantFrom('planned', 'onhold', 'finished', 'cancelled', 'entered-in-error' as const),
    (s, status) => {
      if (s.episode !== undefined) s.episode.status = status;
    },
  ),
  'no-consent': patient((s) => {
    s.record.consents = [];
  }),
  'consent-not-active': patientWith(fc.constantFrom('draft', 'proposed' as const), (s, status) => {
    s.record.consents.push({ id: 'c-new', patientId: 'p1', episodeId: 'e1', status, dateTime: dayBefore(s) });
  }),
  'consent-revoked': patientWith(
    fc.constantFrom('rejected', 'inactive', 'entered-in-error' as const),
    (s, status) => {
      s.record.consents.push({
        id: 'c-new',
        patientId: 'p1',
        episodeId: 'e1',
        status,
        dateTime: dayBefore(s),
      });
    },
  ),
  'consent-out-of-period': patientWith(fc.boolean(), (s, ended) => {
    const consent = s.record.consents[0];
    if (consent === undefined) return;
    consent.period = ended ? { end: addDays(s.date, -1) } : { start: addDays(s.date, 1) };
  }),
  'no-preparation-session': patientWith(
    fc.constantFrom('planned', 'in-progress', 'cancelled', 'entered-in-error' as const),
    (s, status) => {
      for (const session of s.record.sessions) if (session.phase === 'preparation') session.status = status;
    },
  ),
  'no-integration-session': patient((s) => {
    s.policy.requireIntegration = true;
    s.record.sessions.push({
      id: 'med-new',
      episodeId: 'e1',
      phase: 'medicine',
      status: 'finished',
      patientId: 'p1',
      start: dayBefore(s),
    });
  }),
  'no-clearance': patient((s) => {
    s.record.clearances = [];
  }),
  'clearance-not-final': patient((s) => {
    s.record.clearances.push({
      id: 'clr-new',
      patientId: 'p1',
      result: 'cleared',
      status: 'preliminary',
      decidedAt: dayBefore(s),
    });
  }),
  'clearance-not-cleared': patientWith(
    fc.constantFrom('not-cleared', 'needs-review' as const),
    (s, result) => {
      s.record.clearances.push({
        id: 'clr-new',
        patientId: 'p1',
        result,
        status: 'final',
        decidedAt: dayBefore(s),
      });
    },
  ),
  'clearance-expired': patientWith(fc.boolean(), (s, dated) => {
    const clearance = s.record.clearances.at(-1);
    if (clearance === undefined) return;
    if (dated) clearance.validUntil = addDays(s.date, -1);
    else {
      delete clearance.validUntil;
      clearance.decidedAt = addDays(s.date, -s.policy.clearanceMaxDays - 1);
    }
  }),
  'clearance-unreadable': patient((s) => {
    s.record.unreadable.push({
      kind: 'clearance',
      source: 'Observation/x/_history/1',
      at: dayBefore(s),
      problem: '?',
    });
  }),
  'no-prescription': patientWith(fc.constantFrom('plan', 'proposal', 'draft'), (s, how) => {
    if (how === 'draft') rxOf(s).status = 'draft';
    else rxOf(s).intent = how;
  }),
  'prescription-not-active': patientWith(
    fc.constantFrom('on-hold', 'cancelled', 'completed', 'stopped', 'unknown' as const),
    (s, status) => {
      rxOf(s).status = status;
    },
  ),
  'prescription-not-yet-valid': patient((s) => {
    rxOf(s).validFrom = addDays(s.date, 1);
  }),
  'prescription-expired': patient((s) => {
    rxOf(s).validUntil = addDays(s.date, -1);
  }),
  'no-doses-left': patient((s) => {
    rxOf(s).dosesAuthorised = s.record.administrations.length;
  }),
  'doses-unknown': patient((s) => {
    const rx = rxOf(s);
    delete rx.dosesAuthorised;
    rx.sessionsUnknown = 'dispenseRequest.quantity is absent';
  }),
  'prescription-unreadable': patient((s) => {
    s.record.unreadable.push({
      kind: 'prescription',
      source: 'MedicationRequest/x/_history/1',
      at: dayBefore(s),
      problem: '?',
    });
  }),
  'no-dispense': patient((s) => {
    s.policy.requireDispense = true;
    s.record.dispenses = [];
  }),
  'dispense-not-completed': patientWith(
    fc.constantFrom(
      'preparation',
      'in-progress',
      'cancelled',
      'on-hold',
      'entered-in-error',
      'stopped',
      'declined',
    ),
    (s, status) => {
      s.policy.requireDispense = true;
      s.record.dispenses.push({
        id: 'disp-new',
        patientId: 'p1',
        prescriptionId: rxOf(s).id,
        status: status as Dispense['status'],
        whenHandedOver: dayBefore(s),
        medication: ketamine,
      });
    },
  ),
  'safety-phq9-item9': patientWith(
    fc.tuple(fc.constantFrom('component', 'items', 'member', 'standalone'), fc.integer({ min: 1, max: 3 })),
    (s, [via, n]) => {
      const effective = dayBefore(s);
      const item9: KapObservation = {
        id: 'i9-new',
        patientId: 'p1',
        status: 'final',
        effective,
        value: { kind: 'phq9-item9', answer: n },
      };
      if (via === 'standalone') s.record.observations.push(item9);
      else {
        const value: ObservationValue =
          via === 'component'
            ? { kind: 'phq9', item9: n }
            : via === 'items'
              ? { kind: 'phq9', items: [0, 0, 0, 0, 0, 0, 0, 0, n] }
              : { kind: 'phq9', members: ['Observation/i9-new'] };
        s.record.observations.push({ id: 'phq9-new', patientId: 'p1', status: 'final', effective, value });
        if (via === 'member') s.record.observations.push(item9);
      }
    },
  ),
  'safety-phq9-item9-unknown': patient((s) => {
    s.record.observations.push({
      id: 'phq9-new',
      patientId: 'p1',
      status: 'final',
      effective: dayBefore(s),
      value: { kind: 'phq9', total: 5 },
    });
  }),
  'safety-cssrs-risk': patientWith(fc.constantFrom('moderate', 'high' as const), (s, risk) => {
    s.record.observations.push({
      id: 'cssrs-new',
      patientId: 'p1',
      status: 'final',
      effective: dayBefore(s),
      value: { kind: 'cssrs', risk },
    });
  }),
  'safety-contraindication': patientWith(
    fc.constantFrom('Condition', 'AllergyIntolerance' as const),
    (s, type) => {
      s.record.findings.push({
        id: 'f-new',
        patientId: 'p1',
        type,
        active: true,
        contraindication: 'psychosis',
        recorded: dayBefore(s),
        text: 'schizophrenia',
      });
    },
  ),
  'safety-adverse-event': patient((s) => {
    s.record.adverseEvents.push({ id: 'ae-new', patientId: 'p1', occurredAt: dayBefore(s), serious: true });
  }),
  'safety-finding-unreadable': patient((s) => {
    s.record.unreadable.push({
      kind: 'safety-finding',
      source: 'Condition/x/_history/1',
      at: dayBefore(s),
      problem: '?',
    });
  }),
  'safety-blood-pressure': patientWith(
    fc
      .tuple(fc.constantFrom(120, 141, 190), fc.constantFrom(80, 91, 120))
      .filter(([sys, dia]) => sys > 140 || dia > 90),
    (s, [systolic, diastolic]) => {
      s.record.observations.push({
        id: 'bp-new',
        patientId: 'p1',
        status: 'final',
        effective: earlyOnTheDay(s),
        value: { kind: 'blood-pressure', systolic, diastolic },
      });
    },
  ),
  'blood-pressure-unreadable': patient((s) => {
    s.record.unreadable.push({
      kind: 'blood-pressure',
      source: 'Observation/x/_history/1',
      at: earlyOnTheDay(s),
      problem: 'The unit [in_i] cannot be converted to mm[Hg].',
    });
  }),
  'ehr-stale': patientWith(fc.constantFrom(25, 100, -1), (s, hours) => {
    if (hours < 0) delete s.query.ehrLastHeardAt;
    else s.query.ehrLastHeardAt = iso(Date.parse(s.query.now) - hours * HOUR);
  }),
  'partner-not-ready': {
    level: 'course',
    apply: (s) =>
      fc.constantFrom('link', 'consent', 'clearance').map((what) => {
        const partner = structuredClone(s.partner);
        if (what === 'link') partner.link = 'pending';
        if (what === 'consent') partner.consents = [];
        if (what === 'clearance') partner.clearances = [];
        return { episode: s.episode, records: [s.record, partner] };
      }),
  },
  'couple-unreadable': {
    level: 'course',
    apply: (s) =>
      fc.constantFrom('missing', 'one', 'three').map((how) => {
        if (how === 'missing') return { episode: s.episode, records: [s.record] };
        const patients = how === 'one' ? ['p1'] : ['p1', 'p2', 'p3'];
        return { episode: { ...s.episode, patients }, records: [s.record, s.partner] };
      }),
  },
};

/** Each source a rule needs, and how to take it out of a ready scenario. */
export const SOURCES: Record<string, (s: ReadyScenario) => ReadyScenario> = {
  consent: (s) => ({ ...clone(s), record: { ...s.record, consents: [] } }),
  clearance: (s) => ({ ...clone(s), record: { ...s.record, clearances: [] } }),
  order: (s) => ({ ...clone(s), record: { ...s.record, prescriptions: [] } }),
  dispense: (s) => ({
    ...clone(s),
    policy: { ...s.policy, requireDispense: true },
    record: { ...s.record, dispenses: [] },
  }),
  'preparation session': (s) => ({
    ...clone(s),
    record: { ...s.record, sessions: s.record.sessions.filter((x) => x.phase !== 'preparation') },
  }),
  episode: (s) => {
    const c = clone(s);
    c.record.episodes = [];
    return { ...c, episode: undefined as unknown as Episode };
  },
  'blood pressure': (s) => ({
    ...clone(s),
    record: {
      ...s.record,
      observations: s.record.observations.filter((o) => o.value.kind !== 'blood-pressure'),
    },
  }),
  'EHR checkpoint': (s) => {
    const c = clone(s);
    delete c.query.ehrLastHeardAt;
    return c;
  },
};
