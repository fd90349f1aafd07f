/**
 * End to end against the HAPI sandbox, with kap-bridge logging at debug: the prescriber pushes a
 * patient full of PHI, a clearance and a prescription (subscription and catch-up), the therapist
 * records a course, bad inputs carrying PHI are refused, the outbox delivers, reconcile runs. Not
 * one log line carries a name, a birth date, an address, a phone number, an identifier value or a
 * free-text note that was sent, and no refusal echoes a name or a birth date back.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Goal, MedicationDispense, MedicationRequest, Observation, Patient, Resource } from 'fhir/r4';
import { badRequest, statusOf } from '../../src/fhir/outcome.js';
import { createLogger } from '../../src/log.js';
import type { Service } from '../../src/service.js';
import { kapFetch } from '../support/auth.js';
import { careTeam } from '../support/care.js';
import { courseSettings, type Json, outboxDelivered, post, prepareEhr, VITALS } from '../support/course.js';
import { fixture } from '../support/fixtures.js';
import { linesWith, logCapture, phiOf } from '../support/phi.js';
import {
  eventually,
  sandboxGateway,
  subscriptionsActive,
  subscriptionsOff,
  uniqueId,
} from '../support/sandbox.js';
import { startTestService } from '../support/service.js';

const ehr = sandboxGateway();
const SECRET = 'e2e-phi-secret';
const DATE = '2026-12-03';
const log = logCapture();
/** Everything the test sent that carries PHI, walked for its PHI at the end. */
const sent: unknown[] = [];

let dir: string;
let service: Service;

const prescriber = uniqueId('e2e-phi-prescriber');
const therapist = uniqueId('e2e-phi-therapist');
const MRN_SYSTEM = 'https://ehr.lakeshore-psychiatry.example/identifier/mrn';

/** The fixture's patient (Maren Lindqvist) under a fresh id and MRN, and one of the test's own. */
const { meta: _m, ...fixturePatient } = fixture<Patient>('ehr/patient-mrn.fhir.json');
const token = uniqueId('x').slice(2);
const patients: (Patient & { id: string })[] = [
  {
    ...fixturePatient,
    id: uniqueId('e2e-phi-maren'),
    identifier: [
      { system: MRN_SYSTEM, value: uniqueId('MRN') },
      ...(fixturePatient.identifier ?? []).filter((i) => i.system !== MRN_SYSTEM),
    ],
  },
  {
    resourceType: 'Patient',
    id: uniqueId('e2e-phi-own'),
    identifier: [{ system: MRN_SYSTEM, value: uniqueId('MRN') }],
    name: [{ family: `Vantongeren${token}`, given: [`Ysolde${token}`, 'Philippa'] }],
    birthDate: '1979-11-23',
    gender: 'female',
    telecom: [
      { system: 'phone', value: '+1-555-0199-4417' },
      { system: 'email', value: `ysolde.${token}@mail.example` },
    ],
    address: [{ line: [`1187 Quarry Hollow Road ${token}`], city: 'Marblemount', postalCode: '98267-4410' }],
  },
];
const mrnOf = (p: Patient) => p.identifier![0]!;
const nameOf = (p: Patient) => `${p.name![0]!.given![0]} ${p.name![0]!.family}`;

