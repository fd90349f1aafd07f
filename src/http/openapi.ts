/**
 * The therapist API's OpenAPI document, made from the route table (./routes.ts): every route under
 * /api/v1 is an operation, its method, path, operation id (the route's name), scope and the errors
 * the guard can answer taken from its row; its bodies are the schemas of src/api/schemas.ts, the
 * ones requests are checked against. What the table cannot say (a summary, the query, the bodies
 * and their examples) is in OPERATIONS, which must name every route of the API.
 */
import type { TSchema } from '@sinclair/typebox';
import {
  ANSWER_SCHEMAS,
  type AnswerSchemaName,
  REQUEST_SCHEMAS,
  type RequestSchemaName,
} from '../api/schemas.js';
import { PATH_ID_PATTERN } from '../fhir/ids.js';
import { ROUTES, type RouteAccess, type RouteName } from './routes.js';

export const API_BASE = '/api/v1';

/** The routes of the therapist API: the table's routes under /api/v1, the document itself aside. */
export type ApiRoute = Exclude<
  {
    [K in RouteName]: (typeof ROUTES)[K]['path'] extends `${typeof API_BASE}/${string}` ? K : never;
  }[RouteName],
  'openApi'
>;

interface QueryParameter {
  name: string;
  description: string;
  schema: object;
  example: unknown;
}

interface Answer {
  description: string;
  schema: AnswerSchemaName;
  example: unknown;
}

/** What an operation says beyond its row of the route table. */
export interface Operation {
  summary: string;
  description?: string;
  query?: readonly QueryParameter[];
  body?: { schema: RequestSchemaName; required: boolean; example: unknown };
  /** The answer when all goes well, by status. */
  answers: Partial<Record<'200' | '201', Answer>>;
  /** Errors only this operation answers (the EHR's, for reconcile). */
  errors?: readonly ErrorStatus[];
}

const date: QueryParameter = {
  name: 'date',
  description:
    "The day of the planned medicine session (YYYY-MM-DD, in the practice's time zone); today there when absent",
  schema: { type: 'string', format: 'date' },
  example: '2026-03-12',
};
const at: QueryParameter = {
  name: 'at',
  description:
    'The instant the medicine session starts (with its offset); without it the whole day must be covered',
  schema: { type: 'string', format: 'date-time' },
  example: '2026-03-12T10:00:00-05:00',
};

const REASON = {
  code: 'no-consent',
  outcome: 'block',
  message: 'No informed consent is recorded for this course.',
} as const;
const STATUS_EXAMPLE = {
  patientId: 'pt-ana',
  episodeId: 'ep-ruiz',
  date: '2026-03-12',
  ready: false,
  verdict: 'not-ready',
  reasons: [REASON],
  warnings: [],
  status: {
    clearance: { decision: 'cleared', source: 'Observation/clr-ana/_history/1' },
    prescription: { status: 'active', dosesRemaining: 3, source: 'MedicationRequest/rx-ana/_history/2' },
  },
  ehrLastHeardAt: '2026-03-11T18:04:12.000Z',
};
const READINESS_EXAMPLE = {
  episodeId: 'ep-ruiz',
  date: '2026-03-12',
  ready: false,
  verdict: 'not-ready',
  patients: [STATUS_EXAMPLE],
  reasons: [{ ...REASON, patientId: 'pt-ana' }],
};
const EPISODE_EXAMPLE = {
  id: 'ep-ruiz',
  type: 'couples',
  status: 'active',
  patients: ['pt-ana', 'pt-tomas'],
  intention: 'To speak to each other again without the old fear.',
  plannedSessions: { preparation: 2, medicine: 1, integration: 1 },
};
const SESSION_EXAMPLE = {
  id: 'se-ruiz-prep-1',
  episodeId: 'ep-ruiz',
  phase: 'preparation',
  status: 'planned',
  start: '2026-03-02T10:00:00-05:00',
  source: 'Encounter/se-ruiz-prep-1',
  partners: [],
};
const recorded = (id: string, source: string, fields: object = {}) => ({ id, ...fields, source });

