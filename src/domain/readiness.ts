/**
 * "May this patient dose on Thursday, and if not, why?" A pure function of the aligned record and
 * a date: no clock, no I/O. Every reason carries a machine code, a sentence and the FHIR source
 * it rests on, so the therapist can see which version of which record said no.
 */
import type {
  Administration,
  ClearanceDecision,
  Dispense,
  Episode,
  FhirSource,
  InformedConsent,
  KapObservation,
  Prescription,
  Session,
} from './model.js';

export interface ReadinessThresholds {
  /** Last pre-session blood pressure above either value is a safety flag. */
  systolicMax: number;
  diastolicMax: number;
  /** How long the EHR may stay silent before the prescription status is no longer trusted. */
  ehrFreshnessHours: number;
}

export const DEFAULT_THRESHOLDS: ReadinessThresholds = {
  systolicMax: 140,
  diastolicMax: 90,
  ehrFreshnessHours: 24,
};

/** Everything kap-bridge holds about one patient, as aligned from both sides. */
export interface PatientRecord {
  patientId: string;
  consents: InformedConsent[];
  clearances: ClearanceDecision[];
  prescriptions: Prescription[];
  dispenses: Dispense[];
  sessions: Session[];
  administrations: Administration[];
  observations: KapObservation[];
}

export type ReasonCode =
  | 'no-consent'
  | 'no-clearance'
  | 'clearance-not-cleared'
  | 'clearance-expired'
  | 'no-prescription'
  | 'prescription-not-active'
  | 'prescription-not-yet-valid'
  | 'prescription-expired'
  | 'no-doses-left'
  | 'no-preparation-session'
  | 'safety-phq9-item9'
  | 'safety-cssrs-high'
  | 'safety-blood-pressure'
  | 'ehr-stale'
  | 'partner-not-ready';

export interface Reason {
  code: ReasonCode;
  message: string;
  /** The FHIR resource (with version) the reason rests on, when one exists. */
  source?: FhirSource;
  /** For couples: whose reason it is. */
  patientId?: string;
}

export interface MedicationStatus {
  clearance?: Pick<ClearanceDecision, 'result' | 'decidedAt' | 'validUntil' | 'prescriber' | 'source'>;
  prescription?: Pick<
    Prescription,
    | 'status'
    | 'medication'
    | 'dosePerSession'
    | 'route'
    | 'validUntil'
    | 'prescriber'
    | 'source'
    | 'statusReason'
  > & { dosesAuthorised?: number; dosesAdministered: number; dosesRemaining?: number };
  dispense?: Pick<Dispense, 'status' | 'whenHandedOver' | 'quantity' | 'source'>;
}

export interface Readiness {
  patientId: string;
  date: string;
  ready: boolean;
  reasons: Reason[];
  status: MedicationStatus;
}

/** When kap-bridge last heard from the EHR (ISO instant), and the instant the question is asked. */
export interface Freshness {
  ehrLastHeardAt?: string;
  now: string;
}

const day = (iso: string): string => iso.slice(0, 10);
/** Latest first, by a date field; ties keep input order. */
const latest = <T>(items: readonly T[], at: (t: T) => string | undefined): T | undefined =>
  [...items].sort((a, b) => (at(b) ?? '').localeCompare(at(a) ?? ''))[0];

const live = <T extends { status: string }>(items: readonly T[]): T[] =>
  items.filter((i) => i.status !== 'entered-in-error');

export function currentPrescription(record: PatientRecord): Prescription | undefined {
  const ketamine = live(record.prescriptions).filter((p) => p.medication.isKetamine);
  return latest(ketamine, (p) => p.authoredOn ?? p.validFrom);
}

