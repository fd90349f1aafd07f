import { REASONS } from '../domain/readiness.js';

/**
 * The therapist API, described once: this document is served at /api/v1/openapi.json and the
 * same schemas validate every request, so the description cannot drift from the behaviour.
 */

import { PATH_ID_PATTERN } from '../fhir/id.js';

const identifier = {
  type: 'object',
  additionalProperties: false,
  required: ['system', 'value'],
  properties: {
    system: {
      type: 'string',
      minLength: 1,
      maxLength: 256,
      description: 'Namespace, e.g. the EHR MRN system',
    },
    value: { type: 'string', minLength: 1, maxLength: 128 },
  },
} as const;

const outcome = {
  description: 'A FHIR OperationOutcome: what is wrong, with `expression` pointing at the field',
  content: { 'application/fhir+json': { schema: { $ref: '#/components/schemas/OperationOutcome' } } },
} as const;

/** Ids the API assigns or reads from a path, which may stand in a URL. */
const ID_PATTERN = PATH_ID_PATTERN;

const idParameter = {
  name: 'id',
  in: 'path',
  required: true,
  schema: { type: 'string', pattern: ID_PATTERN },
} as const;
const instant = { type: 'string', format: 'date-time' } as const;
const reference = (type: string, description?: string) =>
  ({
    type: 'string',
    pattern: `^${type}/[A-Za-z0-9\\-.]{1,64}$`,
    ...(description ? { description } : {}),
  }) as const;

/** A write on the course: its body schema, what it answers, and the refusals it can meet. */
const recording = (
  operationId: string,
  summary: string,
  body: string,
  answer: string,
  bodyRequired = true,
  answered: '200' | '201' = bodyRequired ? '201' : '200',
) =>
  ({
    post: {
      operationId,
      summary,
      parameters: [idParameter],
      requestBody: {
        required: bodyRequired,
        content: { 'application/json': { schema: { $ref: `#/components/schemas/${body}` } } },
      },
      responses: {
        [answered]: {
          description: 'Recorded locally and queued for the EHR; `source` says where it is kept',
          content: { 'application/json': { schema: { $ref: `#/components/schemas/${answer}` } } },
        },
        '400': outcome,
        '404': outcome,
        '409': outcome,
        '422': outcome,
      },
    },
  }) as const;

const integer = (minimum: number, maximum: number) => ({ type: 'integer', minimum, maximum }) as const;
const number = (minimum: number, maximum: number) => ({ type: 'number', minimum, maximum }) as const;

/** One branch per kind of the domain's ObservationValue: `kind` picks which fields it carries. */
const OBSERVATION_VALUES: Record<string, { required: string[]; properties: Record<string, object> }> = {
  phq9: {
    required: ['total'],
    properties: {
      total: integer(0, 27),
      items: {
        type: 'array',
        minItems: 9,
        maxItems: 9,
        items: integer(0, 3),
        description: 'Items 1..9, each 0..3',
      },
      item9: {
        ...integer(0, 3),
        description:
          'Item 9 (thoughts of self-harm) alone, when the items are not all given. Without item 9 (here or in items), suicidality is unknown and readiness says so.',
      },
    },
  },
  gad7: { required: ['total'], properties: { total: integer(0, 21) } },
  pcl5: { required: ['total'], properties: { total: integer(0, 80) } },
  cssrs: { required: ['risk'], properties: { risk: { enum: ['low', 'moderate', 'high'] } } },
  'mental-status': {
    required: ['findings'],
    properties: { findings: { type: 'string', minLength: 1, maxLength: 4000 } },
  },
  'blood-pressure': {
    required: ['systolic', 'diastolic'],
    properties: { systolic: number(30, 300), diastolic: number(20, 200) },
  },
  'heart-rate': { required: ['perMinute'], properties: { perMinute: number(20, 300) } },
  spo2: { required: ['percent'], properties: { percent: number(50, 100) } },
  dissociation: { required: ['cadss'], properties: { cadss: integer(0, 92) } },
  sedation: { required: ['moaas'], properties: { moaas: integer(0, 5) } },
  'check-in': {
    required: [],
    properties: {
      note: { type: 'string', minLength: 1, maxLength: 2000, description: 'What the chaperone reported' },
    },
  },
};

