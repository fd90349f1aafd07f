/**
 * `npm run demo`: a whole couples KAP course (KARP) played against a real HAPI FHIR server.
 *
 * Two fictional partners, Ana and Tomás Ruiz, see a fictional relationship therapist (Miriam
 * Calloway, LMFT) and a fictional prescriber (Dr Tobias Okafor). The therapist's side goes
 * through kap-bridge's JSON API; the prescriber plays the EHR and writes straight into HAPI, and
 * kap-bridge hears of it through its REST-hook subscriptions. A readable timeline is printed as
 * it goes (demo/timeline.ts); at the end, the episode timeline from kap-bridge and a count of what
 * HAPI holds.
 *
 * A scenario on the end-to-end suites' pieces (test/support/): HAPI is KAP_FHIR_BASE_URL or the
 * local sandbox started as the test run starts it (sandbox/fhir-server.mjs), but LEFT RUNNING at
 * the end so the data can be looked at; kap-bridge is a course's service (`startCourseService`:
 * in this process, its subscriptions on, the test callers' static tokens), its store and log in
 * data/demo, stopped at the end; the therapist's calls are the suites' client (`get`, `post`), the
 * prescriber's writes go through the EHR gateway, and every wait is `eventually`.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Bundle, Resource } from 'fhir/r4';
import pino from 'pino';
import { type FhirServer, provideFhirServer } from '../sandbox/fhir-server.mjs';
import { identifierSystem } from '../src/fhir/codes.js';
import { ehrIdentifierValue } from '../src/fhir/ids.js';
import { createLogger } from '../src/log.js';
import { CALLERS } from '../test/support/auth.js';
import * as course from '../test/support/course.js';
import { type Json, outboxDelivered, startCourseService } from '../test/support/course.js';
import { fixture, ROOT } from '../test/support/fixtures.js';
import { eventually, sandboxGateway, subscriptionsOff, subscriptionsTo } from '../test/support/sandbox.js';
import type { TestService } from '../test/support/service.js';
import {
  countLines,
  dayOf,
  elapsed,
  episodeLines,
  event,
  heading,
  note,
  readinessLines,
  say,
  versioned,
} from './timeline.js';

/** Where kap-bridge's store and log are left: data/demo, or `--data DIR`. */
const DATA = resolve(
  parseArgs({ options: { data: { type: 'string' } } }).values.data ?? join(ROOT, 'data', 'demo'),
);
/** kap-bridge's SQLite store (`startTestService` keeps it as kap.db in its folder) and its log. */
const STORE = join(DATA, 'kap.db');
const LOG = join(DATA, 'kap-bridge.log');

/** The prescriber's EHR: HAPI, once KAP_FHIR_BASE_URL names it. */
let ehr: ReturnType<typeof sandboxGateway>;
/** kap-bridge, while it runs. */
let service: TestService | undefined;

const kap = (): TestService => {
  if (!service) throw new Error('kap-bridge is not running.');
  return service;
};
const post = (path: string, body: unknown = {}) => course.post(kap(), path, body);
const get = (path: string) => course.get(kap(), path);

/** What the practice wrote as `id`, as the EHR holds it (by kap-bridge's identifier `<practice>/<id>`), if it does. */
async function ownInEhr(type: Resource['resourceType'], id: string): Promise<Json> {
  const identifier = `${identifierSystem(type)}|${ehrIdentifierValue(CALLERS.therapist.tenant, id)}`;
  for await (const r of ehr.search(type, { identifier })) return r;
  return undefined;
}

/** kap-bridge on a fresh store in data/demo, logging there, its REST-hook Subscriptions active in HAPI. */
async function startKapBridge(): Promise<TestService> {
  for (const f of [STORE, `${STORE}-wal`, `${STORE}-shm`, LOG]) rmSync(f, { force: true });
  const log = createLogger('info', pino.destination({ dest: LOG, sync: true }));
  service = await startCourseService([], { subscribed: true, dir: DATA, log });
  return service;
}

/** kap-bridge goes away, and its Subscriptions with it, so HAPI does not keep calling a closed port. */
async function retireKapBridge(): Promise<void> {
  const running = service;
  service = undefined;
  if (!running) return;
  await running.close();
  await subscriptionsOff(ehr, `${running.url}/fhir`).catch(() => undefined);
}

