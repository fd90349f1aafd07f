/** A finished medicine session's report, as the session report's tests build it. */
import { medicineFacts } from '../../src/domain/medicine-session.js';
import type {
  Administration,
  KapAdverseEvent,
  KapObservation,
  Prescription,
  Session,
} from '../../src/domain/model.js';
import type { SessionReport } from '../../src/mapping/session-report.js';

export const session: Session = {
  id: 's-1',
  episodeId: 'ep-1',
  phase: 'medicine',
  status: 'finished',
  patientId: 'p-1',
  start: '2026-03-05T09:00:00Z',
  end: '2026-03-05T11:40:00Z',
  therapist: 'Practitioner/th-1',
  mode: 'remote',
  chaperone: 'Sam Reyes',
  transport: 'driven home by partner',
};
const ketamine = { rxnorm: '6130', text: 'ketamine 100 mg sublingual troche', isKetamine: true };
const dose = (id: string, at: string, mg: number, lotNumber?: string): Administration => ({
  id,
  patientId: 'p-1',
  sessionId: 's-1',
  status: 'completed',
  medication: ketamine,
  dose: { value: mg, unit: 'mg' },
  route: 'sublingual',
  administeredAt: at,
  ...(lotNumber === undefined ? {} : { lotNumber }),
});
const reading = (id: string, at: string, value: KapObservation['value']): KapObservation => ({
  id,
  patientId: 'p-1',
  sessionId: 's-1',
  status: 'final',
  effective: at,
  value,
});
export const observations = [
  reading('bp-0', '2026-03-05T09:10:00Z', { kind: 'blood-pressure', systolic: 128, diastolic: 82 }),
  reading('bp-40', '2026-03-05T10:00:00Z', { kind: 'blood-pressure', systolic: 162, diastolic: 95 }),
  reading('spo2-40', '2026-03-05T10:00:00Z', { kind: 'spo2', percent: 97 }),
  reading('hr-40', '2026-03-05T10:00:00Z', { kind: 'heart-rate', perMinute: 88 }),
  reading('moaas-40', '2026-03-05T10:01:00Z', { kind: 'sedation', moaas: 3 }),
  reading('cadss-40', '2026-03-05T10:02:00Z', { kind: 'dissociation', cadss: 21 }),
  reading('phq9', '2026-03-05T09:05:00Z', { kind: 'phq9', total: 12 }),
];
const event: KapAdverseEvent = {
  id: 'ae-1',
  patientId: 'p-1',
  sessionId: 's-1',
  occurredAt: '2026-03-05T09:50:00Z',
  serious: false,
  event: 'nausea',
  severity: 'mild',
  outcome: 'resolved',
  actionTaken: 'ondansetron',
  suspects: ['MedicationAdministration/ma-1'],
};
const sertraline: Prescription = {
  id: 'rx-9',
  patientId: 'p-1',
  status: 'active',
  intent: 'order',
  medication: { text: 'sertraline 50 mg tablet', isKetamine: false },
  dosageText: 'one tablet daily',
};

export const sampleReport = (changes: Partial<SessionReport> = {}): SessionReport => ({
  id: 'report-s-1',
  issuedAt: '2026-03-05T11:40:00Z',
  facts: medicineFacts(
    {
      observations,
      administrations: [
        dose('ma-2', '2026-03-05T09:45:00Z', 50),
        dose('ma-1', '2026-03-05T09:20:00Z', 100, 'KT-2026-0412'),
      ],
    },
    session,
    'p-1',
  ),
  patientIdentifier: { system: 'https://ehr.example/identifier/mrn', value: 'MRN-1' },
  adverseEvents: [event],
  concomitant: [sertraline],
  unmet: [],
  ...changes,
});
