/**
 * fast-check arbitraries for the prescriber side of the domain (clearance, prescription,
 * dispense, referral, patient link). They generate values FHIR can carry exactly: what a reader
 * derives (isKetamine) is consistent with what it is derived from, and free-text dosage never
 * states a dose or route that the structured fields leave out.
 */

import fc from 'fast-check';
import type {
  BusinessIdentifier,
  ClearanceDecision,
  ClearanceReferral,
  Dispense,
  Dose,
  Medication,
  PatientLink,
  Prescription,
  Route,
} from '../../src/domain/model.js';
import { sessionsSupplied } from '../../src/fhir/dosage.js';
import { DISPENSE_STATUSES } from '../../src/mapping/medication-dispense.js';
import { PRESCRIPTION_STATUSES } from '../../src/mapping/medication-request.js';
import { TASK_STATUSES } from '../../src/mapping/referral.js';

const opt = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(arb, { nil: undefined });

/** Removes keys whose value is undefined, as the readers never set them. */
export function compact<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

export const fhirId = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9\-.]{0,20}$/);
export const words = fc.stringMatching(/^[A-Z][a-z]{1,12}( [a-z]{1,12}){0,5}\.?$/);
export const practitioner = fhirId.map((id) => `Practitioner/${id}`);

export const date = fc
  .date({ min: new Date('2024-01-01T00:00:00Z'), max: new Date('2028-12-31T00:00:00Z'), noInvalidDate: true })
  .map((d) => d.toISOString().slice(0, 10));
export const dateTime = fc
  .date({ min: new Date('2024-01-01T00:00:00Z'), max: new Date('2028-12-31T00:00:00Z'), noInvalidDate: true })
  .map((d) => `${d.toISOString().slice(0, 19)}-05:00`);
const when = fc.oneof(date, dateTime);

export const route: fc.Arbitrary<Route> = fc.constantFrom(
  'sublingual',
  'intramuscular',
  'intranasal',
  'oral',
  'intravenous',
);
export const doseMg: fc.Arbitrary<Dose> = fc
  .integer({ min: 1, max: 5000 })
  .map((tenths) => ({ value: tenths / 10, unit: 'mg' }));

const KETAMINE_TEXTS = [
  'ketamine',
  'Ketamine HCl 50 mg sublingual troche (compounded)',
  'Ketamine 100 mg rapidly dissolving tablet',
  'Ketalar 50 mg/mL injection',
];
const OTHER_TEXTS = ['sertraline 50 mg oral tablet', 'esketamine 28 mg nasal spray', 'bupropion XL 150 mg'];

export const medication: fc.Arbitrary<Medication> = fc
  .record({
    rxnorm: opt(fc.constantFrom('6130', '36437')),
    text: fc.constantFrom(...KETAMINE_TEXTS, ...OTHER_TEXTS),
    form: opt(fc.constantFrom('troche', 'rapidly dissolving tablet')),
  })
  .map(({ rxnorm, text, form }) =>
    compact({
      rxnorm,
      text,
      form,
      isKetamine: rxnorm === '6130' || KETAMINE_TEXTS.includes(text),
    }),
  );

/** Instructions that state neither a dose nor a route, so reading them adds nothing. */
const NEUTRAL_DOSAGE_TEXT = [
  'Let it dissolve slowly; do not swallow for 15 minutes.',
  'Take only during the medicine session, under supervision.',
  'Bring to the session unopened.',
];

export const clearance: fc.Arbitrary<ClearanceDecision> = fc
  .record({
    id: fhirId,
    patientId: fhirId,
    result: fc.constantFrom('cleared', 'not-cleared', 'needs-review'),
    status: fc.constantFrom('preliminary', 'final', 'amended', 'cancelled', 'entered-in-error'),
    decidedAt: when,
    validUntil: opt(when),
    prescriber: opt(practitioner),
    note: opt(words),
  })
  .map((v) => compact(v as ClearanceDecision));

export const prescription: fc.Arbitrary<Prescription> = fc
  .record({
    id: fhirId,
    patientId: fhirId,
    status: fc.constantFrom(...PRESCRIPTION_STATUSES),
    medication,
    dosePerSession: opt(doseMg),
    dosageText: opt(fc.constantFrom(...NEUTRAL_DOSAGE_TEXT)),
    route: opt(route),
    intent: fc.constantFrom('order', 'original-order', 'instance-order', 'filler-order', 'proposal', 'plan'),
    priorPrescription: opt(fhirId.map((id) => `MedicationRequest/${id}`)),
    refills: opt(fc.integer({ min: 0, max: 11 })),
    quantity: opt(
      fc.oneof(
        doseMg,
        fc.integer({ min: 1, max: 30 }).map((n) => ({ value: n, unit: 'troche' })),
      ),
    ),
    validFrom: opt(date),
    validUntil: opt(date),
    authoredOn: opt(when),
    prescriber: opt(practitioner),
    statusReason: opt(words),
  })
  .map((v) => withSessions(compact(v as Prescription)));