const observationValue = {
  type: 'object',
  required: ['kind'],
  properties: { kind: { enum: Object.keys(OBSERVATION_VALUES) } },
  allOf: Object.entries(OBSERVATION_VALUES).map(([kind, { required, properties }]) => ({
    if: { properties: { kind: { const: kind } }, required: ['kind'] },
    // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then, never awaited
    then: {
      required,
      additionalProperties: false,
      properties: { kind: { const: kind }, ...properties },
    },
  })),
};

export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'kap-bridge therapist API',
    version: '1',
    description:
      "For the therapist's system: register patients, and ask whether a patient may take part in a medicine session on a given date, and if not, why.",
  },
  servers: [{ url: '/api/v1' }],
  // Every operation needs a bearer token of a therapist system, with the SMART scope listed in the
  // README's route table (src/http/routes.ts); a foreign or unknown id is a 404.
  security: [{ bearer: [] }],
  paths: {
    '/patients': {
      post: {
        operationId: 'registerPatient',
        summary:
          "Register a patient, linked to the EHR's Patient by identifiers (never by name or birth date)",
        requestBody: {
          required: true,
          content: { 'application/json': { schema: { $ref: '#/components/schemas/PatientRegistration' } } },
        },
        responses: {
          '201': {
            description: 'Registered',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Patient' } } },
          },
          '200': { description: 'Already registered with these identifiers' },
          '400': outcome,
          '409': outcome,
        },
      },
    },
    '/patients/{id}': {
      get: {
        operationId: 'getPatient',
        parameters: [
          { name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: ID_PATTERN } },
        ],
        responses: {
          '200': {
            description: 'The patient',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Patient' } } },
          },
          '404': outcome,
        },
      },
    },
    '/episodes': {
      get: {
        operationId: 'listCourses',
        summary: "The practice's courses, oldest first, each with its patients' identifiers",
        responses: {
          '200': {
            description: 'The courses',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['episodes'],
                  properties: {
                    episodes: { type: 'array', items: { $ref: '#/components/schemas/Episode' } },
                  },
                },
              },
            },
          },
        },
      },
      post: {
        operationId: 'registerEpisode',
        summary: 'Register a KAP course: individual (one patient) or couples (two)',
        requestBody: {
          required: true,
          content: { 'application/json': { schema: { $ref: '#/components/schemas/EpisodeRegistration' } } },
        },
        responses: {
          '201': {
            description: 'Registered',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Episode' } } },
          },
          '400': outcome,
          '409': outcome,
          '422': outcome,
        },
      },
    },
    '/episodes/{id}': {
      get: {
        operationId: 'getEpisode',
        summary:
          'The course and its timeline: consents, sessions by phase, doses, scores and vitals, readiness on a date; each item with its FHIR source',
        parameters: [
          idParameter,
          { name: 'date', in: 'query', required: false, schema: { type: 'string', format: 'date' } },
        ],
        responses: {
          '200': {
            description: 'The episode with its timeline',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Timeline' } } },
          },
          '400': outcome,
          '404': outcome,
        },
      },
    },
    '/episodes/{id}/readiness': {
      get: {
        operationId: 'getEpisodeReadiness',
        summary:
          'Readiness of the whole course for a medicine session on a date; a couples course needs both partners ready',
        parameters: [
          { name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: ID_PATTERN } },
          { name: 'date', in: 'query', required: false, schema: { type: 'string', format: 'date' } },
          {
            name: 'at',
            in: 'query',
            required: false,
            description:
              'The instant the medicine session starts (with its offset); without it the whole day must be covered',
            schema: { type: 'string', format: 'date-time' },
          },
        ],
        responses: {
          '200': {
            description: 'Ready, or every reason not, per partner',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/EpisodeReadiness' } } },
          },
          '400': outcome,
          '404': outcome,
        },
      },
    },
    '/episodes/{id}/status': recording(
      'changeEpisodeStatus',
      "Put the course on hold, finish it or cancel it (or take it off hold), with the reason; written to the EHR's EpisodeOfCare and CarePlan. Only an active course can have a medicine session",
      'EpisodeStatusChange',
      'Episode',
      true,
      '200',
    ),
    '/episodes/{id}/consents': recording(
      'recordConsent',
      "Record a partner's signed informed consent for the course (Consent)",
      'ConsentRecording',
      'Recorded',
    ),
    '/episodes/{id}/sessions': recording(
      'scheduleSession',
      'Schedule a preparation, medicine or integration session (Encounter); in a couples course the joint session with one session per partner',
      'SessionScheduling',
      'Session',
    ),
    '/sessions/{id}/start': recording('startSession', 'The session begins', 'SessionMove', 'Session', false),
    '/sessions/{id}/complete': recording(
      'completeSession',
      'The session is over',
      'SessionMove',
      'Session',
      false,
    ),
    '/sessions/{id}/cancel': recording(
      'cancelSession',
      'The session will not take place',
      'SessionMove',
      'Session',
      false,
    ),
    '/sessions/{id}/doses': recording(
      'recordDose',
      'Record a ketamine dose taken in a medicine session in progress (MedicationAdministration); refused with every readiness reason (422) when the course is not ready that day',
      'DoseRecording',
      'Recorded',
    ),
    '/patients/{id}/observations': recording(
      'recordObservation',
      'Record a score, vital sign, mental status or session effect (Observation), optionally in a session',
      'ObservationRecording',
      'Recorded',
    ),
    '/patients/{id}/referrals': recording(
      'requestClearance',
      'Ask the prescriber for a medical clearance (ServiceRequest + Task)',
      'ReferralRecording',
      'Recorded',
    ),
    '/patients/{id}/medication-status': {
      get: {
        operationId: 'getMedicationStatus',
        summary:
          'Clearance, prescription and readiness for a medicine session on a date, from the aligned record',
        parameters: [
          { name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: ID_PATTERN } },
          {
            name: 'date',
            in: 'query',
            required: false,
            description:
              "The day of the planned medicine session (YYYY-MM-DD, in the practice's time zone); today there when absent",
            schema: { type: 'string', format: 'date' },
          },
          {
            name: 'at',
            in: 'query',
            required: false,
            description:
              'The instant the medicine session starts (with its offset); without it the whole day must be covered',
            schema: { type: 'string', format: 'date-time' },
          },
        ],
        responses: {
          '200': {
            description: 'Ready, or every reason not, each with a code, a sentence and its FHIR source',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/MedicationStatus' } } },
          },
          '400': outcome,
          '404': outcome,
        },
      },
    },
    '/patients/{id}/reconcile': {
      get: {
        operationId: 'getReconciliation',
        summary:
          'The drift between the local aligned record and the EHR for the patient (report only; `kap-bridge reconcile --fix` heals)',
        parameters: [idParameter],
        responses: {
          '200': {
            description: 'Every resource either side holds that the other lacks or holds otherwise',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Reconciliation' } } },
          },
          '400': outcome,
          '404': outcome,
          '502': outcome,
          '503': outcome,
        },
      },
    },
    '/sessions': {
      get: {
        operationId: 'listUpcomingSessions',
        summary:
          "The practice's medicine sessions planned or under way in the coming days, each with its course's readiness at the session's start",
        parameters: [
          { name: 'date', in: 'query', required: false, schema: { type: 'string', format: 'date' } },
          {
            name: 'days',
            in: 'query',
            required: false,
            description: 'How many days from `date` (today by default); 7 by default',
            schema: { type: 'integer', minimum: 1, maximum: 31 },
          },
        ],
        responses: {
          '200': {
            description: 'The sessions by start, each with its course, patients and readiness',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['from', 'to', 'sessions'],
                  properties: {
                    from: { type: 'string', format: 'date' },
                    to: { type: 'string', format: 'date' },
                    sessions: {
                      type: 'array',
                      items: {
                        type: 'object',
                        properties: {
                          session: { type: 'object' },
                          episodeId: { type: 'string' },
                          episodeType: { type: 'string', enum: ['individual', 'couples'] },
                          patients: { type: 'array', items: { type: 'object' } },
                          readiness: { $ref: '#/components/schemas/EpisodeReadiness' },
                        },
                      },
                    },
                  },
                },
              },
            },
          },
          '400': outcome,
        },
      },
    },
  },
  components: {
    securitySchemes: {
      bearer: {
        type: 'http',
        scheme: 'bearer',
        bearerFormat: 'JWT',
        description:
          "A JWT from the practice's identity provider (or a static token) naming the practice and SMART scopes such as user/Patient.r",
      },
    },
    schemas: {
      EpisodeRegistration: {
        type: 'object',
        additionalProperties: false,
        required: ['type', 'patients'],
        properties: {
          id: { type: 'string', pattern: ID_PATTERN },
          type: {
            enum: ['individual', 'couples'],
            description: 'Individual KAP, or couples KARP with two patients',
          },
          patients: {
            type: 'array',
            minItems: 1,
            maxItems: 2,
            items: { type: 'string', pattern: ID_PATTERN },
          },
          intention: { type: 'string', maxLength: 2000 },
          start: { type: 'string', format: 'date' },
          plannedSessions: {
            type: 'object',
            additionalProperties: false,
            properties: {
              preparation: { type: 'integer', minimum: 1, maximum: 2 },
              medicine: { type: 'integer', minimum: 1, maximum: 12 },
              integration: { type: 'integer', minimum: 1, maximum: 24 },
            },
          },
        },
      },
      Episode: { type: 'object', required: ['id', 'type', 'status', 'patients', 'plannedSessions'] },
      EpisodeReadiness: {
        type: 'object',
        required: ['episodeId', 'date', 'ready', 'verdict', 'patients', 'reasons'],
        properties: {
          episodeId: { type: 'string' },
          date: { type: 'string', format: 'date' },
          at: instant,
          ready: { type: 'boolean', description: 'True only when every rule passes' },
          verdict: { $ref: '#/components/schemas/Verdict' },
          patients: { type: 'array', items: { $ref: '#/components/schemas/MedicationStatus' } },
          reasons: { type: 'array', items: { $ref: '#/components/schemas/Reason' } },
        },
      },
      ConsentRecording: {
        type: 'object',
        additionalProperties: false,
        required: ['patient', 'signedAt', 'document'],
        properties: {
          id: { type: 'string', pattern: ID_PATTERN },
          patient: { type: 'string', pattern: ID_PATTERN, description: 'The partner who signed' },
          signedAt: instant,
          status: { enum: ['active', 'rejected', 'inactive'], description: 'active (signed) when absent' },
          document: {
            description: 'The signed agreement: a URL the EHR can resolve, or a DocumentReference',
            oneOf: [
              {
                type: 'object',
                additionalProperties: false,
                required: ['url'],
                properties: {
                  url: { type: 'string', format: 'uri', maxLength: 2000 },
                  contentType: { type: 'string', maxLength: 100 },
                  title: { type: 'string', maxLength: 200 },
                },
              },
              {
                type: 'object',
                additionalProperties: false,
                required: ['documentReference'],
                properties: {
                  documentReference: reference('DocumentReference'),
                  title: { type: 'string', maxLength: 200 },
                },
              },
            ],
          },
        },
      },
      SessionScheduling: {
        type: 'object',
        additionalProperties: false,
        required: ['phase', 'start'],
        properties: {
          id: {
            type: 'string',
            pattern: ID_PATTERN,
            description: 'The (joint) session id; generated when absent',
          },
          phase: { enum: ['preparation', 'medicine', 'integration'] },
          start: instant,
          end: instant,
          therapist: reference('Practitioner'),
          mode: {
            enum: ['in-person', 'remote'],
            description:
              'A medicine session in the office (default), or remote: the therapist on video, a chaperone in the room checking in',
          },
          chaperone: {
            type: 'string',
            minLength: 1,
            maxLength: 200,
            description: 'Who stays with the patient in a remote medicine session; required for one',
          },
        },
      },
      EpisodeStatusChange: {
        type: 'object',
        additionalProperties: false,
        required: ['status'],
        properties: {
          status: { enum: ['active', 'onhold', 'finished', 'cancelled'] },
          reason: { type: 'string', minLength: 1, maxLength: 2000, description: 'Why, in words' },
          time: { ...instant, description: 'When it happened; now when absent' },
        },
      },
      SessionMove: {
        type: 'object',
        additionalProperties: false,
        properties: { time: { ...instant, description: 'When it happened; now when absent' } },
      },
      DoseRecording: {
        type: 'object',
        additionalProperties: false,
        required: ['patient', 'dose', 'time'],
        properties: {
          id: { type: 'string', pattern: ID_PATTERN },
          patient: {
            type: 'string',
            pattern: ID_PATTERN,
            description: 'Who took it (a partner, in a joint session)',
          },
          dose: {
            type: 'object',
            additionalProperties: false,
            required: ['value', 'unit'],
            properties: {
              value: { type: 'number', exclusiveMinimum: 0, maximum: 1000 },
              unit: { enum: ['mg'] },
            },
          },
          route: {
            enum: ['sublingual', 'intramuscular', 'intranasal', 'oral', 'intravenous'],
            description: "The prescription's route when absent",
          },
          time: instant,
        },
      },
      ObservationRecording: {
        type: 'object',
        additionalProperties: false,
        required: ['value', 'effective'],
        properties: {
          id: { type: 'string', pattern: ID_PATTERN },
          value: observationValue,
          effective: instant,
          session: { type: 'string', pattern: ID_PATTERN, description: 'The session it was taken in' },
          status: { enum: ['preliminary', 'final', 'amended'] },
          performer: reference('Practitioner'),
        },
      },
      ReferralRecording: {
        type: 'object',
        additionalProperties: false,
        required: ['requester'],
        properties: {
          id: { type: 'string', pattern: ID_PATTERN },
          episode: { type: 'string', pattern: ID_PATTERN, description: 'The course the clearance is for' },
          reason: { type: 'string', maxLength: 2000 },
          requester: reference('Practitioner', 'The therapist asking'),
          performer: reference('Practitioner', 'The prescriber asked'),
          authoredOn: instant,
        },
      },
      Recorded: {
        type: 'object',
        required: ['id'],
        description:
          'The domain value recorded, with `source` (or `sources`): Type/id, then Type/id/_history/version once in the EHR',
      },
      Session: {
        type: 'object',
        required: ['id', 'episodeId', 'phase', 'status', 'source'],
        properties: {
          partners: { type: 'array', items: { $ref: '#/components/schemas/Session' } },
          source: { type: 'string' },
        },
      },
      Timeline: {
        type: 'object',
        required: [
          'id',
          'type',
          'status',
          'patients',
          'source',
          'consents',
          'phases',
          'doses',
          'observations',
          'readiness',
        ],
        properties: {
          phases: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                phase: { type: 'string' },
                planned: { type: 'integer' },
                sessions: { type: 'array', items: { $ref: '#/components/schemas/Session' } },
              },
            },
          },
          readiness: { $ref: '#/components/schemas/EpisodeReadiness' },
        },
      },
      PatientRegistration: {
        type: 'object',
        additionalProperties: false,
        required: ['identifiers'],
        properties: {
          id: { type: 'string', pattern: ID_PATTERN, description: "kap-bridge's id; generated when absent" },
          identifiers: { type: 'array', minItems: 1, maxItems: 20, items: identifier },
          ehrPatient: {
            type: 'string',
            pattern: '^Patient/[A-Za-z0-9\\-.]{1,64}$',
            description: 'The EHR Patient, when the therapist knows it; otherwise found by identifier',
          },
        },
      },
      Patient: {
        type: 'object',
        required: ['id', 'identifiers'],
        properties: {
          id: { type: 'string' },
          identifiers: { type: 'array', items: identifier },
          ehrPatient: { type: 'string' },
        },
      },
      Reason: {
        type: 'object',
        required: ['code', 'message'],
        properties: {
          code: { type: 'string', enum: Object.keys(REASONS) },
          outcome: {
            enum: ['block', 'unknown', 'day-of'],
            description: 'It blocks; the rule could not tell (not ready either); or it is checked on the day',
          },
          message: { type: 'string' },
          source: { type: 'string', description: 'Type/id/_history/version' },
          patientId: { type: 'string', description: 'For a couples course: whose reason it is' },
        },
      },
      Verdict: {
        enum: ['ready', 'pending-day-of-checks', 'not-ready'],
        description:
          'ready: every rule passes; pending-day-of-checks: only what is recorded on the day is missing (the pre-dose blood pressure); not-ready: anything else',
      },
      MedicationStatus: {
        type: 'object',
        required: ['patientId', 'date', 'ready', 'verdict', 'reasons', 'status'],
        properties: {
          patientId: { type: 'string' },
          episodeId: { type: 'string', description: 'The course the answer is for' },
          date: { type: 'string', format: 'date' },
          at: instant,
          ready: { type: 'boolean', description: 'True only when every rule passes' },
          verdict: { $ref: '#/components/schemas/Verdict' },
          reasons: { type: 'array', items: { $ref: '#/components/schemas/Reason' } },
          warnings: {
            type: 'array',
            description:
              'Shown, never blocking: active orders for MAOIs, benzodiazepines and psychostimulants (interacting-medication)',
            items: {
              type: 'object',
              required: ['code', 'message'],
              properties: {
                code: { type: 'string' },
                message: { type: 'string' },
                source: { type: 'string' },
              },
            },
          },
          status: { type: 'object' },
          ehrLastHeardAt: { type: 'string' },
        },
      },
      Drift: {
        type: 'object',
        required: ['kind', 'resourceType', 'remedy', 'detail'],
        properties: {
          kind: {
            type: 'string',
            enum: ['missing-here', 'missing-there', 'different-content', 'conflicting-versions'],
          },
          resourceType: { type: 'string' },
          here: { type: 'string', description: "kap-bridge's copy, Type/id/_history/version" },
          there: { type: 'string', description: "The EHR's copy, Type/id/_history/version" },
          remedy: {
            type: 'string',
            enum: ['pull', 'resend', 'person'],
            description: "What heals it: take the EHR's in, send ours again, or a person decides",
          },
          detail: { type: 'string' },
        },
      },
      Reconciliation: {
        type: 'object',
        required: ['patient', 'checkedAt', 'here', 'there', 'matched', 'drift'],
        properties: {
          patient: { type: 'string' },
          ehrPatient: { type: 'string' },
          checkedAt: instant,
          here: { type: 'integer', description: 'Resources in the local record' },
          there: { type: 'integer', description: 'Resources the EHR holds for the patient' },
          matched: { type: 'integer' },
          drift: { type: 'array', items: { $ref: '#/components/schemas/Drift' } },
          skipped: { type: 'string', description: 'Why the patient was not compared' },
        },
      },
      OperationOutcome: { type: 'object', required: ['resourceType', 'issue'] },
    },
  },
} as const;
