/**
 * The medicine session as the prescriber needs it, after the Spravato REMS Patient Monitoring Form
 * adapted to KAP: the day-of checks a dose needs (pre-dose vitals in the session, booster limits),
 * the monitoring plan with what is due, overdue and out of range at an instant, and the discharge
 * criteria. Pure functions of one patient's session facts and the practice's policy: no clock, no I/O.
 *
 * It fails closed: a reading that is missing, or taken at a time that cannot be read, never counts
 * as a pass. Every finding has a code (the tables below), a sentence, and where a record says it,
 * its source and the request field it concerns.
 */
import type { Administration, Dose, FhirSource, KapObservation, ObservationKind, Session } from './model.js';

export type VitalKind = 'blood-pressure' | 'heart-rate' | 'spo2';
export const VITAL_KINDS: readonly VitalKind[] = ['blood-pressure', 'heart-rate', 'spo2'];

/** A point of the monitoring plan: what is measured, and when, in minutes from the first dose. */
export interface MonitoringPoint {
  id: string;
  /** What a person reads: "about 40 minutes after the dose". */
  label: string;
  kinds: ObservationKind[];
  /**
   * When it is taken, relative to the first dose: `before` the dose (within the pre-dose window),
   * `after` it at `minutes` (due from `minutes - tolerance`, overdue after `minutes + tolerance`),
   * or before `discharge` (due from the end of the monitoring time less `tolerance`).
   */
  at: 'before' | 'after' | 'discharge';
  minutes?: number;
  tolerance?: number;
}

export interface MedicinePolicy {
  /** Pre-dose readings count when taken in the session at most this long before the dose. */
  predoseWindowMinutes: number;
  /** The vitals a first dose needs in the session beforehand; blood pressure always among them. */
  predoseChecks: readonly VitalKind[];
  /** A booster (a later administration in the same session) only this long after the first dose. */
  boosterWithinMinutes: number;
  /** Monitoring time from the first dose before discharge. */
  monitoringMinutes: number;
  /** A remote session's chaperone checks in at least this often from the first dose. */
  checkInMinutes: number;
  systolicMax: number;
  diastolicMax: number;
  heartRateMin: number;
  heartRateMax: number;
  spo2Min: number;
  /** The MOAA/S score that says fully alert: discharge needs it after the dose. */
  alertMoaas: number;
  plan: readonly MonitoringPoint[];
}

/** The Spravato REMS pattern: vitals before the dose, about 40 minutes after it and before discharge. */
export const REMS_PLAN: readonly MonitoringPoint[] = [
  { id: 'pre-dose', label: 'before the dose', kinds: ['blood-pressure', 'heart-rate', 'spo2'], at: 'before' },
  {
    id: 'post-dose-40',
    label: 'about 40 minutes after the dose',
    kinds: ['blood-pressure', 'heart-rate', 'spo2', 'sedation', 'dissociation'],
    at: 'after',
    minutes: 40,
    tolerance: 10,
  },
  {
    id: 'pre-discharge',
    label: 'before discharge',
    kinds: ['blood-pressure', 'heart-rate', 'spo2', 'sedation'],
    at: 'discharge',
    tolerance: 15,
  },
];

export const DEFAULT_MEDICINE_POLICY: MedicinePolicy = {
  predoseWindowMinutes: 60,
  predoseChecks: ['blood-pressure'],
  boosterWithinMinutes: 60,
  monitoringMinutes: 120,
  checkInMinutes: 15,
  systolicMax: 140,
  diastolicMax: 90,
  heartRateMin: 50,
  heartRateMax: 110,
  spo2Min: 92,
  alertMoaas: 5,
  plan: REMS_PLAN,
};

/** One patient's part of a medicine session (their own session, in a couple), as the checks need it. */
export interface MedicineFacts {
  session: Session;
  patientId: string;
  /** The patient's readings (only those of `session` count; cancelled and entered-in-error ones left out by the reader). */
  observations: readonly KapObservation[];
  /** This patient's completed doses in this session. */
  administrations: readonly Administration[];
  /** The dose per session the current order allows, when one is known. */
  dosePerSession?: Dose;
}

const MINUTE = 60_000;

