/**
 * End to end against the HAPI sandbox: a course recorded through the therapist API reaches the
 * EHR through the outbox, each resource once, valid against its profile by HAPI's own $validate,
 * each change with one Provenance (valid on kap-provenance, naming the resource and who wrote it);
 * the EHR's copies coming back by catch-up are attached to our records, not kept twice.
 */
import type { Bundle, Provenance, Resource } from 'fhir/r4';
import { OUTBOX_MESSAGE_SYSTEM } from '../../src/mapping/provenance.js';
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

let service: TestService;

const get = async (path: string): Promise<Json> => (await kapFetch(`${service.url}/api/v1${path}`)).json();

// The sandbox is shared: every id is fresh.
const therapist = uniqueId('e2e-therapist');
const prescriber = uniqueId('e2e-prescriber');

beforeAll(async () => {
  service = await startCourseService([therapist, prescriber]);
}, 120_000);

afterAll(() => service?.close(), 60_000);

test('an individual and a couples course reach the EHR, each resource once and valid on its profile', async () => {
  const lena = await clearedPatient({ ehr, service, prescriber }, 'lena');
  const ana = await clearedPatient({ ehr, service, prescriber }, 'ana');
  const tomas = await clearedPatient({ ehr, service, prescriber }, 'tomas');
  await service.syncNow(); // the prescriber's clearances and prescriptions
  const practitioners = { therapist, prescriber };
  const individual = await recordCourse(service, practitioners, [lena]);
  const couples = await recordCourse(service, practitioners, [ana, tomas]);
  await outboxDelivered(service);

  const messages = (await service.outbox.list({ status: 'delivered', limit: 100_000 })).filter((m) =>
    [lena, ana, tomas].some((p) => m.patientRef === `Patient/${p}`),
  );
  const latest = new Map(messages.map((m) => [`${m.resourceType}|${m.identifier.value}`, m]));
  expect(latest.size).toBeGreaterThan(60);
  for (const m of latest.values()) {
    const [type, id] = m.ehrRef!.split('/');
    // Once in the EHR, whatever the number of changes.
    const found: Resource[] = [];
    for await (const r of ehr.search<Resource>(type!, {
      identifier: `${m.identifier.system}|${m.identifier.value}`,
    }))
      found.push(r);
    expect({ what: `${type}|${m.identifier.value}`, count: found.length }).toEqual({
      what: `${type}|${m.identifier.value}`,
      count: 1,
    });
    const held = await ehr.read<Resource>(type as never, id!);
    const local = await service.store.ownByEhrIdentifier(m.resourceType, m.identifier.value);
    // A document (the session report) claims its profile on its Composition, the first entry, and
    // is validated as a Bundle: its entries on the profiles they claim.
    const claimant = (r: Resource) => (r.resourceType === 'Bundle' ? (r as Bundle).entry![0]!.resource! : r);
    const profile = claimant(local!.resource).meta!.profile![0]!;
    expect(claimant(held).meta?.profile).toEqual([profile]);
    // A document is validated as a Bundle (its Composition on the profile it claims); its copy in
    // HAPI names the session and records by the EHR's ids, resolved by the outbox before sending.
    const outcome = await ehr.validate(held, held.resourceType === 'Bundle' ? undefined : profile);
    const errors = outcome.issue.filter((i) => i.severity === 'error' || i.severity === 'fatal');
    expect({ what: `${type}/${id} on ${profile}`, errors }).toEqual({
      what: `${type}/${id} on ${profile}`,
      errors: [],
    });
  }

  // Every change delivered has one Provenance: on the resource written, by kap-bridge, and by the
  // therapist where the change names one; valid on kap-provenance by HAPI's $validate.
  const authored = new Set<string>();
  for (const m of messages) {
    const found: Provenance[] = [];
    for await (const p of ehr.search<Provenance>('Provenance', { _tag: `${OUTBOX_MESSAGE_SYSTEM}|${m.id}` }))
      found.push(p);
    expect({ what: `Provenance of ${m.resourceType}|${m.identifier.value}`, count: found.length }).toEqual({
      what: `Provenance of ${m.resourceType}|${m.identifier.value}`,
      count: 1,
    });
    const [provenance] = found;
    expect(provenance!.target).toEqual([{ reference: m.ehrRef!.split('/_history/')[0] }]);
    expect(provenance!.agent[0]?.who.identifier?.value).toBe('kap-bridge');
    for (const a of provenance!.agent.slice(1)) authored.add(`${m.resourceType} ${a.who.reference}`);
    const outcome = await ehr.validate(provenance!, provenance!.meta!.profile![0]!);
    const errors = outcome.issue.filter((i) => i.severity === 'error' || i.severity === 'fatal');
    expect({ what: `Provenance/${provenance!.id}`, errors }).toEqual({
      what: `Provenance/${provenance!.id}`,
      errors: [],
    });
  }
  expect(authored).toContain(`ServiceRequest Practitioner/${therapist}`);

  // And in kap-bridge's own audit trail: each delivery, naming our resource and the EHR's copy.
  for (const m of messages.slice(0, 5)) {
    const trail = (await (
      await kapFetch(`${service.url}/audit/AuditEvent?entity=${m.ehrRef!.split('/_history/')[0]}`)
    ).json()) as Json;
    expect(
      trail.entry.map((e: Json) => [e.resource.agent[0].who.identifier.value, e.resource.outcome]),
    ).toContainEqual(['kap-bridge outbox', '0']);
  }

  // The EHR's copies of our Observations, ServiceRequests and Tasks come back by catch-up: attached, not kept twice.
  const before = (await get(`/episodes/${individual}?date=2026-03-10`)) as Json;
  await service.syncNow();
  const after = (await get(`/episodes/${individual}?date=2026-03-10`)) as Json;
  expect(after.observations).toHaveLength(before.observations.length);
  for (const o of after.observations) expect(o.source).toMatch(/^Observation\/[^/]+\/_history\/\d+$/);
  // Everything holds but what is recorded on the day of the next session: its pre-dose blood pressure.
  expect(after.readiness.verdict).toBe('pending-day-of-checks');
  expect(after.readiness.reasons.map((r: Json) => r.code)).toEqual(['predose-blood-pressure']);
  expect(after.readiness.patients[0].status.prescription.dosesAdministered).toBe(1);
  const couple = (await get(`/episodes/${couples}?date=2026-03-10`)) as Json;
  expect(couple.phases[1].sessions[0].partners).toHaveLength(2);
  expect(couple.doses).toHaveLength(2);
}, 300_000);
