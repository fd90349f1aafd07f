/**
 * The readiness rules, one table row per way a source can say no (or say nothing). Each row starts
 * from a record that is ready, changes one thing, and names exactly the reasons expected.
 */
import type { Episode, KapObservation, Prescription } from './model.js';
import {
  DEFAULT_POLICY,
  emptyRecord,
  episodeReadiness,
  type PatientRecord,
  patientReadiness,
  REASONS,
  type ReadinessPolicy,
  type ReadinessQuery,
} from './readiness.js';

const THURSDAY = '2026-12-03';
const QUERY: ReadinessQuery = {
  date: THURSDAY,
  now: '2026-12-03T09:00:00Z',
  ehrLastHeardAt: '2026-12-03T08:00:00Z',
};

const episode = (patients: string[] = ['p1'], over: Partial<Episode> = {}): Episode => ({
  id: 'e1',
  type: patients.length === 2 ? 'couples' : 'individual',
  status: 'active',
  patients,
  plannedSessions: { preparation: 2, medicine: 3, integration: 3 },
  ...over,
});

const ketamine = { text: 'ketamine 100 mg sublingual troche', rxnorm: '6130', isKetamine: true };

const order = (over: Partial<Prescription> = {}): Prescription => ({
  id: 'rx1',
  patientId: 'p1',
  status: 'active',
  intent: 'order',
  medication: ketamine,
  dosePerSession: { value: 100, unit: 'mg' },
  route: 'sublingual',
  refills: 2,
  quantity: { value: 100, unit: 'mg' },
  dosesAuthorised: 3,
  validFrom: '2026-11-06',
  validUntil: '2027-02-06',
  authoredOn: '2026-11-06T09:00:00Z',
  source: `MedicationRequest/${over.id ?? 'rx1'}/_history/1`,
  ...over,
});

const obs = (
  value: KapObservation['value'],
  effective: string,
  id = 'o1',
  over: Partial<KapObservation> = {},
): KapObservation => ({
  id,
  patientId: 'p1',
  status: 'final',
  effective,
  value,
  source: `Observation/${id}/_history/1`,
  ...over,
});

const bp = (
  systolic: number,
  diastolic: number,
  effective: string,
  id = 'bp1',
  over: Partial<KapObservation> = {},
) => obs({ kind: 'blood-pressure', systolic, diastolic }, effective, id, over);

