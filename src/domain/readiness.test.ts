import type { Episode, KapObservation } from './model.js';
import type { PatientRecord } from './readiness.js';
import { emptyRecord, episodeReadiness, patientReadiness } from './readiness.js';

const NOW = '2026-12-03T09:00:00Z';
const THURSDAY = '2026-12-03';
const fresh = { ehrLastHeardAt: '2026-12-03T08:00:00Z', now: NOW };

/** A patient who may dose on Thursday: every rule satisfied. */
function readyRecord(patientId = 'p1'): PatientRecord {
  return {
    ...emptyRecord(patientId),
    consents: [{ id: 'c1', patientId, status: 'active', dateTime: '2026-11-02T10:00:00Z' }],
    clearances: [
      {
        id: 'cl1',
        patientId,
        result: 'cleared',
        status: 'final',
        decidedAt: '2026-11-05T15:00:00Z',
        validUntil: '2027-02-05',
        source: 'Observation/cl1/_history/1',
      },
    ],
    prescriptions: [
      {
        id: 'rx1',
        patientId,
        status: 'active',
        medication: { text: 'ketamine 100 mg sublingual troche', rxnorm: '6130', isKetamine: true },
        dosePerSession: { value: 100, unit: 'mg' },
        route: 'sublingual',
        dosesAuthorised: 3,
        validFrom: '2026-11-06',
        validUntil: '2027-02-06',
        authoredOn: '2026-11-06T09:00:00Z',
        source: 'MedicationRequest/rx1/_history/1',
      },
    ],
    sessions: [
      {
        id: 's1',
        episodeId: 'e1',
        phase: 'preparation',
        status: 'finished',
        patientId,
        start: '2026-11-20T10:00:00Z',
        end: '2026-11-20T11:00:00Z',
      },
    ],
  };
}

const obs = (value: KapObservation['value'], effective: string, id = 'o1'): KapObservation => ({
  id,
  patientId: 'p1',
  status: 'final',
  effective,
  value,
  source: `Observation/${id}/_history/1`,
});

const administered = (n: number): PatientRecord['administrations'] =>
  Array.from({ length: n }, (_, i) => ({
    id: `a${i}`,
    patientId: 'p1',
    sessionId: `m${i}`,
    prescriptionId: 'rx1',
    status: 'completed' as const,
    medication: { text: 'ketamine', isKetamine: true },
    dose: { value: 100, unit: 'mg' },
    route: 'sublingual' as const,
    administeredAt: `2026-11-2${i}T10:30:00Z`,
  }));

type Case = [string, (r: PatientRecord) => PatientRecord, string[], string?];

