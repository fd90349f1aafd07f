/**
 * The CDS Hooks 2.0 logical models as JSON Schemas (draft 2020-12 subset ajv reads), written from the
 * published specification text: cds-hooks/docs, docs/specification/current.md at commit 462a38f
 * (unchanged since the 2.0 publication, cds-hooks.hl7.org/2.0), sections Discovery, Calling a CDS
 * Service, FHIR Resource Access, CDS Service Response, Feedback, Data Types; and the hook pages
 * docs/hooks/patient-view.md, order-select.md, order-sign.md of the same commit.
 *
 * kap-bridge checks every hook request and feedback against them, and the tests check every answer.
 * "JSON elements SHALL NOT be null ... SHALL NOT be empty" (Use of JSON): strings have minLength 1,
 * arrays minItems 1 and objects minProperties 1 wherever the spec allows no exception (an empty
 * `cards` or `services` array is allowed; a prefetch value may be null).
 */
import { ID_PATTERN, referencePattern } from '../fhir/ids.js';

/** Where the schemas' ids live; they refer to each other relative to it (`Card`). */
export const SCHEMA_BASE = 'https://fhir.kap-bridge.org/cds-hooks/schema/';

const text = { type: 'string', minLength: 1 } as const;
const url = { type: 'string', minLength: 1, pattern: '^https?://' } as const;
/** A FHIR resource, as far as CDS Hooks needs: an object naming its type. */
const resource = {
  type: 'object',
  required: ['resourceType'],
  properties: { resourceType: text },
} as const;

export const coding = {
  $id: `${SCHEMA_BASE}Coding`,
  type: 'object',
  required: ['code', 'system'],
  properties: { code: text, system: text, display: text },
  additionalProperties: false,
} as const;

export const action = {
  $id: `${SCHEMA_BASE}Action`,
  type: 'object',
  required: ['type', 'description'],
  properties: {
    type: { enum: ['create', 'update', 'delete'] },
    description: text,
    resource,
    resourceId: text,
  },
  // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then
  allOf: [{ if: { properties: { type: { enum: ['create', 'update'] } } }, then: { required: ['resource'] } }],
  additionalProperties: false,
} as const;

export const card = {
  $id: `${SCHEMA_BASE}Card`,
  type: 'object',
  required: ['summary', 'indicator', 'source'],
  properties: {
    uuid: text,
    // "One-sentence, <140-character summary".
    summary: { type: 'string', minLength: 1, maxLength: 139 },
    detail: text,
    indicator: { enum: ['info', 'warning', 'critical'] },
    source: {
      type: 'object',
      required: ['label'],
      properties: { label: text, url, icon: url, topic: { $ref: 'Coding' } },
      additionalProperties: false,
    },
    suggestions: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['label'],
        properties: {
          label: text,
          uuid: text,
          isRecommended: { type: 'boolean' },
          actions: { type: 'array', minItems: 1, items: { $ref: 'Action' } },
        },
        additionalProperties: false,
      },
    },
    selectionBehavior: { enum: ['at-most-one', 'any'] },
    overrideReasons: {
      type: 'array',
      minItems: 1,
      // "the CDS Service MUST populate a display value for each reason's Coding".
      items: { allOf: [{ $ref: 'Coding' }, { required: ['display'] }] },
    },
    links: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['label', 'url', 'type'],
        properties: {
          label: text,
          url,
          type: { enum: ['absolute', 'smart'] },
          appContext: text,
          autolaunchable: { type: 'boolean' },
        },
        // appContext "should only be valued if the link type is smart and is not valid for absolute links".
        if: { properties: { type: { const: 'absolute' } } },
        // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then
        then: { not: { required: ['appContext'] } },
        additionalProperties: false,
      },
    },
  },
  // "If suggestions are present, selectionBehavior MUST also be provided."
  dependencies: { suggestions: ['selectionBehavior'] },
  additionalProperties: false,
} as const;

export const serviceResponse = {
  $id: `${SCHEMA_BASE}ServiceResponse`,
  type: 'object',
  required: ['cards'],
  properties: {
    cards: { type: 'array', items: { $ref: 'Card' } },
    systemActions: { type: 'array', minItems: 1, items: { $ref: 'Action' } },
  },
  additionalProperties: false,
} as const;

