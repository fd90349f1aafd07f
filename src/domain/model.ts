/**
 * The KAP domain: what a ketamine-assisted psychotherapy course is made of, in the words of the
 * therapist and the prescriber. Plain data, no I/O; FHIR lives in src/mapping.
 *
 * Dates are ISO 8601 strings as FHIR carries them (`date` YYYY-MM-DD or `dateTime` with offset),
 * so that mapping round-trips exactly and readiness can compare them without a clock.
 */

/** An identifier as the outside world gives it: a namespace and a value (FHIR Identifier). */
export interface BusinessIdentifier {
  system: string;
  value: string;
}

/** A pointer to the FHIR resource a domain value came from or was written as, `Type/id[/_history/v]`. */
export type FhirSource = string;

/** Links the therapist's client to the prescriber's Patient. Matched by identifiers only. */
export interface PatientLink {
  /** kap-bridge's own id for the patient. */
  id: string;
  /** The therapist system's client id and the EHR's MRN, among others. */
  identifiers: BusinessIdentifier[];
  /** The EHR Patient this link points at, `Patient/<id>`, once known. */
  ehrPatient?: string;
}

export type EpisodeType = 'individual' | 'couples';
export type EpisodeStatus = 'planned' | 'active' | 'onhold' | 'finished' | 'cancelled' | 'entered-in-error';

/** A KAP course: EpisodeOfCare + CarePlan. Couples (KARP) episodes have two patients. */
export interface Episode {
  id: string;
  type: EpisodeType;
  status: EpisodeStatus;
  /** One patient id for an individual course, two for a couples course. */
  patients: string[];
  /** The therapist (Practitioner reference) who runs the course. */
  therapist?: string;
  start?: string;
  end?: string;
  /** The patient's own words for what they hope from the course (Goal / CarePlan description). */
  intention?: string;
  /** Why the course was put on hold, finished early or cancelled, as the therapist said it. */
  statusReason?: string;
  /** How many sessions of each phase the plan foresees. */
  plannedSessions: Record<SessionPhase, number>;
}

export type SessionPhase = 'preparation' | 'medicine' | 'integration';
export type SessionStatus = 'planned' | 'in-progress' | 'finished' | 'cancelled' | 'entered-in-error';

/**
 * One session (Encounter). In a couples course each partner has their own session, `partOf` a
 * joint session whose subject is the couple (a Group of the two patients).
 */
export interface Session {
  id: string;
  episodeId: string;
  phase: SessionPhase;
  status: SessionStatus;
  /** The patient; absent on a joint couples session, which has `couple` instead. */
  patientId?: string;
  /** The two patient ids of a joint couples session. */
  couple?: [string, string];
  /** The joint session this partner session is part of. */
  jointSessionId?: string;
  start?: string;
  end?: string;
  therapist?: string;
  /** A medicine session in the office, or remote: the therapist on video and a chaperone in the room. */
  mode?: 'in-person' | 'remote';
  /** Who stays with the patient in a remote medicine session (their name, as the therapist gives it). */
  chaperone?: string;
  /** How the patient goes home after a medicine session (no driving until the next day). */
  transport?: string;
}

export type ConsentStatus = 'draft' | 'proposed' | 'active' | 'rejected' | 'inactive' | 'entered-in-error';

/** The signed informed consent agreement for the course. */
export interface InformedConsent {
  id: string;
  patientId: string;
  episodeId?: string;
  status: ConsentStatus;
  /** When the patient signed. */
  dateTime: string;
  /** The signed agreement: a URL or DocumentReference the EHR can resolve. */
  document?: { url?: string; contentType?: string; title?: string; documentReference?: string };
  /** When the consent holds (Consent.provision.period); open at either end when absent. */
  period?: { start?: string; end?: string };
  source?: FhirSource;
}

export type ClearanceResult = 'cleared' | 'not-cleared' | 'needs-review';

/** The prescriber's medical clearance decision (an Observation with a validity period). */
export interface ClearanceDecision {
  id: string;
  patientId: string;
  result: ClearanceResult;
  status: 'preliminary' | 'final' | 'amended' | 'corrected' | 'cancelled' | 'entered-in-error';
  decidedAt: string;
  /** Last day (or instant) the clearance holds. */
  validUntil?: string;
  /** The prescriber (Practitioner reference). */
  prescriber?: string;
  note?: string;
  source?: FhirSource;
}

export type PrescriptionStatus =
  | 'active'
  | 'on-hold'
  | 'cancelled'
  | 'completed'
  | 'stopped'
  | 'entered-in-error'
  | 'draft'
  | 'unknown';

export type Route = 'sublingual' | 'intramuscular' | 'intranasal' | 'oral' | 'intravenous';

