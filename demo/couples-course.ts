/**
 * `npm run demo`: a whole couples KAP course (KARP) played against a real HAPI FHIR server.
 *
 * Two fictional partners, Ana and Tomás Ruiz, see a fictional relationship therapist (Miriam
 * Calloway, LMFT) and a fictional prescriber (Dr Tobias Okafor). The therapist's side goes
 * through kap-bridge's JSON API; the prescriber plays the EHR and writes straight into HAPI, and
 * kap-bridge hears of it through its REST-hook subscriptions. A readable timeline is printed as
 * it goes; at the end, the episode timeline from kap-bridge and a count of what HAPI holds.
 *
 * HAPI: KAP_FHIR_BASE_URL, or the local sandbox started here (`node sandbox/run.mjs`, detached)
 * and LEFT RUNNING at the end so the data can be looked at. kap-bridge: `kap-bridge serve` in a
 * child process on its embedded defaults (SQLite under data/demo, subscriptions on, a shared
 * secret), stopped at the end.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The practice the demo's therapist system acts for. */
const PRACTICE = 'demo-practice';

// biome-ignore lint/suspicious/noExplicitAny: the demo reads JSON answers field by field, as a client would
type Json = any;

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DATA = join(ROOT, 'data', 'demo');
const SECRET = 'kap-demo-shared-secret';
const STARTED = Date.now();

/** A failure the demo explains in one message (no stack trace). */
class DemoError extends Error {}

// ---------------------------------------------------------------- printing

const clock = (): string => {
  const s = (Date.now() - STARTED) / 1000;
  return `${String(Math.floor(s / 60)).padStart(2, ' ')}:${(s % 60).toFixed(1).padStart(4, '0')}`;
};
const say = (text = '') => process.stdout.write(`${text}\n`);
const heading = (text: string) => say(`\n== ${text}`);
const DAY_FMT = new Intl.DateTimeFormat('en-GB', {
  weekday: 'short',
  day: '2-digit',
  month: 'short',
  timeZone: 'UTC',
});
const dayOf = (iso: string): string => DAY_FMT.format(new Date(iso));
/** A course time as `Thu 19 Nov 10:15` (UTC); blank for what happens in the replay itself. */
const whenOf = (iso?: string): string => (iso ? `${dayOf(iso)} ${iso.slice(11, 16)}` : '');
/** One timeline line: wall clock, course day, who, what, and the FHIR resource it is kept as. */
function event(at: string | undefined, who: string, what: string, resource?: string): void {
  say(`${clock()}  ${whenOf(at).padEnd(16)} ${who.padEnd(10)} ${what}${resource ? `  -> ${resource}` : ''}`);
}
const note = (text: string) => say(`${' '.repeat(37)}${text}`);

// ---------------------------------------------------------------- HTTP

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function http(
  url: string,
  init: RequestInit & { timeoutMs?: number } = {},
): Promise<{ status: number; body: Json; headers: Headers }> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, signal: AbortSignal.timeout(init.timeoutMs ?? 30_000) });
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message;
    throw new DemoError(`${init.method ?? 'GET'} ${url} failed: ${cause}`);
  }
  const text = await res.text();
  let body: Json = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body, headers: res.headers };
}

const brief = (body: Json): string => {
  if (body?.resourceType === 'OperationOutcome') {
    return (body.issue ?? []).map((i: Json) => i.diagnostics ?? i.details?.text ?? i.code).join('; ');
  }
  return JSON.stringify(body).slice(0, 400);
};

/** Polls until `check` returns a value, or fails with a message saying what did not happen. */
async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new DemoError(`Timed out after ${timeoutMs / 1000} s waiting for ${what}.`);
    await sleep(250);
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

const tail = (file: string, lines = 25): string => {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
};

// ---------------------------------------------------------------- HAPI (the prescriber's EHR)

let fhirBase = '';

