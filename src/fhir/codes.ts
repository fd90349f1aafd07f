/**
 * Every code and canonical URL kap-bridge uses, in one place. Local codes are defined in the
 * CodeSystems under profiles/ (a test checks that each local code here exists there); standard
 * codes are the ones DESIGN.md confirms.
 */

export const CANONICAL_BASE = 'https://fhir.kap-bridge.org';

export const profileUrl = (name: string): string => `${CANONICAL_BASE}/StructureDefinition/${name}`;
export const codeSystemUrl = (name: string): string => `${CANONICAL_BASE}/CodeSystem/${name}`;
export const valueSetUrl = (name: string): string => `${CANONICAL_BASE}/ValueSet/${name}`;
/** The system of business identifiers kap-bridge assigns to what it writes, one per resource type. */
export const identifierSystem = (resourceType: string): string =>
  `${CANONICAL_BASE}/identifier/${resourceType}`;

export const SYSTEM = {
  loinc: 'http://loinc.org',
  snomed: 'http://snomed.info/sct',
  rxnorm: 'http://www.nlm.nih.gov/research/umls/rxnorm',
  ucum: 'http://unitsofmeasure.org',
  cpt: 'http://www.ama-assn.org/go/cpt',
  observationCategory: 'http://terminology.hl7.org/CodeSystem/observation-category',
  consentScope: 'http://terminology.hl7.org/CodeSystem/consentscope',
  actCode: 'http://terminology.hl7.org/CodeSystem/v3-ActCode',
  icd10cm: 'http://hl7.org/fhir/sid/icd-10-cm',
  conditionClinical: 'http://terminology.hl7.org/CodeSystem/condition-clinical',
  conditionVerification: 'http://terminology.hl7.org/CodeSystem/condition-ver-status',
  allergyClinical: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical',
  allergyVerification: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification',
  adverseEventSeriousness: 'http://terminology.hl7.org/CodeSystem/adverse-event-seriousness',
  episodeType: codeSystemUrl('kap-episode-type'),
  sessionPhase: codeSystemUrl('kap-session-phase'),
  clearanceResult: codeSystemUrl('kap-clearance-result'),
  kap: codeSystemUrl('kap-observation'),
  suicideRisk: codeSystemUrl('kap-suicide-risk'),
} as const;

/** Codes from HL7 terminology CodeSystems (observation-category, consentscope, v3-ActCode). */
export const HL7_CODE = {
  survey: 'survey',
  vitalSigns: 'vital-signs',
  exam: 'exam',
  /** Consent scope: consent to treatment. */
  treatment: 'treatment',
  /** Consent policy rule: the patient opts in (as in the R4 Consent examples). */
  optIn: 'OPTIN',
  /** Encounter class: ambulatory. */
  ambulatory: 'AMB',
  /** Encounter class: virtual (a remote medicine session, the therapist on video). */
  virtual: 'VR',
} as const;

/** RxNorm ingredient code for ketamine, the only RxNorm code confirmed from a primary source. */
export const RXNORM_KETAMINE = '6130';

export const LOINC = {
  phq9Panel: '44249-1',
  phq9Total: '44261-6',
  phq9Item9: '44260-8',
  /**
   * PHQ-9 items 1..9 in questionnaire order. Items 1..8 as in HL7's R4 example
   * Questionnaire/phq-9-questionnaire (an HL7 publication); item 9 as DESIGN.md confirms.
   */
  phq9Items: [
    '44250-9',
    '44255-8',
    '44259-0',
    '44254-1',
    '44251-7',
    '44258-2',
    '44252-5',
    '44253-3',
    '44260-8',
  ],
  gad7Panel: '69737-5',
  gad7Total: '70274-6',
  pcl5Panel: '101697-1',
  pcl5Total: '101698-9',
  cssrsPanel: '93245-9',
  cssrsRisk: '93374-7',
  mentalStatus: '8693-4',
  bpPanel: '85354-9',
  systolic: '8480-6',
  diastolic: '8462-4',
  heartRate: '8867-4',
  spo2: '59408-5',
  spo2Arterial: '2708-6',
  consentCategory: '59284-0',
} as const;

/** PHQ-9 answers 0..3 as LOINC answer codes (used on item 9, thoughts of self-harm). */
export const PHQ9_ANSWERS = ['LA6568-5', 'LA6569-3', 'LA6570-1', 'LA6571-9'] as const;

/** SNOMED CT route codes by KAP route. */
export const ROUTE_SNOMED = {
  sublingual: '37839007',
  intramuscular: '78421000',
  intranasal: '46713006',
  oral: '26643006',
  intravenous: '47625008',
} as const;

/** CPT psychotherapy codes where billing needs them: 45 min, 60 min, family/couples with patient. */
export const CPT = { psychotherapy45: '90834', psychotherapy60: '90837', couples: '90847' } as const;

/** Local codes of the kap-observation CodeSystem. */
export const KAP_CODE = {
  clearanceDecision: 'clearance-decision',
  clearanceRequest: 'clearance-request',
  kapCourse: 'kap-course',
  cadss: 'cadss',
  moaas: 'moaas',
  safetyReview: 'safety-review',
  checkIn: 'chaperone-check-in',
} as const;

/**
 * C-SSRS suicide risk level (93374-7) LOINC answer codes confirmed from an HL7 publication (the US
 * Behavioral Health Profiles IG's example C-SSRS-example-1): only LA9194-7 "Low". The others seen
 * (LA6751-7, LA9193-9) were only in third-party projects: not used. See profiles/SOURCES.md.
 */
export const CSSRS_LOINC_ANSWERS: Readonly<Record<string, 'low' | 'moderate' | 'high'>> = {
  'LA9194-7': 'low',
};

/** Local C-SSRS suicide risk levels (kap-suicide-risk): no full standard answer list for 93374-7 was confirmed. */
export const SUICIDE_RISK = ['low', 'moderate', 'high'] as const;

/** The OIDs some EHRs send instead of a code system's URL (a CDA habit), by the URL they stand for. */
export const SYSTEM_BY_OID: Readonly<Record<string, string>> = {
  'urn:oid:2.16.840.1.113883.6.96': SYSTEM.snomed,
  'urn:oid:2.16.840.1.113883.6.90': SYSTEM.icd10cm,
  'urn:oid:2.16.840.1.113883.6.88': SYSTEM.rxnorm,
};
