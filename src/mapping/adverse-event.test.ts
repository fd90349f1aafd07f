import fc from 'fast-check';
import type { AdverseEvent } from 'fhir/r4';
import { readsAnyJson } from '../../test/support/any-json.js';
import { fixture } from '../../test/support/fixtures.js';
import { isError } from '../fhir/outcome.js';
import { identityContext as ctx } from '../fhir/reference-context.js';
import { adverseEventFromFhir, adverseEventToFhir } from './adverse-event.js';

const SERIOUSNESS = 'http://terminology.hl7.org/CodeSystem/adverse-event-seriousness';
// biome-ignore lint/suspicious/noExplicitAny: tests change resources field by field, as a sender would
type Json = Record<string, any>;
const sent = (changes: Json = {}): AdverseEvent => ({
  ...fixture<AdverseEvent>('ehr/adverseevent-serious.fhir.json'),
  ...changes,
});
const seriousness = (code: string, system: string | undefined = SERIOUSNESS) => ({
  coding: [{ ...(system === undefined ? {} : { system }), code }],
});
const ourIdentifier = { system: 'https://fhir.kap-bridge.org/identifier/AdverseEvent', value: 'ae-ours-1' };

test('the EHR fixture reads as a serious event of a session', () => {
  const read = adverseEventFromFhir(sent(), ctx);
  expect(read.issues).toEqual([]);
  expect(read.value).toEqual({
    id: 'ae-30417',
    patientId: '48213',
    occurredAt: '2026-03-12T11:05:00-05:00',
    serious: true,
    description: 'Blood pressure 186/112 forty minutes after the dose, with headache',
    sessionId: 'enc-lindqvist-medicine-1',
    severity: 'severe',
    recordedAt: '2026-03-12T13:35:00-05:00',
    source: 'AdverseEvent/ae-30417/_history/2',
  });
});

test('an event the therapist recorded reads back whole: code, severity, outcome, action taken, suspects', () => {
  const recorded = {
    id: 'ae-ours-2',
    patientId: 'p-1',
    sessionId: 's-1',
    occurredAt: '2026-03-12T10:45:00-05:00',
    recordedAt: '2026-03-12T10:50:00-05:00',
    serious: false,
    event: 'nausea',
    description: 'Nausea after the dose',
    severity: 'mild' as const,
    outcome: 'resolved' as const,
    actionTaken: 'Ginger tea',
    suspects: ['MedicationAdministration/ma-1'],
  };
  expect(adverseEventFromFhir(adverseEventToFhir(recorded, ctx), ctx).value).toEqual({
    ...recorded,
    source: 'AdverseEvent/ae-ours-2',
  });
});

test("kap-bridge's own identifier is the id, whether sent as one or as a list", () => {
  expect(adverseEventFromFhir(sent({ identifier: ourIdentifier }), ctx).value?.id).toBe('ae-ours-1');
  expect(adverseEventFromFhir(sent({ identifier: [ourIdentifier] }), ctx).value?.id).toBe('ae-ours-1');
});

describe('serious: fail closed', () => {
  test.each<[string, Json, boolean, string[]]>([
    ['Serious', {}, true, []],
    ['serious in lower case, as often sent', { seriousness: seriousness('serious') }, true, []],
    ['a kind of serious', { seriousness: seriousness('SeriousResultsInHospitalization') }, true, []],
    ['Non-serious', { seriousness: seriousness('Non-serious') }, false, []],
    ['non-serious in lower case', { seriousness: seriousness('non-serious') }, false, []],
    ['a code without a system', { seriousness: seriousness('Non-serious', undefined) }, false, []],
    [
      'both: serious wins',
      { seriousness: { coding: [...seriousness('Non-serious').coding, ...seriousness('Serious').coding] } },
      true,
      [],
    ],
    ['no seriousness', { seriousness: undefined }, true, ['AdverseEvent.seriousness']],
    [
      'no seriousness, severity mild',
      { seriousness: undefined, severity: { coding: [{ code: 'mild' }] } },
      true,
      ['AdverseEvent.seriousness'],
    ],
    ['Non-serious, severity severe', { seriousness: seriousness('Non-serious') }, false, []],
    [
      'seriousness in another system',
      { seriousness: seriousness('Non-serious', 'urn:ehr') },
      true,
      ['AdverseEvent.seriousness'],
    ],
    [
      'seriousness in text only',
      { seriousness: { text: 'not serious' } },
      true,
      ['AdverseEvent.seriousness'],
    ],
    ['seriousness of the wrong type', { seriousness: 'Non-serious' }, true, ['AdverseEvent.seriousness']],
  ])('%s', (_case, changes, serious, warnedAt) => {
    const read = adverseEventFromFhir(sent(changes), ctx);
    expect(read.value?.serious).toBe(serious);
    expect(read.issues.map((i) => `${i.severity} ${i.expression}`)).toEqual(
      warnedAt.map((e) => `warning ${e}`),
    );
  });
});

