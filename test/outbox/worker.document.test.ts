/**
 * The worker delivering a document (a Bundle the EHR keeps as it is, such as the session report):
 * the conditional references inside it are resolved to the EHR's ids of what the outbox delivered
 * before it is sent; a document naming something that has not reached the EHR waits, and is never
 * sent with a reference the EHR cannot resolve.
 */
import type { Bundle, Encounter, Observation, Resource } from 'fhir/r4';
import nock from 'nock';
import { enqueue } from '../../src/outbox/outbox.js';
import { nockedOutbox } from '../support/nocked-outbox.js';
import { eventually } from '../support/sandbox.js';

const BASE = 'http://ehr.outbox-document.test/fhir';
const ENCOUNTER_SYSTEM = 'https://fhir.kap-bridge.org/identifier/Encounter';
const CANONICAL = 'https://fhir.kap-bridge.org';
const conditional = (value: string) =>
  `Encounter?identifier=${encodeURIComponent(ENCOUNTER_SYSTEM)}|${encodeURIComponent(value)}`;

const encounter = (value: string): Encounter => ({
  resourceType: 'Encounter',
  identifier: [{ system: ENCOUNTER_SYSTEM, value }],
  status: 'finished',
  class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
});

/** A document whose Observation names the session (conditionally) and whose Composition names the Observation inside it. */
const documentNaming = (session: string): Bundle => ({
  resourceType: 'Bundle',
  identifier: { system: 'https://fhir.kap-bridge.org/identifier/Bundle', value: `report-${session}` },
  type: 'document',
  timestamp: '2026-03-12T12:30:00Z',
  entry: [
    {
      fullUrl: `${CANONICAL}/Composition/c1`,
      resource: {
        resourceType: 'Composition',
        id: 'c1',
        status: 'final',
        type: { text: 'report' },
        date: '2026-03-12T12:30:00Z',
        author: [{ display: 'kap-bridge' }],
        title: 'Report',
        section: [{ title: 'Monitoring', entry: [{ reference: `${CANONICAL}/Observation/o1` }] }],
      } as Resource,
    },
    {
      fullUrl: `${CANONICAL}/Observation/o1`,
      resource: {
        resourceType: 'Observation',
        id: 'o1',
        status: 'final',
        code: { text: 'heart rate' },
        encounter: { reference: conditional(session) },
        partOf: [{ reference: 'MedicationAdministration/m1' }],
      } as Observation,
    },
  ],
});

const entriesIn = (body: unknown) =>
  ((typeof body === 'string' ? JSON.parse(body) : body) as Bundle).entry ?? [];
/** The EHR's answer: each resource created under an id of its own. */
const created = (body: unknown): Bundle => ({
  resourceType: 'Bundle',
  type: 'transaction-response',
  entry: entriesIn(body).map((e, i) => ({
    response: { status: '201 Created', location: `${e.resource!.resourceType}/ehr-${i}/_history/1` },
  })),
});

const suite = nockedOutbox(BASE, {
  maxAttempts: 5,
  backoffBaseMs: 5,
  backoffMaxMs: 20,
  owner: 'document-test',
});
const queue = (resources: Resource[]) =>
  suite.store.transaction(async (tx) => {
    const ids: string[] = [];
    for (const resource of resources) ids.push(await enqueue(tx, { patientRef: 'Patient/a', resource }));
    return ids;
  });

test('a document queued with the session it names: the session first, then the document naming it by the EHR id', async () => {
  const sent: Resource[][] = [];
  nock(BASE)
    .post(/.*/)
    .times(2)
    .reply((_uri, body) => {
      sent.push(
        entriesIn(body)
          .map((e) => e.resource!)
          .filter((r) => r.resourceType !== 'Provenance'),
      );
      return [200, created(body)];
    });
  const [session, report] = await queue([encounter('s-1'), documentNaming('s-1')]);
  suite.startWorker({ maxAttempts: 5 });
  await eventually(
    'both delivered',
    async () => (await suite.outbox.get(report!))?.status === 'delivered',
    8000,
    10,
  );

  // One batch would have sent the document before the EHR gave the session an id: two transactions.
  expect(sent.map((rs) => rs.map((r) => r.resourceType))).toEqual([['Encounter'], ['Bundle']]);
  expect((await suite.outbox.get(session!))?.ehrRef).toBe('Encounter/ehr-0/_history/1');
  const document = sent[1]![0] as Bundle;
  const observation = document.entry![1]!.resource as Observation;
  expect(observation.encounter).toEqual({ reference: 'Encounter/ehr-0' });
  // What resolves inside the document stays as it is.
  expect(observation.partOf).toEqual([{ reference: 'MedicationAdministration/m1' }]);
  expect(document.entry![0]!.resource).toEqual(documentNaming('s-1').entry![0]!.resource);
  // Waiting behind the session in its own batch is no failed attempt.
  expect(await suite.outbox.get(report!)).toMatchObject({ attempts: 1 });
});

test('a document naming a session that never reached the EHR is never sent: it waits, then is dead saying why', async () => {
  const requests = nock(BASE).post(/.*/).reply(500);
  const [report] = await queue([documentNaming('never-sent')]);
  suite.startWorker({ maxAttempts: 3 });
  await eventually('dead', async () => (await suite.outbox.get(report!))?.status === 'dead', 8000, 10);
  expect(requests.isDone()).toBe(false);
  expect(await suite.outbox.get(report!)).toMatchObject({
    attempts: 3,
    lastError: { kind: 'not-found', message: 'Waits for what it names to reach the EHR: Encounter' },
  });
});

test('a document waits while what it names is queued behind a failing change, and goes once that is delivered', async () => {
  let refuse = 2;
  const sent: string[] = [];
  nock(BASE)
    .post(/.*/)
    .times(10)
    .reply((_uri, body) => {
      const types = entriesIn(body)
        .map((e) => e.resource!.resourceType)
        .filter((t) => t !== 'Provenance');
      sent.push(types.join('+'));
      if (types[0] === 'Encounter' && refuse-- > 0)
        return [503, { resourceType: 'OperationOutcome', issue: [] }];
      return [200, created(body)];
    });
  const [, report] = await queue([encounter('s-2'), documentNaming('s-2')]);
  suite.startWorker({ maxAttempts: 10 });
  await eventually(
    'delivered',
    async () => (await suite.outbox.get(report!))?.status === 'delivered',
    8000,
    10,
  );
  expect(sent).toEqual(['Encounter', 'Encounter', 'Encounter', 'Bundle']);
});