/** What was prescribed. Ketamine may arrive as an RxNorm code, as text, or as a compounded Medication. */
export interface Medication {
  /** RxNorm code when one was sent (6130 is the ingredient ketamine). */
  rxnorm?: string;
  /** What a person reads: "ketamine 100 mg sublingual troche". */
  text: string;
  /** Compounded form (troche, rapidly dissolving tablet) where no RxNorm clinical drug exists. */
  form?: string;
  isKetamine: boolean;
  /** The amount of ketamine in one unit of a countable form (one troche holds 100 mg), when stated. */
  strength?: { amount: Dose; per: Dose };
}

export interface Dose {
  value: number;
  /** A UCUM code where the sender gave one (mg, {troche}); otherwise the unit as written. */
  unit: string;
}

/** A ketamine prescription (MedicationRequest). */
export interface Prescription {
  id: string;
  patientId: string;
  status: PrescriptionStatus;
  medication: Medication;
  /** Dose per medicine session. Absent only when an EHR sent dosage as free text we could not read. */
  dosePerSession?: Dose;
  /** The dosage as the prescriber wrote it, when it came as text. */
  dosageText?: string;
  route?: Route;
  /** FHIR MedicationRequest.intent: only an order authorises. */
  intent: string;
  /** MedicationRequest.doNotPerform: a prohibition, which never authorises. */
  doNotPerform?: true;
  /** The order this one replaces (MedicationRequest.priorPrescription), `MedicationRequest/<id>`. */
  priorPrescription?: string;
  /** Refills allowed after the first dispense (dispenseRequest.numberOfRepeatsAllowed). */
  refills?: number;
  /** The amount each dispense supplies (dispenseRequest.quantity), in UCUM where it is one. */
  quantity?: Dose;
  /**
   * Medicine sessions the order supplies: (1 + refills) x quantity / dose per session, with the
   * units made comparable. Absent when they cannot be; `sessionsUnknown` then says why.
   */
  dosesAuthorised?: number;
  sessionsUnknown?: string;
  /** When the EHR last changed the order (meta.lastUpdated). */
  versionTime?: string;
  /** For another medicine: the interacting class (maoi, benzodiazepine, psychostimulant) it is in. */
  interactingClass?: string;
  validFrom?: string;
  validUntil?: string;
  authoredOn?: string;
  prescriber?: string;
  /** Why it is on hold, cancelled or stopped, as the prescriber said it. */
  statusReason?: string;
  source?: FhirSource;
}

/** The pharmacy handing the ketamine to the patient (MedicationDispense). */
export interface Dispense {
  id: string;
  patientId: string;
  prescriptionId?: string;
  status:
    | 'preparation'
    | 'in-progress'
    | 'cancelled'
    | 'on-hold'
    | 'completed'
    | 'entered-in-error'
    | 'stopped'
    | 'declined'
    | 'unknown';
  quantity?: Dose;
  whenHandedOver?: string;
  medication: Medication;
  source?: FhirSource;
}

/** A dose taken in a medicine session, self-administered under supervision (MedicationAdministration). */
export interface Administration {
  id: string;
  patientId: string;
  /**
   * The session it was taken in. The EHR may hold doses recorded without one (by the prescriber, or
   * another system): they count against their order all the same.
   */
  sessionId?: string;
  prescriptionId?: string;
  status: 'in-progress' | 'not-done' | 'on-hold' | 'completed' | 'entered-in-error' | 'stopped' | 'unknown';
  medication: Medication;
  dose: Dose;
  route: Route;
  administeredAt: string;
  /** The lot number of the product the dose was taken from, where known. */
  lotNumber?: string;
  source?: FhirSource;
}

/** PHQ-9 answers, items 1..9, each 0..3. */
export type Phq9Items = [number, number, number, number, number, number, number, number, number];

export type CssrsRisk = 'low' | 'moderate' | 'high';

/** Observation values kap-bridge knows, by kind. */
export type ObservationValue =
  /**
   * A PHQ-9. `item9` is the answer to item 9 (thoughts of self-harm) wherever the panel carried it;
   * `members` are the panel's hasMember references (`Observation/<id>`), where item 9 may travel.
   */
  | { kind: 'phq9'; total?: number; items?: Phq9Items; item9?: number; members?: string[] }
  /** PHQ-9 item 9 (LOINC 44260-8) sent as an Observation of its own, answer 0..3. */
  | { kind: 'phq9-item9'; answer: number }
  | { kind: 'gad7'; total: number }
  | { kind: 'pcl5'; total: number }
  | { kind: 'cssrs'; risk: CssrsRisk }
  | { kind: 'mental-status'; findings: string }
  | { kind: 'blood-pressure'; systolic: number; diastolic: number }
  | { kind: 'heart-rate'; perMinute: number }
  | { kind: 'spo2'; percent: number }
  /** CADSS total (0..92): Clinician-Administered Dissociative States Scale. */
  | { kind: 'dissociation'; cadss: number }
  /** MOAA/S score (0..5): Modified Observer's Assessment of Alertness/Sedation. */
  | { kind: 'sedation'; moaas: number }
  /** A remote medicine session's chaperone checking in with the therapist; what they said, when given. */
  | { kind: 'check-in'; note?: string };