/** Every way a dose can be refused at the dose, and what it concerns. */
export const DOSE_CHECKS = {
  'predose-missing': 'No pre-dose reading of a required vital sign in the session within the window.',
  'predose-out-of-range': 'The last pre-dose reading of a vital sign is out of range.',
  'dose-before-session': 'The dose is timed before the session began.',
  'dose-unreadable-time': 'The time of the dose cannot be read.',
  'booster-out-of-order': 'A later dose is timed before an earlier one of the session.',
  'booster-too-late': 'A booster is timed after the allowed time from the first dose.',
  'booster-above-dose': "The session's doses together exceed the order's dose per session.",
  'booster-dose-unknown': "The session's doses cannot be compared with the order's dose per session.",
} as const;

/** Every discharge criterion that can be unmet. */
export const DISCHARGE_CHECKS = {
  'monitoring-time': 'The monitoring time from the first dose has not passed.',
  'discharge-vitals-missing': 'A vital sign has no reading before discharge.',
  'discharge-vitals-out-of-range': 'The last reading of a vital sign is out of range.',
  'not-alert': 'The last sedation score (MOAA/S) after the dose is not fully alert.',
  'transport-not-confirmed': 'Transport home (no driving until the next day) is not confirmed.',
  'monitoring-overdue': 'A monitoring point or a chaperone check-in was missed.',
} as const;

export type DoseCheckCode = keyof typeof DOSE_CHECKS;
export type DischargeCheckCode = keyof typeof DISCHARGE_CHECKS;

export interface Finding<C extends string = string> {
  code: C;
  message: string;
  /** The request field it concerns, FHIRPath-like. */
  expression?: string;
  source?: FhirSource;
}

const at = (value: string | undefined): number | undefined => {
  if (value === undefined || !/T\d{2}:\d{2}/.test(value)) return undefined;
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : t;
};

const VITAL_NAME: Record<ObservationKind, string> = {
  'blood-pressure': 'blood pressure',
  'heart-rate': 'heart rate',
  spo2: 'SpO2',
  sedation: 'sedation (MOAA/S)',
  dissociation: 'dissociation (CADSS)',
  'check-in': 'chaperone check-in',
  phq9: 'PHQ-9',
  'phq9-item9': 'PHQ-9 item 9',
  gad7: 'GAD-7',
  pcl5: 'PCL-5',
  cssrs: 'C-SSRS',
  'mental-status': 'mental status',
};

/** What a reading says against the vital-sign limits; undefined when it is within them or not a vital. */
export function outOfRange(o: KapObservation, policy: MedicinePolicy): string | undefined {
  const v = o.value;
  if (v.kind === 'blood-pressure' && (v.systolic > policy.systolicMax || v.diastolic > policy.diastolicMax))
    return `blood pressure ${v.systolic}/${v.diastolic} mmHg is above ${policy.systolicMax}/${policy.diastolicMax}`;
  if (v.kind === 'heart-rate' && (v.perMinute < policy.heartRateMin || v.perMinute > policy.heartRateMax))
    return `heart rate ${v.perMinute}/min is outside ${policy.heartRateMin}-${policy.heartRateMax}`;
  if (v.kind === 'spo2' && v.percent < policy.spo2Min)
    return `SpO2 ${v.percent}% is below ${policy.spo2Min}%`;
  return undefined;
}

/** Readings of a kind with a readable time, oldest first; a reading whose time cannot be read is left out (it cannot count). */
const readings = (facts: MedicineFacts, kind: ObservationKind) =>
  facts.observations
    .filter((o) => o.value.kind === kind && o.sessionId === facts.session.id)
    .map((o) => ({ o, t: at(o.effective) }))
    .filter((x): x is { o: KapObservation; t: number } => x.t !== undefined)
    .sort((a, b) => a.t - b.t);

const doseTimes = (facts: MedicineFacts): number[] =>
  facts.administrations
    .filter((a) => a.status === 'completed' && a.sessionId === facts.session.id)
    .map((a) => at(a.administeredAt))
    .filter((t): t is number => t !== undefined)
    .sort((a, b) => a - b);