async function fhir(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await http(/^https?:/.test(path) ? path : `${fhirBase}/${path}`, {
    method,
    headers: {
      accept: 'application/fhir+json',
      'cache-control': 'no-cache',
      ...(body === undefined ? {} : { 'content-type': 'application/fhir+json' }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    timeoutMs: 60_000,
  });
  if (res.status >= 300) throw new DemoError(`HAPI ${method} ${path}: HTTP ${res.status} ${brief(res.body)}`);
  return res.body;
}
const versioned = (r: Json): string => `${r.resourceType}/${r.id}/_history/${r.meta?.versionId}`;

interface Sandbox {
  url: string;
  /** The pid of `node sandbox/run.mjs` when this script started it. */
  pid?: number;
  log?: string;
}

/** The sandbox this script is starting, until it is up: an interrupt stops it rather than leave it half started. */
let startingSandbox: ChildProcess | undefined;

/** KAP_FHIR_BASE_URL, or the local sandbox started in its own process group and left running. */
async function ensureHapi(): Promise<Sandbox> {
  const external = process.env.KAP_FHIR_BASE_URL?.replace(/\/+$/, '');
  if (external) {
    say(`HAPI FHIR: ${external} (KAP_FHIR_BASE_URL)`);
    await waitFor(`${external}/metadata to answer (is the server running?)`, 30_000, async () => {
      const r = await http(`${external}/metadata`, { timeoutMs: 10_000 }).catch(() => undefined);
      return r?.status === 200 ? true : undefined;
    });
    return { url: external };
  }
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/fhir`;
  const log = join(DATA, 'sandbox.log');
  say(`HAPI FHIR: starting the local sandbox at ${url} (its output in ${relative(ROOT, log)})`);
  say('  it takes 30-60 s to start; the first time, building it with Maven takes a few minutes more');
  const fd = openSync(log, 'w');
  const child = spawn(process.execPath, [join(ROOT, 'sandbox', 'run.mjs'), '--port', String(port)], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  child.unref();
  startingSandbox = child;
  const started = Date.now();
  let told = Date.now();
  await waitFor('the HAPI sandbox to start', 20 * 60_000, async () => {
    if (exited) {
      throw new DemoError(`The HAPI sandbox did not start. Last lines of ${log}:\n${tail(log)}`);
    }
    const r = await http(`${url}/metadata`, { timeoutMs: 10_000 }).catch(() => undefined);
    if (r?.status === 200) return true;
    if (Date.now() - told > 20_000) {
      told = Date.now();
      say(`  still waiting for the sandbox (${Math.round((Date.now() - started) / 1000)} s)`);
    }
    return undefined;
  });
  startingSandbox = undefined;
  say(`  sandbox up after ${Math.round((Date.now() - started) / 1000)} s (pid ${child.pid})`);
  return { url, pid: child.pid!, log };
}

// ---------------------------------------------------------------- kap-bridge

interface KapBridge {
  url: string;
  log: string;
  child: ChildProcess;
}

/** The demo's therapist system's and operator's tokens, new for every run. */
const THERAPIST_TOKEN = randomBytes(24).toString('base64url');
const OPERATOR_TOKEN = randomBytes(24).toString('base64url');

async function startKapBridge(): Promise<KapBridge> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const sqlite = join(DATA, 'kap-bridge.db');
  for (const f of [sqlite, `${sqlite}-wal`, `${sqlite}-shm`]) rmSync(f, { force: true });
  const log = join(DATA, 'kap-bridge.log');
  const fd = openSync(log, 'w');
  // Embedded defaults: nothing from the caller's KAP_* or DATABASE_URL, only what the demo needs.
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith('KAP_') && k !== 'DATABASE_URL' && k !== 'PORT' && k !== 'HOST') {
      env[k] = v;
    }
  }
  // One practice without an identity provider: a static token for the demo's therapist system.
  const tokens = join(DATA, 'tokens.json');
  const sha256 = (token: string) => createHash('sha256').update(token).digest('hex');
  writeFileSync(
    tokens,
    JSON.stringify({
      tokens: [
        {
          sha256: sha256(THERAPIST_TOKEN),
          client: 'demo-therapy',
          kind: 'therapist',
          tenant: PRACTICE,
          scope: 'user/*.cruds',
        },
        {
          sha256: sha256(OPERATOR_TOKEN),
          client: 'demo-operator',
          kind: 'operator',
          scope: 'system/AuditEvent.rs',
        },
      ],
    }),
  );
  Object.assign(env, {
    KAP_AUTH_MODE: 'static',
    KAP_AUTH_STATIC_TOKENS_FILE: tokens,
    HOST: '127.0.0.1',
    PORT: String(port),
    KAP_SQLITE_FILE: sqlite,
    KAP_EHR_BASE_URL: fhirBase,
    KAP_SUBSCRIPTION_SECRET: SECRET,
    LOG_LEVEL: 'info',
  });
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts'), 'serve'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  kapBridge = { url, log, child };
  await waitFor(`kap-bridge to answer ${url}/healthz`, 60_000, async () => {
    if (exited) throw new DemoError(`kap-bridge stopped at start. Last lines of ${log}:\n${tail(log)}`);
    const r = await http(`${url}/healthz`, { timeoutMs: 5_000 }).catch(() => undefined);
    return r?.status === 200 ? true : undefined;
  });
  return kapBridge;
}

let kapBridge: KapBridge | undefined;

async function stopKapBridge(): Promise<void> {
  const child = kapBridge?.child;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await gone;
  clearTimeout(timer);
}

async function api(method: 'GET' | 'POST', path: string, body?: unknown): Promise<Json> {
  const res = await http(`${kapBridge!.url}/api/v1${path}`, {
    method,
    headers: {
      authorization: `Bearer ${THERAPIST_TOKEN}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (res.status >= 300)
    throw new DemoError(`kap-bridge ${method} /api/v1${path}: HTTP ${res.status} ${brief(res.body)}`);
  return res.body;
}
const post = (path: string, body: unknown = {}) => api('POST', path, body);
const get = (path: string) => api('GET', path);

async function outboxDepth(): Promise<Record<string, number>> {
  const res = await http(`${kapBridge!.url}/metrics`, {
    headers: { authorization: `Bearer ${OPERATOR_TOKEN}` },
  });
  if (res.status !== 200) throw new DemoError(`kap-bridge /metrics: HTTP ${res.status} ${brief(res.body)}`);
  const depth: Record<string, number> = {};
  for (const m of String(res.body).matchAll(/^kap_outbox_messages\{status="(\w+)"\} (\d+)/gm)) {
    depth[m[1]!] = Number(m[2]);
  }
  return depth;
}

/** Waits until the outbox has delivered everything to HAPI; fails on the first dead message. */
async function outboxDrained(timeoutMs = 60_000): Promise<Record<string, number>> {
  return waitFor('the outbox to deliver everything to HAPI', timeoutMs, async () => {
    const d = await outboxDepth();
    if ((d.dead ?? 0) > 0) {
      throw new DemoError(
        `${d.dead} outbox message(s) could not be delivered to HAPI: see \`KAP_SQLITE_FILE=${relative(ROOT, join(DATA, 'kap-bridge.db'))} npx kap-bridge outbox list --status dead\``,
      );
    }
    return (d.pending ?? 0) + (d.delivering ?? 0) === 0 ? d : undefined;
  });
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

function readinessLines(answer: Json): void {
  if (answer.ready) {
    note(`READY: both partners may dose on ${dayOf(answer.date)}`);
    return;
  }
  note(
    answer.verdict === 'pending-day-of-checks'
      ? `READY BUT FOR THE DAY-OF CHECKS on ${dayOf(answer.date)}:`
      : `NOT YET for ${dayOf(answer.date)}:`,
  );
  for (const r of answer.reasons) {
    note(`- ${nameOf(r.patientId)}: ${r.message}${r.source ? ` [${r.source}]` : ''}`);
  }
}

async function askReadiness(asked: string, episode: string, date: string, question: string): Promise<Json> {
  const answer = await get(`/episodes/${episode}/readiness?date=${date}`);
  event(asked, 'therapist', question, `GET /api/v1/episodes/${episode}/readiness?date=${date}`);
  readinessLines(answer);
  return answer;
}

async function ourSubscriptions(): Promise<Json[]> {
  const bundle = await fhir(
    'GET',
    `Subscription?url=${encodeURIComponent(`${kapBridge!.url}/fhir`)}&_count=100`,
  );
  return (bundle.entry ?? []).map((e: Json) => e.resource);
}

/** The prescriber's clearance decision, written into the EHR. */
const clearance = (p: Partner) => ({
  resourceType: 'Observation',
  id: `clr-${p.ehrId}`,
  meta: { profile: ['https://fhir.kap-bridge.org/StructureDefinition/kap-clearance'] },
  identifier: [
    { system: 'https://ehr.lakeshore-psychiatry.example/identifier/clearance', value: `clr-${p.ehrId}` },
  ],
  status: 'final',
  code: {
    coding: [
      {
        system: 'https://fhir.kap-bridge.org/CodeSystem/kap-observation',
        code: 'clearance-decision',
        display: 'Medical clearance decision for KAP',
      },
    ],
    text: 'KAP medical clearance',
  },
  subject: { reference: `Patient/${p.ehrId}`, display: p.name },
  effectivePeriod: { start: D.clearance, end: D.validUntil },
  performer: [{ reference: `Practitioner/${prescriber.id}`, display: prescriber.display }],
  valueCodeableConcept: {
    coding: [
      {
        system: 'https://fhir.kap-bridge.org/CodeSystem/kap-clearance-result',
        code: 'cleared',
        display: 'Cleared',
      },
    ],
  },
  note: [
    { text: 'Medical history, medication review and mental status examination done. No contraindication.' },
  ],
});

/** The prescriber's ketamine prescription: compounded sublingual troches, one dose per medicine session. */
function prescription(p: Partner) {
  const rx = JSON.parse(
    readFileSync(join(ROOT, 'fixtures', 'prescriber', 'prescription-ketamine-troche.fhir.json'), 'utf8'),
  ) as Json;
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
  const d = JSON.parse(
    readFileSync(join(ROOT, 'fixtures', 'prescriber', 'dispense-troches.fhir.json'), 'utf8'),
  ) as Json;
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

async function playCourse(sandbox: Sandbox): Promise<void> {
  heading('The EHR and kap-bridge');
  for (const pr of [therapist, prescriber]) {
    await fhir('PUT', `Practitioner/${pr.id}`, {
      resourceType: 'Practitioner',
      id: pr.id,
      name: [{ family: pr.family, given: [pr.given] }],
    });
  }
  for (const p of couple) {
    const created = await fhir('PUT', `Patient/${p.ehrId}`, {
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
  event(undefined, 'kap-bridge', `serving at ${kb.url} (SQLite, log ${relative(ROOT, kb.log)})`);
  const subs = await waitFor(
    "kap-bridge's REST-hook Subscriptions to become active in HAPI",
    60_000,
    async () => {
      const found = await ourSubscriptions();
      return found.length > 0 && found.every((s) => s.status === 'active') ? found : undefined;
    },
  );
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
    if (!link.ehrPatient) throw new DemoError(`${p.name} was registered but not linked to the EHR Patient.`);
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
  const drained = await outboxDrained();
  event(
    undefined,
    'kap-bridge',
    `outbox delivered the referrals to HAPI (${drained.delivered ?? 0} messages)`,
  );
  const heardFrom = Date.now();
  for (const p of couple) {
    const obs = await fhir('PUT', `Observation/clr-${p.ehrId}`, clearance(p));
    event(at(D.clearance, '15:30'), 'prescriber', `clears ${p.given} until ${D.validUntil}`, versioned(obs));
    const rx = await fhir('PUT', `MedicationRequest/${p.rxId}`, prescription(p));
    event(
      at(D.clearance, '16:00'),
      'prescriber',
      `prescribes ketamine ${p.doseMg} mg sublingual troche, 3 sessions`,
      versioned(rx),
    );
    const handed = await fhir('PUT', `MedicationDispense/disp-${p.ehrId}`, dispense(p));
    event(
      at(D.consent, '12:00'),
      'pharmacy',
      `hands ${p.given} ${(p.doseMg / 50) * 3} troches; they bring them to the medicine session`,
      versioned(handed),
    );
    // The prescriber closes the referral's Task with the decision as its output.
    const found = await fhir(
      'GET',
      // kap-bridge's identifier on what a practice writes: `<practice>/<id>`.
      `Task?identifier=${encodeURIComponent(`https://fhir.kap-bridge.org/identifier/Task|${PRACTICE}/${tasks[p.id]}`)}`,
    );
    const task = found.entry?.[0]?.resource;
    if (!task) throw new DemoError(`The referral Task ${tasks[p.id]} is not in HAPI.`);
    const done = await fhir(
      'PUT',
      `Task/${task.id}`,
      {
        ...task,
        status: 'completed',
        lastModified: at(D.clearance, '15:30'),
        owner: { reference: `Practitioner/${prescriber.id}`, display: prescriber.display },
        output: [
          {
            type: {
              coding: [
                {
                  system: 'https://fhir.kap-bridge.org/CodeSystem/kap-observation',
                  code: 'clearance-decision',
                  display: 'Medical clearance decision for KAP',
                },
              ],
            },
            valueReference: { reference: `Observation/${obs.id}` },
          },
        ],
      },
      { 'if-match': `W/"${task.meta.versionId}"` },
    );
    event(
      at(D.clearance, '15:31'),
      'prescriber',
      `closes ${p.given}'s referral, decision attached`,
      versioned(done),
    );
  }
  const statuses = await waitFor(
    'kap-bridge to hear of both clearances and prescriptions (REST-hook notifications from HAPI)',
    30_000,
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
  const delivered = await outboxDrained();
  event(
    undefined,
    'kap-bridge',
    `outbox: everything delivered to HAPI (${delivered.delivered ?? 0} messages in all)`,
  );

  heading("A safety flag, and the prescriber's review");
  const nextQuestion = `"And for the next medicine session, ${dayOf(D.nextThursday)}?"`;
  const flagged = await askReadiness(new Date().toISOString(), episode, D.nextThursday, nextQuestion);
  if (!flagged.reasons.some((r: Json) => r.code === 'safety-phq9-item9' && r.patientId === tomas.id)) {
    throw new DemoError(
      `Expected Tomás's PHQ-9 item 9 to stop the next session; it said ${JSON.stringify(flagged.reasons)}.`,
    );
  }
  const review = await fhir('PUT', `ClinicalImpression/review-${tomas.ehrId}`, {
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
    effectiveDateTime: at(D.integration, '19:30'),
    date: at(D.integration, '19:30'),
    assessor: { reference: `Practitioner/${prescriber.id}`, display: prescriber.display },
    summary: 'Passive thoughts, no plan or intent; safety plan in place. Safe to continue the course.',
  });
  const reviewAt = Date.now();
  event(
    at(D.integration, '19:30'),
    'prescriber',
    "reviews Tomás's PHQ-9: safe to continue",
    versioned(review),
  );
  await waitFor(
    "kap-bridge to hear of the prescriber's review (REST-hook notification from HAPI)",
    30_000,
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
  const current = await fhir('GET', `MedicationRequest/${tomas.rxId}`);
  const held = await fhir(
    'PUT',
    `MedicationRequest/${tomas.rxId}`,
    { ...current, status: 'on-hold', statusReason: { text: 'Blood pressure to be reviewed' } },
    { 'if-match': `W/"${current.meta.versionId}"` },
  );
  const holdAt = Date.now();
  event(
    new Date().toISOString(),
    'prescriber',
    `puts Tomás's prescription on hold (blood pressure to be reviewed)`,
    versioned(held),
  );
  await waitFor('kap-bridge to hear of the hold (REST-hook notification from HAPI)', 30_000, async () => {
    const s = await get(`/patients/${tomas.id}/medication-status?date=${D.nextThursday}`);
    return s.status?.prescription?.status === 'on-hold' ? s : undefined;
  });
  event(undefined, 'kap-bridge', `heard of the hold after ${((Date.now() - holdAt) / 1000).toFixed(1)} s`);
  const after = await askReadiness(new Date().toISOString(), episode, D.nextThursday, nextQuestion);
  const reason = after.reasons.find((r: Json) => r.code === 'prescription-not-active');
  if (!reason || reason.source !== versioned(held)) {
    throw new DemoError(
      `Expected the readiness to cite ${versioned(held)} for the hold; it said ${JSON.stringify(after.reasons)}.`,
    );
  }

  heading(`Episode timeline: GET /api/v1/episodes/${episode}?date=${D.nextThursday}`);
  const tl = await get(`/episodes/${episode}?date=${D.nextThursday}`);
  say(
    `${tl.type} course ${tl.id} (${tl.status}) for ${tl.patients.map(nameOf).join(' and ')}  [${tl.source}]`,
  );
  for (const c of tl.consents) say(`  consent    ${nameOf(c.patientId)} signed ${c.dateTime}  [${c.source}]`);
  for (const ph of tl.phases) {
    say(`  ${ph.phase.padEnd(11)}${ph.sessions.length} of ${ph.planned} planned`);
    for (const s of ph.sessions) {
      say(`    ${s.status} ${s.start ?? ''}  [${s.source}]`);
      for (const part of s.partners ?? []) say(`      ${nameOf(part.patientId).padEnd(6)} [${part.source}]`);
    }
  }
  for (const d of tl.doses) {
    say(
      `  dose       ${nameOf(d.patientId).padEnd(6)} ${d.dose?.value} ${d.dose?.unit} ${d.route ?? ''} ${d.administeredAt ?? ''}  [${d.source}]`,
    );
  }
  for (const o of tl.observations) {
    const v = { ...o.value };
    const kind = v.kind;
    delete v.kind;
    say(
      `  ${String(kind).padEnd(15)}${nameOf(o.patientId).padEnd(6)} ${JSON.stringify(v)} ${o.effective ?? ''}  [${o.source}]`,
    );
  }
  say(`  readiness on ${tl.readiness.date}: ${tl.readiness.ready ? 'ready' : 'not ready'}`);
  for (const r of tl.readiness.reasons)
    say(`    - ${nameOf(r.patientId)}: ${r.code}${r.source ? ` [${r.source}]` : ''}`);

  heading('What HAPI holds for this course');
  const counts = new Map<string, Set<string>>();
  const tally = async (first: string) => {
    let url: string | undefined = first;
    while (url) {
      const page: Json = await fhir('GET', url);
      for (const e of page.entry ?? []) {
        const r = e.resource;
        if (!counts.has(r.resourceType)) counts.set(r.resourceType, new Set());
        counts.get(r.resourceType)!.add(r.id);
      }
      url = page.link?.find((l: Json) => l.relation === 'next')?.url;
    }
  };
  for (const p of couple) await tally(`Patient/${p.ehrId}/$everything?_count=500`);
  // The couple's own resources (the joint sessions, the care plan, the intention) have the Group as subject.
  for (const group of counts.get('Group') ?? []) {
    for (const type of ['Encounter', 'CarePlan', 'Goal'])
      await tally(`${type}?subject=Group/${group}&_count=500`);
  }
  for (const [t, ids] of [...counts].sort(([a], [b]) => a.localeCompare(b)))
    say(`  ${t.padEnd(26)}${ids.size}`);
  const total = [...counts.values()].reduce((n, ids) => n + ids.size, 0);
  say(`  ${'in all'.padEnd(26)}${total}`);
  say(`  (Patient/$everything for both partners, and what has their Group as subject)`);

  await retireKapBridge();

  heading(`Done in ${Math.round((Date.now() - STARTED) / 1000)} s`);
  say(`HAPI FHIR:  ${sandbox.url}  (e.g. ${sandbox.url}/Patient/${ana.ehrId}/$everything)`);
  if (sandbox.pid) {
    say(`            left running (pid ${sandbox.pid}); stop it with: kill ${sandbox.pid}`);
    say(`            run the demo again on it: KAP_FHIR_BASE_URL=${sandbox.url} npm run demo`);
  }
  say(
    `kap-bridge: stopped; its SQLite store is ${relative(ROOT, join(DATA, 'kap-bridge.db'))}, its log ${relative(ROOT, kapBridge!.log)}`,
  );
}

// ---------------------------------------------------------------- main

/** kap-bridge goes away: its subscriptions off first (best effort), so HAPI does not keep calling a closed port. */
async function retireKapBridge(): Promise<void> {
  if (!kapBridge) return;
  if (fhirBase) {
    try {
      for (const s of await ourSubscriptions())
        await fhir('PUT', `Subscription/${s.id}`, { ...s, status: 'off' });
    } catch {
      // HAPI may be what failed; nothing more to do
    }
  }
  await stopKapBridge();
}

async function main(): Promise<void> {
  mkdirSync(DATA, { recursive: true });
  let interrupted = false;
  process.once('SIGINT', () => {
    interrupted = true;
    if (startingSandbox) {
      say('\nInterrupted: stopping the HAPI sandbox that was starting.');
      startingSandbox.kill('SIGTERM');
      process.exit(130);
    }
    say('\nInterrupted: stopping kap-bridge.');
    void retireKapBridge().then(() => process.exit(130));
  });
  say('kap-bridge demo: a couples KAP course (Ana and Tomás Ruiz; therapist Miriam Calloway, LMFT;');
  say(
    'prescriber Tobias Okafor, MD; all fictional). Times: elapsed, course day, who, what -> FHIR resource.',
  );
  const sandbox = await ensureHapi();
  fhirBase = sandbox.url;
  try {
    await playCourse(sandbox);
  } catch (e) {
    if (interrupted) return new Promise<void>(() => undefined); // the SIGINT handler exits
    await retireKapBridge();
    const log = kapBridge ? `\nkap-bridge log: ${relative(ROOT, kapBridge.log)}` : '';
    const left = sandbox.pid
      ? `\nThe HAPI sandbox is left running at ${sandbox.url} (stop it: kill ${sandbox.pid}).`
      : '';
    throw new DemoError(`${(e as Error).message}${log}${left}`);
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`\ndemo failed: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
