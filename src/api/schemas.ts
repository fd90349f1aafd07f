/**
 * The therapist API's bodies, defined once (TypeBox): each is a JSON Schema, which checks requests
 * (./request-validation.ts) and goes into the OpenAPI document (src/http/openapi.ts), and a
 * TypeScript type (`Static`), which the handlers take. The three cannot drift apart.
 */
import {
  type Static,
  type TLiteral,
  type TObject,
  type TProperties,
  type TSchema,
  Type,
} from '@sinclair/typebox';
import { REASONS } from '../domain/readiness.js';
import { PATH_ID_PATTERN, referencePattern } from '../fhir/ids.js';

const Id = (description?: string) =>
  Type.String({ pattern: PATH_ID_PATTERN, ...(description ? { description } : {}) });
const Instant = (description?: string) =>
  Type.String({ format: 'date-time', ...(description ? { description } : {}) });
const DateOnly = (description?: string) =>
  Type.String({ format: 'date', ...(description ? { description } : {}) });
const Reference = (type: string, description?: string) =>
  Type.String({ pattern: referencePattern(type), ...(description ? { description } : {}) });
const Int = (minimum: number, maximum: number, description?: string) =>
  Type.Integer({ minimum, maximum, ...(description ? { description } : {}) });
const Num = (minimum: number, maximum: number) => Type.Number({ minimum, maximum });
const closed = { additionalProperties: false } as const;
/** An answer's object: open, since kap-bridge may add fields and a client reads those it knows. */
const Open = <T extends TProperties>(properties: T, options: object = {}) =>
  Type.Object(properties, { additionalProperties: true, ...options });
/** One of a list of strings: a plain `enum` (one error when the value is none of them). */
const Enum = <T extends string>(values: readonly T[], description?: string) =>
  Type.Unsafe<T>({ type: 'string', enum: [...values], ...(description ? { description } : {}) });

export const Identifier = Type.Object(
  {
    system: Type.String({ minLength: 1, maxLength: 256, description: 'Namespace, e.g. the EHR MRN system' }),
    value: Type.String({ minLength: 1, maxLength: 128 }),
  },
  closed,
);

// ---- requests ----

export const PatientRegistration = Type.Object(
  {
    id: Type.Optional(Id("kap-bridge's id; generated when absent")),
    identifiers: Type.Array(Identifier, { minItems: 1, maxItems: 20 }),
    ehrPatient: Type.Optional(
      Reference('Patient', 'The EHR Patient, when the therapist knows it; otherwise found by identifier'),
    ),
  },
  closed,
);
export type PatientRegistration = Static<typeof PatientRegistration>;

export const EpisodeRegistration = Type.Object(
  {
    id: Type.Optional(Id()),
    type: Enum(['individual', 'couples'] as const, 'Individual KAP, or couples KARP with two patients'),
    patients: Type.Array(Id(), { minItems: 1, maxItems: 2 }),
    intention: Type.Optional(
      Type.String({
        maxLength: 2000,
        description: "The patient's own words for what they hope from the course: the Goal",
      }),
    ),
    start: Type.Optional(DateOnly()),
    plannedSessions: Type.Optional(
      Type.Object(
        {
          preparation: Type.Optional(Int(1, 2)),
          medicine: Type.Optional(Int(1, 12)),
          integration: Type.Optional(Int(1, 24)),
        },
        closed,
      ),
    ),
  },
  closed,
);
export type EpisodeRegistration = Static<typeof EpisodeRegistration>;

export const EpisodeStatusChange = Type.Object(
  {
    status: Enum(['active', 'onhold', 'finished', 'cancelled'] as const),
    reason: Type.Optional(Type.String({ minLength: 1, maxLength: 2000, description: 'Why, in words' })),
    time: Type.Optional(Instant('When it happened; now when absent')),
  },
  closed,
);
export type EpisodeStatusChange = Static<typeof EpisodeStatusChange>;