export type ObservationKind = ObservationValue['kind'];

/** A score, vital sign, mental-status finding or session effect (Observation). */
export interface KapObservation {
  id: string;
  patientId: string;
  sessionId?: string;
  status:
    | 'registered'
    | 'preliminary'
    | 'final'
    | 'amended'
    | 'corrected'
    | 'cancelled'
    | 'entered-in-error'
    | 'unknown';
  effective: string;
  value: ObservationValue;
  performer?: string;
  /** When it was made available (Observation.issued), which may be after the fact it records. */
  issued?: string;
  /** When the EHR last changed it (meta.lastUpdated). */
  versionTime?: string;
  source?: FhirSource;
}

/** The therapist's request that the prescriber clear the patient (ServiceRequest + Task). */
export interface ClearanceReferral {
  id: string;
  patientId: string;
  episodeId?: string;
  requester?: string;
  /** The prescriber asked to do the clearance. */
  performer?: string;
  authoredOn: string;
  reason?: string;
  /** The Task's status: where the prescriber's work stands. */
  taskStatus:
    | 'requested'
    | 'received'
    | 'accepted'
    | 'rejected'
    | 'in-progress'
    | 'completed'
    | 'cancelled'
    | 'failed';
  /** The clearance decision the Task points at when done (`Observation/<id>`). */
  decision?: string;
}

/** Why a contraindication matters to KAP: the groups of the KAP contraindication ValueSet. */
export type ContraindicationGroup = string;

/** A Condition or AllergyIntolerance from the EHR, as readiness needs it. */
export interface ClinicalFinding {
  id: string;
  patientId: string;
  type: 'Condition' | 'AllergyIntolerance';
  /** Active, recurrent or relapsed, and neither refuted nor entered in error. */
  active: boolean;
  /** The contraindication group its code falls in, when it falls in one. */
  contraindication?: ContraindicationGroup;
  /** When the EHR recorded it (recordedDate, else onset, else the version time). */
  recorded?: string;
  /** When the EHR last changed it (meta.lastUpdated): a change reopens the question. */
  versionTime?: string;
  text: string;
  source?: FhirSource;
}

/** The prescriber's explicit review of the patient's open safety flags (a ClinicalImpression). */
export interface PrescriberReview {
  id: string;
  patientId: string;
  reviewedAt: string;
  prescriber?: string;
  note?: string;
  source?: FhirSource;
}

/** An adverse event (FHIR AdverseEvent) recorded for the patient. */
export interface KapAdverseEvent {
  id: string;
  patientId: string;
  occurredAt: string;
  serious: boolean;
  description?: string;
  sessionId?: string;
  /** As the therapist records one in a medicine session: a kap-adverse-event code, and how it went. */
  event?: string;
  severity?: 'mild' | 'moderate' | 'severe';
  outcome?: 'resolved' | 'recovering' | 'ongoing' | 'resolvedWithSequelae' | 'fatal' | 'unknown';
  actionTaken?: string;
  recordedAt?: string;
  /** The doses of the session it may have come from (`MedicationAdministration/<id>`). */
  suspects?: string[];
  source?: FhirSource;
}

export type AlertKind = 'serious-adverse-event' | 'vital-out-of-range' | 'discharge-override';

/** What the prescriber must see at once about a medicine session (a Communication addressed to them). */
export interface PrescriberAlert {
  id: string;
  patientId: string;
  kind: AlertKind;
  sessionId?: string;
  sentAt: string;
  /** The prescriber (Practitioner reference), when the current order names one. */
  prescriber?: string;
  message: string;
  /** What it is about: `Type/id` of kap-bridge's own resources. */
  about?: string[];
}

/** What a kept source holds that readiness relies on. */
export type SourceKind =
  | 'clearance'
  | 'prescription'
  | 'administration'
  | 'blood-pressure'
  | 'safety-finding';

/**
 * A resource kap-bridge keeps but cannot read, where readiness would need it: never a silent pass.
 * `at` is when it says it happened, when that much could be read.
 */
export interface UnreadableSource {
  kind: SourceKind;
  source: FhirSource;
  at?: string;
  /** What could not be read, in a sentence, with the element. */
  problem: string;
}