/** The first dose of the session, as an instant; undefined before it. */
export const firstDoseAt = (facts: MedicineFacts): number | undefined => doseTimes(facts)[0];

const sumInMg = (doses: readonly Dose[]): number | undefined =>
  doses.every((d) => d.unit === 'mg') ? doses.reduce((a, d) => a + d.value, 0) : undefined;

/**
 * The checks a dose at `time` must pass beyond readiness. The first dose of the session needs each
 * of `predoseChecks` read in the session within the pre-dose window before it, the last of each
 * within range. A booster (a later dose in the same session) must come after the earlier ones,
 * within `boosterWithinMinutes` of the first, and with them stay within the order's dose per session.
 */
export function doseChecks(
  facts: MedicineFacts,
  dose: { time: string; dose: Dose },
  policy: MedicinePolicy = DEFAULT_MEDICINE_POLICY,
): Finding<DoseCheckCode>[] {
  const t = at(dose.time);
  if (t === undefined)
    return [
      {
        code: 'dose-unreadable-time',
        message: 'The time of the dose is not an instant with its offset.',
        expression: 'time',
      },
    ];
  const findings: Finding<DoseCheckCode>[] = [];
  const started = at(facts.session.start);
  if (started !== undefined && t < started) {
    findings.push({
      code: 'dose-before-session',
      message: `The dose at ${dose.time} is before the session began at ${facts.session.start}.`,
      expression: 'time',
    });
  }
  const earlier = doseTimes(facts);
  if (earlier.length === 0) {
    const from = t - policy.predoseWindowMinutes * MINUTE;
    const required = new Set<VitalKind>(['blood-pressure', ...policy.predoseChecks]);
    for (const kind of VITAL_KINDS.filter((k) => required.has(k))) {
      const last = readings(facts, kind)
        .filter((r) => r.t >= from && r.t <= t)
        .at(-1);
      if (last === undefined) {
        findings.push({
          code: 'predose-missing',
          message: `No ${VITAL_NAME[kind]} is recorded in this session in the ${policy.predoseWindowMinutes} minutes before the dose.`,
        });
        continue;
      }
      const wrong = outOfRange(last.o, policy);
      if (wrong !== undefined) {
        findings.push({
          code: 'predose-out-of-range',
          message: `The pre-dose ${wrong}.`,
          ...(last.o.source === undefined ? {} : { source: last.o.source }),
        });
      }
    }
    return findings;
  }
  const first = earlier[0]!;
  if (t < earlier.at(-1)!) {
    findings.push({
      code: 'booster-out-of-order',
      message: `A dose of this session was already taken after ${dose.time}: doses are recorded in order.`,
      expression: 'time',
    });
  }
  if (t > first + policy.boosterWithinMinutes * MINUTE) {
    findings.push({
      code: 'booster-too-late',
      message: `A booster is given at most ${policy.boosterWithinMinutes} minutes after the first dose of the session, which was at ${new Date(first).toISOString()}.`,
      expression: 'time',
    });
  }
  const allowed = facts.dosePerSession;
  const total = sumInMg([
    ...facts.administrations.filter((a) => a.status === 'completed').map((a) => a.dose),
    dose.dose,
  ]);
  if (allowed === undefined || allowed.unit !== 'mg' || total === undefined) {
    findings.push({
      code: 'booster-dose-unknown',
      message: "The doses of this session cannot be added up against the order's dose per session.",
      expression: 'dose',
    });
  } else if (total > allowed.value + 1e-9) {
    findings.push({
      code: 'booster-above-dose',
      message: `With this booster the session's doses come to ${total} mg, above the ${allowed.value} mg per session the order allows.`,
      expression: 'dose.value',
    });
  }
  return findings;
}

export type PointStatus = 'done' | 'due' | 'overdue' | 'upcoming';

export interface PointState {
  id: string;
  label: string;
  kind: ObservationKind;
  status: PointStatus;
  /** From when it is due, and by when (absent: before discharge, whenever that is). */
  dueFrom?: string;
  dueBy?: string;
  /** When it was taken, and where it is kept. */
  takenAt?: string;
  source?: FhirSource;
}

