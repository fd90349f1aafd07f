/**
 * CDS Hooks end to end against the HAPI sandbox: the prescriber's EHR (played by a CDS client in the
 * test, one that sends prefetch fetched from HAPI and one that sends none) asks kap-bridge at chart
 * opening and at ordering ketamine, for patients whose courses are built as the e2e suites build
 * them: the prescriber writing into HAPI, the therapist through the API. Every card kind is met, and
 * every answer is checked against the CDS Hooks models. The JWT is checked as the spec asks, each
 * failure with its status; nothing about a patient reaches the log.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import type { Bundle, MedicationRequest } from 'fhir/r4';
import { PARTNER_RULES, PARTNER_SAFETY_SUMMARY } from '../../src/cds/cards.js';
import { CDS_HOOKS_SCHEMAS, SCHEMA_BASE } from '../../src/cds/schema.js';
import { CDS_SERVICES } from '../../src/cds/services.js';
import { identifierSystem, SYSTEM } from '../../src/fhir/codes.js';
import { ehrIdentifierValue } from '../../src/fhir/ids.js';
import { createLogger } from '../../src/log.js';
import { CALLERS, kapFetch } from '../support/auth.js';
import {
  CDS_ISSUER,
  CdsClient,
  cdsClientKeys,
  type KeyPair,
  type SignOptions,
} from '../support/cds-client.js';
import {
  clearedPatient,
  courseSettings,
  type Json,
  outboxDelivered,
  post,
  preparedCourse,
  prepareEhr,
} from '../support/course.js';
import { fixture } from '../support/fixtures.js';
import { logCapture } from '../support/phi.js';
import { safetyFlags } from '../support/safety-flags.js';
import { sandboxBaseUrl, sandboxGateway, uniqueId } from '../support/sandbox.js';
import { startTestService, type TestService } from '../support/service.js';

const ehr = sandboxGateway();
const prescriber = uniqueId('e2e-cds-prescriber');
const dayFromToday = (n: number) => new Date(Date.now() + n * 86_400_000).toISOString().slice(0, 10);
const TODAY = dayFromToday(0);
/** After the clearance and before today: a flag the prescriber has not reviewed. */
const FLAGGED_AT = `${dayFromToday(-1)}T15:00:00Z`;

const ajv = new Ajv({ allErrors: true, strict: false });
for (const s of CDS_HOOKS_SCHEMAS) ajv.addSchema(s);
const fits = (model: string, value: unknown) => {
  const validate = ajv.getSchema(`${SCHEMA_BASE}${model}`)!;
  return validate(value) ? [] : validate.errors;
};

let dir: string;
let service: TestService;
let keys: KeyPair;
let rogue: KeyPair;
let plain: CdsClient;
let prefetching: CdsClient;
const log = logCapture();

const ketamineDraft = (patient: string): MedicationRequest => ({
  resourceType: 'MedicationRequest',
  id: 'draft-1',
  status: 'draft',
  intent: 'order',
  medicationCodeableConcept: { coding: [{ system: SYSTEM.rxnorm, code: '6130' }], text: 'ketamine' },
  subject: { reference: `Patient/${patient}` },
});
const sertralineDraft = (patient: string): MedicationRequest => ({
  ...fixture<MedicationRequest>('ehr/medicationrequest-sertraline.fhir.json'),
  id: 'draft-2',
  status: 'draft',
  subject: { reference: `Patient/${patient}` },
});
const context = (patient: string, orders: MedicationRequest[] = []) => ({
  userId: `Practitioner/${prescriber}`,
  patientId: patient,
  ...(orders.length
    ? {
        draftOrders: {
          resourceType: 'Bundle',
          type: 'collection',
          entry: orders.map((resource) => ({ resource })),
        },
      }
    : {}),
});

/** Calls a service as the client does and checks the answer against the models; the cards. */
async function cards(client: CdsClient, hook: string, patient: string, orders: MedicationRequest[] = []) {
  const service = CDS_SERVICES.find((s) => s.hook === hook)!;
  const res = await client.call(service.id, hook, {
    ...context(patient, orders),
    ...(hook === 'order-select' ? { selections: orders.map((o) => `MedicationRequest/${o.id}`) } : {}),
  });
  expect(res.status).toBe(200);
  expect(fits('ServiceResponse', res.body)).toEqual([]);
  return res.body.cards as Json[];
}
const kinds = (list: Json[]) => list.map((c) => c.source.topic.code).sort();

