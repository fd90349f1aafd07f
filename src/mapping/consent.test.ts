import fc from 'fast-check';
import type { Consent } from 'fhir/r4';
import { courseResources } from '../../test/support/courses.js';
import type { InformedConsent } from '../domain/model.js';
import { identityContext as ctx } from '../fhir/reference-context.js';
import { consentFromFhir, consentToFhir } from './consent.js';

const fixtures = courseResources<Consent>('Consent');

describe('every Consent fixture reads without issues and round-trips', () => {
  test.each(fixtures)('%s', (_name, consent, context) => {
    const first = consentFromFhir(consent, context);
    expect(first.issues).toEqual([]);
    const written = consentToFhir(first.value!, context);
    expect(written).toEqual(consent);
    expect(consentFromFhir(written, context)).toEqual(first);
  });
});

const id = fc.stringMatching(/^[a-z0-9]{1,8}(-[a-z0-9]{1,8}){0,2}$/);
const instant = fc
  .date({ min: new Date('2026-01-01T00:00:00Z'), max: new Date('2026-12-31T23:59:59Z'), noInvalidDate: true })
  .map((d) => d.toISOString());
/** The agreement is an attachment or a DocumentReference, not both: Consent.source[x] holds one. */
const document = fc.oneof(
  fc.record(
    {
      url: id.map((d) => `https://docs.example.org/${d}.pdf`),
      contentType: fc.constant('application/pdf'),
      title: fc.string({ minLength: 1 }),
    },
    { requiredKeys: [] },
  ),
  fc.record(
    { documentReference: id.map((d) => `DocumentReference/${d}`), title: fc.string({ minLength: 1 }) },
    { requiredKeys: ['documentReference'] },
  ),
);
const consent: fc.Arbitrary<InformedConsent> = fc.record(
  {
    id,
    patientId: id,
    episodeId: id,
    status: fc.constantFrom('draft', 'proposed', 'active', 'rejected', 'inactive', 'entered-in-error'),
    dateTime: instant,
    document,
    period: fc.oneof(
      fc.record({ start: instant }),
      fc.record({ end: instant }),
      fc.record({ start: instant, end: instant }),
    ),
  },
  { requiredKeys: ['id', 'patientId', 'status', 'dateTime'] },
);

test('domain -> FHIR -> domain gives back the consent', () => {
  fc.assert(
    fc.property(consent, (c) => {
      const written = consentToFhir(c, ctx);
      expect(written.meta?.profile?.[0]).toMatch(/kap-consent$/);
      expect(written.identifier).toEqual([
        { system: 'https://fhir.kap-bridge.org/identifier/Consent', value: c.id },
      ]);
      const read = consentFromFhir(written, ctx);
      expect(read.issues.filter((i) => i.severity !== 'warning' || c.document !== undefined)).toEqual([]);
      expect(read.value).toEqual({ ...c, source: `Consent/${c.id}` });
    }),
  );
});

describe('reading is tolerant', () => {
  const consent: Consent = {
    resourceType: 'Consent',
    id: 'ehr-c1',
    status: 'active',
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'treatment' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    patient: { reference: 'Patient/p1' },
    dateTime: '2026-01-10',
    sourceAttachment: { contentType: 'application/pdf', data: 'JVBERi0=' },
  };

  test('no profile, no identifier, an attachment with inline data only', () => {
    const read = consentFromFhir(consent, ctx);
    expect(read.issues).toEqual([]);
    expect(read.value).toEqual({
      id: 'ehr-c1',
      patientId: 'p1',
      status: 'active',
      dateTime: '2026-01-10',
      document: { contentType: 'application/pdf' },
      source: 'Consent/ehr-c1',
    });
  });

  test('the period the consent holds is read from provision.period and written back', () => {
    const read = consentFromFhir(
      { ...consent, provision: { period: { start: '2026-01-10', end: '2026-07-10' } } },
      ctx,
    );
    expect(read.value?.period).toEqual({ start: '2026-01-10', end: '2026-07-10' });
    expect(consentToFhir(read.value!, ctx).provision?.period).toEqual({
      start: '2026-01-10',
      end: '2026-07-10',
    });
  });

  test('without scope: a warning; without patient or date: errors and no value, no throw', () => {
    const { scope: _scope, ...noScope } = consent;
    expect(consentFromFhir(noScope as Consent, ctx).issues.map((i) => [i.severity, i.expression])).toEqual([
      ['warning', 'Consent.scope'],
    ]);
    const { patient: _p, dateTime: _d, ...bare } = consent;
    const read = consentFromFhir(bare as Consent, ctx);
    expect(read.value).toBeUndefined();
    expect(read.issues.map((i) => i.expression)).toEqual(['Consent.patient', 'Consent.dateTime']);
  });
});