const recordedAnswer = (example: unknown): Answer => ({
  description: 'Recorded locally and queued for the EHR; `source` says where it is kept',
  schema: 'Recorded',
  example,
});
const sessionMove = (summary: string, time: string, status: string): Operation => ({
  summary,
  body: { schema: 'SessionMove', required: false, example: { time } },
  answers: {
    '200': {
      description: 'The session as it now stands',
      schema: 'Session',
      example: { ...SESSION_EXAMPLE, status },
    },
  },
});

/** Every operation of the therapist API; a new route of the table under /api/v1 is a new entry here. */
export const OPERATIONS: Record<ApiRoute, Operation> = {
  registerPatient: {
    summary: "Register a patient, linked to the EHR's Patient by identifiers (never by name or birth date)",
    body: {
      schema: 'PatientRegistration',
      required: true,
      example: {
        id: 'pt-ana',
        identifiers: [{ system: 'urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.14', value: 'E1234' }],
      },
    },
    answers: {
      '201': {
        description: 'Registered',
        schema: 'Patient',
        example: {
          id: 'pt-ana',
          identifiers: [{ system: 'urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.14', value: 'E1234' }],
          ehrPatient: 'Patient/48213',
        },
      },
      '200': {
        description: 'Already registered with these identifiers: the patient as registered',
        schema: 'Patient',
        example: {
          id: 'pt-ana',
          identifiers: [{ system: 'urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.14', value: 'E1234' }],
          ehrPatient: 'Patient/48213',
        },
      },
    },
  },
  patient: {
    summary: 'The patient: identifiers and the EHR Patient they are linked to',
    answers: {
      '200': {
        description: 'The patient',
        schema: 'Patient',
        example: {
          id: 'pt-ana',
          identifiers: [{ system: 'urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.14', value: 'E1234' }],
          ehrPatient: 'Patient/48213',
        },
      },
    },
  },
  medicationStatus: {
    summary:
      'Clearance, prescription and readiness for a medicine session on a date, from the aligned record',
    query: [date, at],
    answers: {
      '200': {
        description: 'Ready, or every reason not, each with a code, a sentence and its FHIR source',
        schema: 'MedicationStatus',
        example: STATUS_EXAMPLE,
      },
    },
  },
  patientReconcile: {
    summary:
      'The drift between the local aligned record and the EHR for the patient (report only; `kap-bridge reconcile --fix` heals)',
    answers: {
      '200': {
        description: 'Every resource either side holds that the other lacks or holds otherwise',
        schema: 'Reconciliation',
        example: {
          patient: 'pt-ana',
          ehrPatient: 'Patient/48213',
          checkedAt: '2026-03-12T09:00:00.000Z',
          here: 12,
          there: 12,
          matched: 11,
          drift: [
            {
              kind: 'different-content',
              resourceType: 'Task',
              here: 'Task/ref-ana/_history/1',
              there: 'Task/9913/_history/3',
              remedy: 'pull',
              detail: 'The prescriber changed the Task in the EHR.',
            },
          ],
        },
      },
    },
    errors: ['502', '503'],
  },
  recordObservation: {
    summary:
      'Record a score, vital sign, mental status or session effect (Observation), optionally in a session',
    body: {
      schema: 'ObservationRecording',
      required: true,
      example: {
        value: { kind: 'phq9', total: 7, items: [1, 1, 1, 1, 1, 1, 1, 0, 0] },
        effective: '2026-03-02T10:30:00-05:00',
      },
    },
    answers: {
      '201': recordedAnswer(
        recorded('obs-ana-phq9-1', 'Observation/obs-ana-phq9-1', {
          value: { kind: 'phq9', total: 7 },
        }),
      ),
    },
  },
  requestClearance: {
    summary: 'Ask the prescriber for a medical clearance (ServiceRequest + Task)',
    body: {
      schema: 'ReferralRecording',
      required: true,
      example: {
        episode: 'ep-ruiz',
        requester: 'Practitioner/pr-lindqvist',
        performer: 'Practitioner/pr-okafor',
      },
    },
    answers: {
      '201': recordedAnswer({
        id: 'ref-ana',
        sources: { serviceRequest: 'ServiceRequest/ref-ana', task: 'Task/ref-ana' },
      }),
    },
  },
  registerEpisode: {
    summary: 'Register a KAP course: individual (one patient) or couples (two)',
    body: {
      schema: 'EpisodeRegistration',
      required: true,
      example: {
        id: 'ep-ruiz',
        type: 'couples',
        patients: ['pt-ana', 'pt-tomas'],
        intention: 'To speak to each other again without the old fear.',
      },
    },
    answers: { '201': { description: 'Registered', schema: 'Episode', example: EPISODE_EXAMPLE } },
  },
  episodeTimeline: {
    summary:
      "The course and its timeline: consents, sessions by phase, doses, scores and vitals, each medicine session's monitoring points, adverse events and report (each partner's own, in a couple), readiness on a date; each item with its FHIR source",
    query: [{ ...date, description: 'The day readiness is given for; today when absent' }],
    answers: {
      '200': {
        description: 'The episode with its timeline',
        schema: 'Timeline',
        example: {
          ...EPISODE_EXAMPLE,
          source: 'EpisodeOfCare/ep-ruiz',
          consents: [],
          phases: [{ phase: 'preparation', planned: 2, sessions: [SESSION_EXAMPLE] }],
          doses: [],
          observations: [],
          monitoring: [],
          adverseEvents: [],
          reports: [],
          readiness: READINESS_EXAMPLE,
        },
      },
    },
  },
  changeEpisodeStatus: {
    summary:
      "Put the course on hold, finish it or cancel it (or take it off hold), with the reason; written to the EHR's EpisodeOfCare and CarePlan. Only an active course can have a medicine session",
    body: {
      schema: 'EpisodeStatusChange',
      required: true,
      example: { status: 'onhold', reason: 'Travelling for a month.', time: '2026-03-20T09:00:00-05:00' },
    },
    answers: {
      '200': {
        description: 'The course as it now stands',
        schema: 'Episode',
        example: { ...EPISODE_EXAMPLE, status: 'onhold' },
      },
    },
  },
  episodeReadiness: {
    summary:
      'Readiness of the whole course for a medicine session on a date; a couples course needs both partners ready',
    query: [date, at],
    answers: {
      '200': {
        description: 'Ready, or every reason not, per partner',
        schema: 'EpisodeReadiness',
        example: READINESS_EXAMPLE,
      },
    },
  },
  recordConsent: {
    summary: "Record a partner's signed informed consent for the course (Consent)",
    body: {
      schema: 'ConsentRecording',
      required: true,
      example: {
        patient: 'pt-ana',
        signedAt: '2026-03-01T15:00:00-05:00',
        document: { url: 'https://docs.example.org/consents/ana-2026.pdf', contentType: 'application/pdf' },
      },
    },
    answers: { '201': recordedAnswer(recorded('co-ana-1', 'Consent/co-ana-1', { patientId: 'pt-ana' })) },
  },
  recordCourseObservation: {
    summary:
      "Record a partner's score, vital sign, mental status or session effect (Observation) on the course, optionally in one of its sessions",
    description:
      'The patient is named in the body, never in the address (the console records this way); refused (422 `patient`) when not a partner of the course, and (422 `session`) for a session of another course.',
    body: {
      schema: 'CourseObservationRecording',
      required: true,
      example: {
        patient: 'pt-ana',
        value: { kind: 'blood-pressure', systolic: 122, diastolic: 78 },
        effective: '2026-03-12T10:05:00-05:00',
        session: 'se-ruiz-med-1',
      },
    },
    answers: {
      '201': recordedAnswer(
        recorded('obs-ana-bp-1', 'Observation/obs-ana-bp-1', {
          patientId: 'pt-ana',
          value: { kind: 'blood-pressure', systolic: 122, diastolic: 78 },
        }),
      ),
    },
  },
  requestCourseClearance: {
    summary: "Ask the prescriber for a partner's medical clearance for the course (ServiceRequest + Task)",
    description:
      'The patient is named in the body, never in the address (the console asks this way); refused (422 `patient`) when not a partner of the course.',
    body: {
      schema: 'CourseReferralRecording',
      required: true,
      example: {
        patient: 'pt-tomas',
        requester: 'Practitioner/pr-lindqvist',
        performer: 'Practitioner/pr-okafor',
        reason: 'KAP course planned',
      },
    },
    answers: {
      '201': recordedAnswer({
        id: 'ref-tomas',
        patientId: 'pt-tomas',
        episodeId: 'ep-ruiz',
        sources: { serviceRequest: 'ServiceRequest/ref-tomas', task: 'Task/ref-tomas' },
      }),
    },
  },
  scheduleSession: {
    summary:
      'Schedule a preparation, medicine or integration session (Encounter); in a couples course the joint session with one session per partner',
    body: {
      schema: 'SessionScheduling',
      required: true,
      example: {
        phase: 'preparation',
        start: '2026-03-02T10:00:00-05:00',
        therapist: 'Practitioner/pr-lindqvist',
      },
    },
    answers: { '201': { description: 'Scheduled', schema: 'Session', example: SESSION_EXAMPLE } },
  },
  startSession: sessionMove('The session begins', '2026-03-02T10:02:00-05:00', 'in-progress'),
  completeSession: {
    ...sessionMove('The session is over', '2026-03-02T11:30:00-05:00', 'finished'),
    description:
      "A medicine session is refused (422, every unmet criterion of every partner, its code in `details.text`) until its discharge criteria hold: the monitoring time from the first dose, heart rate, SpO2 and blood pressure after the dose with the last of each within range, MOAA/S fully alert, `transport` given, no missed monitoring point or check-in. `override` (a reason) completes it anyway, and the prescriber is told (a Communication ahead of the outbox queue). `note` is the therapist's short note for the session report, which each patient gets on completion (GET .../report).",
  },
  sessionMonitoring: {
    summary:
      "Where a medicine session's monitoring stands: per patient, each point of the plan (Spravato REMS by default: vitals before the dose, about 40 minutes after and before discharge; sedation and dissociation; a remote session's check-ins) done, due, overdue or upcoming with its times, and every reading out of range",
    query: [
      {
        name: 'at',
        description: 'The instant asked about (with its offset); now when absent',
        schema: { type: 'string', format: 'date-time' },
        example: '2026-03-12T11:00:00-05:00',
      },
    ],
    answers: {
      '200': {
        description: 'The monitoring of each patient in the session',
        schema: 'Monitoring',
        example: {
          sessionId: 'se-med-1',
          at: '2026-03-12T16:00:00.000Z',
          patients: [
            {
              sessionId: 'se-med-1',
              patientId: 'pt-ana',
              mode: 'in-person',
              firstDoseAt: '2026-03-12T15:15:00.000Z',
              monitoredUntil: '2026-03-12T17:15:00.000Z',
              points: [],
              due: [
                {
                  id: 'post-dose-40',
                  label: 'about 40 minutes after the dose',
                  kind: 'blood-pressure',
                  status: 'due',
                  dueFrom: '2026-03-12T15:45:00.000Z',
                  dueBy: '2026-03-12T16:05:00.000Z',
                },
              ],
              overdue: [],
              outOfRange: [],
            },
          ],
        },
      },
    },
  },
  sessionReport: {
    summary:
      "The report of a completed medicine session, as the prescriber reads and signs it: a FHIR document (Bundle type document, Composition kap-session-report first) with setting, who monitored, doses, monitoring time, vitals, sedation and dissociation at each point, adverse events, concomitant medications, the discharge and the therapist's note, each a section with its narrative, and the Observations, MedicationAdministrations and AdverseEvents it summarises",
    description:
      "Refused (422 `session`) before the session completed. In a couple's session each partner has their own report: asked for by the partner's own session (a partner's `id` in the session, the monitoring's `sessionId`), which names no patient in the address, or on the joint session with `patient` naming whose (422 `patient` when absent).",
    query: [
      {
        name: 'patient',
        description: "Whose report, in a couple's session (kap-bridge's patient id)",
        schema: { type: 'string' },
        example: 'pt-ana',
      },
    ],
    answers: {
      '200': {
        description: "The patient's session report",
        schema: 'SessionReport',
        example: {
          resourceType: 'Bundle',
          id: 'report-se-med-1',
          identifier: { system: 'https://fhir.kap-bridge.org/identifier/Bundle', value: 'report-se-med-1' },
          type: 'document',
          timestamp: '2026-03-12T17:20:00.000Z',
          entry: [
            {
              fullUrl: 'https://fhir.kap-bridge.org/Composition/report-se-med-1',
              resource: { resourceType: 'Composition' },
            },
          ],
        },
      },
    },
  },
  recordAdverseEvent: {
    summary:
      "Record an adverse event of a medicine session (AdverseEvent, profile kap-adverse-event, local kap-adverse-event codes). A serious one reaches the prescriber at once (a Communication ahead of the rest of the queue) and keeps the patient not ready until the prescriber's review",
    body: {
      schema: 'AdverseEventRecording',
      required: true,
      example: {
        patient: 'pt-ana',
        event: 'nausea',
        description: 'Nausea half an hour after the dose',
        severity: 'mild',
        serious: false,
        onset: '2026-03-12T10:45:00-05:00',
        actionTaken: 'Ginger tea and reassurance',
        outcome: 'resolved',
      },
    },
    answers: {
      '201': recordedAnswer(recorded('ae-ana-1', 'AdverseEvent/ae-ana-1', { patientId: 'pt-ana' })),
    },
  },
  cancelSession: sessionMove('The session will not take place', '2026-03-01T17:00:00-05:00', 'cancelled'),
  practiceCourses: {
    summary: "The practice's courses, oldest first, each with its patients' identifiers",
    answers: {
      '200': {
        description: 'The courses',
        schema: 'Courses',
        example: {
          episodes: [
            {
              ...EPISODE_EXAMPLE,
              patients: [
                {
                  id: 'pt-ana',
                  identifiers: [{ system: 'urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.14', value: 'E1234' }],
                },
                {
                  id: 'pt-tomas',
                  identifiers: [{ system: 'urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.14', value: 'E1235' }],
                },
              ],
            },
          ],
        },
      },
    },
  },
  upcomingSessions: {
    summary:
      "The practice's medicine sessions planned or under way in the coming days, each with its course's readiness at the session's start",
    query: [
      { ...date, description: 'The first day (YYYY-MM-DD); today when absent' },
      {
        name: 'days',
        description: 'How many days from `date`; 7 when absent',
        schema: { type: 'integer', minimum: 1, maximum: 31 },
        example: 7,
      },
    ],
    answers: {
      '200': {
        description: 'The sessions by start, each with its course, patients and readiness',
        schema: 'Week',
        example: {
          from: '2026-03-09',
          to: '2026-03-16',
          sessions: [
            {
              session: {
                ...SESSION_EXAMPLE,
                id: 'se-ruiz-med-1',
                phase: 'medicine',
                start: '2026-03-12T10:00:00-05:00',
              },
              episodeId: 'ep-ruiz',
              episodeType: 'couples',
              patients: [
                {
                  id: 'pt-ana',
                  identifiers: [{ system: 'urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.14', value: 'E1234' }],
                },
              ],
              readiness: READINESS_EXAMPLE,
            },
          ],
        },
      },
    },
  },
  recordDose: {
    summary:
      'Record a ketamine dose taken in a medicine session in progress (MedicationAdministration); refused with every readiness reason (422) when the course is not ready at that instant',
    body: {
      schema: 'DoseRecording',
      required: true,
      example: {
        patient: 'pt-ana',
        dose: { value: 100, unit: 'mg' },
        route: 'sublingual',
        time: '2026-03-12T10:15:00-05:00',
        lotNumber: 'KT-2026-0412',
      },
    },
    answers: {
      '201': recordedAnswer(
        recorded('dose-ana-1', 'MedicationAdministration/dose-ana-1', { patientId: 'pt-ana' }),
      ),
    },
  },
};