export interface OutOfRangeReading {
  kind: ObservationKind;
  at: string;
  message: string;
  source?: FhirSource;
}

export interface Monitoring {
  sessionId: string;
  patientId: string;
  mode: 'in-person' | 'remote';
  chaperone?: string;
  firstDoseAt?: string;
  /** The end of the monitoring time: the first dose plus `monitoringMinutes`. */
  monitoredUntil?: string;
  points: PointState[];
  due: PointState[];
  overdue: PointState[];
  outOfRange: OutOfRangeReading[];
}

const iso = (t: number) => new Date(t).toISOString();

/**
 * Where one patient's monitoring stands at `now`: each point of the plan per kind measured (done,
 * due, overdue or upcoming, with its times), the chaperone's check-ins in a remote session (one
 * every `checkInMinutes` from the first dose: a missed one is overdue), and every reading in the
 * session out of range. Before the first dose only the pre-dose points are due.
 */
export function monitoringAt(
  facts: MedicineFacts,
  now: string,
  policy: MedicinePolicy = DEFAULT_MEDICINE_POLICY,
): Monitoring {
  const t = at(now) ?? Number.POSITIVE_INFINITY;
  const first = firstDoseAt(facts);
  const until = first === undefined ? undefined : first + policy.monitoringMinutes * MINUTE;
  const ended = at(facts.session.end);
  const points: PointState[] = [];
  for (const point of policy.plan) {
    for (const kind of point.kinds) {
      const all = readings(facts, kind);
      let from: number | undefined;
      let by: number | undefined;
      let taken: (typeof all)[number] | undefined;
      if (point.at === 'before') {
        by = first;
        from = (first ?? t) - policy.predoseWindowMinutes * MINUTE;
        taken = all.filter((r) => r.t >= from! && r.t <= (first ?? t)).at(-1);
      } else if (first !== undefined && until !== undefined) {
        const tolerance = (point.tolerance ?? 0) * MINUTE;
        if (point.at === 'after') {
          const target = first + (point.minutes ?? 0) * MINUTE;
          [from, by] = [target - tolerance, target + tolerance];
        } else {
          from = until - tolerance;
          by = ended;
        }
        taken = all.filter((r) => r.t >= from! && (by === undefined || r.t <= by)).at(-1);
      }
      const status: PointStatus = taken
        ? 'done'
        : from === undefined || t < from
          ? 'upcoming'
          : by !== undefined && t > by
            ? 'overdue'
            : 'due';
      points.push({
        id: point.id,
        label: point.label,
        kind,
        status,
        ...(from === undefined ? {} : { dueFrom: iso(from) }),
        ...(by === undefined ? {} : { dueBy: iso(by) }),
        ...(taken
          ? { takenAt: taken.o.effective, ...(taken.o.source ? { source: taken.o.source } : {}) }
          : {}),
      });
    }
  }
  const remote = facts.session.mode === 'remote';
  if (remote && first !== undefined && until !== undefined) {
    const checkIns = readings(facts, 'check-in').map((r) => r.t);
    const end = Math.min(t, ended ?? Number.POSITIVE_INFINITY, until);
    const step = policy.checkInMinutes * MINUTE;
    let last = first;
    for (let n = 1; last < end; n++) {
      const by = last + step;
      const taken = checkIns.find((c) => c > last && c <= by);
      points.push({
        id: `check-in-${n}`,
        label: `chaperone check-in ${n}`,
        kind: 'check-in',
        status: taken !== undefined ? 'done' : t > by ? 'overdue' : 'due',
        dueFrom: iso(last),
        dueBy: iso(by),
        ...(taken !== undefined ? { takenAt: iso(taken) } : {}),
      });
      // The next check-in is due a whole interval after this one (or after when this one was due, if missed).
      last = taken ?? by;
    }
  }
  const outOfRangeReadings = facts.observations
    .filter((o) => o.sessionId === facts.session.id)
    .flatMap((o) => {
      const message = outOfRange(o, policy);
      return message === undefined
        ? []
        : [{ kind: o.value.kind, at: o.effective, message, ...(o.source ? { source: o.source } : {}) }];
    });
  return {
    sessionId: facts.session.id,
    patientId: facts.patientId,
    mode: remote ? 'remote' : 'in-person',
    ...(facts.session.chaperone === undefined ? {} : { chaperone: facts.session.chaperone }),
    ...(first === undefined ? {} : { firstDoseAt: iso(first) }),
    ...(until === undefined ? {} : { monitoredUntil: iso(until) }),
    points,
    due: points.filter((p) => p.status === 'due'),
    overdue: points.filter((p) => p.status === 'overdue'),
    outOfRange: outOfRangeReadings,
  };
}