const cases: Case[] = [
  ['every rule satisfied', (r) => r, []],
  ['no consent', (r) => ({ ...r, consents: [] }), ['no-consent']],
  [
    'consent withdrawn',
    (r) => ({ ...r, consents: [{ ...r.consents[0]!, status: 'inactive' }] }),
    ['no-consent'],
  ],
  [
    'consent signed after the date',
    (r) => ({ ...r, consents: [{ ...r.consents[0]!, dateTime: '2026-12-10' }] }),
    ['no-consent'],
  ],
  ['no clearance', (r) => ({ ...r, clearances: [] }), ['no-clearance']],
  [
    'not cleared',
    (r) => ({ ...r, clearances: [{ ...r.clearances[0]!, result: 'not-cleared' }] }),
    ['clearance-not-cleared'],
    'Observation/cl1/_history/1',
  ],
  [
    'needs review',
    (r) => ({ ...r, clearances: [{ ...r.clearances[0]!, result: 'needs-review' }] }),
    ['clearance-not-cleared'],
  ],
  [
    'clearance expired',
    (r) => ({ ...r, clearances: [{ ...r.clearances[0]!, validUntil: '2026-12-02' }] }),
    ['clearance-expired'],
  ],
  [
    'clearance valid through the day itself',
    (r) => ({ ...r, clearances: [{ ...r.clearances[0]!, validUntil: THURSDAY }] }),
    [],
  ],
  [
    'a newer not-cleared decision wins over an older cleared one',
    (r) => ({
      ...r,
      clearances: [
        ...r.clearances,
        {
          ...r.clearances[0]!,
          id: 'cl2',
          result: 'not-cleared',
          decidedAt: '2026-11-30T10:00:00Z',
          source: 'Observation/cl2/_history/1',
        },
      ],
    }),
    ['clearance-not-cleared'],
    'Observation/cl2/_history/1',
  ],
  ['no prescription', (r) => ({ ...r, prescriptions: [] }), ['no-prescription']],
  [
    'prescription on hold',
    (r) => ({
      ...r,
      prescriptions: [
        { ...r.prescriptions[0]!, status: 'on-hold', source: 'MedicationRequest/rx1/_history/2' },
      ],
    }),
    ['prescription-not-active'],
    'MedicationRequest/rx1/_history/2',
  ],
  [
    'prescription cancelled',
    (r) => ({ ...r, prescriptions: [{ ...r.prescriptions[0]!, status: 'cancelled' }] }),
    ['prescription-not-active'],
  ],
  [
    'prescription expired',
    (r) => ({ ...r, prescriptions: [{ ...r.prescriptions[0]!, validUntil: '2026-12-01' }] }),
    ['prescription-expired'],
  ],
  [
    'prescription not yet valid',
    (r) => ({ ...r, prescriptions: [{ ...r.prescriptions[0]!, validFrom: '2026-12-04' }] }),
    ['prescription-not-yet-valid'],
  ],
  [
    'entered-in-error prescription ignored',
    (r) => ({ ...r, prescriptions: [{ ...r.prescriptions[0]!, status: 'entered-in-error' }] }),
    ['no-prescription'],
  ],
  [
    'a prescription for another drug is not a ketamine prescription',
    (r) => ({
      ...r,
      prescriptions: [
        { ...r.prescriptions[0]!, medication: { text: 'sertraline 50 mg', isKetamine: false } },
      ],
    }),
    ['no-prescription'],
  ],
  ['all doses taken', (r) => ({ ...r, administrations: administered(3) }), ['no-doses-left']],
  ['doses left', (r) => ({ ...r, administrations: administered(2) }), []],
  ['no preparation session', (r) => ({ ...r, sessions: [] }), ['no-preparation-session']],
  [
    'preparation only planned',
    (r) => ({ ...r, sessions: [{ ...r.sessions[0]!, status: 'planned' }] }),
    ['no-preparation-session'],
  ],
  [
    'PHQ-9 item 9 above 0 since the last review',
    (r) => ({
      ...r,
      observations: [
        obs({ kind: 'phq9', total: 14, items: [2, 2, 1, 2, 1, 2, 1, 2, 1] }, '2026-11-25T10:00:00Z'),
      ],
    }),
    ['safety-phq9-item9'],
    'Observation/o1/_history/1',
  ],
  [
    'PHQ-9 item 9 above 0 before the last review is not a flag',
    (r) => ({
      ...r,
      observations: [
        obs({ kind: 'phq9', total: 14, items: [2, 2, 1, 2, 1, 2, 1, 2, 1] }, '2026-11-01T10:00:00Z'),
      ],
    }),
    [],
  ],
  [
    'PHQ-9 item 9 at 0',
    (r) => ({
      ...r,
      observations: [
        obs({ kind: 'phq9', total: 12, items: [2, 2, 1, 2, 1, 2, 1, 1, 0] }, '2026-11-25T10:00:00Z'),
      ],
    }),
    [],
  ],
  [
    'C-SSRS high',
    (r) => ({ ...r, observations: [obs({ kind: 'cssrs', risk: 'high' }, '2026-11-25T10:00:00Z')] }),
    ['safety-cssrs-high'],
  ],
  [
    'C-SSRS moderate',
    (r) => ({ ...r, observations: [obs({ kind: 'cssrs', risk: 'moderate' }, '2026-11-25T10:00:00Z')] }),
    [],
  ],
  [
    'last blood pressure above 140/90',
    (r) => ({
      ...r,
      observations: [
        obs({ kind: 'blood-pressure', systolic: 150, diastolic: 85 }, '2026-12-03T08:30:00Z', 'bp2'),
        obs({ kind: 'blood-pressure', systolic: 120, diastolic: 80 }, '2026-11-20T10:00:00Z', 'bp1'),
      ],
    }),
    ['safety-blood-pressure'],
    'Observation/bp2/_history/1',
  ],
  [
    'a high reading followed by a normal one',
    (r) => ({
      ...r,
      observations: [
        obs({ kind: 'blood-pressure', systolic: 150, diastolic: 95 }, '2026-12-03T08:00:00Z', 'bp1'),
        obs({ kind: 'blood-pressure', systolic: 128, diastolic: 82 }, '2026-12-03T08:20:00Z', 'bp2'),
      ],
    }),
    [],
  ],
  [
    'diastolic alone above the threshold',
    (r) => ({
      ...r,
      observations: [obs({ kind: 'blood-pressure', systolic: 130, diastolic: 95 }, '2026-12-03T08:30:00Z')],
    }),
    ['safety-blood-pressure'],
  ],
  [
    'everything wrong at once',
    () => emptyRecord('p1'),
    ['no-consent', 'no-clearance', 'no-prescription', 'no-preparation-session'],
  ],
];