/** A patient who may dose on Thursday: every rule passes, the pre-dose blood pressure taken that morning. */
function readyRecord(patientId = 'p1', episodes: Episode[] = [episode([patientId])]): PatientRecord {
  return {
    ...emptyRecord(patientId),
    episodes,
    consents: [{ id: 'c1', patientId, episodeId: 'e1', status: 'active', dateTime: '2026-11-02T10:00:00Z' }],
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
    prescriptions: [order({ patientId })],
    dispenses: [
      {
        id: 'd1',
        patientId,
        prescriptionId: 'rx1',
        status: 'completed',
        whenHandedOver: '2026-11-07T12:00:00Z',
        medication: ketamine,
        source: 'MedicationDispense/d1/_history/1',
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
    observations: [{ ...bp(122, 78, '2026-12-03T08:30:00Z'), patientId }],
  };
}

const administered = (
  n: number,
  prescriptionId: string | undefined = 'rx1',
): PatientRecord['administrations'] =>
  Array.from({ length: n }, (_, i) => ({
    id: `a${i}`,
    patientId: 'p1',
    sessionId: `m${i}`,
    ...(prescriptionId === undefined ? {} : { prescriptionId }),
    status: 'completed' as const,
    medication: ketamine,
    dose: { value: 100, unit: 'mg' },
    route: 'sublingual' as const,
    administeredAt: `2026-11-2${i}T10:30:00Z`,
  }));

const session = (id: string, phase: 'preparation' | 'medicine' | 'integration', end: string, over = {}) => ({
  id,
  episodeId: 'e1',
  phase,
  status: 'finished' as const,
  patientId: 'p1',
  start: end,
  end,
  ...over,
});

const phq9Item9 = (answer: number, effective: string, id = 'q1') =>
  obs({ kind: 'phq9', total: 10, item9: answer }, effective, id);

type Change = (r: PatientRecord) => PatientRecord;
interface Row {
  name: string;
  change: Change;
  reasons: string[];
  query?: Partial<ReadinessQuery>;
  policy?: Partial<ReadinessPolicy>;
}

const withObs =
  (...o: KapObservation[]): Change =>
  (r) => ({ ...r, observations: [...r.observations, ...o] });

const rows: Row[] = [
  { name: 'every rule passes', change: (r) => r, reasons: [] },

  // Time: instants as instants, date-only values as days in the practice's zone.
  {
    name: 'a PHQ-9 at 10:00-08:00 is after a clearance at 15:00Z the same day',
    change: (r) => ({
      ...withObs(phq9Item9(2, '2026-11-05T10:00:00-08:00'))(r),
    }),
    reasons: ['safety-phq9-item9'],
  },
  {
    name: 'a high blood pressure at 08:30-05:00 is later than a normal one at 10:00Z',
    change: (r) => ({
      ...r,
      observations: [
        bp(120, 80, '2026-12-03T10:00:00Z', 'bpA'),
        bp(170, 100, '2026-12-03T08:30:00-05:00', 'bpB'),
      ],
    }),
    reasons: ['safety-blood-pressure'],
  },
  {
    name: 'a clearance valid until 03:00Z does not cover the rest of the day',
    change: (r) => ({ ...r, clearances: [{ ...r.clearances[0]!, validUntil: '2026-12-03T03:00:00Z' }] }),
    reasons: ['clearance-expired'],
  },
  {
    name: 'a clearance valid until the date covers that whole day',
    change: (r) => ({ ...r, clearances: [{ ...r.clearances[0]!, validUntil: THURSDAY }] }),
    reasons: [],
  },
  {
    name: 'with a session start, a clearance ending after it covers it',
    change: (r) => ({ ...r, clearances: [{ ...r.clearances[0]!, validUntil: '2026-12-03T15:00:00Z' }] }),
    query: { at: '2026-12-03T14:00:00Z' },
    reasons: [],
  },
  {
    name: 'with a session start, a clearance ending before it does not',
    change: (r) => ({ ...r, clearances: [{ ...r.clearances[0]!, validUntil: '2026-12-03T15:00:00Z' }] }),
    query: { at: '2026-12-03T16:00:00Z' },
    reasons: ['clearance-expired'],
  },
  {
    name: "a reading late on Wednesday in UTC is not Thursday's in the practice's zone east of it",
    change: (r) => ({ ...r, observations: [bp(122, 78, '2026-12-02T23:30:00Z')] }),
    policy: { timeZone: 'Europe/Berlin' },
    reasons: [],
  },
  {
    name: "a reading early on Thursday in UTC is Wednesday's in a practice west of it",
    change: (r) => ({ ...r, observations: [bp(122, 78, '2026-12-03T05:00:00Z')] }),
    policy: { timeZone: 'America/Los_Angeles' },
    reasons: ['predose-blood-pressure'],
  },
  {
    name: "a validity ending on the date is read as that day in the practice's zone",
    change: (r) => ({ ...r, clearances: [{ ...r.clearances[0]!, validUntil: THURSDAY }] }),
    policy: { timeZone: 'America/Los_Angeles' },
    query: { at: '2026-12-04T06:00:00Z' },
    reasons: [],
  },

  // The course and its consent.
  {
    name: 'no course',
    change: (r) => ({ ...r, episodes: [] }),
    reasons: ['no-episode', 'no-consent', 'no-preparation-session'],
  },
  {
    name: 'the course is on hold',
    change: (r) => ({ ...r, episodes: [episode(['p1'], { status: 'onhold' })] }),
    reasons: ['episode-not-active'],
  },
  {
    name: 'the course is finished',
    change: (r) => ({ ...r, episodes: [episode(['p1'], { status: 'finished' })] }),
    reasons: ['episode-not-active'],
  },
  { name: 'no consent', change: (r) => ({ ...r, consents: [] }), reasons: ['no-consent'] },
  {
    name: 'a consent of another course does not count',
    change: (r) => ({ ...r, consents: [{ ...r.consents[0]!, episodeId: 'e0' }] }),
    reasons: ['no-consent'],
  },
  {
    name: 'a later rejected consent revokes',
    change: (r) => ({
      ...r,
      consents: [
        ...r.consents,
        { ...r.consents[0]!, id: 'c2', status: 'rejected', dateTime: '2026-11-30T10:00:00Z' },
      ],
    }),
    reasons: ['consent-revoked'],
  },
  {
    name: 'a later entered-in-error consent revokes',
    change: (r) => ({
      ...r,
      consents: [
        ...r.consents,
        { ...r.consents[0]!, id: 'c2', status: 'entered-in-error', dateTime: '2026-11-30T10:00:00Z' },
      ],
    }),
    reasons: ['consent-revoked'],
  },
  {
    name: 'a draft consent is not signed',
    change: (r) => ({ ...r, consents: [{ ...r.consents[0]!, status: 'draft' }] }),
    reasons: ['consent-not-active'],
  },
  {
    name: 'a consent whose period ended before the day',
    change: (r) => ({
      ...r,
      consents: [{ ...r.consents[0]!, period: { start: '2026-11-02', end: '2026-12-01' } }],
    }),
    reasons: ['consent-out-of-period'],
  },
  {
    name: 'a consent whose period starts after the day',
    change: (r) => ({ ...r, consents: [{ ...r.consents[0]!, period: { start: '2026-12-04' } }] }),
    reasons: ['consent-out-of-period'],
  },
  {
    name: 'a consent signed after the session does not count',
    change: (r) => ({ ...r, consents: [{ ...r.consents[0]!, dateTime: '2026-12-04T10:00:00Z' }] }),
    reasons: ['no-consent'],
  },
  {
    name: 'a preparation session of another course does not count',
    change: (r) => ({ ...r, sessions: [{ ...r.sessions[0]!, episodeId: 'e0' }] }),
    reasons: ['no-preparation-session'],
  },
  {
    name: 'a preparation session not finished does not count',
    change: (r) => ({ ...r, sessions: [{ ...r.sessions[0]!, status: 'in-progress' }] }),
    reasons: ['no-preparation-session'],
  },
  {
    name: 'a medicine session with no integration session after it',
    change: (r) => ({ ...r, sessions: [...r.sessions, session('m1', 'medicine', '2026-11-25T12:30:00Z')] }),
    reasons: ['no-integration-session'],
  },
  {
    name: 'a medicine session followed by an integration session',
    change: (r) => ({
      ...r,
      sessions: [
        ...r.sessions,
        session('m1', 'medicine', '2026-11-25T12:30:00Z'),
        session('i1', 'integration', '2026-11-27T10:00:00Z'),
      ],
    }),
    reasons: [],
  },
  {
    name: 'an integration session before the medicine session does not count',
    change: (r) => ({
      ...r,
      sessions: [
        ...r.sessions,
        session('i1', 'integration', '2026-11-22T10:00:00Z'),
        session('m1', 'medicine', '2026-11-25T12:30:00Z'),
      ],
    }),
    reasons: ['no-integration-session'],
  },
  {
    name: 'a practice that does not require integration between medicine sessions',
    change: (r) => ({ ...r, sessions: [...r.sessions, session('m1', 'medicine', '2026-11-25T12:30:00Z')] }),
    policy: { requireIntegration: false },
    reasons: [],
  },

  // Clearance.
  { name: 'no clearance', change: (r) => ({ ...r, clearances: [] }), reasons: ['no-clearance'] },
  {
    name: 'a preliminary clearance does not clear',
    change: (r) => ({ ...r, clearances: [{ ...r.clearances[0]!, status: 'preliminary' }] }),
    reasons: ['clearance-not-final'],
  },
  {
    name: 'a cancelled clearance is no clearance',
    change: (r) => ({ ...r, clearances: [{ ...r.clearances[0]!, status: 'cancelled' }] }),
    reasons: ['no-clearance'],
  },
  {
    name: 'an entered-in-error clearance is no clearance',
    change: (r) => ({ ...r, clearances: [{ ...r.clearances[0]!, status: 'entered-in-error' }] }),
    reasons: ['no-clearance'],
  },
  {
    name: 'a corrected clearance clears',
    change: (r) => ({ ...r, clearances: [{ ...r.clearances[0]!, status: 'corrected' }] }),
    reasons: [],
  },
  {
    name: 'not cleared',
    change: (r) => ({ ...r, clearances: [{ ...r.clearances[0]!, result: 'not-cleared' }] }),
    reasons: ['clearance-not-cleared'],
  },
  {
    name: 'needs review',
    change: (r) => ({ ...r, clearances: [{ ...r.clearances[0]!, result: 'needs-review' }] }),
    reasons: ['clearance-not-cleared'],
  },
  {
    name: 'a later not-cleared decision overrides an earlier clearance',
    change: (r) => ({
      ...r,
      clearances: [
        ...r.clearances,
        { ...r.clearances[0]!, id: 'cl2', result: 'not-cleared', decidedAt: '2026-11-28T10:00:00Z' },
      ],
    }),
    reasons: ['clearance-not-cleared'],
  },
  {
    name: 'a clearance with no end within the maximum age',
    change: (r) => ({ ...r, clearances: [{ ...r.clearances[0]!, validUntil: undefined }] }),
    reasons: [],
  },
  {
    name: 'a clearance with no end past the maximum age',
    change: (r) => ({
      ...r,
      clearances: [{ ...r.clearances[0]!, validUntil: undefined, decidedAt: '2026-05-01T10:00:00Z' }],
    }),
    reasons: ['clearance-expired'],
  },
  {
    name: 'a newer clearance that cannot be read',
    change: (r) => ({
      ...r,
      unreadable: [
        {
          kind: 'clearance',
          source: 'Observation/cl9/_history/1',
          at: '2026-11-29T10:00:00Z',
          problem: 'no result',
        },
      ],
    }),
    reasons: ['clearance-unreadable'],
  },
  {
    name: 'an unreadable clearance older than the readable one is superseded',
    change: (r) => ({
      ...r,
      unreadable: [
        {
          kind: 'clearance',
          source: 'Observation/cl0/_history/1',
          at: '2026-10-01T10:00:00Z',
          problem: 'no result',
        },
      ],
    }),
    reasons: [],
  },

  // Prescription.
  {
    name: 'no prescription',
    change: (r) => ({ ...r, prescriptions: [], dispenses: [] }),
    reasons: ['no-prescription', 'no-dispense'],
  },
  {
    name: 'only a proposal',
    change: (r) => ({ ...r, prescriptions: [order({ intent: 'proposal' })] }),
    reasons: ['no-prescription', 'no-dispense'],
  },
  {
    name: 'a plan does not authorise',
    change: (r) => ({ ...r, prescriptions: [order({ intent: 'plan' })] }),
    reasons: ['no-prescription', 'no-dispense'],
  },
  {
    name: 'a newer stopped order replaces the active one',
    change: (r) => ({
      ...r,
      prescriptions: [
        ...r.prescriptions,
        order({
          id: 'rx2',
          status: 'stopped',
          authoredOn: '2026-11-30T09:00:00Z',
          source: 'MedicationRequest/rx2/_history/1',
        }),
      ],
    }),
    reasons: ['prescription-not-active', 'no-dispense'],
  },
  {
    name: 'an order naming the active one as its prior prescription replaces it, whatever its date',
    change: (r) => ({
      ...r,
      prescriptions: [
        ...r.prescriptions,
        order({
          id: 'rx2',
          status: 'cancelled',
          authoredOn: '2026-11-01T09:00:00Z',
          priorPrescription: 'MedicationRequest/rx1',
        }),
      ],
    }),
    reasons: ['prescription-not-active', 'no-dispense'],
  },
  {
    name: 'a newer draft never replaces the order',
    change: (r) => ({
      ...r,
      prescriptions: [
        ...r.prescriptions,
        order({ id: 'rx2', status: 'draft', authoredOn: '2026-11-30T09:00:00Z' }),
      ],
    }),
    reasons: [],
  },
  {
    name: 'a newer proposal never replaces the order',
    change: (r) => ({
      ...r,
      prescriptions: [
        ...r.prescriptions,
        order({ id: 'rx2', intent: 'proposal', status: 'stopped', authoredOn: '2026-11-30T09:00:00Z' }),
      ],
    }),
    reasons: [],
  },
  {
    name: 'two orders at the same time: the one that does not authorise wins',
    change: (r) => ({ ...r, prescriptions: [...r.prescriptions, order({ id: 'rx2', status: 'on-hold' })] }),
    reasons: ['prescription-not-active', 'no-dispense'],
  },
  {
    name: 'same authored time: the later version decides',
    change: (r) => ({
      ...r,
      prescriptions: [
        order({ versionTime: '2026-11-10T09:00:00Z' }),
        order({ id: 'rx2', status: 'stopped', versionTime: '2026-11-09T09:00:00Z' }),
      ],
    }),
    reasons: [],
  },
  {
    name: 'on hold',
    change: (r) => ({ ...r, prescriptions: [order({ status: 'on-hold' })] }),
    reasons: ['prescription-not-active'],
  },
  {
    name: 'status unknown',
    change: (r) => ({ ...r, prescriptions: [order({ status: 'unknown' })] }),
    reasons: ['prescription-not-active'],
  },
  {
    name: 'not yet valid',
    change: (r) => ({ ...r, prescriptions: [order({ validFrom: '2026-12-04' })] }),
    reasons: ['prescription-not-yet-valid'],
  },
  {
    name: 'expired',
    change: (r) => ({ ...r, prescriptions: [order({ validUntil: '2026-12-02' })] }),
    reasons: ['prescription-expired'],
  },
  {
    name: 'a validity ending at noon does not cover the day',
    change: (r) => ({ ...r, prescriptions: [order({ validUntil: '2026-12-03T12:00:00Z' })] }),
    reasons: ['prescription-expired'],
  },
  {
    name: 'sessions supplied cannot be told',
    change: (r) => ({
      ...r,
      prescriptions: [
        order({
          dosesAuthorised: undefined,
          sessionsUnknown: 'a supply in "mL" cannot be compared with a dose in "mg"',
        }),
      ],
    }),
    reasons: ['doses-unknown'],
  },
  {
    name: 'every session supplied has been taken',
    change: (r) => ({ ...r, administrations: administered(3) }),
    reasons: ['no-doses-left'],
  },
  {
    name: 'a dose recorded without an order counts against the current one',
    change: (r) => ({
      ...r,
      administrations: [
        ...administered(2),
        ...administered(1, undefined).map((a) => ({ ...a, id: 'ax', sessionId: 'mx' })),
      ],
    }),
    reasons: ['no-doses-left'],
  },
  {
    name: 'a booster is part of its session: two doses in one session count as one session',
    change: (r) => ({
      ...r,
      administrations: [...administered(2), ...administered(1).map((a) => ({ ...a, id: 'a-booster' }))],
    }),
    reasons: [],
  },
  {
    name: "a dose the EHR holds for the order without a session (another practice's, the prescriber's) counts",
    change: (r) => ({
      ...r,
      administrations: [
        ...administered(2),
        ...administered(1).map(({ sessionId: _none, ...a }) => ({ ...a, id: 'ehr-dose' })),
      ],
    }),
    reasons: ['no-doses-left'],
  },
  {
    name: 'two doses the EHR holds without a session are two sessions, never one session and its booster',
    change: (r) => ({
      ...r,
      administrations: [
        ...administered(1),
        ...administered(2).map(({ sessionId: _none, ...a }, i) => ({
          ...a,
          id: `ehr-dose-${i}`,
          source: `MedicationAdministration/ehr-dose-${i}/_history/1`,
        })),
      ],
    }),
    reasons: ['no-doses-left'],
  },
  {
    name: 'a dose that may have been taken but cannot be read leaves the sessions left unknown',
    change: (r) => ({
      ...r,
      unreadable: [
        {
          kind: 'administration',
          source: 'MedicationAdministration/ma9/_history/1',
          at: '2026-11-28T10:00:00Z',
          problem:
            'The administration does not say how much was taken. (MedicationAdministration.dosage.dose)',
        },
      ],
    }),
    reasons: ['doses-unknown'],
  },
  {
    name: 'doses under an earlier order do not count against the current one',
    change: (r) => ({ ...r, administrations: administered(3, 'rx0') }),
    reasons: [],
  },
  {
    name: 'a medication order that cannot be read',
    change: (r) => ({
      ...r,
      unreadable: [
        { kind: 'prescription', source: 'MedicationRequest/rx9/_history/1', problem: 'no medication' },
      ],
    }),
    reasons: ['prescription-unreadable'],
  },

  // Dispense.
  { name: 'never dispensed', change: (r) => ({ ...r, dispenses: [] }), reasons: ['no-dispense'] },
  {
    name: 'dispensed under another order only',
    change: (r) => ({ ...r, dispenses: [{ ...r.dispenses[0]!, prescriptionId: 'rx0' }] }),
    reasons: ['no-dispense'],
  },
  {
    name: 'a declined dispense',
    change: (r) => ({ ...r, dispenses: [{ ...r.dispenses[0]!, status: 'declined' }] }),
    reasons: ['dispense-not-completed'],
  },
  {
    name: 'a later entered-in-error dispense',
    change: (r) => ({
      ...r,
      dispenses: [
        ...r.dispenses,
        { ...r.dispenses[0]!, id: 'd2', status: 'entered-in-error', whenHandedOver: '2026-11-08T12:00:00Z' },
      ],
    }),
    reasons: ['dispense-not-completed'],
  },
  {
    name: 'a declined dispense with no handover date cannot be placed in time',
    change: (r) => ({
      ...r,
      dispenses: [
        ...r.dispenses,
        { ...r.dispenses[0]!, id: 'd2', status: 'declined', whenHandedOver: undefined },
      ],
    }),
    reasons: ['dispense-not-completed'],
  },
  {
    name: 'a dispense handed over after the session does not count for it',
    change: (r) => ({ ...r, dispenses: [{ ...r.dispenses[0]!, whenHandedOver: '2026-12-04T12:00:00Z' }] }),
    reasons: ['no-dispense'],
  },
  {
    name: 'a practice whose EHR sends no dispenses',
    change: (r) => ({ ...r, dispenses: [] }),
    policy: { requireDispense: false },
    reasons: [],
  },

  // Safety flags and the prescriber's review.
  {
    name: 'PHQ-9 item 9 above 0',
    change: withObs(phq9Item9(1, '2026-11-27T10:00:00Z')),
    reasons: ['safety-phq9-item9'],
  },
  {
    name: 'PHQ-9 item 9 read from the nine items',
    change: withObs(
      obs({ kind: 'phq9', total: 12, items: [2, 2, 2, 2, 1, 1, 1, 0, 1] }, '2026-11-27T10:00:00Z'),
    ),
    reasons: ['safety-phq9-item9'],
  },
  { name: 'PHQ-9 item 9 of 0', change: withObs(phq9Item9(0, '2026-11-27T10:00:00Z')), reasons: [] },
  {
    name: 'a PHQ-9 without item 9 leaves suicidality unknown',
    change: withObs(obs({ kind: 'phq9', total: 8 }, '2026-11-27T10:00:00Z')),
    reasons: ['safety-phq9-item9-unknown'],
  },
  {
    name: "a PHQ-9 whose item 9 is a hasMember Observation reads the member's answer",
    change: withObs(
      obs({ kind: 'phq9', total: 8, members: ['Observation/i9'] }, '2026-11-27T10:00:00Z', 'q1'),
      obs({ kind: 'phq9-item9', answer: 2 }, '2026-11-27T10:00:00Z', 'i9'),
    ),
    reasons: ['safety-phq9-item9'],
  },
  {
    name: 'a member item 9 of 0 answers the panel',
    change: withObs(
      obs({ kind: 'phq9', total: 8, members: ['Observation/i9'] }, '2026-11-27T10:00:00Z', 'q1'),
      obs({ kind: 'phq9-item9', answer: 0 }, '2026-11-27T10:00:00Z', 'i9'),
    ),
    reasons: [],
  },
  {
    name: 'a standalone PHQ-9 item 9 from the EHR',
    change: withObs(obs({ kind: 'phq9-item9', answer: 3 }, '2026-11-27T10:00:00Z', 'i9')),
    reasons: ['safety-phq9-item9'],
  },
  {
    name: 'a cancelled PHQ-9 is not a flag',
    change: withObs({ ...phq9Item9(2, '2026-11-27T10:00:00Z'), status: 'cancelled' }),
    reasons: [],
  },
  {
    name: 'a preliminary PHQ-9 is still a flag',
    change: withObs({ ...phq9Item9(2, '2026-11-27T10:00:00Z'), status: 'preliminary' }),
    reasons: ['safety-phq9-item9'],
  },
  {
    name: 'a flag before the last clearance was reviewed',
    change: withObs(phq9Item9(2, '2026-11-04T10:00:00Z')),
    reasons: [],
  },
  {
    name: 'a later order for another medicine does not close a flag',
    change: (r) => ({
      ...withObs(phq9Item9(2, '2026-11-27T10:00:00Z'))(r),
      prescriptions: [
        ...r.prescriptions,
        order({
          id: 'rx7',
          medication: { text: 'sertraline 50 mg', isKetamine: false },
          authoredOn: '2026-11-28T10:00:00Z',
        }),
      ],
    }),
    reasons: ['safety-phq9-item9'],
  },
  {
    name: 'a later ketamine order does not close a flag',
    change: (r) => ({
      ...withObs(phq9Item9(2, '2026-11-27T10:00:00Z'))(r),
      prescriptions: [order({ id: 'rx2', authoredOn: '2026-11-28T10:00:00Z' })],
      dispenses: [{ ...r.dispenses[0]!, prescriptionId: 'rx2' }],
    }),
    reasons: ['safety-phq9-item9'],
  },
  {
    name: "the prescriber's explicit review after the flag closes it",
    change: (r) => ({
      ...withObs(phq9Item9(2, '2026-11-27T10:00:00Z'))(r),
      reviews: [
        {
          id: 'rv1',
          patientId: 'p1',
          reviewedAt: '2026-11-28T10:00:00Z',
          source: 'ClinicalImpression/rv1/_history/1',
        },
      ],
    }),
    reasons: [],
  },
  {
    name: 'a review before the flag does not close it',
    change: (r) => ({
      ...withObs(phq9Item9(2, '2026-11-27T10:00:00Z'))(r),
      reviews: [{ id: 'rv1', patientId: 'p1', reviewedAt: '2026-11-26T10:00:00Z' }],
    }),
    reasons: ['safety-phq9-item9'],
  },
  {
    name: 'a new clearance decision after the flag closes it',
    change: (r) => ({
      ...withObs(phq9Item9(2, '2026-11-27T10:00:00Z'))(r),
      clearances: [...r.clearances, { ...r.clearances[0]!, id: 'cl2', decidedAt: '2026-11-28T10:00:00Z' }],
    }),
    reasons: [],
  },
  {
    name: 'a preliminary clearance after the flag is not a review',
    change: (r) => ({
      ...withObs(phq9Item9(2, '2026-11-27T10:00:00Z'))(r),
      clearances: [
        ...r.clearances,
        { ...r.clearances[0]!, id: 'cl2', status: 'preliminary', decidedAt: '2026-11-28T10:00:00Z' },
      ],
    }),
    reasons: ['clearance-not-final', 'safety-phq9-item9'],
  },
  {
    name: 'C-SSRS high',
    change: withObs(obs({ kind: 'cssrs', risk: 'high' }, '2026-11-27T10:00:00Z')),
    reasons: ['safety-cssrs-risk'],
  },
  {
    name: 'C-SSRS moderate',
    change: withObs(obs({ kind: 'cssrs', risk: 'moderate' }, '2026-11-27T10:00:00Z')),
    reasons: ['safety-cssrs-risk'],
  },
  {
    name: 'C-SSRS low',
    change: withObs(obs({ kind: 'cssrs', risk: 'low' }, '2026-11-27T10:00:00Z')),
    reasons: [],
  },
  {
    name: 'a contraindication recorded after the clearance',
    change: (r) => ({
      ...r,
      findings: [
        {
          id: 'cd1',
          patientId: 'p1',
          type: 'Condition',
          active: true,
          contraindication: 'psychotic-disorder',
          recorded: '2026-11-20',
          text: 'Schizophrenia',
        },
      ],
    }),
    reasons: ['safety-contraindication'],
  },
  {
    name: 'a contraindication with no date is open',
    change: (r) => ({
      ...r,
      findings: [
        {
          id: 'cd1',
          patientId: 'p1',
          type: 'AllergyIntolerance',
          active: true,
          contraindication: 'ketamine-hypersensitivity',
          text: 'Ketamine',
        },
      ],
    }),
    reasons: ['safety-contraindication'],
  },
  {
    name: 'a contraindication the prescriber cleared knowing',
    change: (r) => ({
      ...r,
      findings: [
        {
          id: 'cd1',
          patientId: 'p1',
          type: 'Condition',
          active: true,
          contraindication: 'pregnancy',
          recorded: '2026-10-01',
          text: 'Pregnancy',
        },
      ],
    }),
    reasons: [],
  },
  {
    name: 'a contraindication the EHR changed after the clearance is raised again',
    change: (r) => ({
      ...r,
      findings: [
        {
          id: 'cd1',
          patientId: 'p1',
          type: 'Condition',
          active: true,
          contraindication: 'pregnancy',
          recorded: '2026-10-01',
          versionTime: '2026-11-20T10:00:00Z',
          text: 'Pregnancy',
        },
      ],
    }),
    reasons: ['safety-contraindication'],
  },
  {
    name: 'an inactive contraindication',
    change: (r) => ({
      ...r,
      findings: [
        {
          id: 'cd1',
          patientId: 'p1',
          type: 'Condition',
          active: false,
          contraindication: 'pregnancy',
          recorded: '2026-11-20',
          text: 'Pregnancy',
        },
      ],
    }),
    reasons: [],
  },
  {
    name: 'a condition outside the contraindications',
    change: (r) => ({
      ...r,
      findings: [
        {
          id: 'cd1',
          patientId: 'p1',
          type: 'Condition',
          active: true,
          recorded: '2026-11-20',
          text: 'Asthma',
        },
      ],
    }),
    reasons: [],
  },
  {
    name: 'a serious adverse event',
    change: (r) => ({
      ...r,
      adverseEvents: [{ id: 'ae1', patientId: 'p1', occurredAt: '2026-11-25T12:00:00Z', serious: true }],
    }),
    reasons: ['safety-adverse-event'],
  },
  {
    name: 'an adverse event that is not serious',
    change: (r) => ({
      ...r,
      adverseEvents: [{ id: 'ae1', patientId: 'p1', occurredAt: '2026-11-25T12:00:00Z', serious: false }],
    }),
    reasons: [],
  },
  {
    name: 'a safety finding that cannot be read',
    change: (r) => ({
      ...r,
      unreadable: [
        {
          kind: 'safety-finding',
          source: 'Observation/x/_history/1',
          at: '2026-11-27T10:00:00Z',
          problem: 'no risk level',
        },
      ],
    }),
    reasons: ['safety-finding-unreadable'],
  },
  {
    name: 'a safety finding with no readable date that cannot be read',
    change: (r) => ({
      ...r,
      unreadable: [{ kind: 'safety-finding', source: 'Observation/x/_history/1', problem: 'no risk level' }],
    }),
    reasons: ['safety-finding-unreadable'],
  },

  // Blood pressure.
  {
    name: 'the last blood pressure is high',
    change: (r) => ({ ...r, observations: [bp(150, 85, '2026-12-03T08:30:00Z')] }),
    reasons: ['safety-blood-pressure'],
  },
  {
    name: 'a cancelled normal reading does not hide a high one',
    change: (r) => ({
      ...r,
      observations: [
        bp(150, 95, '2026-12-03T08:30:00Z', 'bpA'),
        bp(118, 76, '2026-12-03T08:45:00Z', 'bpB', { status: 'cancelled' }),
      ],
    }),
    reasons: ['safety-blood-pressure'],
  },
  {
    name: 'an entered-in-error high reading is ignored',
    change: (r) => ({
      ...r,
      observations: [
        ...r.observations,
        bp(190, 120, '2026-12-03T08:45:00Z', 'bpB', { status: 'entered-in-error' }),
      ],
    }),
    reasons: [],
  },
  {
    name: 'no reading on the day is a day-of check',
    change: (r) => ({ ...r, observations: [bp(122, 78, '2026-12-01T08:30:00Z')] }),
    reasons: ['predose-blood-pressure'],
  },
  {
    name: 'a reading after the session start does not count before it',
    change: (r) => r,
    query: { at: '2026-12-03T08:00:00Z' },
    reasons: ['predose-blood-pressure'],
  },
  {
    name: 'a newer reading that cannot be read',
    change: (r) => ({
      ...r,
      unreadable: [
        {
          kind: 'blood-pressure',
          source: 'Observation/bp9/_history/1',
          at: '2026-12-03T08:40:00Z',
          problem: 'unit "cm"',
        },
      ],
    }),
    reasons: ['blood-pressure-unreadable'],
  },

  // The EHR's freshness and the link.
  {
    name: 'the EHR silent for two days',
    change: (r) => r,
    query: { ehrLastHeardAt: '2026-12-01T08:00:00Z' },
    reasons: ['ehr-stale'],
  },
  {
    name: 'the EHR never heard from',
    change: (r) => r,
    query: { ehrLastHeardAt: undefined },
    reasons: ['ehr-stale'],
  },
  {
    name: 'the link is not confirmed',
    change: (r) => ({ ...r, link: 'pending' }),
    reasons: ['link-pending'],
  },
  {
    name: 'two clearance decisions at the same instant, one not clearing: it decides',
    change: (r) => ({
      ...r,
      clearances: [...r.clearances, { ...r.clearances[0]!, id: 'cl2', result: 'not-cleared' }],
    }),
    reasons: ['clearance-not-cleared'],
  },
  {
    name: 'a preparation session dated only by the day of the session is not before a session at 10:00',
    change: (r) => ({
      ...r,
      sessions: [session('s1', 'preparation', '2026-12-03')],
    }),
    query: { at: '2026-12-03T10:00:00Z' },
    reasons: ['no-preparation-session'],
  },
  {
    name: 'asked about the day, a medicine session already that morning and no integration session since',
    change: (r) => ({
      ...r,
      sessions: [...r.sessions, session('m1', 'medicine', '2026-12-03T08:00:00Z')],
    }),
    reasons: ['no-integration-session'],
  },
  {
    name: 'an unreadable clearance and an unreadable order dated after the session do not count for it',
    change: (r) => ({
      ...r,
      unreadable: [
        {
          kind: 'clearance',
          source: 'Observation/x/_history/1',
          at: '2026-12-04T09:00:00Z',
          problem: 'no value',
        },
        {
          kind: 'prescription',
          source: 'MedicationRequest/y/_history/1',
          at: '2026-12-04',
          problem: 'no dose',
        },
      ],
    }),
    reasons: [],
  },
  {
    name: 'two active orders authored at the same instant, one expired: the one that does not authorise is current',
    change: (r) => ({
      ...r,
      prescriptions: [order(), order({ id: 'rx2', validUntil: '2026-12-01' })],
    }),
    reasons: ['prescription-expired', 'no-dispense'],
  },
  {
    name: 'a dispense still in preparation, with no handover time, is the latest',
    change: (r) => ({
      ...r,
      dispenses: [
        ...r.dispenses,
        { ...r.dispenses[0]!, id: 'd2', status: 'preparation', whenHandedOver: undefined },
      ],
    }),
    reasons: ['dispense-not-completed'],
  },
  {
    name: 'a dispense handed over after the session does not count for it',
    change: (r) => ({
      ...r,
      dispenses: [{ ...r.dispenses[0]!, whenHandedOver: '2026-12-04T12:00:00Z' }],
    }),
    reasons: ['no-dispense'],
  },
  {
    name: 'no order: nothing dispensed for it either',
    change: (r) => ({ ...r, prescriptions: [] }),
    reasons: ['no-prescription', 'no-dispense'],
  },
  {
    name: 'a PHQ-9 whose item 9 says 0 but whose items say 2',
    change: withObs(
      obs(
        { kind: 'phq9', total: 12, item9: 0, items: [1, 1, 1, 1, 1, 2, 2, 1, 2] },
        '2026-11-30T10:00:00Z',
        'q1',
      ),
    ),
    reasons: ['safety-phq9-item9'],
  },
  {
    name: 'a PHQ-9 after the review whose item 9 travels in a member dated before it',
    change: withObs(
      obs({ kind: 'phq9-item9', answer: 1 }, '2026-11-01T10:00:00Z', 'q9'),
      obs({ kind: 'phq9', total: 11, members: ['Observation/q9'] }, '2026-11-30T10:00:00Z', 'q1'),
    ),
    reasons: ['safety-phq9-item9'],
  },
  {
    name: "the EHR last heard from on a day, in the practice's zone, more than the allowed hours ago",
    change: (r) => r,
    query: { ehrLastHeardAt: '2026-12-03' },
    policy: { timeZone: 'Pacific/Kiritimati', ehrFreshnessHours: 12 },
    reasons: ['ehr-stale'],
  },
  {
    name: 'two readings at the same instant, one high: it decides',
    change: withObs(bp(150, 95, '2026-12-03T08:30:00Z', 'bp2')),
    reasons: ['safety-blood-pressure'],
  },

  // A time the rules cannot read may be before the session and may be the latest: it counts.
  {
    name: 'a PHQ-9 item 9 at a leap second (:60, valid FHIR) is read, and flags',
    change: withObs(phq9Item9(3, '2026-12-01T10:00:60Z')),
    reasons: ['safety-phq9-item9'],
  },
  {
    name: 'a PHQ-9 item 9 with a time that cannot be read flags',
    change: withObs(phq9Item9(3, '2026-12-01T25:00:00Z')),
    reasons: ['safety-phq9-item9'],
  },
  {
    name: 'a serious adverse event with a time that cannot be read flags',
    change: (r) => ({
      ...r,
      adverseEvents: [{ id: 'ae1', patientId: 'p1', serious: true, occurredAt: '2026-12-01T25:00:00Z' }],
    }),
    reasons: ['safety-adverse-event'],
  },
  {
    name: 'a not-cleared decision whose time cannot be read may be the latest: it decides',
    change: (r) => ({
      ...r,
      clearances: [
        ...r.clearances,
        { ...r.clearances[0]!, id: 'cl2', result: 'not-cleared', decidedAt: '2026-11-31T10:00:00Z' },
      ],
    }),
    reasons: ['clearance-not-cleared'],
  },

  {
    name: 'a revoked consent whose date cannot be read may be the latest: it decides',
    change: (r) => ({
      ...r,
      consents: [...r.consents, { ...r.consents[0]!, id: 'c2', status: 'rejected', dateTime: '2026-11-31' }],
    }),
    reasons: ['consent-revoked'],
  },
  {
    name: 'an active consent whose date cannot be read is not one signed',
    change: (r) => ({ ...r, consents: [{ ...r.consents[0]!, dateTime: '2026-11-31' }] }),
    reasons: ['no-consent'],
  },

  // A score or adverse event is raised again when recorded late or changed after the review.
  {
    name: 'a PHQ-9 from before the review, changed by the EHR after it, flags again',
    change: withObs({ ...phq9Item9(2, '2026-11-01T10:00:00Z'), versionTime: '2026-12-01T10:00:00Z' }),
    reasons: ['safety-phq9-item9'],
  },
  {
    name: 'a PHQ-9 from before the review, issued only after it, flags',
    change: withObs({ ...phq9Item9(2, '2026-11-01T10:00:00Z'), issued: '2026-12-01T10:00:00Z' }),
    reasons: ['safety-phq9-item9'],
  },
  {
    name: 'a PHQ-9 from before the review, unchanged since, is closed by it',
    change: withObs({ ...phq9Item9(2, '2026-11-01T10:00:00Z'), versionTime: '2026-11-01T10:05:00Z' }),
    reasons: [],
  },
  {
    name: 'a PHQ-9 changed only after the session does not flag it',
    change: withObs({ ...phq9Item9(2, '2026-11-01T10:00:00Z'), versionTime: '2026-12-04T10:00:00Z' }),
    reasons: [],
  },
  {
    name: 'a serious adverse event from before the review, recorded after it, flags',
    change: (r) => ({
      ...r,
      adverseEvents: [
        {
          id: 'ae1',
          patientId: 'p1',
          serious: true,
          occurredAt: '2026-11-01T10:00:00Z',
          recordedAt: '2026-12-01T10:00:00Z',
        },
      ],
    }),
    reasons: ['safety-adverse-event'],
  },

  // An order that forbids ketamine (doNotPerform, a modifier) never authorises a dose.
  {
    name: 'an active ketamine order that says it must not be given',
    change: (r) => ({ ...r, prescriptions: [order({ doNotPerform: true })] }),
    reasons: ['prescription-not-active'],
  },
  {
    name: 'an older order that forbids ketamine, still active, beside the one that authorises',
    change: (r) => ({
      ...r,
      prescriptions: [
        ...r.prescriptions,
        order({ id: 'rx2', doNotPerform: true, authoredOn: '2026-11-01T09:00:00Z' }),
      ],
    }),
    reasons: ['prescription-not-active'],
  },

  // A medicine session in which a dose was given calls for integration, whatever became of it.
  {
    name: 'a medicine session cancelled after its dose still needs an integration session',
    change: (r) => ({
      ...r,
      sessions: [...r.sessions, session('m0', 'medicine', '2026-11-25T12:00:00Z', { status: 'cancelled' })],
      administrations: administered(1),
    }),
    reasons: ['no-integration-session'],
  },
  {
    name: 'a medicine session left in progress after its dose still needs an integration session',
    change: (r) => ({
      ...r,
      sessions: [...r.sessions, session('m0', 'medicine', '2026-11-25T12:00:00Z', { status: 'in-progress' })],
      administrations: administered(1),
    }),
    reasons: ['no-integration-session'],
  },
  {
    name: 'a medicine session cancelled before any dose does not',
    change: (r) => ({
      ...r,
      sessions: [...r.sessions, session('m0', 'medicine', '2026-11-25T12:00:00Z', { status: 'cancelled' })],
    }),
    reasons: [],
  },

  // A dose the EHR records with status unknown may have been taken.
  {
    name: 'a dose under the order with status unknown: the sessions left cannot be counted',
    change: (r) => ({
      ...r,
      administrations: [{ ...administered(1)[0]!, status: 'unknown' as const }],
    }),
    reasons: ['doses-unknown'],
  },
];

const ask = (row: Pick<Row, 'query' | 'policy'>) => ({
  query: { ...QUERY, ...row.query } as ReadinessQuery,
  policy: { ...DEFAULT_POLICY, ...row.policy },
});

describe('patient readiness', () => {
  it.each(rows.map((r) => [r.name, r] as const))('%s', (_, row) => {
    const { query, policy } = ask(row);
    const answer = patientReadiness(row.change(readyRecord()), query, policy);
    expect(answer.reasons.map((r) => r.code).sort()).toEqual([...row.reasons].sort());
    expect(answer.ready).toBe(row.reasons.length === 0);
    const verdict =
      row.reasons.length === 0
        ? 'ready'
        : row.reasons.every((c) => REASONS[c as keyof typeof REASONS].outcome === 'day-of')
          ? 'pending-day-of-checks'
          : 'not-ready';
    expect(answer.verdict).toBe(verdict);
    for (const r of answer.reasons) expect(r.outcome).toBe(REASONS[r.code].outcome);
  });

  it('covers every reason code with at least one row', () => {
    const seen = new Set(rows.flatMap((r) => r.reasons));
    const patientCodes = Object.entries(REASONS)
      .filter(([, v]) => v.rule !== 'couple')
      .map(([code]) => code);
    expect(patientCodes.filter((c) => !seen.has(c))).toEqual([]);
  });

  it('names the source of each reason that rests on a record', () => {
    const record = { ...readyRecord(), observations: [bp(170, 100, '2026-12-03T08:30:00Z')] };
    const [reason] = patientReadiness(record, QUERY).reasons;
    expect(reason).toMatchObject({ code: 'safety-blood-pressure', source: 'Observation/bp1/_history/1' });
  });

  it('says how many sessions the order supplies, how many were taken and how many are left', () => {
    const answer = patientReadiness({ ...readyRecord(), administrations: administered(2) }, QUERY);
    expect(answer.status.prescription).toMatchObject({
      dosesAuthorised: 3,
      dosesAdministered: 2,
      dosesRemaining: 1,
    });
    expect(answer.status.dispense).toMatchObject({ status: 'completed' });
  });

  it('refuses a question that is not a date', () => {
    expect(() => patientReadiness(readyRecord(), { ...QUERY, date: '2026-13-40' })).toThrow(RangeError);
  });
});

describe('couples readiness', () => {
  const couple = episode(['p1', 'p2']);
  const partner = (id: string) => readyRecord(id, [couple]);

  it('is ready when both partners are', () => {
    const answer = episodeReadiness(couple, [partner('p1'), partner('p2')], QUERY);
    expect(answer).toMatchObject({ ready: true, verdict: 'ready', reasons: [] });
  });

  it('is not ready when one partner is not, and says so for the other', () => {
    const p2 = { ...partner('p2'), consents: [] };
    const answer = episodeReadiness(couple, [partner('p1'), p2], QUERY);
    expect(answer.reasons.map((r) => [r.patientId, r.code])).toEqual([
      ['p2', 'no-consent'],
      ['p1', 'partner-not-ready'],
    ]);
    expect(answer.verdict).toBe('not-ready');
  });

  it('waits on the day-of checks of a partner without calling the other not ready', () => {
    const p2 = { ...partner('p2'), observations: [] };
    const answer = episodeReadiness(couple, [partner('p1'), p2], QUERY);
    expect(answer.reasons.map((r) => r.code)).toEqual(['predose-blood-pressure']);
    expect(answer.verdict).toBe('pending-day-of-checks');
  });

  it("is not ready when a partner's record cannot be read", () => {
    const answer = episodeReadiness(couple, [partner('p1')], QUERY);
    expect(answer.reasons.map((r) => [r.patientId, r.code])).toEqual([['p2', 'couple-unreadable']]);
    expect(answer.ready).toBe(false);
  });

  it('is not ready when the couple does not name two partners', () => {
    const one = episode(['p1'], { type: 'couples' });
    const answer = episodeReadiness(one, [partner('p1')], QUERY);
    expect(answer.reasons.map((r) => r.code)).toEqual(['couple-unreadable']);
  });
});

describe('interacting medicines are shown, never blocking', () => {
  const other = (status: Prescription['status']): Prescription =>
    order({
      id: 'rx-lz',
      status,
      medication: { text: 'lorazepam 1 mg tablet', rxnorm: '6470', isKetamine: false },
      interactingClass: 'benzodiazepine',
    });

  it('an active benzodiazepine order is a warning with its source, and the patient is still ready', () => {
    const answer = patientReadiness({ ...readyRecord(), prescriptions: [order(), other('active')] }, QUERY);
    expect(answer.verdict).toBe('ready');
    expect(answer.warnings).toEqual([
      {
        code: 'interacting-medication',
        message: 'lorazepam 1 mg tablet is a benzodiazepine and is actively prescribed.',
        source: 'MedicationRequest/rx-lz/_history/1',
      },
    ]);
  });

  it('a stopped one is not', () => {
    expect(
      patientReadiness({ ...readyRecord(), prescriptions: [order(), other('stopped')] }, QUERY).warnings,
    ).toEqual([]);
  });
});