/**
 * What stands between the patient and discharge at `time`: the monitoring time from the first
 * dose, a reading of each vital after the dose and within range at its last, MOAA/S back to fully
 * alert, transport home confirmed, and no missed monitoring point or check-in. A session in which
 * no dose was taken has nothing to monitor.
 */
export function dischargeChecks(
  facts: MedicineFacts,
  discharge: { time: string; transport?: string },
  policy: MedicinePolicy = DEFAULT_MEDICINE_POLICY,
): Finding<DischargeCheckCode>[] {
  const first = firstDoseAt(facts);
  if (first === undefined) return [];
  const t = at(discharge.time) ?? Number.NEGATIVE_INFINITY;
  const findings: Finding<DischargeCheckCode>[] = [];
  const until = first + policy.monitoringMinutes * MINUTE;
  if (t < until) {
    findings.push({
      code: 'monitoring-time',
      message: `Monitoring runs ${policy.monitoringMinutes} minutes from the first dose, until ${iso(until)}.`,
      expression: 'time',
    });
  }
  for (const kind of VITAL_KINDS) {
    const last = readings(facts, kind)
      .filter((r) => r.t > first && r.t <= t)
      .at(-1);
    if (last === undefined) {
      findings.push({
        code: 'discharge-vitals-missing',
        message: `No ${VITAL_NAME[kind]} is recorded after the dose.`,
      });
      continue;
    }
    const wrong = outOfRange(last.o, policy);
    if (wrong !== undefined) {
      findings.push({
        code: 'discharge-vitals-out-of-range',
        message: `The last ${wrong}.`,
        ...(last.o.source ? { source: last.o.source } : {}),
      });
    }
  }
  const sedation = readings(facts, 'sedation')
    .filter((r) => r.t > first && r.t <= t)
    .at(-1);
  const moaas = sedation?.o.value.kind === 'sedation' ? sedation.o.value.moaas : undefined;
  if (moaas === undefined || moaas < policy.alertMoaas) {
    findings.push({
      code: 'not-alert',
      message:
        moaas === undefined
          ? 'No sedation score (MOAA/S) is recorded after the dose.'
          : `The last MOAA/S after the dose is ${moaas}; discharge needs ${policy.alertMoaas} (fully alert).`,
      ...(sedation?.o.source ? { source: sedation.o.source } : {}),
    });
  }
  if (discharge.transport === undefined || discharge.transport.trim() === '') {
    findings.push({
      code: 'transport-not-confirmed',
      message: 'Say how the patient gets home (no driving until the next day).',
      expression: 'transport',
    });
  }
  const missed = monitoringAt(facts, discharge.time, policy).overdue;
  if (missed.length > 0) {
    findings.push({
      code: 'monitoring-overdue',
      message: `Missed: ${missed.map((p) => `${VITAL_NAME[p.kind]} ${p.label} (due by ${p.dueBy})`).join('; ')}.`,
    });
  }
  return findings;
}

const IGNORED = new Set(['cancelled', 'entered-in-error']);

/** One patient's part of a medicine session, read from their record (one patient's, whatever ids it uses). */
export function medicineFacts(
  record: {
    observations: readonly KapObservation[];
    administrations: readonly Administration[];
  },
  session: Session,
  patientId: string,
  dosePerSession?: Dose,
): MedicineFacts {
  return {
    session,
    patientId,
    observations: record.observations.filter((o) => o.sessionId === session.id && !IGNORED.has(o.status)),
    administrations: record.administrations.filter(
      (a) => a.sessionId === session.id && a.status === 'completed',
    ),
    ...(dosePerSession === undefined ? {} : { dosePerSession }),
  };
}
