import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createValidator, type Finding, type Validator } from './validator.js';

const errors = (findings: Finding[]) =>
  findings.filter((f) => f.severity === 'error' || f.severity === 'fatal');
const at = (findings: Finding[]) => errors(findings).map((f) => f.expression);

const patient = {
  resourceType: 'Patient',
  id: 'p1',
  name: [{ family: 'Robin', given: ['Chris'] }],
  gender: 'female',
};
const medicationRequest = {
  resourceType: 'MedicationRequest',
  status: 'active',
  intent: 'order',
  medicationCodeableConcept: {
    coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '6130' }],
  },
  subject: { reference: 'Patient/p1' },
  dosageInstruction: [{ route: { coding: [{ system: 'http://snomed.info/sct', code: '37839007' }] } }],
};

let validator: Validator;
beforeAll(() => {
  validator = createValidator();
});

describe('base R4', () => {
  it('accepts valid resources', () => {
    expect(errors(validator.validate(patient))).toEqual([]);
    expect(errors(validator.validate(medicationRequest))).toEqual([]);
  });

  it('reports required primitives and choice types the JSON schema misses', () => {
    const { status: _s, intent: _i, medicationCodeableConcept: _m, ...rest } = medicationRequest;
    const findings = validator.validate(rest);
    expect(at(findings)).toEqual(
      expect.arrayContaining([
        'MedicationRequest.status',
        'MedicationRequest.intent',
        'MedicationRequest.medication[x]',
      ]),
    );
    expect(findings.find((f) => f.expression === 'MedicationRequest.medication[x]')?.message).toMatch(
      /medicationCodeableConcept, medicationReference/,
    );
    expect(findings.every((f) => f.layer === 'definitions')).toBe(true);
  });

  it('reports two values for one choice element', () => {
    const findings = validator.validate({
      ...medicationRequest,
      medicationReference: { reference: 'Medication/m' },
    });
    expect(errors(findings).map((f) => f.code)).toEqual(['structure']);
  });

  it('reports structure from the JSON schema with FHIRPath expressions', () => {
    const findings = validator.validate({
      ...medicationRequest,
      id: 'bad_id',
      statusx: 'x',
      dosageInstruction: [{ route: [{ text: 'sublingual' }] }],
    });
    expect(at(findings).sort()).toEqual([
      'MedicationRequest.dosageInstruction[0].route',
      'MedicationRequest.id',
      'MedicationRequest.statusx',
    ]);
    expect(findings.every((f) => f.layer === 'structure')).toBe(true);
  });

  it('reports codes outside a required binding', () => {
    const condition = {
      resourceType: 'Condition',
      subject: { reference: 'Patient/p1' },
      clinicalStatus: {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'gone' }],
      },
    };
    const findings = errors(validator.validate(condition));
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({ code: 'code-invalid', expression: 'Condition.clinicalStatus' });
  });

  it('evaluates FHIRPath invariants and names them', () => {
    const encounter = {
      resourceType: 'Encounter',
      status: 'finished',
      class: { code: 'AMB' },
      period: { start: '2024-05-02', end: '2024-05-01' },
    };
    const [finding] = errors(validator.validate(encounter));
    expect(finding).toMatchObject({ code: 'invariant', expression: 'Encounter.period' });
    expect(finding?.message).toMatch(/per-1/);
  });

  it('evaluates the R4 regular-expression invariants fhirpath.js cannot compile as written', () => {
    const definition = (path: string, sliceName: string) => ({
      resourceType: 'StructureDefinition',
      url: 'https://example.org/StructureDefinition/p',
      name: 'P',
      status: 'draft',
      kind: 'resource',
      abstract: false,
      type: 'Patient',
      derivation: 'constraint',
      baseDefinition: 'http://hl7.org/fhir/StructureDefinition/Patient',
      differential: { element: [{ id: `${path}:${sliceName}`, path, sliceName }] },
    });
    const keys = (r: unknown) =>
      validator.validate(r).map((f) => `${f.severity} ${/\b(eld-\d+)/.exec(f.message)?.[1] ?? f.message}`);
    expect(keys(definition('Patient.identifier', 'a@b'))).toEqual([]);
    // FHIRPath's matches() finds the pattern anywhere in the path: '?' has no element name at all.
    expect(keys(definition('?', 'a b'))).toEqual(
      expect.arrayContaining(['error eld-16', 'error eld-19', 'warning eld-20']),
    );
  });

  it('reports an invariant it cannot evaluate as not checked, a warning', () => {
    // ctm-1 needs resolve(), which fhirpath.js only offers against a FHIR server.
    const careTeam = {
      resourceType: 'CareTeam',
      participant: [{ member: { reference: 'Practitioner/a' }, onBehalfOf: { reference: 'Organization/b' } }],
    };
    const findings = validator.validate(careTeam);
    expect(findings).toEqual([
      expect.objectContaining({
        severity: 'warning',
        code: 'exception',
        expression: 'CareTeam.participant[0]',
        message: expect.stringMatching(/ctm-1 could not be checked: .*resolve/),
      }),
    ]);
  });

  it('checks contained resources and local references (dom-3, ref-1)', () => {
    const { medicationCodeableConcept: _m, ...rest } = medicationRequest;
    const findings = validator.validate({
      ...rest,
      contained: [{ resourceType: 'Medication', id: 'm1' }],
      medicationReference: { reference: '#m2' },
    });
    expect(at(findings).sort()).toEqual([
      'MedicationRequest.contained[0]',
      'MedicationRequest.medicationReference',
    ]);
  });

  it('applies the JSON rules: no null, empty list, empty object or empty string', () => {
    const findings = validator.validate({ ...patient, active: null, telecom: [], name: [{}], birthDate: '' });
    expect(at(findings).sort()).toEqual([
      'Patient.active',
      'Patient.birthDate',
      'Patient.name[0]',
      'Patient.telecom',
    ]);
  });

  it('checks HL7 registry extensions: value type (error) and context (warning)', () => {
    const findings = validator.validate({
      ...patient,
      extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/patient-religion', valueString: 'none' }],
      name: [
        {
          family: 'Robin',
          extension: [
            { url: 'http://hl7.org/fhir/StructureDefinition/humanname-mothers-family', valueString: 'X' },
          ],
        },
      ],
    });
    expect(findings.map((f) => [f.severity, f.expression])).toEqual([
      ['error', 'Patient.extension[0].valueString'],
      ['warning', 'Patient.name[0].extension[0]'],
    ]);
  });

  it('checks reference targets', () => {
    const findings = validator.validate({ ...medicationRequest, subject: { reference: 'Practitioner/x' } });
    expect(at(findings)).toEqual(['MedicationRequest.subject']);
  });
});