// ---------------------------------------------------------------- the course

const run = Math.random().toString(36).slice(2, 7);
const MRN = 'https://ehr.lakeshore-psychiatry.example/identifier/mrn';
const CLIENT = 'https://therapy.willowbank-counselling.example/identifier/client';

interface Partner {
  name: string;
  given: string;
  family: string;
  gender: 'female' | 'male';
  birthDate: string;
  id: string;
  ehrId: string;
  mrn: string;
  client: string;
  doseMg: number;
  rxId: string;
}

const partner = (given: string, gender: Partner['gender'], birthDate: string, doseMg: number): Partner => {
  const key = given.toLowerCase().replace('á', 'a');
  return {
    name: `${given} Ruiz`,
    given,
    family: 'Ruiz',
    gender,
    birthDate,
    id: `demo-${key}-${run}`,
    ehrId: `ehr-${key}-${run}`,
    mrn: `MRN-${key.toUpperCase()}-${run}`,
    client: `C-${key}-${run}`,
    doseMg,
    rxId: `rx-${key}-${run}`,
  };
};
const ana = partner('Ana', 'female', '1987-04-12', 150);
const tomas = partner('Tomás', 'male', '1985-09-30', 100);
const couple = [ana, tomas];
const nameOf = (id: string) => couple.find((p) => p.id === id)?.given ?? id;

const therapist = {
  id: `th-calloway-${run}`,
  family: 'Calloway',
  given: 'Miriam',
  display: 'Miriam Calloway, LMFT',
};
const prescriber = {
  id: `pr-okafor-${run}`,
  family: 'Okafor',
  given: 'Tobias',
  display: 'Tobias Okafor, MD',
};

/** Course days, all in the past: the medicine session on the Thursday of last week. */
function courseDays() {
  const today = new Date(`${new Date().toISOString().slice(0, 10)}T00:00:00Z`);
  const back = ((today.getUTCDay() - 4 + 7) % 7) + 7;
  const thursday = new Date(today.getTime() - back * 86_400_000);
  const day = (offset: number) =>
    new Date(thursday.getTime() + offset * 86_400_000).toISOString().slice(0, 10);
  const month6 = new Date(thursday.getTime() + 182 * 86_400_000).toISOString().slice(0, 10);
  return {
    referral: day(-10),
    clearance: day(-8),
    consent: day(-7),
    preparation: day(-2),
    thursday: day(0),
    integration: day(2),
    nextThursday: day(14),
    validUntil: month6,
  };
}
const D = courseDays();
const at = (day: string, time: string) => `${day}T${time}:00Z`;
const THURSDAY_QUESTION = `"May Ana and Tomás dose on Thursday ${dayOf(D.thursday).replace(/^\w+,? /, '')}?"`;

async function askReadiness(asked: string, episode: string, date: string, question: string): Promise<Json> {
  const answer = await get(`/episodes/${episode}/readiness?date=${date}`);
  event(asked, 'therapist', question, `GET /api/v1/episodes/${episode}/readiness?date=${date}`);
  readinessLines(answer, nameOf);
  return answer;
}

/** The prescriber's clearance decision, written into the EHR. */
function clearance(p: Partner) {
  const { meta, ...obs } = fixture<Json>('prescriber/clearance-cleared.fhir.json');
  return {
    ...obs,
    id: `clr-${p.ehrId}`,
    meta: { profile: meta.profile },
    identifier: [
      { system: 'https://ehr.lakeshore-psychiatry.example/identifier/clearance', value: `clr-${p.ehrId}` },
    ],
    subject: { reference: `Patient/${p.ehrId}`, display: p.name },
    effectivePeriod: { start: D.clearance, end: D.validUntil },
    performer: [{ reference: `Practitioner/${prescriber.id}`, display: prescriber.display }],
  };
}

