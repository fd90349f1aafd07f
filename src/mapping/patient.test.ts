import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import type { Patient } from 'fhir/r4';
import { patientLink } from '../../test/support/prescriber-arbitraries.js';
import { identityContext as ctx } from '../fhir/reference-context.js';
import { matchPatient, patientFromFhir, patientToFhir } from './patient.js';

const MRN = 'https://ehr.lakeshore-psychiatry.example/identifier/mrn';
const CLIENT = 'https://therapy.willowbank-counselling.example/identifier/client';
const fixture = (): Patient =>
  JSON.parse(readFileSync(new URL('../../fixtures/ehr/patient-mrn.fhir.json', import.meta.url), 'utf8'));

test('the EHR Patient with an MRN reads as a link and round-trips', () => {
  const first = patientFromFhir(fixture(), ctx);
  expect(first).toEqual({
    value: {
      id: '48213',
      identifiers: [
        { system: MRN, value: 'MRN-0048213' },
        { system: CLIENT, value: 'C-1187' },
      ],
      ehrPatient: 'Patient/48213',
    },
    issues: [],
  });
  const written = patientToFhir(first.value!);
  expect(written.identifier?.[0]).toEqual({
    system: 'https://fhir.kap-bridge.org/identifier/Patient',
    value: '48213',
  });
  expect(patientFromFhir(written, ctx)).toEqual(first);
});

test('domain -> FHIR -> domain is the identity for any link', () => {
  fc.assert(
    fc.property(patientLink, (link) => {
      expect(patientFromFhir(patientToFhir(link), ctx)).toEqual({ value: link, issues: [] });
    }),
  );
});

test('kap-bridge identifier wins over the EHR id; identifiers without a system are left out with a warning', () => {
  const patient: Patient = {
    resourceType: 'Patient',
    id: '48213',
    identifier: [
      { value: 'MRN-0048213' },
      { system: 'https://fhir.kap-bridge.org/identifier/Patient', value: 'kp-7' },
    ],
  };
  const { value, issues } = patientFromFhir(patient, ctx);
  expect(value).toEqual({ id: 'kp-7', identifiers: [], ehrPatient: 'Patient/48213' });
  expect(issues).toEqual([
    expect.objectContaining({ severity: 'warning', expression: 'Patient.identifier[0]' }),
  ]);
});

describe('matching by identifiers only', () => {
  const links = [
    { id: 'kp-1', identifiers: [{ system: CLIENT, value: 'C-1187' }] },
    { id: 'kp-2', identifiers: [{ system: MRN, value: 'MRN-0099999' }] },
  ];

  test('a shared therapist client id matches', () => {
    expect(matchPatient(links, fixture()).map((l) => l.id)).toEqual(['kp-1']);
  });

  test('same name and birth date but no shared identifier: no match', () => {
    const twin: Patient = { ...fixture(), identifier: [{ system: MRN, value: 'MRN-0011111' }] };
    expect(matchPatient(links, twin)).toEqual([]);
  });

  test("kap-bridge's own identifier matches the link id", () => {
    const ours: Patient = {
      resourceType: 'Patient',
      identifier: [{ system: 'https://fhir.kap-bridge.org/identifier/Patient', value: 'kp-2' }],
    };
    expect(matchPatient(links, ours).map((l) => l.id)).toEqual(['kp-2']);
  });
});
