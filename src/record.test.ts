import type { MedicationAdministration } from 'fhir/r4';
import { RXNORM_KETAMINE, SYSTEM } from './fhir/codes.js';
import { identityContext } from './fhir/reference-context.js';
import { recordFrom } from './record.js';

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
