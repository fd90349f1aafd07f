import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Consent, Encounter, MedicationAdministration } from 'fhir/r4';
import { RXNORM_KETAMINE, SYSTEM } from './fhir/codes.js';
import { identityContext } from './fhir/reference-context.js';
import { DEFAULT_PATIENT_LINK } from './patient-link.js';
import { loadRecord, recordFrom } from './record.js';
import type { StoredResource } from './store/store.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** A dose as the EHR may hold it: recorded by the prescriber or another practice, with no session. */
const dose = (over: Partial<MedicationAdministration> = {}): MedicationAdministration => ({
  resourceType: 'MedicationAdministration',
  id: 'ma-1',
  meta: { versionId: '1' },
  status: 'completed',
  medicationCodeableConcept: { coding: [{ system: SYSTEM.rxnorm, code: RXNORM_KETAMINE }] },
  subject: { reference: 'Patient/p1' },
  request: { reference: 'MedicationRequest/rx-1' },
  effectiveDateTime: '2026-11-20T10:00:00Z',
  dosage: { route: { text: 'sublingual' }, dose: { value: 100, unit: 'mg', code: 'mg' } },
  ...over,
});

describe("the EHR's doses in the record readiness counts them from", () => {
  test('a dose without a session is counted under its order', () => {
    const record = recordFrom('p1', [dose()], identityContext);
    expect(record.administrations.map((a) => [a.id, a.prescriptionId, a.sessionId])).toEqual([
      ['ma-1', 'rx-1', undefined],
    ]);
    expect(record.unreadable).toEqual([]);
  });

  test('a dose that may have been taken but cannot be read is kept as unreadable, never dropped', () => {
    const record = recordFrom('p1', [dose({ dosage: { route: { text: 'sublingual' } } })], identityContext);
    expect(record.administrations).toEqual([]);
    expect(record.unreadable).toEqual([
      expect.objectContaining({
        kind: 'administration',
        source: 'MedicationAdministration/ma-1/_history/1',
        at: '2026-11-20T10:00:00Z',
      }),
    ]);
  });

  test.each(['not-done', 'entered-in-error'] as const)(
    'an unreadable one the EHR says is %s counts for nothing',
    (status) => {
      const record = recordFrom('p1', [dose({ status, dosage: {} })], identityContext);
      expect(record.unreadable).toEqual([]);
    },
  );
});

describe("the EHR's sessions and the practice's own are separate id spaces", () => {
  /** A store holding the practice's own dose in its session 12 and the EHR's dose under its Encounter 12. */
  const store = (stored: StoredResource[]) => ({
    resourcesFor: async () => stored,
    getResource: async () => undefined,
    episodesOf: async () => [],
  });
  const receivedAt = '2026-11-20T12:00:00Z';
  const own = dose({ id: 'ma-own', context: { reference: 'Encounter/12' } });
  const theirs = dose({ id: 'ma-ehr', context: { reference: 'Encounter/12' } });

  test("a dose the EHR holds under its Encounter 12 is not one taken in the practice's session 12", async () => {
    const record = await loadRecord(
      store([
        { resource: own, ours: true, receivedAt },
        { resource: theirs, receivedAt },
      ]),
      { id: 'p1', identifiers: [], ehrPatient: 'Patient/p1' },
      'practice-a',
      { ...DEFAULT_PATIENT_LINK, mode: 'mrn' },
    );
    const sessions = Object.fromEntries(record.administrations.map((a) => [a.id, a.sessionId]));
    expect(sessions['ma-own']).toBe('12');
    expect(sessions['ma-ehr']).not.toBe('12');
    expect(new Set(Object.values(sessions)).size).toBe(2);
  });

  test("the EHR's dose and the EHR's Encounter it names still meet", async () => {
    // Another practice's medicine session as the EHR holds it, under the EHR's id 12.
    const encounter: Encounter = {
      ...(JSON.parse(
        readFileSync(
          join(ROOT, 'fixtures', 'individual-course', 'Encounter-enc-lena-medicine-1.fhir.json'),
          'utf8',
        ),
      ) as Encounter),
      id: '12',
      identifier: [{ system: 'https://fhir.kap-bridge.org/identifier/Encounter', value: 'practice-b/enc-1' }],
      subject: { reference: 'Patient/p1' },
    };
    const record = await loadRecord(
      store([
        { resource: theirs, receivedAt },
        { resource: encounter, receivedAt },
      ]),
      { id: 'p1', identifiers: [], ehrPatient: 'Patient/p1' },
      'practice-a',
      { ...DEFAULT_PATIENT_LINK, mode: 'mrn' },
    );
    expect(record.sessions.map((s) => s.id)).toHaveLength(1);
    expect(record.administrations.map((a) => a.sessionId)).toEqual(record.sessions.map((s) => s.id));
  });

  test("another practice's consent, as the EHR holds it under its course 42, never counts for the practice's own course 42", async () => {
    const fixture = JSON.parse(
      readFileSync(
        join(ROOT, 'fixtures', 'individual-course', 'Consent-cons-lena-kap-2026.fhir.json'),
        'utf8',
      ),
    ) as Consent;
    const theirs: Consent = {
      ...fixture,
      id: '77',
      identifier: [{ system: 'https://fhir.kap-bridge.org/identifier/Consent', value: 'practice-b/c-1' }],
      patient: { reference: 'Patient/p1' },
      provision: {
        ...fixture.provision,
        data: [{ meaning: 'dependents', reference: { reference: 'EpisodeOfCare/42' } }],
      },
    };
    const record = await loadRecord(
      store([{ resource: theirs, receivedAt }]),
      { id: 'p1', identifiers: [], ehrPatient: 'Patient/p1' },
      'practice-a',
      { ...DEFAULT_PATIENT_LINK, mode: 'mrn' },
    );
    expect(record.consents).toHaveLength(1);
    expect(record.consents.map((c) => c.episodeId)).not.toContain('42');
  });
});