export const ConsentRecording = Type.Object(
  {
    id: Type.Optional(Id()),
    patient: Id('The partner who signed'),
    signedAt: Instant(),
    status: Type.Optional(Enum(['active', 'rejected', 'inactive'] as const, 'active (signed) when absent')),
    document: Type.Union(
      [
        Type.Object(
          {
            url: Type.String({ format: 'uri', maxLength: 2000 }),
            contentType: Type.Optional(Type.String({ maxLength: 100 })),
            title: Type.Optional(Type.String({ maxLength: 200 })),
          },
          closed,
        ),
        Type.Object(
          {
            documentReference: Reference('DocumentReference'),
            title: Type.Optional(Type.String({ maxLength: 200 })),
          },
          closed,
        ),
      ],
      { description: 'The signed agreement: a URL the EHR can resolve, or a DocumentReference' },
    ),
  },
  closed,
);
export type ConsentRecording = Static<typeof ConsentRecording>;

export const SessionScheduling = Type.Object(
  {
    id: Type.Optional(Id('The (joint) session id; generated when absent')),
    phase: Enum(['preparation', 'medicine', 'integration'] as const),
    start: Instant(),
    end: Type.Optional(Instant()),
    therapist: Type.Optional(Reference('Practitioner')),
    mode: Type.Optional(
      Enum(
        ['in-person', 'remote'] as const,
        'A medicine session in the office (default), or remote: the therapist on video, a chaperone in the room checking in',
      ),
    ),
    chaperone: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 200,
        description: 'Who stays with the patient in a remote medicine session; required for one',
      }),
    ),
  },
  closed,
);
export type SessionScheduling = Static<typeof SessionScheduling>;

export const SessionMove = Type.Object(
  {
    time: Type.Optional(Instant('When it happened; now when absent')),
    transport: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 500,
        description:
          'Completing a medicine session: how the patient goes home (no driving until the next day); a discharge criterion',
      }),
    ),
    override: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 2000,
        description:
          'Completing a medicine session whose discharge criteria do not hold: why it is completed anyway; reported to the prescriber',
      }),
    ),
    note: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 4000,
        description: "Completing a medicine session: the therapist's short note for the session report",
      }),
    ),
  },
  closed,
);
export type SessionMove = Static<typeof SessionMove>;

export const DoseRecording = Type.Object(
  {
    id: Type.Optional(Id()),
    patient: Id('Who took it (a partner, in a joint session)'),
    dose: Type.Object(
      {
        value: Type.Number({ exclusiveMinimum: 0, maximum: 1000 }),
        unit: Enum(['mg'] as const),
      },
      closed,
    ),
    route: Type.Optional(
      Enum(
        ['sublingual', 'intramuscular', 'intranasal', 'oral', 'intravenous'] as const,
        "The prescription's route when absent",
      ),
    ),
    time: Instant(),
    lotNumber: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 40,
        pattern: '^[A-Za-z0-9]([A-Za-z0-9 ./_-]*[A-Za-z0-9])?$',
        description:
          "The lot number on the product's label (letters, digits, and space . / _ - between them): it goes to the EHR with the dose and shows in the session report",
      }),
    ),
  },
  closed,
);
export type DoseRecording = Static<typeof DoseRecording>;

/** The kap-adverse-event codes (profiles/CodeSystem-kap-adverse-event.json; a test keeps the two the same). */
export const ADVERSE_EVENTS = [
  'nausea',
  'vomiting',
  'hypertension',
  'tachycardia',
  'desaturation',
  'excessive-sedation',
  'dissociation-distress',
  'anxiety',
  'dizziness',
  'headache',
  'fall',
  'other',
] as const;