/** The errors an operation can answer, each an OperationOutcome. */
type ErrorStatus = '400' | '401' | '403' | '404' | '409' | '413' | '415' | '422' | '429' | '502' | '503';

const ERRORS: Record<ErrorStatus, { name: string; description: string; example: string; headers?: object }> =
  {
    '400': {
      name: 'BadRequest',
      description: 'The request is malformed: a parameter or a body field, named in `expression`',
      example: 'identifiers[0].system is required.',
    },
    '401': {
      name: 'Unauthorized',
      description: 'No bearer token, or one that is not valid',
      example: 'This request needs a bearer token (Authorization: Bearer ...).',
      headers: {
        'WWW-Authenticate': {
          description: 'RFC 6750: how to authenticate, and what was wrong',
          schema: { type: 'string' },
        },
      },
    },
    '403': {
      name: 'Forbidden',
      description: 'The token is not a therapist system acting for a practice, or lacks the scope',
      example: 'This needs the scope user|system/Patient.r.',
      headers: {
        'WWW-Authenticate': {
          description: 'RFC 6750 insufficient_scope, naming the scope needed',
          schema: { type: 'string' },
        },
      },
    },
    '404': {
      name: 'NotFound',
      description:
        "The path's object is not registered, or is another practice's: the answer never says which",
      example: 'No patient pt-unknown is registered.',
    },
    '409': {
      name: 'Conflict',
      description: 'The id or an identifier is already taken',
      example: 'A patient pt-ana is already registered.',
    },
    '413': {
      name: 'TooLarge',
      description: 'The body is larger than kap-bridge takes (KAP_BODY_LIMIT_BYTES)',
      example: 'The body is larger than 5000000 bytes.',
    },
    '415': {
      name: 'UnsupportedMediaType',
      description: 'The body is not JSON',
      example: 'Send application/fhir+json (or application/json); got text/plain.',
    },
    '422': {
      name: 'BusinessRule',
      description:
        'Well-formed, but against a KAP rule (a dose when the course is not ready, with every reason), or naming an object that is not registered: nothing was written',
      example: 'No episode ep-unknown is registered.',
    },
    '429': {
      name: 'Throttled',
      description: 'Too many requests from this client (KAP_RATE_LIMIT_PER_SECOND)',
      example: 'Too many requests; try again in 1 s.',
      headers: {
        'Retry-After': { description: 'Seconds to wait before trying again', schema: { type: 'integer' } },
      },
    },
    '502': {
      name: 'BadGateway',
      description: "The prescriber's EHR answered, but not with anything kap-bridge could use",
      example: "The prescriber's EHR could not answer: invalid-response.",
    },
    '503': {
      name: 'Unavailable',
      description: "The prescriber's EHR could not be reached, or is not configured",
      example: "The prescriber's EHR could not answer: network.",
    },
  };

