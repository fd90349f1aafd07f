/**
 * The practice's clinical thresholds: what readiness for a medicine session asks (`readiness`, the
 * ReadinessPolicy itself) and what a medicine session checks (`medicine`, the configurable part of
 * the MedicinePolicy).
 */
import { boolean, type Declarations, integer, list } from '../variables.js';
import { type MedicinePolicy, VITAL_KINDS } from './medicine-session.js';
import type { ReadinessPolicy } from './readiness.js';
import { isTimeZone } from './time.js';

export type MedicineConfig = Pick<
  MedicinePolicy,
  | 'predoseWindowMinutes'
  | 'predoseChecks'
  | 'boosterWithinMinutes'
  | 'monitoringMinutes'
  | 'checkInMinutes'
  | 'heartRateMin'
  | 'heartRateMax'
  | 'spo2Min'
>;

export const READINESS_VARIABLES: Declarations<ReadinessPolicy> = {
  systolicMax: {
    name: 'KAP_BP_SYSTOLIC_MAX',
    description: 'Readiness: last systolic pressure above this is a safety flag (mmHg)',
    default: '140',
    parse: integer(60, 300),
  },
  diastolicMax: {
    name: 'KAP_BP_DIASTOLIC_MAX',
    description: 'Readiness: last diastolic pressure above this is a safety flag (mmHg)',
    default: '90',
    parse: integer(30, 200),
  },
  ehrFreshnessHours: {
    name: 'KAP_EHR_FRESHNESS_HOURS',
    description: 'Readiness: longer than this without news from the EHR and the status is reported as stale',
    default: '24',
    parse: integer(1, 24 * 90),
  },
  timeZone: {
    name: 'KAP_PRACTICE_TIMEZONE',
    description:
      "Readiness: the practice's IANA time zone; date-only values (a validity ending 2026-12-03) are days there",
    default: 'UTC',
    parse: (raw) =>
      isTimeZone(raw) ? raw : { error: 'must be an IANA time zone name, e.g. America/Los_Angeles' },
  },
  clearanceMaxDays: {
    name: 'KAP_CLEARANCE_MAX_DAYS',
    description: 'Readiness: how long a clearance decision that states no end of validity holds, in days',
    default: '180',
    parse: integer(1, 3660),
  },
  requireDispense: {
    name: 'KAP_REQUIRE_DISPENSE',
    description:
      'Readiness: a completed dispense of the current order is required (false for an EHR that sends no MedicationDispense)',
    default: 'true',
    parse: boolean,
  },
  requireIntegration: {
    name: 'KAP_REQUIRE_INTEGRATION',
    description: 'Readiness: an integration session is required between two medicine sessions',
    default: 'true',
    parse: boolean,
  },
};

export const MEDICINE_VARIABLES: Declarations<MedicineConfig> = {
  predoseWindowMinutes: {
    name: 'KAP_PREDOSE_WINDOW_MINUTES',
    description:
      'Medicine session: pre-dose readings count when taken in the session at most this long before the dose',
    default: '60',
    parse: integer(5, 360),
  },
  predoseChecks: {
    name: 'KAP_PREDOSE_CHECKS',
    description:
      'Medicine session: the vital signs a first dose needs in the session beforehand, within range (blood-pressure always; add heart-rate, spo2)',
    default: 'blood-pressure',
    parse: list(VITAL_KINDS),
  },
  boosterWithinMinutes: {
    name: 'KAP_BOOSTER_WITHIN_MINUTES',
    description:
      "Medicine session: a booster (a later dose in the same session, within the order's dose per session) only this long after the first dose",
    default: '60',
    parse: integer(0, 240),
  },
  monitoringMinutes: {
    name: 'KAP_MONITORING_MINUTES',
    description: 'Medicine session: monitoring time from the first dose before discharge',
    default: '120',
    parse: integer(30, 720),
  },
  checkInMinutes: {
    name: 'KAP_CHECK_IN_MINUTES',
    description:
      "Medicine session: a remote session's chaperone checks in at least this often from the first dose",
    default: '15',
    parse: integer(1, 120),
  },
  heartRateMin: {
    name: 'KAP_HEART_RATE_MIN',
    description: 'Medicine session: a heart rate below this is out of range (/min)',
    default: '50',
    parse: integer(20, 200),
  },
  heartRateMax: {
    name: 'KAP_HEART_RATE_MAX',
    description: 'Medicine session: a heart rate above this is out of range (/min)',
    default: '110',
    parse: integer(40, 300),
  },
  spo2Min: {
    name: 'KAP_SPO2_MIN',
    description: 'Medicine session: an SpO2 below this is out of range (%)',
    default: '92',
    parse: integer(50, 100),
  },
};