/** The prescriber's ketamine prescription: compounded sublingual troches, one dose per medicine session. */
function prescription(p: Partner) {
  const rx = fixture<Json>('prescriber/prescription-ketamine-troche.fhir.json');
  delete rx.meta.versionId;
  delete rx.meta.lastUpdated;
  const troches = p.doseMg / 50;
  return {
    ...rx,
    id: p.rxId,
    identifier: [{ system: 'https://ehr.lakeshore-psychiatry.example/identifier/rx', value: p.rxId }],
    subject: { reference: `Patient/${p.ehrId}`, display: p.name },
    authoredOn: at(D.clearance, '16:00'),
    requester: { reference: `Practitioner/${prescriber.id}`, display: prescriber.display },
    dosageInstruction: [
      {
        ...rx.dosageInstruction[0],
        text: `${p.doseMg} mg (${troches} troches) sublingually once per medicine session, under supervision.`,
        doseAndRate: [
          { doseQuantity: { value: p.doseMg, unit: 'mg', system: 'http://unitsofmeasure.org', code: 'mg' } },
        ],
      },
    ],
    dispenseRequest: {
      ...rx.dispenseRequest,
      validityPeriod: { start: D.clearance, end: D.validUntil },
      quantity: { ...rx.dispenseRequest.quantity, value: troches * 3 },
    },
  };
}

/** The pharmacy's dispense of the prescription: the patient brings the troches to the session. */
function dispense(p: Partner) {
  const d = fixture<Json>('prescriber/dispense-troches.fhir.json');
  delete d.meta;
  delete d.performer;
  return {
    ...d,
    id: `disp-${p.ehrId}`,
    identifier: [{ system: 'https://pharmacy.example/identifier/dispense', value: `disp-${p.ehrId}` }],
    subject: { reference: `Patient/${p.ehrId}`, display: p.name },
    authorizingPrescription: [{ reference: `MedicationRequest/${p.rxId}` }],
    quantity: { ...d.quantity, value: (p.doseMg / 50) * 3 },
    whenHandedOver: at(D.consent, '12:00'),
  };
}

