import type { Encounter, Observation, Provenance, Resource, ServiceRequest } from 'fhir/r4';
import { createValidator } from '../validation/validator.js';
import { authorOf, OUTBOX_MESSAGE_SYSTEM, provenanceFor, provenanceMatch } from './provenance.js';

const validator = createValidator();
const errors = (r: Resource) =>
  validator.validate(r).filter((f) => f.severity === 'error' || f.severity === 'fatal');

const observation: Observation = {
  resourceType: 'Observation',
  status: 'final',
  code: { text: 'GAD-7 total' },
  performer: [{ reference: 'Organization/practice' }, { reference: 'Practitioner/therapist-1' }],
};
const change = (resource: Resource = observation) => ({
  messageId: '5d0f6c1e-8d43-4c3e-9d0a-0c4c1d8e2b11',
  target: 'urn:uuid:5d0f6c1e-8d43-4c3e-9d0a-0c4c1d8e2b11',
  activity: 'CREATE' as const,
  recorded: '2026-03-05T10:05:00Z',
  resource,
});

test('a write is valid on kap-provenance: target, time, activity, kap-bridge and the author', () => {
  const p = provenanceFor(change());
  expect(errors(p)).toEqual([]);
  expect(p.target).toEqual([{ reference: change().target }]);
  expect(p.agent.map((a) => a.who.reference ?? a.who.identifier?.value)).toEqual([
    'kap-bridge',
    'Practitioner/therapist-1',
  ]);
  expect(p.meta?.tag).toEqual([{ system: OUTBOX_MESSAGE_SYSTEM, code: change().messageId }]);
  expect(provenanceMatch(change().messageId)).toBe(
    `_tag=${encodeURIComponent(OUTBOX_MESSAGE_SYSTEM)}|${change().messageId}`,
  );
});

test('the author is the practitioner who made the change, not the one asked', () => {
  const referral: ServiceRequest = {
    resourceType: 'ServiceRequest',
    status: 'active',
    intent: 'order',
    subject: { reference: 'Patient/p' },
    requester: { reference: 'Practitioner/therapist-1' },
    performer: [{ reference: 'Practitioner/prescriber-1' }],
  };
  const session: Encounter = {
    resourceType: 'Encounter',
    status: 'finished',
    class: { code: 'AMB' },
    participant: [{ individual: { reference: 'Practitioner/therapist-2' } }],
  };
  expect(authorOf(referral)).toBe('Practitioner/therapist-1');
  expect(authorOf(session)).toBe('Practitioner/therapist-2');
  expect(authorOf({ resourceType: 'Goal' } as Resource)).toBeUndefined();
  // A change naming no practitioner has kap-bridge as its only agent, still valid.
  const p = provenanceFor(change({ resourceType: 'Goal' } as Resource));
  expect(p.agent).toHaveLength(1);
  expect(errors(p)).toEqual([]);
});

test('kap-provenance refuses a Provenance without kap-bridge or without its message tag', () => {
  const p = provenanceFor(change());
  const bare: Provenance = { ...p, agent: p.agent.slice(1), meta: { profile: p.meta!.profile! } };
  const found = errors(bare);
  expect(found.map((f) => f.message.match(/\((kap-prov-\d)\)/)?.[1])).toEqual(['kap-prov-1', 'kap-prov-2']);
});

test('names the practice whose record it is, as its Organization by the practice id, beside kap-bridge', () => {
  const practice = { system: 'https://fhir.kap-bridge.org/identifier/practice', value: 'practice-b' };
  const p = provenanceFor({ ...change(), practice });
  expect(errors(p)).toEqual([]);
  expect(
    p.agent.map((a) => [a.type?.coding?.[0]?.code, a.who.type, a.who.identifier ?? a.who.reference]),
  ).toEqual([
    ['assembler', 'Device', { system: 'https://fhir.kap-bridge.org/device', value: 'kap-bridge' }],
    ['author', 'Organization', practice],
    ['author', undefined, 'Practitioner/therapist-1'],
  ]);
});