describe('bad input', () => {
  it.each([
    [null, 'null'],
    [[patient], 'a list'],
    ['Patient', 'a string'],
  ])('reports %p as not a resource', (input, what) => {
    expect(validator.validate(input)[0]?.message).toContain(what);
  });

  it('reports a missing or unknown resourceType', () => {
    expect(errors(validator.validate({ id: 'x' }))[0]?.code).toBe('required');
    expect(errors(validator.validate({ resourceType: 'Patients' }))[0]?.code).toBe('not-supported');
  });

  it('reports unparsable JSON as one fatal issue with line and column', () => {
    const findings = validator.validateJsonText('{\n  "resourceType": "Patient",\n  "id": }');
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({ severity: 'fatal', layer: 'parse' });
    expect(findings[0]?.message).toMatch(/line 3, column 9/);
  });
});

describe('Bundle', () => {
  const entry = (resource: object, i: number) => ({
    fullUrl: `urn:uuid:00000000-0000-4000-8000-00000000000${i}`,
    resource,
  });

  it('validates entries one by one, with the entry in the expression', () => {
    const { status: _s, ...noStatus } = medicationRequest;
    const bundle = {
      resourceType: 'Bundle',
      type: 'collection',
      entry: [entry(patient, 1), entry(noStatus, 2)],
    };
    expect(at(validator.validate(bundle))).toEqual(['Bundle.entry[1].resource.status']);
  });

  it('resolves urn:uuid references to check their targets', () => {
    const bad = {
      ...medicationRequest,
      subject: { reference: 'urn:uuid:00000000-0000-4000-8000-000000000001' },
    };
    const org = { resourceType: 'Organization', name: 'x' };
    const bundle = { resourceType: 'Bundle', type: 'collection', entry: [entry(org, 1), entry(bad, 2)] };
    expect(at(validator.validate(bundle))).toEqual(['Bundle.entry[1].resource.subject']);
  });

  it('applies bdl invariants and fullUrl rules', () => {
    const transaction = { resourceType: 'Bundle', type: 'transaction', entry: [entry(patient, 1)] };
    expect(errors(validator.validate(transaction))[0]?.message).toMatch(/bdl-3/);
    const duplicate = {
      resourceType: 'Bundle',
      type: 'collection',
      entry: [entry(patient, 1), entry(patient, 1)],
    };
    expect(at(validator.validate(duplicate))).toEqual(['Bundle.entry[1].fullUrl']);
    const relative = {
      resourceType: 'Bundle',
      type: 'collection',
      entry: [{ fullUrl: 'Patient/p1', resource: patient }],
    };
    expect(errors(validator.validate(relative))[0]).toMatchObject({
      layer: 'bundle',
      expression: 'Bundle.entry[0].fullUrl',
    });
  });

  it('checks search modes in a searchset', () => {
    const searchset = {
      resourceType: 'Bundle',
      type: 'searchset',
      link: [{ relation: 'self', url: 'https://ehr.example/fhir/Patient?name=x' }],
      entry: [
        {
          fullUrl: 'https://ehr.example/fhir/Patient/p1',
          resource: { resourceType: 'Patient' },
          search: { mode: 'match' },
        },
      ],
    };
    expect(at(validator.validate(searchset))).toEqual(['Bundle.entry[0].resource']);
  });
});