/** The sessions supplied are read, never written: a prescription as reading it gives them. */
function withSessions(p: Prescription): Prescription {
  const { dosesAuthorised: _, sessionsUnknown: __, ...rest } = p;
  const sessions = sessionsSupplied(rest);
  return 'count' in sessions
    ? { ...rest, dosesAuthorised: sessions.count }
    : { ...rest, sessionsUnknown: sessions.unknown };
}

export const dispense: fc.Arbitrary<Dispense> = fc
  .record({
    id: fhirId,
    patientId: fhirId,
    prescriptionId: opt(fhirId),
    status: fc.constantFrom(...DISPENSE_STATUSES),
    quantity: opt(
      fc.oneof(
        doseMg,
        fc.integer({ min: 1, max: 20 }).map((n) => ({ value: n, unit: 'troche' })),
      ),
    ),
    whenHandedOver: opt(dateTime),
    medication,
  })
  .map((v) => compact(v as Dispense));

export const referral: fc.Arbitrary<ClearanceReferral> = fc
  .record({
    id: fhirId,
    patientId: fhirId,
    episodeId: opt(fhirId),
    requester: opt(practitioner),
    performer: opt(practitioner),
    authoredOn: when,
    reason: opt(words),
    taskStatus: fc.constantFrom(...TASK_STATUSES),
    decision: opt(fhirId.map((id) => `Observation/${id}`)),
  })
  .map((v) => compact(v as ClearanceReferral));

const identifier: fc.Arbitrary<BusinessIdentifier> = fc.record({
  system: fc.constantFrom(
    'https://ehr.lakeshore-psychiatry.example/identifier/mrn',
    'https://therapy.willowbank-counselling.example/identifier/client',
    'urn:oid:2.16.840.1.113883.19.5',
  ),
  value: fc.stringMatching(/^[A-Z0-9-]{1,12}$/),
});

export const patientLink: fc.Arbitrary<PatientLink> = fc
  .record({
    id: fhirId,
    identifiers: fc.array(identifier, { maxLength: 3 }),
    ehrPatient: opt(fhirId.map((id) => `Patient/${id}`)),
  })
  .map((v) => compact(v as PatientLink));

/** Two ordered dates, for periods that satisfy per-0 (start <= end). */
const orderedDates = fc.tuple(date, date).map(([a, b]) => (a <= b ? [a, b] : [b, a]) as [string, string]);

const BOUND_MG: Record<Route, number> = {
  sublingual: 500,
  oral: 500,
  intranasal: 200,
  intramuscular: 150,
  intravenous: 100,
};

/** A prescription with everything kap-medication-request and the KAP rules ask for. */
export const completePrescription: fc.Arbitrary<Prescription> = fc
  .record({
    base: prescription,
    medication: medication.filter((m) => m.isKetamine),
    route,
    fraction: fc.integer({ min: 1, max: 100 }),
    period: orderedDates,
    sessions: fc.integer({ min: 1, max: 12 }),
    prescriber: practitioner,
  })
  .map(({ base, medication: m, route: r, fraction, period, sessions, prescriber }) => {
    const dose = (BOUND_MG[r] * fraction) / 100;
    return withSessions({
      ...base,
      intent: 'order',
      medication: m,
      route: r,
      dosePerSession: { value: dose, unit: 'mg' },
      refills: 0,
      quantity: { value: dose * sessions, unit: 'mg' },
      validFrom: period[0],
      validUntil: period[1],
      prescriber,
    });
  });

/** A clearance with a prescriber and a valid-until date on or after the decision. */
export const completeClearance: fc.Arbitrary<ClearanceDecision> = fc
  .record({ base: clearance, period: orderedDates, prescriber: practitioner })
  .map(({ base, period, prescriber }) => ({
    ...base,
    decidedAt: period[0],
    validUntil: period[1],
    prescriber,
  }));

/** A referral with its requester; completed ones point at their decision. */
export const completeReferral: fc.Arbitrary<ClearanceReferral> = fc
  .record({ base: referral, requester: practitioner, decision: fhirId.map((id) => `Observation/${id}`) })
  .map(({ base, requester, decision }) =>
    compact({ ...base, requester, decision: base.taskStatus === 'completed' ? decision : base.decision }),
  );

/** A ketamine dispense against a prescription. */
export const completeDispense: fc.Arbitrary<Dispense> = fc
  .record({ base: dispense, medication: medication.filter((m) => m.isKetamine), prescriptionId: fhirId })
  .map(({ base, medication: m, prescriptionId }) => ({ ...base, medication: m, prescriptionId }));