export const discovery = {
  $id: `${SCHEMA_BASE}Discovery`,
  type: 'object',
  required: ['services'],
  properties: {
    services: {
      type: 'array',
      items: {
        type: 'object',
        required: ['hook', 'description', 'id'],
        properties: {
          hook: text,
          title: text,
          description: text,
          id: text,
          prefetch: { type: 'object', minProperties: 1, additionalProperties: text },
          usageRequirements: text,
        },
        additionalProperties: false,
      },
    },
  },
  additionalProperties: false,
} as const;

export const fhirAuthorization = {
  $id: `${SCHEMA_BASE}FhirAuthorization`,
  type: 'object',
  required: ['access_token', 'token_type', 'expires_in', 'scope', 'subject'],
  properties: {
    access_token: text,
    token_type: { const: 'Bearer' },
    expires_in: { type: 'integer' },
    scope: text,
    subject: text,
    patient: text,
  },
} as const;

/** `{ResourceType}/{id}` as the hooks' userId asks. */
const userId = { type: 'string', pattern: referencePattern() } as const;
const fhirId = { type: 'string', pattern: ID_PATTERN } as const;
const bundle = {
  type: 'object',
  required: ['resourceType'],
  properties: { resourceType: { const: 'Bundle' }, entry: { type: 'array' } },
} as const;

/** Each hook's context, from its page. */
export const HOOK_CONTEXTS = {
  'patient-view': {
    type: 'object',
    required: ['userId', 'patientId'],
    properties: { userId, patientId: fhirId, encounterId: fhirId },
  },
  'order-select': {
    type: 'object',
    required: ['userId', 'patientId', 'selections', 'draftOrders'],
    properties: {
      userId,
      patientId: fhirId,
      encounterId: fhirId,
      selections: { type: 'array', minItems: 1, items: text },
      draftOrders: bundle,
    },
  },
  'order-sign': {
    type: 'object',
    required: ['userId', 'patientId', 'draftOrders'],
    properties: { userId, patientId: fhirId, encounterId: fhirId, draftOrders: bundle },
  },
} as const;

export type HookName = keyof typeof HOOK_CONTEXTS;

export const hookRequest = {
  $id: `${SCHEMA_BASE}HookRequest`,
  type: 'object',
  required: ['hook', 'hookInstance', 'context'],
  properties: {
    hook: text,
    hookInstance: text,
    fhirServer: url,
    fhirAuthorization: { $ref: 'FhirAuthorization' },
    context: { type: 'object' },
    prefetch: {
      type: 'object',
      // A key the client could not satisfy is omitted; one with nothing to give is null.
      additionalProperties: { anyOf: [{ type: 'null' }, resource] },
    },
  },
  // "If fhirAuthorization is provided, this field [fhirServer] is REQUIRED."
  dependencies: { fhirAuthorization: ['fhirServer'] },
  allOf: Object.entries(HOOK_CONTEXTS).map(([hook, context]) => ({
    if: { properties: { hook: { const: hook } }, required: ['hook'] },
    // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then
    then: { properties: { context } },
  })),
} as const;

export const feedbackRequest = {
  $id: `${SCHEMA_BASE}Feedback`,
  type: 'object',
  required: ['feedback'],
  properties: {
    feedback: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['card', 'outcome', 'outcomeTimestamp'],
        properties: {
          card: text,
          outcome: { enum: ['accepted', 'overridden'] },
          acceptedSuggestions: {
            type: 'array',
            minItems: 1,
            items: {
              type: 'object',
              required: ['id'],
              properties: { id: text },
            },
          },
          overrideReason: {
            type: 'object',
            minProperties: 1,
            properties: { reason: { $ref: 'Coding' }, userComment: text },
          },
          // RFC 3339 section 5.6, in UTC.
          outcomeTimestamp: {
            type: 'string',
            pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?Z$',
          },
        },
        // "Required for accepted outcomes."
        if: { properties: { outcome: { const: 'accepted' } } },
        // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then
        then: { required: ['acceptedSuggestions'] },
      },
    },
  },
} as const;

/** Every schema, for one ajv instance to hold (they refer to each other by `$id`). */
export const CDS_HOOKS_SCHEMAS = [
  coding,
  action,
  card,
  serviceResponse,
  discovery,
  fhirAuthorization,
  hookRequest,
  feedbackRequest,
] as const;