describe('profiles', () => {
  let dir: string;
  let profiled: Validator;
  const url = 'https://fhir.kap-bridge.org/StructureDefinition/test-session';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'kap-profiles-'));
    const sd = {
      resourceType: 'StructureDefinition',
      url,
      name: 'TestSession',
      type: 'Encounter',
      baseDefinition: 'http://hl7.org/fhir/StructureDefinition/Encounter',
      derivation: 'constraint',
      differential: {
        element: [
          {
            id: 'Encounter',
            path: 'Encounter',
            constraint: [
              {
                key: 'kap-1',
                severity: 'error',
                human: 'A session has a subject',
                expression: 'subject.exists()',
              },
            ],
          },
          { id: 'Encounter.identifier', path: 'Encounter.identifier', min: 1 },
          {
            id: 'Encounter.type',
            path: 'Encounter.type',
            min: 1,
            slicing: { discriminator: [{ type: 'pattern', path: '$this' }], rules: 'open' },
          },
          {
            id: 'Encounter.type:phase',
            path: 'Encounter.type',
            sliceName: 'phase',
            min: 1,
            max: '1',
            patternCodeableConcept: {
              coding: [{ system: 'https://fhir.kap-bridge.org/CodeSystem/test-phase' }],
            },
            binding: { strength: 'required', valueSet: 'https://fhir.kap-bridge.org/ValueSet/test-phase' },
          },
          {
            id: 'Encounter.class',
            path: 'Encounter.class',
            fixedCoding: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
          },
        ],
      },
    };
    const cs = {
      resourceType: 'CodeSystem',
      url: 'https://fhir.kap-bridge.org/CodeSystem/test-phase',
      content: 'complete',
      concept: [{ code: 'preparation' }, { code: 'medicine' }],
    };
    const vs = {
      resourceType: 'ValueSet',
      url: 'https://fhir.kap-bridge.org/ValueSet/test-phase',
      compose: { include: [{ system: cs.url }] },
    };
    writeFileSync(join(dir, 'StructureDefinition-test-session.json'), JSON.stringify(sd));
    writeFileSync(join(dir, 'CodeSystem-test-phase.json'), JSON.stringify(cs));
    writeFileSync(join(dir, 'ValueSet-test-phase.json'), JSON.stringify(vs));
    profiled = createValidator({ profilesDir: dir });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const session = {
    resourceType: 'Encounter',
    meta: { profile: [url] },
    identifier: [{ system: 'https://fhir.kap-bridge.org/identifier/Encounter', value: 'e1' }],
    status: 'finished',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
    type: [{ coding: [{ system: 'https://fhir.kap-bridge.org/CodeSystem/test-phase', code: 'medicine' }] }],
    subject: { reference: 'Patient/p1' },
  };

  it('accepts a conforming resource', () => {
    expect(errors(profiled.validate(session))).toEqual([]);
    expect(profiled.profiles()).toContain(url);
  });

  it('applies min, fixed, slices, bindings and invariants of the profile on top of the base', () => {
    const { identifier: _i, subject: _s, ...rest } = session;
    const findings = errors(
      profiled.validate({
        ...rest,
        class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'IMP' },
        type: [{ coding: [{ system: 'https://fhir.kap-bridge.org/CodeSystem/test-phase', code: 'party' }] }],
      }),
    );
    expect(findings.map((f) => f.expression).sort()).toEqual([
      'Encounter',
      'Encounter.class',
      'Encounter.identifier',
      'Encounter.type[0]',
    ]);
    expect(findings.every((f) => f.message.includes('TestSession'))).toBe(true);
    const noPhase = errors(profiled.validate({ ...session, type: [{ text: 'x' }] }));
    expect(noPhase.map((f) => f.message).join()).toMatch(/'phase'/);
  });

  it('checks against an explicit profile, and reports unknown ones', () => {
    const { meta: _m, identifier: _i, ...plain } = session;
    expect(at(profiled.validate(plain, { profile: url }))).toEqual(['Encounter.identifier']);
    expect(errors(profiled.validate(plain, { profile: 'https://x.example/unknown' }))[0]?.code).toBe(
      'not-supported',
    );
    const claimed = profiled.validate({ ...plain, meta: { profile: ['https://x.example/unknown'] } });
    expect(claimed.map((f) => f.severity)).toEqual(['warning']);
  });
});