/**
 * A patient the prescriber cleared (in date), prescribed ketamine for and had dispensed, written
 * into HAPI, with the practice's care confirmed there; registered with the therapist API and, with
 * `course`, a course ready today. Returns the EHR Patient id.
 */
async function coursePatient(name: string, course = true): Promise<string> {
  const id = await clearedPatient(
    { ehr, service, prescriber, beforeRegister: () => service.syncNow(), clearedOn: dayFromToday(-20) },
    `cds-${name}`,
  );
  if (course) await preparedCourse(service, id, TODAY);
  return id;
}

/** The unsafe facts the prescriber's EHR can hold, each with the card it must give. */
const FLAGS = safetyFlags(FLAGGED_AT).map((f) => ({ kind: f.reason, write: f.write }));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kap-e2e-cds-'));
  await prepareEhr(ehr, [prescriber]);
  const client = await cdsClientKeys();
  keys = client.keys;
  rogue = (await cdsClientKeys()).keys;
  writeFileSync(join(dir, 'ehr-jwks.json'), JSON.stringify(client.jwks));
  service = await startTestService(
    {
      ...courseSettings(),
      KAP_CDS_ISSUERS: CDS_ISSUER,
      KAP_CDS_JWKS: join(dir, 'ehr-jwks.json'),
      LOG_LEVEL: 'debug',
    },
    { log: createLogger('debug', log.stream) },
  );
  await service.syncNow();
  plain = new CdsClient(service.url, keys.privateKey);
  prefetching = new CdsClient(service.url, keys.privateKey, sandboxBaseUrl());
}, 120_000);