export function medicationStatus(record: PatientRecord): MedicationStatus {
  const clearance = latest(live(record.clearances), (c) => c.decidedAt);
  const rx = currentPrescription(record);
  const dispense = latest(
    live(record.dispenses).filter((d) => !rx || !d.prescriptionId || d.prescriptionId === rx.id),
    (d) => d.whenHandedOver,
  );
  const status: MedicationStatus = {};
  if (clearance) {
    const { result, decidedAt, validUntil, prescriber, source } = clearance;
    status.clearance = { result, decidedAt, validUntil, prescriber, source };
  }
  if (rx) {
    const administered = live(record.administrations).filter(
      (a) => a.status === 'completed' && (a.prescriptionId === undefined || a.prescriptionId === rx.id),
    ).length;
    status.prescription = {
      status: rx.status,
      medication: rx.medication,
      dosePerSession: rx.dosePerSession,
      route: rx.route,
      validUntil: rx.validUntil,
      prescriber: rx.prescriber,
      statusReason: rx.statusReason,
      source: rx.source,
      dosesAuthorised: rx.dosesAuthorised,
      dosesAdministered: administered,
      dosesRemaining:
        rx.dosesAuthorised === undefined ? undefined : Math.max(0, rx.dosesAuthorised - administered),
    };
  }
  if (dispense) {
    const { status: s, whenHandedOver, quantity, source } = dispense;
    status.dispense = { status: s, whenHandedOver, quantity, source };
  }
  return status;
}

/** The most recent prescriber decision: a later safety flag reopens the question until then. */
function lastPrescriberReview(record: PatientRecord): string | undefined {
  const dates = [
    ...live(record.clearances).map((c) => c.decidedAt),
    ...live(record.prescriptions).map((p) => p.authoredOn ?? p.validFrom),
  ].filter((d): d is string => d !== undefined);
  return dates.sort().at(-1);
}

function safetyReasons(record: PatientRecord, date: string, t: ReadinessThresholds): Reason[] {
  const reasons: Reason[] = [];
  const review = lastPrescriberReview(record);
  const observations = live(record.observations).filter((o) => day(o.effective) <= date);
  const sinceReview = observations.filter((o) => review === undefined || o.effective > review);
  for (const o of sinceReview) {
    const v = o.value;
    if (v.kind === 'phq9' && v.items && v.items[8] > 0) {
      reasons.push({
        code: 'safety-phq9-item9',
        message: `PHQ-9 item 9 (thoughts of self-harm) was answered ${v.items[8]} on ${day(o.effective)}, after the prescriber's last review.`,
        source: o.source,
      });
    }
    if (v.kind === 'cssrs' && v.risk === 'high') {
      reasons.push({
        code: 'safety-cssrs-high',
        message: `C-SSRS suicide risk was rated high on ${day(o.effective)}, after the prescriber's last review.`,
        source: o.source,
      });
    }
  }
  const bp = latest(
    observations.filter((o) => o.value.kind === 'blood-pressure'),
    (o) => o.effective,
  );
  if (bp?.value.kind === 'blood-pressure') {
    const { systolic, diastolic } = bp.value;
    if (systolic > t.systolicMax || diastolic > t.diastolicMax) {
      reasons.push({
        code: 'safety-blood-pressure',
        message: `The last blood pressure, ${systolic}/${diastolic} mmHg on ${day(bp.effective)}, is above ${t.systolicMax}/${t.diastolicMax}.`,
        source: bp.source,
      });
    }
  }
  return reasons;
}

function prescriptionReasons(status: MedicationStatus, date: string): Reason[] {
  const rx = status.prescription;
  if (!rx) return [{ code: 'no-prescription', message: 'There is no ketamine prescription on file.' }];
  const reasons: Reason[] = [];
  if (rx.status !== 'active') {
    const why = rx.statusReason ? ` (${rx.statusReason})` : '';
    reasons.push({
      code: 'prescription-not-active',
      message: `The ketamine prescription is ${rx.status}${why}.`,
      source: rx.source,
    });
  }
  if (rx.validUntil !== undefined && day(rx.validUntil) < date) {
    reasons.push({
      code: 'prescription-expired',
      message: `The ketamine prescription was valid until ${day(rx.validUntil)}.`,
      source: rx.source,
    });
  }
  if (rx.dosesRemaining === 0) {
    reasons.push({
      code: 'no-doses-left',
      message: `All ${rx.dosesAuthorised} authorised doses have been taken.`,
      source: rx.source,
    });
  }
  return reasons;
}

