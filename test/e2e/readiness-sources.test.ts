/**
 * End to end against the HAPI sandbox: each way the prescriber's EHR can say no reaches the
 * therapist's "may this patient dose?" answer, through the REST-hook subscription within 10 s and,
 * with no subscription, through catch-up; and the prescriber's review closes a flag the same way.
 * Every patient starts ready (course, consent, preparation, pre-dose blood pressure, clearance,
 * order, dispense) and then gets one unsafe fact from the EHR.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Resource } from 'fhir/r4';
import { loadConfig } from '../../src/config.js';
import { codeSystemUrl, SYSTEM } from '../../src/fhir/codes.js';
import { createLogger } from '../../src/log.js';
import { type Service, startService } from '../../src/service.js';
import { kapFetch } from '../support/auth.js';
import { clearedPatient, courseEnv, type Json, preparedCourse, prepareEhr } from '../support/course.js';
import { safetyFlags } from '../support/safety-flags.js';
import {
  eventually,
  freePort,
  sandboxGateway,
  subscriptionsActive,
  subscriptionsOff,
  uniqueId,
} from '../support/sandbox.js';

const ehr = sandboxGateway();
const prescriber = uniqueId('e2e-rs-prescriber');
const SECRET = 'e2e-readiness-secret';
const DAY = '2026-03-12';
/** After the clearance (2026-02-10) and before the session: a flag raised since the last review. */
const FLAGGED_AT = '2026-03-11T15:00:00Z';

interface Subject {
  patient: string;
  /** The current order, `MedicationRequest/<id>`. */
  order: string;
}

/** One unsafe fact the prescriber's EHR can hold, and the reason it must give. */
const FACTS: { name: string; reason: string; write: (s: Subject) => Resource }[] = [
  ...safetyFlags(FLAGGED_AT).map((f) => ({ ...f, write: ({ patient }: Subject) => f.write(patient) })),
  {
    name: 'a newer order stops the current one',
    reason: 'prescription-not-active',
    write: ({ patient, order }) => ({
      resourceType: 'MedicationRequest',
      status: 'stopped',
      intent: 'order',
      medicationCodeableConcept: { coding: [{ system: SYSTEM.rxnorm, code: '6130' }], text: 'ketamine' },
      subject: { reference: `Patient/${patient}` },
      authoredOn: FLAGGED_AT,
      priorPrescription: { reference: order },
    }),
  },
  {
    name: 'the pharmacy declines the dispense',
    reason: 'dispense-not-completed',
    write: ({ patient, order }) => ({
      resourceType: 'MedicationDispense',
      status: 'declined',
      medicationCodeableConcept: { coding: [{ system: SYSTEM.rxnorm, code: '6130' }], text: 'ketamine' },
      subject: { reference: `Patient/${patient}` },
      authorizingPrescription: [{ reference: order }],
    }),
  },
];

let dir: string;
let service: Service;
let endpoint: string;

const status = async (patient: string): Promise<Json> =>
  (await kapFetch(`${service.url}/api/v1/patients/${patient}/medication-status?date=${DAY}`)).json();
const codes = (answer: Json): string[] => answer.reasons.map((r: { code: string }) => r.code);

/** A patient the prescriber cleared, with a course ready on DAY; the answer says so. */
async function readyPatient(name: string): Promise<Subject> {
  const patient = await clearedPatient(
    { ehr, service, prescriber, beforeRegister: () => service.syncNow() },
    name,
  );
  await preparedCourse(service, patient, DAY);
  let last: Json;
  const answer = await eventually(
    `${name} to be ready`,
    async () => {
      await service.syncNow();
      last = await status(patient);
      return last.ready ? last : undefined;
    },
    20_000,
  ).catch((e: Error) => {
    throw new Error(`${e.message}; the reasons: ${JSON.stringify(last?.reasons)}`);
  });
  expect(answer).toMatchObject({ ready: true, verdict: 'ready', reasons: [] });
  return { patient, order: answer.status.prescription.source.split('/_history/')[0] };
}

async function startWith(subscribe: boolean): Promise<void> {
  const port = await freePort();
  endpoint = `http://127.0.0.1:${port}/fhir`;
  service = await startService(
    loadConfig({
      ...courseEnv(dir),
      PORT: String(port),
      KAP_SUBSCRIBE_ON_START: String(subscribe),
      KAP_SUBSCRIPTION_SECRET: SECRET,
    }),
    createLogger('silent'),
  );
  if (subscribe) await subscriptionsActive(ehr, endpoint);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kap-e2e-readiness-'));
  await prepareEhr(ehr, [prescriber]);
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('through the subscription', () => {
  beforeAll(() => startWith(true), 120_000);
  afterAll(async () => {
    await service.close();
    await subscriptionsOff(ehr, endpoint);
  }, 60_000);

  test.each(FACTS.map((f) => [f.name, f] as const))(
    '%s: the answer changes within 10 s',
    async (_, fact) => {
      const subject = await readyPatient(uniqueId('rs-sub'));
      const written = Date.now();
      await ehr.create(fact.write(subject));
      const answer = await eventually(
        `${fact.reason} to reach the answer`,
        async () => {
          const s = await status(subject.patient);
          return codes(s).includes(fact.reason) ? s : undefined;
        },
        10_000,
      );
      expect(Date.now() - written).toBeLessThan(10_000);
      expect(answer).toMatchObject({ ready: false, verdict: 'not-ready' });
    },
    90_000,
  );

  test("the prescriber's review after a flag closes it", async () => {
    const subject = await readyPatient(uniqueId('rs-review'));
    await ehr.create(FACTS[0]!.write(subject));
    await eventually(
      'the flag',
      async () => (codes(await status(subject.patient)).length > 0 ? true : undefined),
      10_000,
    );
    await ehr.create({
      resourceType: 'ClinicalImpression',
      status: 'completed',
      code: { coding: [{ system: codeSystemUrl('kap-observation'), code: 'safety-review' }] },
      subject: { reference: `Patient/${subject.patient}` },
      effectiveDateTime: '2026-03-11T18:00:00Z',
      assessor: { reference: `Practitioner/${prescriber}` },
      summary: 'Seen; safe to continue.',
    } as Resource);
    const answer = await eventually(
      'the review to close the flag',
      async () => {
        const s = await status(subject.patient);
        return s.ready ? s : undefined;
      },
      10_000,
    );
    expect(answer.reasons).toEqual([]);
  }, 90_000);
});

describe('through catch-up, with no subscription', () => {
  beforeAll(() => startWith(false), 120_000);
  afterAll(() => service.close(), 60_000);

  test.each(FACTS.map((f) => [f.name, f] as const))(
    '%s: the answer changes after a catch-up',
    async (_, fact) => {
      const subject = await readyPatient(uniqueId('rs-poll'));
      await ehr.create(fact.write(subject));
      expect(codes(await status(subject.patient))).not.toContain(fact.reason);
      await service.syncNow();
      const answer = await status(subject.patient);
      expect(codes(answer)).toContain(fact.reason);
      expect(answer.verdict).toBe('not-ready');
    },
    90_000,
  );
});