afterAll(async () => {
  await service?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('discovery lists the three services with their prefetch, as the model says', async () => {
  const res = await plain.discover();
  expect(res.status).toBe(200);
  expect(fits('Discovery', res.body)).toEqual([]);
  expect(res.body.services.map((s: Json) => [s.hook, s.id])).toEqual(CDS_SERVICES.map((s) => [s.hook, s.id]));
  for (const s of res.body.services) expect(Object.keys(s.prefetch).length).toBeGreaterThan(0);
});

describe('cards, from courses built against HAPI', () => {
  let ready: string;
  let flagged: string;
  beforeAll(async () => {
    ready = await coursePatient('ready');
    flagged = await coursePatient('flagged');
    for (const flag of FLAGS) await ehr.create(flag.write(flagged));
    // An active order for a medicine that interacts with ketamine (an MAOI, by its ingredient name).
    await ehr.create({
      resourceType: 'MedicationRequest',
      status: 'active',
      intent: 'order',
      medicationCodeableConcept: { text: 'Phenelzine 15 mg tablet' },
      subject: { reference: `Patient/${flagged}` },
      authoredOn: FLAGGED_AT,
    } as MedicationRequest);
    await service.syncNow();
  }, 180_000);

  test('a course ready today: the sessions card, and "ready", both with or without prefetch', async () => {
    const status: Json = await (
      await kapFetch(`${service.url}/api/v1/patients/${ready}/medication-status?date=${TODAY}`)
    ).json();
    expect(status.verdict).toBe('ready');
    for (const client of [plain, prefetching]) {
      const got = await cards(client, 'patient-view', ready);
      expect(kinds(got)).toEqual(['ready', 'sessions']);
      const sessions = got.find((c) => c.source.topic.code === 'sessions');
      const rx = status.status.prescription;
      expect(sessions.summary).toBe(
        `Ketamine order: ${rx.dosesAdministered} of ${rx.dosesAuthorised} medicine sessions taken, ${rx.dosesRemaining} left`,
      );
      expect(sessions.source.label).toContain(rx.source);
      expect(sessions.links[0].url).toBe(`${service.url}/console#/course/${status.episodeId}`);
    }
  });

  test('open safety flags are critical cards citing their source, each suggesting a review Task', async () => {
    for (const client of [plain, prefetching]) {
      const got = await cards(client, 'patient-view', flagged);
      expect(kinds(got)).toEqual([...FLAGS.map((f) => f.kind), 'interacting-medication', 'sessions'].sort());
      for (const flag of FLAGS) {
        const card = got.find((c) => c.source.topic.code === flag.kind);
        expect(card.indicator).toBe('critical');
        expect(card.source.label).toMatch(/(Observation|Condition|AdverseEvent)\/[^/]+\/_history\/\d+$/);
        const task = card.suggestions[0].actions[0].resource;
        expect(task).toMatchObject({ resourceType: 'Task', for: { reference: `Patient/${flagged}` } });
        expect(card.source.label).toContain(task.focus.reference);
      }
      // Critical first.
      expect(got.slice(0, FLAGS.length).every((c) => c.indicator === 'critical')).toBe(true);
    }
  });

  test('consent missing, integration overdue, and the last medicine session: its report and its reading out of range', async () => {
    const patient = await coursePatient('unconsented', false);
    const episode = uniqueId('e2e-cds-ep');
    await post(service, '/episodes', {
      id: episode,
      type: 'individual',
      patients: [patient],
      start: dayFromToday(-14),
    });
    const hold = async (phase: string, day: string, readings: object[] = []) => {
      const s = await post(service, `/episodes/${episode}/sessions`, { phase, start: `${day}T10:00:00Z` });
      await post(service, `/sessions/${s.id}/start`, { time: `${day}T10:00:00Z` });
      for (const value of readings)
        await post(service, `/patients/${patient}/observations`, {
          value,
          effective: `${day}T10:40:00Z`,
          session: s.id,
        });
      await post(service, `/sessions/${s.id}/complete`, { time: `${day}T11:00:00Z` });
      return s.id as string;
    };
    await hold('preparation', dayFromToday(-5));
    const medicine = await hold('medicine', dayFromToday(-3), [
      { kind: 'heart-rate', perMinute: 130 },
      { kind: 'spo2', percent: 97 },
    ]);
    // Completing it wrote its report; the card cites the EHR's copy once delivered.
    await outboxDelivered(service);
    const got = await cards(plain, 'patient-view', patient);
    expect(kinds(got)).toEqual(
      expect.arrayContaining(['no-consent', 'no-integration-session', 'last-medicine-session']),
    );
    expect(kinds(got)).not.toContain('ready');
    // The last medicine session's report, and its reading out of range with its source.
    const last = got.find((c) => c.source.topic.code === 'last-medicine-session');
    expect(last).toMatchObject({
      indicator: 'warning',
      summary: `Last medicine session (${dayFromToday(-3)}), report written: 1 vital sign reading out of range`,
    });
    const [, reportId, version] = /^kap-bridge readiness: Bundle\/([^/]+)\/_history\/(\d+)$/.exec(
      last.source.label,
    )!;
    const report = await ehr.read<Bundle>('Bundle', reportId!);
    expect([report.type, report.meta?.versionId, report.identifier]).toEqual([
      'document',
      version,
      {
        system: identifierSystem('Bundle'),
        value: ehrIdentifierValue(CALLERS.therapist.tenant, `report-${medicine}`),
      },
    ]);
    expect(last.detail).toMatch(/- Session: `Encounter\/[^/]+\/_history\/\d+`/);
    expect(last.detail).toMatch(/heart rate 130\/min .*\(`Observation\/[^`]+`\)/);
    expect(last.links.map((l: Json) => l.url)).toEqual([
      `${service.url}/console#/session/${episode}/${medicine}`,
      `${service.url}/console#/course/${episode}`,
    ]);

    // A medicine session under way: the last one now, not completed and so with no report yet.
    const begun = new Date(Date.now() - 60_000).toISOString();
    const now = await post(service, `/episodes/${episode}/sessions`, { phase: 'medicine', start: begun });
    await post(service, `/sessions/${now.id}/start`, { time: begun });
    const under = (await cards(plain, 'patient-view', patient)).find(
      (c) => c.source.topic.code === 'last-medicine-session',
    );
    expect(under).toMatchObject({
      indicator: 'info',
      summary: `Last medicine session (${begun.slice(0, 10)}), not completed, no report yet: every vital sign reading within range`,
    });
    expect(under.source.label).toMatch(/^kap-bridge readiness: Encounter\/[^/]+\/_history\/\d+$/);
    expect(under.links[0].url).toBe(`${service.url}/console#/session/${episode}/${now.id}`);
  });

  test('ordering ketamine: the course cards at order-select and order-sign; other orders get none', async () => {
    for (const hook of ['order-select', 'order-sign']) {
      expect(kinds(await cards(plain, hook, flagged, [ketamineDraft(flagged)]))).toEqual(
        kinds(await cards(plain, 'patient-view', flagged)),
      );
      expect(await cards(plain, hook, flagged, [sertralineDraft(flagged)])).toEqual([]);
    }
  });

  test('ketamine ordered for a patient in no course kap-bridge knows', async () => {
    const stranger = uniqueId('e2e-cds-stranger');
    const got = await cards(plain, 'order-sign', stranger, [ketamineDraft(stranger)]);
    expect(got.map((c) => [c.source.topic.code, c.indicator])).toEqual([['no-course', 'warning']]);
    expect(await cards(plain, 'patient-view', stranger)).toEqual([]);
  });

  test('prefetch shows what the EHR holds that kap-bridge has not caught up with yet', async () => {
    const patient = await coursePatient('prefetched');
    await ehr.create(FLAGS[1]!.write(patient));
    // Not synchronised: the aligned record does not know it, the prefetch does.
    expect(kinds(await cards(plain, 'patient-view', patient))).toEqual(['ready', 'sessions']);
    expect(kinds(await cards(prefetching, 'patient-view', patient))).toEqual([
      'safety-cssrs-risk',
      'sessions',
    ]);
  });

  test("a couples course: the partner's open safety flag is a critical card of its own, showing no more of the partner", async () => {
    const [ana, tomas] = [await coursePatient('couple-a', false), await coursePatient('couple-b', false)] as [
      string,
      string,
    ];
    await preparedCourse(service, [ana, tomas], TODAY);
    for (const client of [plain, prefetching])
      expect(kinds(await cards(client, 'patient-view', ana))).toEqual(['ready', 'sessions']);
    const flag = await ehr.create(FLAGS[1]!.write(tomas));
    await service.syncNow();
    for (const client of [plain, prefetching]) {
      const got = await cards(client, 'patient-view', ana);
      expect(kinds(got)).toEqual(['partner-not-ready', 'sessions']);
      const card = got.find((c) => c.source.topic.code === 'partner-not-ready');
      expect(card).toMatchObject({
        indicator: 'critical',
        summary: PARTNER_SAFETY_SUMMARY,
        source: { label: 'kap-bridge readiness: the partner in the couples course' },
      });
      expect(card.detail).toContain(`- ${PARTNER_RULES.safety}`);
      // Neither the partner's ids nor the flagged resource nor its finding.
      for (const said of [tomas, flag.id!, 'C-SSRS']) expect(JSON.stringify(card)).not.toContain(said);
      expect(card.suggestions).toBeUndefined();
    }
    // The partner's own chart: the flag itself, as for anyone.
    expect(kinds(await cards(plain, 'patient-view', tomas))).toEqual(
      expect.arrayContaining(['safety-cssrs-risk']),
    );
  });

  test('nothing about a patient reaches the log', () => {
    const lines = log.lines().filter((l) => l.includes('cds'));
    expect(lines.length).toBeGreaterThan(0);
    for (const id of [ready, flagged]) expect(lines.filter((l) => l.includes(id))).toEqual([]);
  });
});

describe('the CDS client JWT', () => {
  const path = '/cds-services/kap-patient-view';
  const body = () => ({ hook: 'patient-view', hookInstance: uniqueId('hi'), context: context('ehr-nobody') });
  const call = async (token: string) => (await plain.send('POST', path, body(), token)).status;

  test('a good one is let in once; its replay is refused', async () => {
    const token = await plain.sign(path);
    expect(await call(token)).toBe(200);
    expect(await call(token)).toBe(401);
  });

  test.each<[string, () => SignOptions]>([
    ['signed with a key not in the JWK Set', () => ({ key: rogue.privateKey })],
    ['for another endpoint (aud)', () => ({ audience: `${service.url}/cds-services/kap-order-sign` })],
    ['expired', () => ({ expiresIn: -120 })],
    ['from an issuer not on the allow-list', () => ({ issuer: 'https://other-ehr.example' })],
    [
      'pointing at a JWK Set not on the allow-list (jku)',
      () => ({ header: { jku: 'https://evil.example/jwks' } }),
    ],
  ])('%s: 401', async (_name, change) => {
    const res = await plain.send('POST', path, body(), await plain.sign(path, change()));
    expect(res.status).toBe(401);
    expect(res.body.resourceType).toBe('OperationOutcome');
  });

  test('without a token: 401, on discovery too', async () => {
    for (const [method, at] of [
      ['GET', '/cds-services'],
      ['POST', path],
    ] as const) {
      const res = await fetch(`${service.url}${at}`, {
        method,
        headers: { 'content-type': 'application/json' },
        ...(method === 'POST' ? { body: JSON.stringify(body()) } : {}),
      });
      expect(res.status).toBe(401);
    }
  });
});

describe('requests that do not fit', () => {
  test.each([
    ['the wrong hook for the service', { hook: 'order-sign' }, 'hook'],
    ['no patient in the context', { context: { userId: `Practitioner/${prescriber}` } }, 'context.patientId'],
    ['another FHIR server', { fhirServer: 'https://other-ehr.example/fhir' }, 'fhirServer'],
    [
      'fhirAuthorization without fhirServer',
      {
        fhirAuthorization: {
          access_token: 't',
          token_type: 'Bearer',
          expires_in: 60,
          scope: 'user/*.rs',
          subject: 'kap',
        },
      },
      'fhirServer',
    ],
  ])('%s: 400 naming %s', async (_name, change, expression) => {
    const res = await plain.send('POST', '/cds-services/kap-patient-view', {
      hook: 'patient-view',
      hookInstance: uniqueId('hi'),
      context: context('ehr-nobody'),
      ...change,
    });
    expect({ status: res.status, expression: res.body.issue?.[0]?.expression }).toEqual({
      status: 400,
      expression: [expression],
    });
  });

  test('the configured EHR as fhirServer, with its token, is answered', async () => {
    const res = await plain.send('POST', '/cds-services/kap-patient-view', {
      hook: 'patient-view',
      hookInstance: uniqueId('hi'),
      context: context('ehr-nobody'),
      fhirServer: sandboxBaseUrl(),
      fhirAuthorization: {
        access_token: 't',
        token_type: 'Bearer',
        expires_in: 60,
        scope: 'user/*.rs',
        subject: 'kap',
      },
    });
    expect(res.status).toBe(200);
  });

  test('an unknown service: 404', async () => {
    const res = await plain.send('POST', '/cds-services/no-such-service', { hook: 'patient-view' });
    expect(res.status).toBe(404);
  });
});

describe('feedback', () => {
  const at = '/cds-services/kap-order-sign/feedback';
  test('accepted and overridden cards are taken', async () => {
    const res = await plain.send('POST', at, {
      feedback: [
        {
          card: uniqueId('card'),
          outcome: 'accepted',
          acceptedSuggestions: [{ id: uniqueId('s') }],
          outcomeTimestamp: '2026-12-03T10:05:31Z',
        },
        { card: uniqueId('card'), outcome: 'overridden', outcomeTimestamp: '2026-12-03T10:05:31Z' },
      ],
    });
    expect(res.status).toBe(200);
  });
  test('accepted without the suggestion: 400 naming it', async () => {
    const res = await plain.send('POST', at, {
      feedback: [{ card: 'c', outcome: 'accepted', outcomeTimestamp: '2026-12-03T10:05:31Z' }],
    });
    expect(res.status).toBe(400);
    expect(res.body.issue.map((i: Json) => i.expression[0])).toContain('feedback[0].acceptedSuggestions');
  });
});
