/**
 * The therapist API, described once: this document is served at /api/v1/openapi.json and the
 * same schemas validate every request, so the description cannot drift from the behaviour.
 */

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

export const ID_PATTERN = '^[A-Za-z0-9\\-.]{1,64}$';

export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'kap-bridge therapist API',
    version: '1',
    description:
      "For the therapist's system: register patients, and ask whether a patient may take part in a medicine session on a given date, and if not, why.",
  },
  servers: [{ url: '/api/v1' }],
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
        parameters: [
          { name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: ID_PATTERN } },
        ],
        responses: {
          '200': {
            description: 'The episode',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Episode' } } },
          },
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
            description: 'The day of the planned medicine session (YYYY-MM-DD); today when absent',
            schema: { type: 'string', format: 'date' },
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
  },
  components: {
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
        required: ['episodeId', 'date', 'ready', 'patients', 'reasons'],
        properties: {
          episodeId: { type: 'string' },
          date: { type: 'string', format: 'date' },
          ready: { type: 'boolean' },
          patients: { type: 'array', items: { $ref: '#/components/schemas/MedicationStatus' } },
          reasons: { type: 'array', items: { $ref: '#/components/schemas/Reason' } },
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
          code: { type: 'string' },
          message: { type: 'string' },
          source: { type: 'string', description: 'Type/id/_history/version' },
        },
      },
      MedicationStatus: {
        type: 'object',
        required: ['patientId', 'date', 'ready', 'reasons', 'status'],
        properties: {
          patientId: { type: 'string' },
          date: { type: 'string', format: 'date' },
          ready: { type: 'boolean' },
          reasons: { type: 'array', items: { $ref: '#/components/schemas/Reason' } },
          status: { type: 'object' },
          ehrLastHeardAt: { type: 'string' },
        },
      },
      OperationOutcome: { type: 'object', required: ['resourceType', 'issue'] },
    },
  },
} as const;