export const AdverseEventRecording = Type.Object(
  {
    id: Type.Optional(Id()),
    patient: Id('Whose event it is (a partner, in a joint session)'),
    event: Enum(ADVERSE_EVENTS, 'What happened (CodeSystem kap-adverse-event)'),
    description: Type.Optional(Type.String({ minLength: 1, maxLength: 2000 })),
    severity: Enum(['mild', 'moderate', 'severe'] as const),
    serious: Type.Boolean({
      description:
        "Serious: reaches the prescriber at once and stops the next dose until the prescriber's review",
    }),
    onset: Instant('When it began'),
    actionTaken: Type.Optional(Type.String({ minLength: 1, maxLength: 2000 })),
    outcome: Enum(['resolved', 'recovering', 'ongoing', 'resolvedWithSequelae', 'fatal', 'unknown'] as const),
  },
  closed,
);
export type AdverseEventRecording = Static<typeof AdverseEventRecording>;

const MonitoringPoint = Open({
  id: Type.String({ description: 'pre-dose, post-dose-40, pre-discharge, check-in-<n>' }),
  label: Type.String(),
  kind: Type.String({ description: 'blood-pressure, heart-rate, spo2, sedation, dissociation, check-in' }),
  status: Enum(['done', 'due', 'overdue', 'upcoming'] as const),
  dueFrom: Type.Optional(Instant()),
  dueBy: Type.Optional(Instant()),
  takenAt: Type.Optional(Instant()),
  source: Type.Optional(Type.String()),
});

export const SessionReport = Open(
  {
    resourceType: Enum(['Bundle'] as const),
    id: Type.String(),
    identifier: Open({ system: Type.String(), value: Type.String() }),
    type: Enum(['document'] as const),
    timestamp: Instant('When the report was written: the discharge'),
    entry: Type.Array(
      Open({
        fullUrl: Type.String(),
        resource: Open({ resourceType: Type.String() }),
      }),
      {
        description:
          'The Composition (kap-session-report) first, its sections with their narrative; then the MedicationAdministrations, Observations and AdverseEvents it summarises',
      },
    ),
  },
  { description: "One patient's medicine session report: a FHIR document" },
);

/** Where one patient's monitoring in a medicine session stands. */
const PatientMonitoring = {
  sessionId: Type.String({ description: "The patient's own session" }),
  patientId: Type.String(),
  mode: Enum(['in-person', 'remote'] as const),
  chaperone: Type.Optional(Type.String()),
  firstDoseAt: Type.Optional(Instant()),
  monitoredUntil: Type.Optional(Instant('The first dose plus KAP_MONITORING_MINUTES')),
  points: Type.Array(MonitoringPoint),
  due: Type.Array(MonitoringPoint),
  overdue: Type.Array(MonitoringPoint),
  outOfRange: Type.Array(
    Open({
      kind: Type.String(),
      at: Instant(),
      message: Type.String(),
      source: Type.Optional(Type.String()),
    }),
  ),
};

export const Monitoring = Open({
  sessionId: Type.String(),
  at: Instant('The instant the answer is for'),
  patients: Type.Array(Open(PatientMonitoring)),
});

/** One branch per kind of the domain's ObservationValue: `kind` picks which fields it carries. */
const OBSERVATION_VALUES = {
  phq9: {
    total: Int(0, 27),
    items: Type.Optional(
      Type.Array(Int(0, 3), { minItems: 9, maxItems: 9, description: 'Items 1..9, each 0..3' }),
    ),
    item9: Type.Optional(
      Int(
        0,
        3,
        'Item 9 (thoughts of self-harm) alone, when the items are not all given. Without item 9 (here or in items), suicidality is unknown and readiness says so.',
      ),
    ),
  },
  gad7: { total: Int(0, 21) },
  pcl5: { total: Int(0, 80) },
  cssrs: { risk: Enum(['low', 'moderate', 'high'] as const) },
  'mental-status': { findings: Type.String({ minLength: 1, maxLength: 4000 }) },
  'blood-pressure': { systolic: Num(30, 300), diastolic: Num(20, 200) },
  'heart-rate': { perMinute: Num(20, 300) },
  spo2: { percent: Num(50, 100) },
  dissociation: { cadss: Int(0, 92) },
  sedation: { moaas: Int(0, 5) },
  'check-in': {
    note: Type.Optional(
      Type.String({ minLength: 1, maxLength: 2000, description: 'What the chaperone reported' }),
    ),
  },
} as const;

