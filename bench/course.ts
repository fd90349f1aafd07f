/**
 * One patient's KAP record for the benchmarks, written by kap-bridge's own mapping: the episode,
 * consent, a finished preparation session, the clearance, the ketamine prescription, its dispense,
 * a PHQ-9 and the pre-dose blood pressure. Everything a medication-status answer reads, and ready:
 * every readiness rule is evaluated in full.
 */
import type { Resource } from 'fhir/r4';
import type { Episode } from '../src/domain/model.js';
import { identityContext as ctx } from '../src/fhir/reference-context.js';
import { patientRefOf } from '../src/intake.js';
import { clearanceToFhir } from '../src/mapping/clearance.js';
import { consentToFhir } from '../src/mapping/consent.js';
import { episodeToFhir } from '../src/mapping/episode.js';
import { dispenseToFhir } from '../src/mapping/medication-dispense.js';
import { prescriptionToFhir } from '../src/mapping/medication-request.js';
import { observationToFhir } from '../src/mapping/observation.js';
import { sessionToFhir } from '../src/mapping/session.js';
import type { StoredResource, StoreTx } from '../src/store/store.js';
import { careTeam } from '../test/support/care.js';

/** The patient's course, as the store keeps it beside its EpisodeOfCare. */
export const benchEpisode = (patientId: string): Episode => ({
  id: `${patientId}-ep`,
  type: 'individual',
  status: 'active',
  patients: [patientId],
  start: '2026-11-01',
  plannedSessions: { preparation: 2, medicine: 1, integration: 1 },
});

export function benchRecord(patientId: string): Resource[] {
  const ep = `${patientId}-ep`;
  const { episodeOfCare, carePlan } = episodeToFhir(benchEpisode(patientId), ctx);
  return [
    {
      resourceType: 'Patient',
      id: patientId,
      identifier: [{ system: 'urn:bench:mrn', value: patientId }],
    } as Resource,
    episodeOfCare,
    carePlan,
    consentToFhir(
      {
        id: `${patientId}-consent`,
        patientId,
        episodeId: ep,
        status: 'active',
        dateTime: '2026-11-02T10:00:00Z',
      },
      ctx,
    ),
    sessionToFhir(
      {
        id: `${patientId}-prep`,
        episodeId: ep,
        phase: 'preparation',
        status: 'finished',
        patientId,
        start: '2026-11-20T10:00:00Z',
        end: '2026-11-20T11:00:00Z',
      },
      ctx,
    ),
    clearanceToFhir(
      {
        id: `${patientId}-clr`,
        patientId,
        result: 'cleared',
        status: 'final',
        decidedAt: '2026-11-05T15:00:00Z',
        validUntil: '2027-02-05',
      },
      ctx,
    ),
    prescriptionToFhir(
      {
        id: `${patientId}-rx`,
        patientId,
        status: 'active',
        medication: { text: 'ketamine 100 mg sublingual troche', rxnorm: '6130', isKetamine: true },
        dosePerSession: { value: 100, unit: 'mg' },
        route: 'sublingual',
        intent: 'order',
        refills: 2,
        quantity: { value: 100, unit: 'mg' },
        validFrom: '2026-11-06',
        validUntil: '2027-02-06',
        authoredOn: '2026-11-06T09:00:00Z',
      },
      ctx,
    ),
    dispenseToFhir(
      {
        id: `${patientId}-disp`,
        patientId,
        prescriptionId: `${patientId}-rx`,
        status: 'completed',
        quantity: { value: 100, unit: 'mg' },
        whenHandedOver: '2026-11-07T12:00:00Z',
        medication: { text: 'ketamine 100 mg sublingual troche', rxnorm: '6130', isKetamine: true },
      },
      ctx,
    ),
    observationToFhir(
      {
        id: `${patientId}-phq9`,
        patientId,
        status: 'final',
        effective: '2026-11-20T09:30:00Z',
        value: { kind: 'phq9', total: 9, items: [1, 1, 1, 1, 1, 1, 1, 2, 0] },
      },
      ctx,
    ),
    // The pre-dose blood pressure on the morning of the session asked about (bench/status.ts).
    observationToFhir(
      {
        id: `${patientId}-bp`,
        patientId,
        status: 'final',
        effective: '2026-12-03T08:30:00Z',
        value: { kind: 'blood-pressure', systolic: 122, diastolic: 78 },
      },
      ctx,
    ),
  ].map((r) => ({ ...r, meta: { ...r.meta, versionId: '1', lastUpdated: '2026-11-20T12:00:00Z' } }));
}

/** What the practice records itself (its course, consent and sessions); the rest is the EHR's. */
const PRACTICE_RECORDED: ReadonlySet<string> = new Set(['EpisodeOfCare', 'CarePlan', 'Consent', 'Encounter']);

/** A bench resource as the store keeps it: the practice's own records in the practice's id space. */
const storedBench = (r: Resource, patientId: string, tenant: string, receivedAt: string): StoredResource => ({
  resource: r,
  receivedAt,
  patientRef: patientRefOf(r) ?? `Patient/${patientId}`,
  ...(PRACTICE_RECORDED.has(r.resourceType) ? { ours: true, tenant } : {}),
});

/**
 * One bench patient in the store, linked to its EHR Patient whose care the EHR confirms (a
 * CareTeam naming the practice), so an answer reads the whole record: the course, the record and
 * the EHR's data.
 */
export async function seedBenchPatient(tx: StoreTx, id: string, tenant: string, at: string): Promise<void> {
  await tx.savePatient(
    { id, identifiers: [{ system: 'urn:bench:mrn', value: id }], ehrPatient: `Patient/${id}` },
    tenant,
  );
  for (const r of [...benchRecord(id), careTeam(id)]) await tx.putResource(storedBench(r, id, tenant, at));
  await tx.saveEpisode(benchEpisode(id), tenant);
}