/** A call whose body is PHI the test sent: kept for the scan. */
async function call(method: string, path: string, body: unknown, headers: Record<string, string> = {}) {
  sent.push(body);
  const res = await kapFetch(`${service.url}${path}`, {
    method,
    headers: { 'content-type': 'application/fhir+json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, text: await res.text() };
}
const record = (path: string, body: unknown): Promise<Json> => {
  sent.push(body);
  return post(service, path, body);
};
const ehrWrite = async <T extends Resource>(resource: T): Promise<T> => {
  sent.push(resource);
  return resource.id ? ehr.update(resource as T & { id: string }) : ehr.create(resource);
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kap-e2e-phi-'));
  await prepareEhr(ehr, [prescriber, therapist]);
  service = await startTestService(
    {
      ...courseSettings(),
      KAP_SUBSCRIPTION_SECRET: SECRET,
      KAP_SUBSCRIBE_ON_START: 'true',
      LOG_LEVEL: 'debug',
    },
    { dir, log: createLogger('debug', log.stream) },
  );
  await service.syncNow();
  await subscriptionsActive(ehr, `${service.url}/fhir`);
}, 180_000);

afterAll(async () => {
  await service?.close();
  await subscriptionsOff(ehr, `${service.url}/fhir`);
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

/** The fixtures' clearance and prescription for one patient, with free-text notes naming them. */
function prescriberWrites(p: Patient & { id: string }): Resource[] {
  const { meta: _c, ...clearance } = fixture<Observation>('prescriber/clearance-cleared.fhir.json');
  const { meta: _r, ...rx } = fixture<MedicationRequest>('prescriber/prescription-ketamine-troche.fhir.json');
  const {
    meta: _d,
    performer: _p,
    ...dispense
  } = fixture<MedicationDispense>('prescriber/dispense-troches.fhir.json');
  const rxId = uniqueId('e2e-phi-rx');
  return [
    {
      ...clearance,
      id: uniqueId('e2e-phi-clr'),
      identifier: [{ system: 'urn:ehr:clearance', value: uniqueId('clr') }],
      subject: { reference: `Patient/${p.id}` },
      performer: [{ reference: `Practitioner/${prescriber}` }],
      effectivePeriod: { start: '2026-11-20', end: '2027-05-20' },
      note: [
        ...(clearance.note ?? []),
        { text: `Seen with ${nameOf(p)}'s sister; cleared after the cardiology letter ${token}.` },
      ],
    } as Observation,
    {
      ...rx,
      id: rxId,
      identifier: [{ system: 'urn:ehr:rx', value: uniqueId('rxnum') }],
      subject: { reference: `Patient/${p.id}` },
      requester: { reference: `Practitioner/${prescriber}` },
      authoredOn: '2026-11-21',
      dispenseRequest: { ...rx.dispenseRequest, validityPeriod: { start: '2026-11-21', end: '2027-02-21' } },
      note: [{ text: `${nameOf(p)} prefers afternoon sessions ${token}.` }],
    } as MedicationRequest,
    {
      ...dispense,
      id: uniqueId('e2e-phi-disp'),
      identifier: [{ system: 'urn:ehr:dispense', value: uniqueId('dispnum') }],
      subject: { reference: `Patient/${p.id}` },
      authorizingPrescription: [{ reference: `MedicationRequest/${rxId}` }],
      whenHandedOver: '2026-11-22T12:00:00Z',
      note: [{ text: `Handed to ${nameOf(p)} in person ${token}.` }],
    } as MedicationDispense,
  ];
}

test('the prescriber pushes PHI, the therapist records a course, bad inputs are refused: no PHI in any log line or refusal', async () => {
  // The prescriber: the patients, their clearances and prescriptions, heard of by subscription.
  for (const p of patients) await ehrWrite(p);
  // The EHR's word that the practice cares for each patient.
  for (const p of patients) await ehr.update(careTeam(p.id!));
  for (const p of patients) for (const r of prescriberWrites(p)) await ehrWrite(r);
  for (const p of patients) {
    await record('/patients', { id: p.id, identifiers: [mrnOf(p)] });
    await eventually(
      `the clearance, prescription and dispense of ${p.id} to arrive`,
      async () => {
        const s: Json = await (
          await kapFetch(`${service.url}/api/v1/patients/${p.id}/medication-status?date=${DATE}`)
        ).json();
        return s.status?.clearance?.result === 'cleared' &&
          s.status?.prescription?.status === 'active' &&
          s.status?.dispense?.status === 'completed'
          ? s
          : undefined;
      },
      // By subscription, the care team's notification included: slower while other suites share HAPI.
      60_000,
    );
  }

  // The therapist: a course for the fixture patient, in the fixtures' own words.
  const goal = fixture<Goal>('individual-course/Goal-ep-lena-kap-2026.fhir.json');
  const mse = fixture<Observation>('individual-course/Observation-obs-lena-mse-prep1.fhir.json');
  const [maren, own] = patients as [Patient & { id: string }, Patient & { id: string }];
  const episode = uniqueId('e2e-phi-ep');
  await record('/episodes', {
    id: episode,
    type: 'couples',
    patients: [maren.id, own.id],
    intention: goal.description.text,
    start: '2026-11-25',
  });
  for (const p of patients) {
    await record(`/patients/${p.id}/referrals`, {
      episode,
      requester: `Practitioner/${therapist}`,
      performer: `Practitioner/${prescriber}`,
      reason: `${nameOf(p)} (born ${p.birthDate}) asks about KAP ${token}`,
    });
    await record(`/episodes/${episode}/consents`, {
      patient: p.id,
      signedAt: '2026-11-25T09:00:00Z',
      document: { url: 'https://therapist.example/agreements/kap.pdf', contentType: 'application/pdf' },
    });
  }
  const preparation = await record(`/episodes/${episode}/sessions`, {
    phase: 'preparation',
    start: '2026-12-01T10:00:00Z',
  });
  await record(`/sessions/${preparation.id}/start`, { time: '2026-12-01T10:00:00Z' });
  await record(`/sessions/${preparation.id}/complete`, { time: '2026-12-01T11:00:00Z' });
  const session = await record(`/episodes/${episode}/sessions`, {
    phase: 'medicine',
    start: '2026-12-03T10:00:00Z',
  });
  await record(`/sessions/${session.id}/start`, { time: '2026-12-03T10:00:00Z' });
  for (const p of patients) {
    await record(`/patients/${p.id}/observations`, {
      value: { kind: 'mental-status', findings: `${mse.valueString} Partner ${nameOf(p)} present.` },
      effective: '2026-12-03T10:05:00Z',
      session: session.id,
    });
    for (const value of VITALS) {
      await record(`/patients/${p.id}/observations`, {
        value,
        effective: '2026-12-03T10:06:00Z',
        session: session.id,
      });
    }
  }
  for (const p of patients) {
    await record(`/sessions/${session.id}/doses`, {
      patient: p.id,
      dose: { value: 150, unit: 'mg' },
      time: '2026-12-03T10:20:00Z',
    });
  }
  for (const p of patients) {
    for (const [time, value] of [
      ...VITALS.map((v) => ['11:00', v] as const),
      ['11:00', { kind: 'dissociation', cadss: 12 }],
      ['11:00', { kind: 'sedation', moaas: 4 }],
      ...VITALS.map((v) => ['12:15', v] as const),
      ['12:15', { kind: 'sedation', moaas: 5 }],
    ] as const) {
      await record(`/patients/${p.id}/observations`, {
        value,
        effective: `2026-12-03T${time}:00Z`,
        session: session.id,
      });
    }
  }
  await record(`/sessions/${session.id}/complete`, {
    time: '2026-12-03T12:30:00Z',
    transport: 'Driven home by a friend',
  });

  // Bad inputs carrying PHI, each malformed (a field not taken, a value its schema or R4 refuses, JSON
  // that breaks): each refused as a bad request that does not echo the name or the birth date.
  const echoes = [maren, own].flatMap((p) => [p.name![0]!.family!, ...p.name![0]!.given!, p.birthDate!]);
  const bad = [
    // The therapist API: fields it does not take, values that break its schema.
    call('POST', '/api/v1/patients', {
      identifiers: [mrnOf(own)],
      name: nameOf(own),
      birthDate: own.birthDate,
    }),
    call('POST', '/api/v1/patients', {
      identifiers: [{ system: MRN_SYSTEM, value: `${nameOf(own)} ${'x'.repeat(200)}` }],
    }),
    call('POST', `/api/v1/patients/${own.id}/observations`, {
      value: { kind: 'mental-status', findings: `${nameOf(own)} ${own.birthDate}`, mood: nameOf(own) },
      effective: own.birthDate,
    }),
    call('POST', `/api/v1/patients/${own.id}/referrals`, { reason: nameOf(own), requester: nameOf(own) }),
    call('POST', '/api/v1/episodes', { type: 'individual', patients: [nameOf(own)], intention: nameOf(own) }),
    call(
      'POST',
      '/api/v1/patients',
      `{"identifiers": [{"system": "${MRN_SYSTEM}", "value": "${nameOf(own)}"}`,
    ),
    // The EHR's endpoint: a Patient that is not valid R4, an Observation missing its status.
    call(
      'PUT',
      `/fhir/Patient/${own.id}`,
      {
        ...own,
        birthDate: `${own.birthDate}T25:99`,
        gender: nameOf(own),
        name: [{ family: own.name![0]!.family, given: nameOf(own) }],
      },
      { 'x-kap-subscription-secret': SECRET },
    ),
    call(
      'PUT',
      `/fhir/Patient/${maren.id}`,
      { ...maren, name: [{ family: 42, given: maren.name![0]!.given }], telecom: 'none' },
      { 'x-kap-subscription-secret': SECRET },
    ),
    call('POST', '/fhir/Observation', {
      ...(prescriberWrites(own)[0] as Observation),
      status: undefined,
      valueString: `${nameOf(own)} born ${own.birthDate}`,
    }),
  ];
  for (const answer of await Promise.all(bad)) {
    expect(answer.status).toBe(statusOf(badRequest('')));
    expect(JSON.parse(answer.text).resourceType).toBe('OperationOutcome');
    expect({ answer: answer.text, echoes: linesWith([answer.text], echoes) }).toEqual({
      answer: answer.text,
      echoes: [],
    });
  }

  // The outbox delivers the course; a catch-up brings the EHR's copies; reconcile compares both.
  await outboxDelivered(service);
  const report = await service.syncNow();
  expect(report?.fetched).toBeGreaterThan(0);
  for (const p of patients) {
    const res = await kapFetch(`${service.url}/api/v1/patients/${p.id}/reconcile`);
    expect(res.status).toBe(200);
  }
  // A prescriber's change heard by subscription after all of that.
  const rx = prescriberWrites(own)[1] as MedicationRequest;
  await ehrWrite({
    ...rx,
    status: 'on-hold',
    statusReason: { text: `${nameOf(own)} reported palpitations` },
  });
  await eventually(
    'the hold to arrive',
    async () => ((await service.store.getResource('MedicationRequest', rx.id!)) ? true : undefined),
    15_000,
  );

  // The scan: every line, every PHI string the test sent.
  const lines = log.lines();
  const phi = phiOf(...sent);
  // Not vacuous: the log holds the requests and the catch-up, the PHI list what the test sent.
  expect(lines.filter((l) => l.includes('"msg":"request"')).length).toBeGreaterThan(30);
  expect(lines.some((l) => l.includes('"msg":"catch-up done"'))).toBe(true);
  for (const p of patients) {
    expect(phi).toEqual(expect.arrayContaining([p.name![0]!.family, p.birthDate, mrnOf(p).value]));
  }
  expect(phi).toContain(goal.description.text);
  expect(phi.some((p) => p.startsWith(mse.valueString!))).toBe(true);
  expect(linesWith(lines, phi).slice(0, 5)).toEqual([]);
}, 300_000);