async function playCourse(hapi: FhirServer): Promise<void> {
  heading('The EHR and kap-bridge');
  for (const pr of [therapist, prescriber]) {
    await ehr.update({
      resourceType: 'Practitioner',
      id: pr.id,
      name: [{ family: pr.family, given: [pr.given] }],
    });
  }
  for (const p of couple) {
    const created = await ehr.update({
      resourceType: 'Patient',
      id: p.ehrId,
      identifier: [
        { system: MRN, value: p.mrn },
        { system: CLIENT, value: p.client },
      ],
      name: [{ family: p.family, given: [p.given] }],
      gender: p.gender,
      birthDate: p.birthDate,
    });
    event(
      at(D.referral, '08:00'),
      'EHR',
      `${p.name} is a patient of the prescriber's practice`,
      versioned(created),
    );
  }
  const kb = await startKapBridge();
  event(undefined, 'kap-bridge', `serving at ${kb.url} (SQLite, log ${relative(ROOT, LOG)})`);
  const subs = await subscriptionsTo(ehr, `${kb.url}/fhir`);
  event(
    undefined,
    'kap-bridge',
    `${subs.length} REST-hook subscriptions active in HAPI, one per type kap-bridge takes in`,
  );

  heading('Referral');
  for (const p of couple) {
    const link = await post('/patients', {
      id: p.id,
      identifiers: [
        { system: MRN, value: p.mrn },
        { system: CLIENT, value: p.client },
      ],
    });
    if (!link.ehrPatient) throw new Error(`${p.name} was registered but not linked to the EHR Patient.`);
    event(
      at(D.referral, '09:00'),
      'therapist',
      `registers ${p.name} (MRN ${p.mrn}), linked by MRN`,
      link.ehrPatient,
    );
  }
  const episode = `ep-ruiz-karp-${run}`;
  const ep = await post('/episodes', {
    id: episode,
    type: 'couples',
    patients: couple.map((p) => p.id),
    intention: 'To hear each other again without the old defences.',
    start: D.referral,
    plannedSessions: { preparation: 1, medicine: 2, integration: 2 },
  });
  event(
    at(D.referral, '09:05'),
    'therapist',
    `opens a couples KARP course for Ana and Tomás`,
    ep.source ?? `EpisodeOfCare/${episode}`,
  );
  const tasks: Record<string, string> = {};
  for (const p of couple) {
    const ref = await post(`/patients/${p.id}/referrals`, {
      id: `ref-${p.ehrId}`,
      episode,
      requester: `Practitioner/${therapist.id}`,
      performer: `Practitioner/${prescriber.id}`,
      reason: 'Couples KAP course planned: medical clearance and ketamine prescription requested.',
      authoredOn: at(D.referral, '09:10'),
    });
    tasks[p.id] = ref.id;
    event(
      ref.authoredOn,
      'therapist',
      `asks Dr Okafor to clear ${p.given}`,
      `${ref.sources.serviceRequest} + ${ref.sources.task}`,
    );
  }
  await askReadiness(at(D.referral, '09:15'), episode, D.thursday, THURSDAY_QUESTION);

  heading('Clearance and prescriptions (the prescriber, in the EHR)');
  const drained = await outboxDelivered(kap());
  event(
    undefined,
    'kap-bridge',
    `outbox delivered the referrals to HAPI (${drained.delivered ?? 0} messages)`,
  );
  const heardFrom = Date.now();
  for (const p of couple) {
    const obs = await ehr.update(clearance(p));
    event(at(D.clearance, '15:30'), 'prescriber', `clears ${p.given} until ${D.validUntil}`, versioned(obs));
    const rx = await ehr.update(prescription(p));
    event(
      at(D.clearance, '16:00'),
      'prescriber',
      `prescribes ketamine ${p.doseMg} mg sublingual troche, 3 sessions`,
      versioned(rx),
    );
    const handed = await ehr.update(dispense(p));
    event(
      at(D.consent, '12:00'),
      'pharmacy',
      `hands ${p.given} ${(p.doseMg / 50) * 3} troches; they bring them to the medicine session`,
      versioned(handed),
    );
    // The prescriber closes the referral's Task with the decision as its output.
    const task = await ownInEhr('Task', tasks[p.id]!);
    if (!task) throw new Error(`The referral Task ${tasks[p.id]} is not in HAPI.`);
    const done = await ehr.update(
      {
        ...task,
        status: 'completed',
        lastModified: at(D.clearance, '15:30'),
        owner: { reference: `Practitioner/${prescriber.id}`, display: prescriber.display },
        output: [{ type: obs.code, valueReference: { reference: `Observation/${obs.id}` } }],
      },
      task.meta.versionId,
    );
    event(
      at(D.clearance, '15:31'),
      'prescriber',
      `closes ${p.given}'s referral, decision attached`,
      versioned(done),
    );
  }
  const statuses = await eventually(
    'kap-bridge to hear of both clearances and prescriptions (REST-hook notifications from HAPI)',
    async () => {
      const all = await Promise.all(
        couple.map((p) => get(`/patients/${p.id}/medication-status?date=${D.thursday}`)),
      );
      return all.every(
        (s) => s.status?.clearance?.result === 'cleared' && s.status?.prescription?.status === 'active',
      )
        ? all
        : undefined;
    },
    30_000,
  );

  event(
    undefined,
    'kap-bridge',
    `heard of both clearances and prescriptions ${((Date.now() - heardFrom) / 1000).toFixed(1)} s after the first write`,
  );
  for (const s of statuses) {
    const rx = s.status.prescription;
    note(
      `${nameOf(s.patientId)}: ${s.status.clearance.result} until ${s.status.clearance.validUntil}; ${rx.status}, ${rx.dosePerSession?.value} ${rx.dosePerSession?.unit} ${rx.route}, ${rx.dosesRemaining} doses left [${rx.source}]`,
    );
  }

  heading('Informed consent and preparation');
  for (const p of couple) {
    const c = await post(`/episodes/${episode}/consents`, {
      id: `cons-${p.ehrId}`,
      patient: p.id,
      signedAt: at(D.consent, '10:00'),
      document: {
        url: `https://therapy.willowbank-counselling.example/agreements/kap-informed-consent-${p.client}.pdf`,
        contentType: 'application/pdf',
        title: 'Informed consent agreement for ketamine-assisted psychotherapy',
      },
    });
    event(
      c.dateTime ?? at(D.consent, '10:00'),
      'therapist',
      `${p.given} signs the informed consent agreement`,
      c.source,
    );
  }
  await askReadiness(at(D.consent, '10:05'), episode, D.thursday, THURSDAY_QUESTION);

  const prep = await post(`/episodes/${episode}/sessions`, {
    id: `prep-${episode}`,
    phase: 'preparation',
    start: at(D.preparation, '17:00'),
    end: at(D.preparation, '18:00'),
    therapist: `Practitioner/${therapist.id}`,
  });
  event(
    prep.start ?? at(D.preparation, '17:00'),
    'therapist',
    'joint preparation session scheduled (1 h)',
    prep.source,
  );
  for (const s of prep.partners ?? []) note(`${nameOf(s.patientId)}'s part: ${s.source}`);
  await post(`/sessions/${prep.id}/start`, { time: at(D.preparation, '17:00') });
  for (const p of couple) {
    const baseline = p === ana ? [2, 2, 1, 2, 1, 1, 1, 1, 0] : [1, 2, 1, 2, 1, 1, 0, 1, 0];
    const total = baseline.reduce((a, b) => a + b, 0);
    const o = await post(`/patients/${p.id}/observations`, {
      value: { kind: 'phq9', total, items: baseline },
      effective: at(D.preparation, '17:10'),
      session: prep.id,
    });
    event(
      at(D.preparation, '17:10'),
      'therapist',
      `${p.given}: baseline PHQ-9 ${total} (item 9: 0)`,
      o.source,
    );
  }
  const prepDone = await post(`/sessions/${prep.id}/complete`, { time: at(D.preparation, '18:00') });
  event(
    at(D.preparation, '18:00'),
    'therapist',
    `preparation session ${prepDone.status}: intentions set, what to expect`,
    prepDone.source,
  );
  await askReadiness(at(D.preparation, '18:05'), episode, D.thursday, THURSDAY_QUESTION);

  heading('Medicine session (joint, 2.5 h)');
  const med = await post(`/episodes/${episode}/sessions`, {
    id: `med-${episode}`,
    phase: 'medicine',
    start: at(D.thursday, '10:00'),
    end: at(D.thursday, '12:30'),
    therapist: `Practitioner/${therapist.id}`,
  });
  await post(`/sessions/${med.id}/start`, { time: at(D.thursday, '10:00') });
  event(at(D.thursday, '10:00'), 'therapist', 'joint medicine session begins', med.source);
  const vitals = (p: Partner) => [
    { kind: 'blood-pressure', systolic: p === ana ? 118 : 128, diastolic: p === ana ? 76 : 82 },
    { kind: 'heart-rate', perMinute: p === ana ? 72 : 68 },
    { kind: 'spo2', percent: 98 },
    { kind: 'cssrs', risk: 'low' },
  ];
  for (const p of couple) {
    const sources: string[] = [];
    for (const value of vitals(p)) {
      const o = await post(`/patients/${p.id}/observations`, {
        value,
        effective: at(D.thursday, '10:05'),
        session: med.id,
      });
      sources.push(o.source);
    }
    const [bp, hr, spo2] = vitals(p) as Json[];
    event(
      at(D.thursday, '10:05'),
      'therapist',
      `${p.given} before dosing: BP ${bp.systolic}/${bp.diastolic}, HR ${hr.perMinute}, SpO2 ${spo2.percent}%, C-SSRS low`,
      `${sources.length} Observations`,
    );
  }
  for (const p of couple) {
    const d = await post(`/sessions/${med.id}/doses`, {
      id: `ma-${p.ehrId}-1`,
      patient: p.id,
      dose: { value: p.doseMg, unit: 'mg' },
      route: 'sublingual',
      time: at(D.thursday, '10:15'),
    });
    event(
      at(D.thursday, '10:15'),
      'therapist',
      `${p.given} takes ${p.doseMg} mg ketamine sublingually`,
      d.source,
    );
  }
  for (const p of couple) {
    const cadss = p === ana ? 24 : 17;
    const moaas = p === ana ? 4 : 5;
    const c = await post(`/patients/${p.id}/observations`, {
      value: { kind: 'dissociation', cadss },
      effective: at(D.thursday, '10:55'),
      session: med.id,
    });
    const m = await post(`/patients/${p.id}/observations`, {
      value: { kind: 'sedation', moaas },
      effective: at(D.thursday, '10:55'),
      session: med.id,
    });
    event(
      at(D.thursday, '10:55'),
      'therapist',
      `${p.given} at the peak: CADSS ${cadss}, MOAA/S ${moaas}`,
      `${c.source}, ${m.source}`,
    );
  }
  // The monitoring of the Spravato REMS pattern: vitals about 40 minutes after the dose and before discharge.
  const vitalsAt = async (p: Partner, time: string, moaas?: number) => {
    for (const value of [
      ...vitals(p).slice(0, 3),
      ...(moaas === undefined ? [] : [{ kind: 'sedation', moaas }]),
    ]) {
      await post(`/patients/${p.id}/observations`, {
        value,
        effective: at(D.thursday, time),
        session: med.id,
      });
    }
  };
  for (const p of couple) await vitalsAt(p, '10:56');
  const ae = await post(`/sessions/${med.id}/adverse-events`, {
    patient: ana.id,
    event: 'nausea',
    description: 'Nausea about 40 minutes after the dose',
    severity: 'mild',
    serious: false,
    onset: at(D.thursday, '10:58'),
    actionTaken: 'Ginger tea, a bowl at hand, reassurance',
    outcome: 'resolved',
  });
  event(
    at(D.thursday, '10:58'),
    'therapist',
    `${ana.given} feels sick for a while: a mild adverse event`,
    ae.source,
  );
  const midway = await get(
    `/sessions/${med.id}/monitoring?at=${encodeURIComponent(at(D.thursday, '11:30'))}`,
  );
  for (const m of midway.patients as Json[]) {
    const done = (m.points as Json[]).filter((x) => x.status === 'done').length;
    event(
      at(D.thursday, '11:30'),
      'therapist',
      `${nameOf(m.patientId)} monitoring: ${done} of ${m.points.length} points done, ${m.due.length} due, ${m.overdue.length} overdue, ${m.outOfRange.length} out of range; monitored until ${m.monitoredUntil}`,
      `GET /api/v1/sessions/${med.id}/monitoring`,
    );
  }
  for (const p of couple) await vitalsAt(p, '12:20', 5);
  const medDone = await post(`/sessions/${med.id}/complete`, {
    time: at(D.thursday, '12:30'),
    transport: 'Driven home by a friend; no driving until tomorrow',
  });
  event(
    at(D.thursday, '12:30'),
    'therapist',
    `medicine session ${medDone.status}: discharge criteria met (2 h monitored, vitals in range, MOAA/S 5); both went home accompanied`,
    medDone.source,
  );
  const reports: [Partner, Json][] = [];
  for (const p of couple) {
    const report = await get(`/sessions/${med.id}/report?patient=${p.id}`);
    reports.push([p, report]);
    event(
      at(D.thursday, '12:30'),
      'kap-bridge',
      `${p.given}'s session report for the prescriber to sign: a FHIR document of ${report.entry.length} entries`,
      `GET /api/v1/sessions/${med.id}/report?patient=${p.id}`,
    );
  }

  heading('Integration');
  const integ = await post(`/episodes/${episode}/sessions`, {
    id: `int-${episode}`,
    phase: 'integration',
    start: at(D.integration, '17:00'),
    end: at(D.integration, '18:00'),
    therapist: `Practitioner/${therapist.id}`,
  });
  await post(`/sessions/${integ.id}/start`, { time: at(D.integration, '17:00') });
  for (const p of couple) {
    // Tomás answers item 9 (thoughts of self-harm) with 2: more than half the days.
    const items = p === ana ? [1, 1, 1, 1, 0, 0, 1, 0, 0] : [1, 1, 0, 1, 0, 1, 0, 0, 2];
    const total = items.reduce((a, b) => a + b, 0);
    const o = await post(`/patients/${p.id}/observations`, {
      value: { kind: 'phq9', total, items },
      effective: at(D.integration, '17:10'),
      session: integ.id,
    });
    event(
      at(D.integration, '17:10'),
      'therapist',
      `${p.given}: PHQ-9 ${total} (items ${items.join(' ')})`,
      o.source,
    );
  }
  const intDone = await post(`/sessions/${integ.id}/complete`, { time: at(D.integration, '18:00') });
  event(at(D.integration, '18:00'), 'therapist', `integration session ${intDone.status}`, intDone.source);
  const delivered = await outboxDelivered(kap());
  event(
    undefined,
    'kap-bridge',
    `outbox: everything delivered to HAPI (${delivered.delivered} messages in all)`,
  );
  const reportsInHapi: Json[] = [];
  for (const [p, report] of reports) {
    const inHapi = await ownInEhr('Bundle', report.identifier.value);
    if (!inHapi) throw new Error(`${p.given}'s session report ${report.identifier.value} is not in HAPI.`);
    reportsInHapi.push(inHapi);
    note(`${p.given}'s session report in HAPI: ${hapi.baseUrl}/Bundle/${inHapi.id}`);
  }

  heading("A safety flag, and the prescriber's review");
  const nextQuestion = `"And for the next medicine session, ${dayOf(D.nextThursday)}?"`;
  const flagged = await askReadiness(new Date().toISOString(), episode, D.nextThursday, nextQuestion);
  if (!flagged.reasons.some((r: Json) => r.code === 'safety-phq9-item9' && r.patientId === tomas.id)) {
    throw new Error(
      `Expected Tomás's PHQ-9 item 9 to stop the next session; it said ${JSON.stringify(flagged.reasons)}.`,
    );
  }
  // The prescriber reviews the score once it has reached the EHR: now (a review dated before the
  // EHR held the score would not close its flag).
  const reviewedAt = new Date().toISOString();
  const review = await ehr.update({
    resourceType: 'ClinicalImpression',
    id: `review-${tomas.ehrId}`,
    meta: { profile: ['https://fhir.kap-bridge.org/StructureDefinition/kap-safety-review'] },
    identifier: [
      {
        system: 'https://ehr.lakeshore-psychiatry.example/identifier/review',
        value: `review-${tomas.ehrId}`,
      },
    ],
    status: 'completed',
    code: {
      coding: [{ system: 'https://fhir.kap-bridge.org/CodeSystem/kap-observation', code: 'safety-review' }],
    },
    subject: { reference: `Patient/${tomas.ehrId}`, display: tomas.name },
    effectiveDateTime: reviewedAt,
    date: reviewedAt,
    assessor: { reference: `Practitioner/${prescriber.id}`, display: prescriber.display },
    summary: 'Passive thoughts, no plan or intent; safety plan in place. Safe to continue the course.',
  });
  const reviewAt = Date.now();
  event(reviewedAt, 'prescriber', "reviews Tomás's PHQ-9: safe to continue", versioned(review));
  await eventually(
    "kap-bridge to hear of the prescriber's review (REST-hook notification from HAPI)",
    async () => {
      const s = await get(`/patients/${tomas.id}/medication-status?date=${D.nextThursday}`);
      return s.reasons?.some((r: Json) => r.code === 'safety-phq9-item9') ? undefined : s;
    },
  );
  event(
    undefined,
    'kap-bridge',
    `heard of the review after ${((Date.now() - reviewAt) / 1000).toFixed(1)} s`,
  );
  await askReadiness(new Date().toISOString(), episode, D.nextThursday, nextQuestion);

  heading('The prescriber puts a prescription on hold');
  const current = await ehr.read<Json>('MedicationRequest', tomas.rxId);
  const held = await ehr.update(
    { ...current, status: 'on-hold', statusReason: { text: 'Blood pressure to be reviewed' } },
    current.meta.versionId,
  );
  const holdAt = Date.now();
  event(
    new Date().toISOString(),
    'prescriber',
    `puts Tomás's prescription on hold (blood pressure to be reviewed)`,
    versioned(held),
  );
  await eventually('kap-bridge to hear of the hold (REST-hook notification from HAPI)', async () => {
    const s = await get(`/patients/${tomas.id}/medication-status?date=${D.nextThursday}`);
    return s.status?.prescription?.status === 'on-hold' ? s : undefined;
  });
  event(undefined, 'kap-bridge', `heard of the hold after ${((Date.now() - holdAt) / 1000).toFixed(1)} s`);
  const after = await askReadiness(new Date().toISOString(), episode, D.nextThursday, nextQuestion);
  const reason = after.reasons.find((r: Json) => r.code === 'prescription-not-active');
  if (!reason || reason.source !== versioned(held)) {
    throw new Error(
      `Expected the readiness to cite ${versioned(held)} for the hold; it said ${JSON.stringify(after.reasons)}.`,
    );
  }

  heading(`Episode timeline: GET /api/v1/episodes/${episode}?date=${D.nextThursday}`);
  episodeLines(await get(`/episodes/${episode}?date=${D.nextThursday}`), nameOf);

  heading('What HAPI holds for this course');
  const counts = new Map<string, Set<string>>();
  const count = (r: Resource) => {
    if (!counts.has(r.resourceType)) counts.set(r.resourceType, new Set());
    counts.get(r.resourceType)!.add(r.id!);
  };
  for (const p of couple) {
    const everything = await ehr.operation<Bundle>('Patient', '$everything', { _count: 500 }, p.ehrId);
    for (const e of everything.entry ?? []) count(e.resource!);
  }
  // The couple's own resources (the joint sessions, the care plan, the intention) have the Group as subject.
  for (const group of counts.get('Group') ?? []) {
    for (const type of ['Encounter', 'CarePlan', 'Goal'] as const) {
      for await (const r of ehr.search(type, { subject: `Group/${group}` })) count(r);
    }
  }
  for (const report of reportsInHapi) count(report);
  countLines(counts);
  say('  (Patient/$everything for both partners, what has their Group as subject, and the session reports)');

  await retireKapBridge();

  heading(`Done in ${elapsed()} s`);
  say(`HAPI FHIR:  ${hapi.baseUrl}  (e.g. ${hapi.baseUrl}/Patient/${ana.ehrId}/$everything)`);
  if (hapi.pid) {
    say(`            left running (pid ${hapi.pid}); stop it with: kill ${hapi.pid}`);
    say(`            run the demo again on it: KAP_FHIR_BASE_URL=${hapi.baseUrl} npm run demo`);
  }
  say(`kap-bridge: stopped; its SQLite store is ${relative(ROOT, STORE)}, its log ${relative(ROOT, LOG)}`);
}