/** The errors the guard and the body check can answer on a route, from its row. */
function errorsOf(access: RouteAccess, operation: Operation): ErrorStatus[] {
  const errors: ErrorStatus[] = ['400', '401', '403'];
  if (access.owner) errors.push('404');
  if (operation.body) errors.push('409', '413', '415', '422');
  else if (access.references?.length) errors.push('422');
  errors.push('429', ...(operation.errors ?? []));
  return errors;
}

const scopeOf = (access: RouteAccess): string | undefined =>
  Array.isArray(access.scope) ? `${access.scope[0]}.${access.scope[1]}` : undefined;

const TAGS = {
  patients: 'Patients, their status for a medicine session, their scores and vitals, and clearance requests',
  episodes: 'KAP courses: registration, timeline, readiness, consent and sessions',
  sessions: 'Sessions as they happen: start, complete, cancel, and the doses taken',
} as const;

const tagOf = (path: string): keyof typeof TAGS => {
  const first = path.split('/')[1] as keyof typeof TAGS;
  return first in TAGS ? first : 'patients';
};

const ref = (schema: AnswerSchemaName | RequestSchemaName) => ({ $ref: `#/components/schemas/${schema}` });

function operationOf(name: ApiRoute, access: RouteAccess) {
  const operation = OPERATIONS[name];
  const path = access.path.slice(API_BASE.length).replace(/:(\w+)/g, '{$1}');
  const scope = scopeOf(access);
  const pathParameters = [...path.matchAll(/\{(\w+)\}/g)].map(([, p]) => ({
    name: p,
    in: 'path',
    required: true,
    description: `The ${access.owner ?? 'object'}'s id; another practice's is answered as an unknown one`,
    schema: { type: 'string', pattern: PATH_ID_PATTERN },
    example: 'pt-ana',
  }));
  const answers = Object.fromEntries(
    Object.entries(operation.answers).map(([status, a]) => [
      status,
      {
        description: a.description,
        content: { 'application/json': { schema: ref(a.schema), example: a.example } },
      },
    ]),
  );
  const errors = Object.fromEntries(
    errorsOf(access, operation).map((s) => [s, { $ref: `#/components/responses/${ERRORS[s].name}` }]),
  );
  return [
    path,
    access.method.toLowerCase(),
    {
      operationId: name,
      summary: operation.summary,
      description: [
        operation.description,
        scope
          ? `Needs a therapist system's token with the SMART scope \`user/${scope}\` or \`system/${scope}\`.`
          : '',
        access.owner ? `The ${access.owner} must be the caller's practice's.` : '',
      ]
        .filter(Boolean)
        .join(' '),
      tags: [tagOf(path)],
      ...(scope ? { 'x-kap-scope': scope } : {}),
      ...(pathParameters.length || operation.query
        ? {
            parameters: [
              ...pathParameters,
              ...(operation.query ?? []).map((q) => ({
                name: q.name,
                in: 'query',
                required: false,
                description: q.description,
                schema: q.schema,
                example: q.example,
              })),
            ],
          }
        : {}),
      ...(operation.body
        ? {
            requestBody: {
              required: operation.body.required,
              content: {
                'application/json': { schema: ref(operation.body.schema), example: operation.body.example },
              },
            },
          }
        : {}),
      responses: { ...answers, ...errors },
      security: [{ bearer: [] }],
    },
  ] as const;
}