type Kinds = typeof OBSERVATION_VALUES;
type Branch<K extends keyof Kinds> = Kinds[K] extends infer P extends TProperties
  ? TObject<{ kind: TLiteral<K> } & P>
  : never;
const branch = <K extends keyof Kinds>(kind: K): Branch<K> =>
  Type.Object({ kind: Type.Literal(kind), ...OBSERVATION_VALUES[kind] }, closed) as unknown as Branch<K>;
export type ObservationValue = { [K in keyof Kinds]: Static<Branch<K>> }[keyof Kinds];

/**
 * The value: `kind` first, then the fields of that kind only (JSON Schema's if/then, so that a
 * mistake is named at its field rather than as "matches none of ten branches").
 */
export const ObservationValue = Type.Unsafe<ObservationValue>({
  type: 'object',
  required: ['kind'],
  properties: { kind: { enum: Object.keys(OBSERVATION_VALUES) } },
  allOf: (Object.keys(OBSERVATION_VALUES) as (keyof Kinds)[]).map((kind) => ({
    if: { properties: { kind: { const: kind } }, required: ['kind'] },
    // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then, never awaited
    then: branch(kind),
  })),
});

export const ObservationRecording = Type.Object(
  {
    id: Type.Optional(Id()),
    value: ObservationValue,
    effective: Instant(),
    session: Type.Optional(
      Id("The session it was taken in: the patient's own, or a joint session they take part in"),
    ),
    status: Type.Optional(Enum(['preliminary', 'final', 'amended'] as const)),
    performer: Type.Optional(Reference('Practitioner')),
  },
  closed,
);
export type ObservationRecording = Static<typeof ObservationRecording>;

/** The patient a write on a course is about: named in the body, so that no address carries it. */
const Partner = { patient: Id('Whose it is: a partner of the course (422 when not)') };

export const CourseObservationRecording = Type.Object(
  {
    ...ObservationRecording.properties,
    ...Partner,
    session: Type.Optional(
      Id(
        "The session it was taken in: one of the course's, the patient's own or a joint session they take part in",
      ),
    ),
  },
  closed,
);
export type CourseObservationRecording = Static<typeof CourseObservationRecording>;

export const ReferralRecording = Type.Object(
  {
    id: Type.Optional(Id()),
    episode: Type.Optional(Id('The course the clearance is for')),
    reason: Type.Optional(Type.String({ maxLength: 2000 })),
    requester: Reference('Practitioner', 'The therapist asking'),
    performer: Type.Optional(Reference('Practitioner', 'The prescriber asked')),
    authoredOn: Type.Optional(Instant()),
  },
  closed,
);
export type ReferralRecording = Static<typeof ReferralRecording>;

const { episode: _course, ...referral } = ReferralRecording.properties;
/** A clearance referral for the course in the address. */
export const CourseReferralRecording = Type.Object({ ...referral, ...Partner }, closed);
export type CourseReferralRecording = Static<typeof CourseReferralRecording>;

// ---- answers (open: kap-bridge may add fields; a client reads those it knows) ----

export const Patient = Open({
  id: Type.String(),
  identifiers: Type.Array(Identifier),
  ehrPatient: Type.Optional(Type.String()),
});

export const Verdict = Enum(
  ['ready', 'pending-day-of-checks', 'not-ready'] as const,
  'ready: every rule passes; pending-day-of-checks: only what is recorded on the day is missing (the pre-dose blood pressure); not-ready: anything else',
);