// ---------------------------------------------------------------- main

/** KAP_FHIR_BASE_URL, or the local sandbox, started here and left running. */
async function startHapi(): Promise<FhirServer> {
  const external = process.env.KAP_FHIR_BASE_URL;
  if (external) say(`HAPI FHIR: ${external} (KAP_FHIR_BASE_URL)`);
  else {
    say('HAPI FHIR: starting the local sandbox');
    say('  it takes 30-60 s to start; the first time, building it with Maven takes a few minutes more');
  }
  const hapi = await provideFhirServer({
    leaveRunning: true,
    timeoutMs: 20 * 60_000,
    log: (msg) => say(`  ${msg}`),
  });
  if (hapi.pid) say(`  sandbox up at ${hapi.baseUrl} after ${elapsed()} s (pid ${hapi.pid})`);
  // The suites' EHR gateway and course service read it from here.
  process.env.KAP_FHIR_BASE_URL = hapi.baseUrl;
  ehr = sandboxGateway();
  return hapi;
}

async function main(): Promise<void> {
  mkdirSync(DATA, { recursive: true });
  let interrupted = false;
  process.once('SIGINT', () => {
    interrupted = true;
    // A sandbox still starting is stopped as this process ends (sandbox/sandbox.mjs).
    say(service ? '\nInterrupted: stopping kap-bridge.' : '\nInterrupted.');
    void retireKapBridge().finally(() => process.exit(130));
  });
  say('kap-bridge demo: a couples KAP course (Ana and Tomás Ruiz; therapist Miriam Calloway, LMFT;');
  say(
    'prescriber Tobias Okafor, MD; all fictional). Times: elapsed, course day, who, what -> FHIR resource.',
  );
  const hapi = await startHapi();
  try {
    await playCourse(hapi);
  } catch (e) {
    if (interrupted) return new Promise<void>(() => undefined); // the SIGINT handler exits
    const running = service !== undefined;
    await retireKapBridge();
    const log = running ? `\nkap-bridge log: ${relative(ROOT, LOG)}` : '';
    const left = hapi.pid
      ? `\nThe HAPI sandbox is left running at ${hapi.baseUrl} (stop it: kill ${hapi.pid}).`
      : '';
    throw new Error(`${(e as Error).message}${log}${left}`);
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`\ndemo failed: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
