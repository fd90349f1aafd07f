/**
 * Real R4 content that is valid validates without errors: the Synthea and US Core Bundles of
 * peer-data, and the clinical examples of the R4 specification (hl7.fhir.r4.examples@4.0.1).
 * Where such a file does break an R4 rule, it is listed below with the reason.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createValidator } from '../../src/validation/validator.js';
import { peerDataDir } from '../support/peer-data.js';

const root = join(import.meta.dirname, '..', '..');
const peer = peerDataDir();
const examples = join(root, 'node_modules', 'hl7.fhir.r4.examples');

const CLINICAL_TYPES = new Set([
  'Patient',
  'Observation',
  'MedicationRequest',
  'MedicationAdministration',
  'MedicationDispense',
  'MedicationStatement',
  'Encounter',
  'EpisodeOfCare',
  'CarePlan',
  'CareTeam',
  'Consent',
  'Condition',
  'AllergyIntolerance',
  'ServiceRequest',
  'Task',
  'Practitioner',
  'PractitionerRole',
  'Procedure',
  'Goal',
  'Medication',
  'Bundle',
  'Group',
  'Organization',
  'Provenance',
  'DocumentReference',
  'Composition',
  'DiagnosticReport',
  'Immunization',
  'RelatedPerson',
  'QuestionnaireResponse',
  'Location',
  'Specimen',
]);

/** Example Bundles that carry the specification's own definitions, not clinical content. */
const DEFINITIONAL = new Set(
  [
    'conceptmaps',
    'dataelements',
    'extensions',
    'profiles-others',
    'resources',
    'searchParams',
    'terminologies',
    'types',
    'v2-valuesets',
    'v3-valuesets',
    'valueset-expansions',
    'valuesets',
  ].map((n) => `Bundle-${n}.json`),
);

/** Files that are not valid R4 after all: file -> the error, as `expression: reason`. */
const EXCEPTIONS: Record<string, string[]> = {
  'uscore_bundle_patient_355.json': [
    "Bundle.entry[266].resource.effectivePeriod.stop: Period has 'start' and 'end'; 'stop' is not an R4 element",
  ],
  'DiagnosticReport-gingival-mass.json': [
    'DiagnosticReport.resultsInterpreter[0].display: an empty string; FHIR JSON does not allow "" values',
  ],
  'MedicationRequest-medrx0301.json': [
    'MedicationRequest.dispenseRequest.performer: refers to a Practitioner; R4 allows Reference(Organization) only',
  ],
  'Observation-clinical-gender.json': [
    'Observation.performer[0]: refers to an Encounter, which is not among the allowed performer types',
  ],
};

const validator = createValidator();

function errorsIn(file: string): string[] {
  return validator
    .validateJsonText(readFileSync(file, 'utf8'))
    .filter((f) => f.severity === 'error' || f.severity === 'fatal')
    .map((f) => f.expression ?? f.message);
}

function check(files: string[]) {
  const unexpected: Record<string, string[]> = {};
  let resources = 0;
  for (const file of files) {
    const name = file.slice(file.lastIndexOf('/') + 1);
    const text = readFileSync(file, 'utf8');
    resources += (JSON.parse(text) as { entry?: unknown[] }).entry?.length ?? 1;
    const expected = (EXCEPTIONS[name] ?? []).map((e) => e.slice(0, e.indexOf(':')));
    const errors = errorsIn(file);
    if (errors.join('\n') !== expected.join('\n')) unexpected[name] = errors;
  }
  return { unexpected, resources };
}

const jsonFiles = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => join(dir, f));

describe('valid R4 content', () => {
  it.each(['synthea', 'us-core-bundles'])(
    'validates every resource of peer-data/%s without errors',
    (folder) => {
      const { unexpected, resources } = check(jsonFiles(join(peer, folder)));
      console.log(`peer-data/${folder}: ${resources} resources checked`);
      expect(unexpected).toEqual({});
    },
  );

  it('validates the clinical examples of the R4 specification without errors', () => {
    const files = jsonFiles(examples).filter((f) => {
      const name = f.slice(f.lastIndexOf('/') + 1);
      return CLINICAL_TYPES.has(name.split('-')[0] as string) && !DEFINITIONAL.has(name);
    });
    const { unexpected, resources } = check(files);
    console.log(
      `hl7.fhir.r4.examples: ${files.length} files, ${resources} resources checked; exceptions:\n  ${Object.entries(
        EXCEPTIONS,
      )
        .map(([f, r]) => `${f}: ${r.join('; ')}`)
        .join('\n  ')}`,
    );
    expect(files.length).toBeGreaterThan(400);
    expect(unexpected).toEqual({});
  });
});