export const Reason = Open({
  code: Type.String({ enum: Object.keys(REASONS) }),
  outcome: Type.Optional(
    Enum(
      ['block', 'unknown', 'day-of'] as const,
      'It blocks; the rule could not tell (not ready either); or it is checked on the day',
    ),
  ),
  message: Type.String(),
  source: Type.Optional(Type.String({ description: 'Type/id/_history/version' })),
  patientId: Type.Optional(Type.String({ description: 'For a couples course: whose reason it is' })),
});

export const MedicationStatus = Open({
  patientId: Type.String(),
  episodeId: Type.Optional(Type.String({ description: 'The course the answer is for' })),
  date: DateOnly(),
  at: Type.Optional(Instant()),
  ready: Type.Boolean({ description: 'True only when every rule passes' }),
  verdict: Verdict,
  reasons: Type.Array(Reason),
  warnings: Type.Optional(
    Type.Array(Open({ code: Type.String(), message: Type.String(), source: Type.Optional(Type.String()) }), {
      description:
        'Shown, never blocking: active orders for MAOIs, benzodiazepines and psychostimulants (interacting-medication)',
    }),
  ),
  status: Open({}, { description: 'Clearance, prescription and dispense, each with its FHIR source' }),
  ehrLastHeardAt: Type.Optional(Type.Union([Type.String(), Type.Null()])),
});

export const EpisodeReadiness = Open({
  episodeId: Type.String(),
  date: DateOnly(),
  at: Type.Optional(Instant()),
  ready: Type.Boolean({ description: 'True only when every rule passes' }),
  verdict: Verdict,
  patients: Type.Array(MedicationStatus),
  reasons: Type.Array(Reason),
});

export const Episode = Open({
  id: Type.String(),
  type: Enum(['individual', 'couples'] as const),
  status: Type.String(),
  patients: Type.Array(Type.String()),
  plannedSessions: Open({}),
});

export const Session = Open({
  id: Type.String(),
  episodeId: Type.String(),
  phase: Type.String(),
  status: Type.String(),
  start: Type.Optional(Instant()),
  end: Type.Optional(Instant()),
  source: Type.String({ description: 'Type/id, then Type/id/_history/version once in the EHR' }),
  partners: Type.Optional(
    Type.Array(Open({}), {
      description: "In a joint session: each partner's own session, as this one",
    }),
  ),
});

export const Recorded = Open(
  {
    id: Type.String(),
    source: Type.Optional(
      Type.String({ description: 'Type/id, then Type/id/_history/version once in the EHR' }),
    ),
    sources: Type.Optional(
      Type.Record(Type.String(), Type.String(), {
        description: 'What was recorded as more than one resource: each by its role',
      }),
    ),
  },
  {
    description:
      'The domain value recorded, with `source` (or `sources`): Type/id, then Type/id/_history/version once in the EHR',
  },
);

export const Timeline = Open({
  id: Type.String(),
  type: Type.String(),
  status: Type.String(),
  patients: Type.Array(Type.String()),
  source: Type.String(),
  consents: Type.Array(Open({})),
  phases: Type.Array(
    Open({
      phase: Type.String(),
      planned: Type.Optional(Type.Integer()),
      sessions: Type.Array(Session),
    }),
  ),
  doses: Type.Array(Open({})),
  observations: Type.Array(Open({})),
  monitoring: Type.Array(
    Open({ ...PatientMonitoring, at: Instant("Where the points stood: the session's end, or now") }),
    {
      description:
        "Each patient's medicine session that began (each partner's own, in a couple): the plan's points and check-ins, with the reading that met each, and the readings out of range",
    },
  ),
  adverseEvents: Type.Array(Open({ id: Type.String(), patientId: Type.String(), source: Type.String() }), {
    description: "The adverse events of the course's medicine sessions, each with its source",
  }),
  reports: Type.Array(
    Open({
      id: Type.String(),
      sessionId: Type.String({ description: "The patient's own session" }),
      jointSessionId: Type.Optional(
        Type.String({ description: 'In a couple, the joint session it is part of' }),
      ),
      patientId: Type.String(),
      issuedAt: Type.Optional(Instant('When it was written: the discharge')),
      source: Type.String({ description: "The EHR's Bundle once delivered, kap-bridge's until then" }),
    }),
    { description: "The report of each patient's completed medicine session" },
  ),
  readiness: EpisodeReadiness,
});

