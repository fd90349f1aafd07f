import { type Interaction, parseScopes, permits, type ScopeContext } from './scopes.js';

const allows = (scope: string, contexts: ScopeContext[], type: string, interaction: Interaction) =>
  permits(parseScopes(scope), contexts, type, interaction);

test.each([
  // v2 permissions: a subset of cruds, in order
  ['system/MedicationRequest.cu', ['system'], 'MedicationRequest', 'c', true],
  ['system/MedicationRequest.cu', ['system'], 'MedicationRequest', 'u', true],
  ['system/MedicationRequest.cu', ['system'], 'MedicationRequest', 'r', false],
  ['user/Patient.rs', ['user', 'system'], 'Patient', 'r', true],
  ['user/Patient.rs', ['user', 'system'], 'Observation', 'r', false],
  ['user/*.cruds', ['user'], 'Encounter', 'd', true],
  // v1 forms
  ['user/Patient.read', ['user'], 'Patient', 's', true],
  ['user/Patient.read', ['user'], 'Patient', 'c', false],
  ['system/*.write', ['system'], 'Consent', 'u', true],
  ['system/*.*', ['system'], 'Consent', 'r', true],
  // context matters: a patient-context scope is not a system grant
  ['patient/*.cruds', ['user', 'system'], 'Patient', 'r', false],
  ['user/*.cruds', ['system'], 'Patient', 'r', false],
  // malformed or narrowed scopes grant nothing
  ['system/Patient.rc', ['system'], 'Patient', 'r', false],
  ['system/Patient.', ['system'], 'Patient', 'r', false],
  ['system/patient.r', ['system'], 'patient', 'r', false],
  ['system/Observation.rs?category=laboratory', ['system'], 'Observation', 'r', false],
  ['openid fhirUser launch/patient', ['user', 'system'], 'Patient', 'r', false],
  ['', ['system'], 'Patient', 'r', false],
] as const)('%s in %j allows %s.%s: %s', (scope, contexts, type, interaction, expected) => {
  expect(allows(scope, [...contexts], type, interaction)).toBe(expected);
});

test('a scope list may come as a space-separated claim or an array', () => {
  expect(parseScopes('openid user/Patient.r  system/*.c')).toHaveLength(2);
  expect(parseScopes(['user/Patient.r', 'system/*.c'])).toHaveLength(2);
  expect(parseScopes(undefined)).toEqual([]);
});