describe('document Bundle', () => {
  const obs = (version: string) => ({
    fullUrl: 'https://ehr.example/fhir/Observation/o1',
    resource: {
      resourceType: 'Observation',
      id: 'o1',
      meta: { versionId: version },
      status: 'final',
      code: { text: 'x' },
    },
  });
  const document = (refs: string[]) => ({
    resourceType: 'Bundle',
    type: 'document',
    identifier: { system: 'urn:ietf:rfc:3986', value: 'urn:uuid:8b0e3b9c-4f0e-4b8a-9d7e-6b1f1c2d3e4f' },
    timestamp: '2024-05-01T10:00:00Z',
    entry: [
      {
        fullUrl: 'https://ehr.example/fhir/Composition/c1',
        resource: {
          resourceType: 'Composition',
          id: 'c1',
          status: 'final',
          type: { text: 'note' },
          date: '2024-05-01',
          author: [{ display: 'Dr X' }],
          title: 'Note',
          section: [{ entry: refs.map((reference) => ({ reference })) }],
        },
      },
      obs('1'),
      obs('2'),
    ],
  });

  it('resolves the Composition references to one entry and version', () => {
    expect(
      errors(validator.validate(document(['Observation/o1/_history/1', 'Observation/o1/_history/2']))),
    ).toEqual([]);
    expect(at(validator.validate(document(['Observation/o1/_history/3', 'Observation/o1'])))).toEqual([
      'Bundle.entry[0].resource.section[0].entry[0]',
      'Bundle.entry[0].resource.section[0].entry[1]',
    ]);
  });
});