/** A patient as the therapist knows them: kap-bridge's id and their identifiers. */
const PatientNamed = Open({ id: Type.String(), identifiers: Type.Array(Identifier) });

export const Courses = Open({
  episodes: Type.Array(
    Open({
      id: Type.String(),
      type: Enum(['individual', 'couples'] as const),
      status: Type.String(),
      patients: Type.Array(PatientNamed),
    }),
  ),
});

export const Week = Open({
  from: DateOnly(),
  to: DateOnly(),
  sessions: Type.Array(
    Open({
      session: Session,
      episodeId: Type.String(),
      episodeType: Enum(['individual', 'couples'] as const),
      patients: Type.Array(PatientNamed),
      readiness: EpisodeReadiness,
    }),
  ),
});

export const Drift = Open({
  kind: Enum(['missing-here', 'missing-there', 'different-content', 'conflicting-versions'] as const),
  resourceType: Type.String(),
  here: Type.Optional(Type.String({ description: "kap-bridge's copy, Type/id/_history/version" })),
  there: Type.Optional(Type.String({ description: "The EHR's copy, Type/id/_history/version" })),
  remedy: Enum(
    ['pull', 'resend', 'person'] as const,
    "What heals it: take the EHR's in, send ours again, or a person decides",
  ),
  detail: Type.String(),
});

export const Reconciliation = Open({
  patient: Type.String(),
  ehrPatient: Type.Optional(Type.String()),
  checkedAt: Instant(),
  here: Type.Integer({ description: 'Resources in the local record' }),
  there: Type.Integer({ description: 'Resources the EHR holds for the patient' }),
  matched: Type.Integer(),
  drift: Type.Array(Drift),
  skipped: Type.Optional(Type.String({ description: 'Why the patient was not compared' })),
});

export const OperationOutcome = Open(
  {
    resourceType: Type.Literal('OperationOutcome'),
    id: Type.Optional(Type.String()),
    issue: Type.Array(
      Open({
        severity: Enum(['fatal', 'error', 'warning', 'information'] as const),
        code: Type.String(),
        diagnostics: Type.Optional(Type.String()),
        expression: Type.Optional(Type.Array(Type.String())),
      }),
      { minItems: 1 },
    ),
  },
  { description: 'A FHIR OperationOutcome: what is wrong, with `expression` pointing at the field' },
);

/** The bodies the API reads, by name: what request-validation checks a request against. */
export const REQUEST_SCHEMAS = {
  PatientRegistration,
  EpisodeRegistration,
  EpisodeStatusChange,
  ConsentRecording,
  SessionScheduling,
  SessionMove,
  DoseRecording,
  AdverseEventRecording,
  ObservationRecording,
  CourseObservationRecording,
  ReferralRecording,
  CourseReferralRecording,
} satisfies Record<string, TSchema>;
export type RequestSchemaName = keyof typeof REQUEST_SCHEMAS;

/** The bodies the API answers, by name. */
export const ANSWER_SCHEMAS = {
  Patient,
  Episode,
  Timeline,
  EpisodeReadiness,
  MedicationStatus,
  Session,
  Recorded,
  Reconciliation,
  Monitoring,
  SessionReport,
  Week,
  Courses,
  OperationOutcome,
} satisfies Record<string, TSchema>;
export type AnswerSchemaName = keyof typeof ANSWER_SCHEMAS;

/**
 * What an operation answers, as its schema says: the type of the handler's answer (src/api), so
 * that a handler answering what its documented schema does not allow fails to typecheck.
 */
export type Answer<N extends AnswerSchemaName> = Static<(typeof ANSWER_SCHEMAS)[N]>;
