/**
 * End to end against the HAPI sandbox: a couples course (two partners, joint sessions under the
 * couple's Group, a dose each) recorded through the therapist API and delivered by the outbox
 * reconciles without drift for both partners, before and after the EHR's copies come back by
 * catch-up; the Provenances written with every change are not reported.
 */
import { kapFetch } from '../support/auth.js';
import {
  clearedPatient,
  type Json,
  outboxDelivered,
  recordCourse,
  startCourseService,
} from '../support/course.js';
import { sandboxGateway, uniqueId } from '../support/sandbox.js';
import type { TestService } from '../support/service.js';

const ehr = sandboxGateway();
const therapist = uniqueId('e2e-cr-therapist');
const prescriber = uniqueId('e2e-cr-prescriber');

let service: TestService;

const reconcile = async (patient: string): Promise<Json> =>
  (await kapFetch(`${service.url}/api/v1/patients/${patient}/reconcile`)).json();

beforeAll(async () => {
  service = await startCourseService([therapist, prescriber]);
}, 120_000);

afterAll(() => service?.close(), 60_000);

test('a couples course reconciles without drift for both partners', async () => {
  const ana = await clearedPatient({ ehr, service, prescriber }, 'cr-ana');
  const tomas = await clearedPatient({ ehr, service, prescriber }, 'cr-tomas');
  await service.syncNow(); // the prescriber's clearances and prescriptions
  const episode = await recordCourse(service, { therapist, prescriber }, [ana, tomas]);
  await outboxDelivered(service);

  const expectClean = async (when: string) => {
    for (const patient of [ana, tomas]) {
      const report = await reconcile(patient);
      expect({ when, patient, drift: report.drift }).toEqual({ when, patient, drift: [] });
      // Both sides hold the partner's whole record: the prescriber's clearance and prescription, the
      // episode, the referral, consent, sessions, dose and scores.
      expect(report.here).toBe(report.there);
      expect(report.matched).toBe(report.here);
      expect(report.matched).toBeGreaterThanOrEqual(20);
    }
  };
  await expectClean('just delivered');
  await service.syncNow(); // the EHR's copies of what was delivered come back
  await expectClean('after catch-up');

  const timeline = (await (
    await kapFetch(`${service.url}/api/v1/episodes/${episode}?date=2026-03-10`)
  ).json()) as Json;
  expect(timeline.doses).toHaveLength(2);
  expect(timeline.phases[1].sessions[0].partners).toHaveLength(2);
}, 300_000);
