/**
 * Provenance for what kap-bridge writes to the EHR (HIPAA integrity and audit): which resource was
 * written, when the change was recorded, whether it created or updated it, that kap-bridge wrote it,
 * the practice whose record it is (its Organization, by the practice id: another practice reading
 * the resource back as the EHR's data sees who wrote it) and, where the change names one, the
 * practitioner behind it. One Provenance per outbox message:
 * R4 Provenance has no `identifier`, so the message id is both its source entity (a logical
 * reference, for a reader of the audit trail) and a `meta.tag` (searchable on every server as
 * `_tag`), which a retried or redelivered change matches by conditional create instead of adding a
 * second Provenance.
 *
 * kap-bridge is named by identifier (a logical reference to a Device), not by a Device resource:
 * the EHR enforces referential integrity on write and kap-bridge owns no resource there that every
 * Provenance could point at before the first one is written.
 */
import type { Provenance, Reference, Resource } from 'fhir/r4';
import { CANONICAL_BASE, identifierSystem, profileUrl } from '../fhir/codes.js';

/** kap-bridge itself, as the agent of every Provenance it writes. */
export const KAP_BRIDGE_DEVICE = { system: `${CANONICAL_BASE}/device`, value: 'kap-bridge' } as const;

const DATA_OPERATION = 'http://terminology.hl7.org/CodeSystem/v3-DataOperation';
const PARTICIPANT_TYPE = 'http://terminology.hl7.org/CodeSystem/provenance-participant-type';

export type ProvenanceActivity = 'CREATE' | 'UPDATE';

export interface WrittenChange {
  /** The outbox message id: the Provenance's business identifier. */
  messageId: string;
  /** What the Provenance is about: `urn:uuid:...` inside a transaction Bundle, or `Type/id/_history/v`. */
  target: string;
  activity: ProvenanceActivity;
  /** When the therapist's change was recorded (the outbox message's creation). */
  recorded: string;
  /** The resource as written: the practitioner it names is the Provenance's author. */
  resource: Resource;
  /** The practice that recorded it, as its Organization's identifier in the EHR. */
  practice?: { system: string; value: string };
}

type Refs = (r: Record<string, unknown>) => (Reference | undefined)[];
const one =
  (name: string): Refs =>
  (r) => [r[name] as Reference | undefined];
const many =
  (name: string): Refs =>
  (r) =>
    (r[name] as Reference[] | undefined) ?? [];

/** Where each written type names the practitioner who made the change (the performer for the EHR, not the asked one). */
const AUTHOR: Record<string, Refs> = {
  ServiceRequest: one('requester'),
  Task: one('requester'),
  Observation: many('performer'),
  Encounter: (r) =>
    ((r.participant as { individual?: Reference }[] | undefined) ?? []).map((p) => p.individual),
  CarePlan: one('author'),
};

/** The practitioner a resource names as the author of the change, `Practitioner/<id>`. */
export function authorOf(resource: Resource): string | undefined {
  const refs = AUTHOR[resource.resourceType]?.(resource as unknown as Record<string, unknown>) ?? [];
  return refs.map((r) => r?.reference).find((r) => r !== undefined && /^Practitioner\/[^/?]+$/.test(r));
}

/** The system of outbox message ids, as the tag and source entity of their Provenance. */
export const OUTBOX_MESSAGE_SYSTEM = identifierSystem('outbox-message');

/** The search that finds the Provenance of an outbox message: the conditional create's match. */
export const provenanceMatch = (messageId: string): string =>
  `_tag=${encodeURIComponent(OUTBOX_MESSAGE_SYSTEM)}|${encodeURIComponent(messageId)}`;

export function provenanceFor(change: WrittenChange): Provenance {
  const author = authorOf(change.resource);
  return {
    resourceType: 'Provenance',
    meta: {
      profile: [profileUrl('kap-provenance')],
      tag: [{ system: OUTBOX_MESSAGE_SYSTEM, code: change.messageId }],
    },
    target: [{ reference: change.target }],
    recorded: change.recorded,
    activity: { coding: [{ system: DATA_OPERATION, code: change.activity }] },
    agent: [
      {
        type: { coding: [{ system: PARTICIPANT_TYPE, code: 'assembler' }] },
        who: { type: 'Device', identifier: { ...KAP_BRIDGE_DEVICE }, display: 'kap-bridge' },
      },
      ...(change.practice
        ? [
            {
              type: { coding: [{ system: PARTICIPANT_TYPE, code: 'author' }] },
              who: { type: 'Organization', identifier: { ...change.practice } },
            },
          ]
        : []),
      ...(author
        ? [
            {
              type: { coding: [{ system: PARTICIPANT_TYPE, code: 'author' }] },
              who: { reference: author },
            },
          ]
        : []),
    ],
    entity: [
      {
        role: 'source',
        what: {
          identifier: { system: OUTBOX_MESSAGE_SYSTEM, value: change.messageId },
          display: 'the therapist-side change kap-bridge delivered',
        },
      },
    ],
  };
}