describe('patient readiness for a medicine session', () => {
  test.each(cases.map(([n, f, e, s]) => [n, f, e, s ?? null] as const))(
    '%s',
    (_name, change, expected, source) => {
      const result = patientReadiness(change(readyRecord()), THURSDAY, fresh);
      expect(result.reasons.map((r) => r.code)).toEqual(expected);
      expect(result.ready).toBe(expected.length === 0);
      for (const r of result.reasons) expect(r.message).toMatch(/\w.*\.$/);
      if (source) expect(result.reasons[0]?.source).toBe(source);
    },
  );

  test('the EHR not heard from for longer than the threshold makes the answer not ready', () => {
    const stale = patientReadiness(readyRecord(), THURSDAY, {
      ehrLastHeardAt: '2026-12-01T08:00:00Z',
      now: NOW,
    });
    expect(stale.reasons.map((r) => r.code)).toEqual(['ehr-stale']);
    const never = patientReadiness(readyRecord(), THURSDAY, { now: NOW });
    expect(never.reasons[0]?.message).toContain('never been heard from');
    const tolerant = patientReadiness(
      readyRecord(),
      THURSDAY,
      { ehrLastHeardAt: '2026-12-01T08:00:00Z', now: NOW },
      { systolicMax: 140, diastolicMax: 90, ehrFreshnessHours: 72 },
    );
    expect(tolerant.ready).toBe(true);
  });

  test('thresholds are configuration', () => {
    const r = {
      ...readyRecord(),
      observations: [obs({ kind: 'blood-pressure', systolic: 150, diastolic: 85 }, '2026-12-03T08:30:00Z')],
    };
    expect(
      patientReadiness(r, THURSDAY, fresh, { systolicMax: 160, diastolicMax: 100, ehrFreshnessHours: 24 })
        .ready,
    ).toBe(true);
  });

  test('the status reports doses authorised, administered and remaining', () => {
    const result = patientReadiness({ ...readyRecord(), administrations: administered(1) }, THURSDAY, fresh);
    expect(result.status.prescription).toMatchObject({
      dosesAuthorised: 3,
      dosesAdministered: 1,
      dosesRemaining: 2,
    });
    expect(result.status.clearance).toMatchObject({ result: 'cleared', validUntil: '2027-02-05' });
  });
});

describe('couples readiness covers both partners', () => {
  const couples: Episode = {
    id: 'e1',
    type: 'couples',
    status: 'active',
    patients: ['p1', 'p2'],
    plannedSessions: { preparation: 2, medicine: 1, integration: 1 },
  };
  const onHold = (r: PatientRecord): PatientRecord => ({
    ...r,
    prescriptions: [{ ...r.prescriptions[0]!, status: 'on-hold' }],
  });

  test.each([
    ['both ready', readyRecord('p1'), readyRecord('p2'), true, []],
    [
      'first partner on hold',
      onHold(readyRecord('p1')),
      readyRecord('p2'),
      false,
      ['p1:prescription-not-active', 'p2:partner-not-ready'],
    ],
    [
      'second partner not cleared',
      readyRecord('p1'),
      { ...readyRecord('p2'), clearances: [] } as PatientRecord,
      false,
      ['p2:no-clearance', 'p1:partner-not-ready'],
    ],
    [
      'both not ready',
      onHold(readyRecord('p1')),
      onHold(readyRecord('p2')),
      false,
      ['p1:prescription-not-active', 'p2:prescription-not-active'],
    ],
  ] as const)('%s', (_name, a, b, ready, reasons) => {
    const result = episodeReadiness(couples, [a, b], THURSDAY, fresh);
    expect(result.ready).toBe(ready);
    expect(result.reasons.map((r) => `${r.patientId}:${r.code}`)).toEqual(reasons);
    expect(result.patients).toHaveLength(2);
  });

  test('a partner with no record at all is not ready', () => {
    const result = episodeReadiness(couples, [readyRecord('p1')], THURSDAY, fresh);
    expect(result.ready).toBe(false);
    expect(result.patients[1]?.reasons.map((r) => r.code)).toContain('no-clearance');
  });

  test('an individual episode is its patient', () => {
    const individual: Episode = { ...couples, type: 'individual', patients: ['p1'] };
    expect(episodeReadiness(individual, [readyRecord('p1')], THURSDAY, fresh).ready).toBe(true);
  });
});
