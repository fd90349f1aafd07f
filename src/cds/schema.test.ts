/**
 * The CDS Hooks models hold what the specification says of them: each rule of the text that a
 * schema states is tried once with a value that keeps it and once with one that breaks it.
 */
import { Ajv } from 'ajv';
import { CDS_HOOKS_SCHEMAS, SCHEMA_BASE } from './schema.js';

const ajv = new Ajv({ allErrors: true, strict: false });
for (const s of CDS_HOOKS_SCHEMAS) ajv.addSchema(s);
const valid = (name: string, value: unknown) => ajv.getSchema(`${SCHEMA_BASE}${name}`)!(value) === true;

const card = {
  summary: 'A short sentence',
  indicator: 'info',
  source: { label: 'kap-bridge' },
};
const hook = {
  hook: 'order-sign',
  hookInstance: 'd1577c69-dfbe-44ad-ba6d-3e05e953b2ea',
  context: {
    userId: 'Practitioner/pr-1',
    patientId: 'ehr-1',
    draftOrders: { resourceType: 'Bundle', type: 'collection', entry: [] },
  },
};

test.each([
  ['a card needs summary, indicator and source', 'Card', card, { indicator: 'info', source: { label: 'x' } }],
  [
    'a summary is under 140 characters',
    'Card',
    { ...card, summary: 'x'.repeat(139) },
    { ...card, summary: 'x'.repeat(140) },
  ],
  [
    'indicator is info, warning or critical',
    'Card',
    { ...card, indicator: 'critical' },
    { ...card, indicator: 'urgent' },
  ],
  [
    'suggestions need selectionBehavior',
    'Card',
    { ...card, suggestions: [{ label: 'Do it' }], selectionBehavior: 'any' },
    { ...card, suggestions: [{ label: 'Do it' }] },
  ],
  ['no empty strings', 'Card', card, { ...card, detail: '' }],
  [
    'a create action carries its resource',
    'Action',
    { type: 'create', description: 'd', resource: { resourceType: 'Task' } },
    { type: 'create', description: 'd' },
  ],
  [
    'an absolute link has no appContext',
    'Card',
    { ...card, links: [{ label: 'l', url: 'https://x.example', type: 'absolute' }] },
    { ...card, links: [{ label: 'l', url: 'https://x.example', type: 'absolute', appContext: 'a' }] },
  ],
  ['a response has cards, which may be none', 'ServiceResponse', { cards: [] }, {}],
  [
    'a discovered service has hook, description and id',
    'Discovery',
    { services: [{ hook: 'patient-view', description: 'd', id: 'x' }] },
    { services: [{ hook: 'patient-view', id: 'x' }] },
  ],
  [
    'order-sign needs draftOrders',
    'HookRequest',
    hook,
    { ...hook, context: { ...hook.context, draftOrders: undefined } },
  ],
  [
    'a prefetch value may be null, not a string',
    'HookRequest',
    { ...hook, prefetch: { observations: null } },
    { ...hook, prefetch: { observations: 'Observation?patient=1' } },
  ],
  [
    'fhirAuthorization comes with fhirServer',
    'HookRequest',
    {
      ...hook,
      fhirServer: 'https://ehr.example/fhir',
      fhirAuthorization: {
        access_token: 't',
        token_type: 'Bearer',
        expires_in: 300,
        scope: 's',
        subject: 'c',
      },
    },
    {
      ...hook,
      fhirAuthorization: {
        access_token: 't',
        token_type: 'Bearer',
        expires_in: 300,
        scope: 's',
        subject: 'c',
      },
    },
  ],
  [
    'accepted feedback names the suggestions',
    'Feedback',
    {
      feedback: [
        {
          card: 'c',
          outcome: 'accepted',
          acceptedSuggestions: [{ id: 's' }],
          outcomeTimestamp: '2026-12-03T10:05:31Z',
        },
      ],
    },
    { feedback: [{ card: 'c', outcome: 'accepted', outcomeTimestamp: '2026-12-03T10:05:31Z' }] },
  ],
  [
    'feedback time is UTC',
    'Feedback',
    { feedback: [{ card: 'c', outcome: 'overridden', outcomeTimestamp: '2026-12-03T10:05:31.52Z' }] },
    { feedback: [{ card: 'c', outcome: 'overridden', outcomeTimestamp: '2026-12-03T10:05:31+01:00' }] },
  ],
])('%s', (_rule, model, kept, broken) => {
  expect(valid(model, kept)).toBe(true);
  expect(valid(model, JSON.parse(JSON.stringify(broken)))).toBe(false);
});