/** Readiness of one patient for a medicine session on `date` (YYYY-MM-DD). */
export function patientReadiness(
  record: PatientRecord,
  date: string,
  freshness: Freshness,
  thresholds: ReadinessThresholds = DEFAULT_THRESHOLDS,
): Readiness {
  const status = medicationStatus(record);
  const reasons: Reason[] = [];

  const consent = latest(
    record.consents.filter((c) => c.status === 'active' && day(c.dateTime) <= date),
    (c) => c.dateTime,
  );
  if (!consent) reasons.push({ code: 'no-consent', message: 'No signed informed consent is on file.' });

  const c = status.clearance;
  if (!c) {
    reasons.push({ code: 'no-clearance', message: 'The prescriber has not recorded a medical clearance.' });
  } else if (c.result !== 'cleared') {
    const what = c.result === 'not-cleared' ? 'did not clear' : 'has asked to review';
    reasons.push({
      code: 'clearance-not-cleared',
      message: `The prescriber ${what} the patient on ${day(c.decidedAt)}.`,
      source: c.source,
    });
  } else if (c.validUntil !== undefined && day(c.validUntil) < date) {
    reasons.push({
      code: 'clearance-expired',
      message: `The medical clearance was valid until ${day(c.validUntil)}.`,
      source: c.source,
    });
  }

  reasons.push(...prescriptionReasons(status, date));
  const rx = status.prescription;
  if (rx?.status === 'active') {
    const from = currentPrescription(record)?.validFrom;
    if (from !== undefined && day(from) > date) {
      reasons.push({
        code: 'prescription-not-yet-valid',
        message: `The ketamine prescription is valid from ${day(from)}.`,
        source: rx.source,
      });
    }
  }

  const prepared = record.sessions.some(
    (s) => s.phase === 'preparation' && s.status === 'finished' && day(s.end ?? s.start ?? date) <= date,
  );
  if (!prepared) {
    reasons.push({ code: 'no-preparation-session', message: 'No preparation session has been completed.' });
  }

  reasons.push(...safetyReasons(record, date, thresholds));

  const heardAt = freshness.ehrLastHeardAt;
  const ageHours =
    heardAt === undefined ? Infinity : (Date.parse(freshness.now) - Date.parse(heardAt)) / 3_600_000;
  if (ageHours > thresholds.ehrFreshnessHours) {
    const when = heardAt === undefined ? 'has never been heard from' : `was last heard from at ${heardAt}`;
    reasons.push({
      code: 'ehr-stale',
      message: `The prescriber's EHR ${when}; the prescription status may be out of date.`,
    });
  }

  return { patientId: record.patientId, date, ready: reasons.length === 0, reasons, status };
}

export interface EpisodeReadiness {
  episodeId: string;
  date: string;
  ready: boolean;
  patients: Readiness[];
  reasons: Reason[];
}

/** A couples episode is ready only when both partners are; an individual one when its patient is. */
export function episodeReadiness(
  episode: Episode,
  records: readonly PatientRecord[],
  date: string,
  freshness: Freshness,
  thresholds: ReadinessThresholds = DEFAULT_THRESHOLDS,
): EpisodeReadiness {
  const patients = episode.patients.map((id) => {
    const record = records.find((r) => r.patientId === id) ?? emptyRecord(id);
    return patientReadiness(record, date, freshness, thresholds);
  });
  const reasons = patients.flatMap((p) => p.reasons.map((r) => ({ ...r, patientId: p.patientId })));
  if (episode.type === 'couples') {
    for (const p of patients.filter((x) => !x.ready)) {
      const partner = patients.find((x) => x.patientId !== p.patientId);
      if (partner?.ready) {
        reasons.push({
          code: 'partner-not-ready',
          message:
            'This is a couples course and one partner is not ready, so the joint medicine session cannot go ahead.',
          patientId: partner.patientId,
        });
      }
    }
  }
  return {
    episodeId: episode.id,
    date,
    ready: patients.length > 0 && reasons.length === 0,
    patients,
    reasons,
  };
}

export const emptyRecord = (patientId: string): PatientRecord => ({
  patientId,
  consents: [],
  clearances: [],
  prescriptions: [],
  dispenses: [],
  sessions: [],
  administrations: [],
  observations: [],
});