/** Plain JSON Schema of a TypeBox schema (its symbols left out). */
const plain = (schema: TSchema): object => JSON.parse(JSON.stringify(schema)) as object;

function buildDocument() {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [name, access] of Object.entries(ROUTES) as [RouteName, RouteAccess][]) {
    if (!access.path.startsWith(`${API_BASE}/`) || !(name in OPERATIONS)) continue;
    const [path, method, operation] = operationOf(name as ApiRoute, access);
    paths[path] = { ...paths[path], [method]: operation };
  }
  const used = new Set(
    JSON.stringify(paths)
      .match(/#\/components\/(schemas|responses)\/\w+/g)
      ?.map((r) => r.split('/').pop()!),
  );
  const schemas = { ...REQUEST_SCHEMAS, ...ANSWER_SCHEMAS } as Record<string, TSchema>;
  return {
    openapi: '3.1.0',
    info: {
      title: 'kap-bridge therapist API',
      version: '1',
      description:
        "For the therapist's system: register patients and their KAP courses, record what happens in them, and ask whether a patient may take part in a medicine session on a given date, and if not, why. Every error is a FHIR OperationOutcome whose `expression` names the field. This document is at /api/v1/openapi.json, readable without a token.",
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    servers: [{ url: API_BASE, description: 'kap-bridge, under its public base URL' }],
    tags: Object.entries(TAGS).map(([name, description]) => ({ name, description })),
    security: [{ bearer: [] }],
    paths,
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
      schemas: Object.fromEntries(
        Object.entries(schemas)
          .filter(([name]) => used.has(name) || name === 'OperationOutcome')
          .map(([name, schema]) => [name, plain(schema)]),
      ),
      responses: Object.fromEntries(
        Object.values(ERRORS)
          .filter(({ name }) => used.has(name))
          .map(({ name, description, example, headers }) => [
            name,
            {
              description,
              ...(headers ? { headers } : {}),
              content: {
                'application/fhir+json': {
                  schema: ref('OperationOutcome'),
                  example: {
                    resourceType: 'OperationOutcome',
                    issue: [{ severity: 'error', code: 'invalid', diagnostics: example }],
                  },
                },
              },
            },
          ]),
      ),
    },
  };
}

/** The document, served at /api/v1/openapi.json. */
export const openApiDocument = buildDocument();