describe('actuality: actual only', () => {
  test.each<[string, Json, boolean, string[]]>([
    ['actual', {}, true, []],
    [
      'potential: a near miss, no event and no error',
      { actuality: 'potential' },
      false,
      ['warning AdverseEvent.actuality'],
    ],
    [
      'potential without a date is still no error',
      { actuality: 'potential', date: undefined, recordedDate: undefined },
      false,
      ['warning AdverseEvent.actuality'],
    ],
    ['no actuality: read as actual', { actuality: undefined }, true, ['warning AdverseEvent.actuality']],
    [
      'an unknown actuality: read as actual',
      { actuality: 'maybe' },
      true,
      ['warning AdverseEvent.actuality'],
    ],
  ])('%s', (_case, changes, read, issues) => {
    const result = adverseEventFromFhir(sent(changes), ctx);
    expect(result.value !== undefined).toBe(read);
    expect(result.issues.map((i) => `${i.severity} ${i.expression}`)).toEqual(issues);
  });
});

describe('occurredAt: date, else detected, else recordedDate', () => {
  test.each<[string, Json, string]>([
    ['date', {}, '2026-03-12T11:05:00-05:00'],
    ['detected', { date: undefined, detected: '2026-03-12T11:20:00-05:00' }, '2026-03-12T11:20:00-05:00'],
    ['recordedDate', { date: undefined }, '2026-03-12T13:35:00-05:00'],
    ['a date that is no date is passed over', { date: 'this morning', detected: '2026-03-12' }, '2026-03-12'],
  ])('%s', (_case, changes, occurredAt) => {
    expect(adverseEventFromFhir(sent(changes), ctx).value?.occurredAt).toBe(occurredAt);
  });
});

describe('description and session', () => {
  test.each<[string, Json, string | undefined, string | undefined, string[]]>([
    [
      'event text',
      {},
      'Blood pressure 186/112 forty minutes after the dose, with headache',
      'enc-lindqvist-medicine-1',
      [],
    ],
    [
      'else a display',
      { event: { coding: [{ system: 'http://snomed.info/sct', code: '1', display: 'Syncope' }] } },
      'Syncope',
      'enc-lindqvist-medicine-1',
      [],
    ],
    ['no event, no encounter', { event: undefined, encounter: undefined }, undefined, undefined, []],
    [
      'an encounter that is not an Encounter',
      { encounter: { reference: 'Observation/o-1' } },
      expect.any(String),
      undefined,
      ['warning AdverseEvent.encounter'],
    ],
    [
      'an encounter of the wrong type',
      { encounter: 7 },
      expect.any(String),
      undefined,
      ['warning AdverseEvent.encounter'],
    ],
  ])('%s', (_case, changes, description, sessionId, issues) => {
    const read = adverseEventFromFhir(sent(changes), ctx);
    expect(read.value?.description).toEqual(description);
    expect(read.value?.sessionId).toBe(sessionId);
    expect(read.issues.map((i) => `${i.severity} ${i.expression}`)).toEqual(issues);
  });
});

describe('what cannot be read has no value and an error at the element', () => {
  test.each<[string, unknown, string]>([
    ['no time at all', sent({ date: undefined, recordedDate: undefined }), 'AdverseEvent.date'],
    [
      'times of the wrong type',
      sent({ date: 20260312, detected: null, recordedDate: ['2026-03-12'] }),
      'AdverseEvent.date',
    ],
    ['no subject', sent({ subject: undefined }), 'AdverseEvent.subject'],
    [
      'a subject that is not a Patient',
      sent({ subject: { reference: 'Group/g-1' } }),
      'AdverseEvent.subject',
    ],
    ['a subject of the wrong type', sent({ subject: ['Patient/48213'] }), 'AdverseEvent.subject'],
    ['no id', sent({ id: undefined, identifier: undefined }), 'AdverseEvent.id'],
    ['an id of the wrong type', sent({ id: { value: 'x' }, identifier: null }), 'AdverseEvent.id'],
    ['another resource type', { resourceType: 'Condition', id: 'c' }, 'resourceType'],
    ['null', null, 'resourceType'],
    ['a number', 42, 'resourceType'],
  ])('%s', (_case, resource, expression) => {
    const read = adverseEventFromFhir(resource as AdverseEvent, ctx);
    expect(read.value).toBeUndefined();
    expect(read.issues.filter(isError).map((i) => i.expression)).toContain(expression);
  });
});

test('any JSON at all gives a Read, never a thrown error', () => {
  readsAnyJson(
    (r: AdverseEvent) => adverseEventFromFhir(r, ctx),
    ['AdverseEvent', 'Condition', 0],
    ['actuality', 'subject', 'encounter', 'event', 'date', 'detected', 'recordedDate', 'seriousness'],
    { actuality: fc.constantFrom('actual', 'potential'), subject: fc.constant({ reference: 'Patient/p' }) },
    (read) => {
      if (read.value !== undefined) expect(typeof read.value.serious).toBe('boolean');
    },
  );
});
