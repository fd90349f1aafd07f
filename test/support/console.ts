/// <reference lib="dom" />
/**
 * What the console suites share: headless Chromium (Debian's `chromium`, driven by puppeteer-core,
 * never a downloaded browser), a practice whose EHR data arrives by push to kap-bridge's /fhir (no
 * EHR server needed), axe-core run inside a page, and screenshots kept in test-output/console.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { MedicationDispense, MedicationRequest, Observation, Resource } from 'fhir/r4';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import type { Service } from '../../src/service.js';
import { bearer, CALLERS } from './auth.js';
import { careTeam } from './care.js';
import { type Json, post } from './course.js';
import { fixture } from './fixtures.js';
import { uniqueId } from './sandbox.js';
import { startTestService, type TestService } from './service.js';

export const SCREENSHOTS = join(process.cwd(), 'test-output', 'console');

/** The system's Chromium: KAP_CHROMIUM, else `chromium` on the PATH (.ci/run installs Debian's). */
export function chromiumPath(): string {
  if (process.env.KAP_CHROMIUM) return process.env.KAP_CHROMIUM;
  return execFileSync('sh', ['-c', 'command -v chromium || command -v chromium-browser'], {
    encoding: 'utf8',
  }).trim();
}

export const launchBrowser = (): Promise<Browser> =>
  puppeteer.launch({
    executablePath: chromiumPath(),
    headless: true,
    // Root in CI has no user namespace for Chromium's sandbox; the pages are our own. No name but
    // this machine's resolves: a page that asks for anything elsewhere (a web font) gets nothing.
    args: [
      '--no-sandbox',
      '--disable-dev-shm-usage',
      '--disable-gpu',
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost',
    ],
    protocolTimeout: 30_000,
  });

/** A console suite's service and browser, with the pages it opens on them. */
export interface ConsoleSuite {
  readonly service: TestService;
  readonly browser: Browser;
  /** A page of `width` px in a browser context of its own (openPage), signed in as `caller` when given. */
  page(options?: { width?: number; caller?: keyof typeof CALLERS }): Promise<{ page: Page; seen: string[] }>;
}

/**
 * A console suite's service (no EHR, no subscription) and browser, started before its tests and
 * closed after them; read them from the suite once its tests run.
 */
export function consoleSuite(): ConsoleSuite {
  let started: [TestService, Browser] | undefined;
  beforeAll(async () => {
    started = await Promise.all([startTestService({ KAP_SUBSCRIBE_ON_START: 'false' }), launchBrowser()]);
  }, 60_000);
  afterAll(async () => {
    await started?.[1].close();
    await started?.[0].close();
  });
  const up = (): [TestService, Browser] => {
    if (!started) throw new Error('The console suite is not started: read it inside a test');
    return started;
  };
  return {
    get service() {
      return up()[0];
    },
    get browser() {
      return up()[1];
    },
    async page({ width, caller } = {}) {
      const opened = await openPage(up()[1], width);
      if (caller) await signIn(opened.page, up()[0].url, caller);
      return opened;
    },
  };
}

/**
 * A page of `width` px in a browser context of its own (its own cookies), with every console
 * message and request address collected for the PHI check.
 */
export async function openPage(browser: Browser, width = 1280): Promise<{ page: Page; seen: string[] }> {
  const page = await (await browser.createBrowserContext()).newPage();
  await page.setViewport({ width, height: 900 });
  page.setDefaultTimeout(30_000);
  const seen: string[] = [];
  page.on('console', (m) => seen.push(m.text()));
  page.on('request', (r) => seen.push(r.url()));
  return { page, seen };
}

/** Signs in through the form with a token of CALLERS. */
export async function signIn(page: Page, url: string, caller: keyof typeof CALLERS): Promise<void> {
  await page.goto(`${url}/console`);
  await page.waitForSelector('#token');
  await page.type('#token', CALLERS[caller].token);
  await page.click('button[type=submit]');
  await page.waitForSelector('nav[aria-label="Pages"]');
}

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** axe-core's serious and critical violations on the page as it stands (rule id and how many nodes). */
export async function seriousViolations(page: Page): Promise<string[]> {
  // Evaluated through DevTools, so the page's CSP (no inline script) stays as it is.
  await page.evaluate(AXE);
  const result = (await page.evaluate(() =>
    (window as unknown as { axe: { run: (o: object) => Promise<unknown> } }).axe.run({
      resultTypes: ['violations'],
    }),
  )) as { violations: { id: string; impact: string; nodes: unknown[] }[] };
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.nodes.length})`);
}

export async function screenshot(page: Page, name: string, fullPage = true): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) as `${string}.png`, fullPage });
}

/** A day `n` days from today (UTC), as YYYY-MM-DD. */
export const dayFromNow = (n: number): string =>
  new Date(Date.now() + n * 86_400_000).toISOString().slice(0, 10);

/** The EHR writes to kap-bridge's /fhir as the EHR does. */
export async function push<T extends Resource & { id: string }>(
  service: Service,
  resource: T,
): Promise<void> {
  const res = await fetch(`${service.url}/fhir/${resource.resourceType}/${resource.id}`, {
    method: 'PUT',
    headers: { ...bearer('ehr'), 'content-type': 'application/fhir+json' },
    body: JSON.stringify(resource),
  });
  if (res.status >= 300) throw new Error(`PUT ${resource.resourceType}: ${res.status} ${await res.text()}`);
}

/**
 * A patient the prescriber cleared, prescribed for and dispensed to, pushed by the EHR, and
 * registered by practice A. Returns the patient id and the order, to change it later.
 */
export async function pushedPatient(
  service: Service,
  { register = true }: { register?: boolean } = {},
): Promise<{ patient: string; order: MedicationRequest & { id: string } }> {
  const patient = uniqueId('con');
  const subject = { reference: `Patient/${patient}` };
  const meta = (v = '1') => ({ versionId: v, lastUpdated: new Date().toISOString() });
  await push(service, {
    resourceType: 'Patient',
    id: patient,
    meta: meta(),
    identifier: [{ system: 'urn:mrn', value: patient }],
  } as Resource & { id: string });
  await push(service, { ...careTeam(patient), meta: meta() });
  const clearance = fixture<Observation>('prescriber/clearance-cleared.fhir.json');
  await push(service, {
    ...clearance,
    id: uniqueId('clr'),
    meta: { ...clearance.meta, ...meta() },
    subject,
    effectivePeriod: { start: dayFromNow(-20), end: dayFromNow(150) },
  } as Observation & { id: string });
  const rx = fixture<MedicationRequest>('prescriber/prescription-ketamine-troche.fhir.json');
  const order = {
    ...rx,
    id: uniqueId('rx'),
    meta: { ...rx.meta, ...meta() },
    subject,
    authoredOn: `${dayFromNow(-19)}T10:00:00Z`,
    dispenseRequest: {
      ...rx.dispenseRequest,
      validityPeriod: { start: dayFromNow(-19), end: dayFromNow(150) },
    },
  } as MedicationRequest & { id: string };
  await push(service, order);
  const dispense = fixture<MedicationDispense>('prescriber/dispense-troches.fhir.json');
  await push(service, {
    ...dispense,
    id: uniqueId('disp'),
    meta: { ...dispense.meta, ...meta() },
    subject,
    authorizingPrescription: [{ reference: `MedicationRequest/${order.id}` }],
    whenHandedOver: `${dayFromNow(-18)}T12:00:00Z`,
  } as MedicationDispense & { id: string });
  if (register)
    await post(service, '/patients', {
      id: patient,
      identifiers: [{ system: 'urn:mrn', value: patient }],
      ehrPatient: `Patient/${patient}`,
    });
  return { patient, order };
}

/**
 * A course for the patients with consent signed and a preparation session done yesterday, and a
 * medicine session scheduled `inDays` from now at 10:00 UTC. Returns the episode and session ids.
 */
export async function courseWithMedicineSession(
  service: Service,
  patients: string[],
  inDays = 1,
): Promise<{ episode: string; session: Json }> {
  const episode = uniqueId('con-ep');
  await post(service, '/episodes', {
    id: episode,
    type: patients.length === 2 ? 'couples' : 'individual',
    patients,
    start: dayFromNow(-14),
  });
  for (const p of patients)
    await post(service, `/episodes/${episode}/consents`, {
      patient: p,
      signedAt: `${dayFromNow(-10)}T09:00:00Z`,
      document: { url: 'https://therapist.example/agreements/kap.pdf', contentType: 'application/pdf' },
    });
  const prep = await post(service, `/episodes/${episode}/sessions`, {
    phase: 'preparation',
    start: `${dayFromNow(-1)}T10:00:00Z`,
  });
  await post(service, `/sessions/${prep.id}/start`, { time: `${dayFromNow(-1)}T10:00:00Z` });
  await post(service, `/sessions/${prep.id}/complete`, { time: `${dayFromNow(-1)}T11:00:00Z` });
  const session = await post(service, `/episodes/${episode}/sessions`, {
    phase: 'medicine',
    start: `${dayFromNow(inDays)}T10:00:00Z`,
  });
  return { episode, session };
}

/** Fills a form field as a person would (the input event the page listens to). */
export async function fill(page: Page, selector: string, value: string): Promise<void> {
  await page.waitForSelector(selector);
  const tag = await page.$eval(selector, (e) => e.tagName);
  if (tag === 'SELECT') {
    await page.select(selector, value);
    return;
  }
  await page.$eval(
    selector,
    (e, v) => {
      const input = e as HTMLInputElement;
      input.value = v as string;
      input.dispatchEvent(new Event('input', { bubbles: true }));
    },
    value,
  );
}

/**
 * Submits the form `id` with these field values and waits for its answer: what it recorded (the
 * source or id), or the refusal's text.
 */
export async function submitForm(
  page: Page,
  id: string,
  values: Record<string, string>,
  { navigates = false }: { navigates?: boolean } = {},
): Promise<{ recorded?: string; refused?: string }> {
  for (const [name, value] of Object.entries(values)) await fill(page, `#${id}-${name}`, value);
  const before = await page.$eval(`#${id}`, (f) => Number(f.getAttribute('data-answers')));
  await page.click(`#${id} button[type=submit]`);
  // A form whose success opens another page is gone once it has answered.
  if (navigates) return {};
  await page.waitForFunction(
    (formId, n) =>
      Number(document.getElementById(formId as string)?.getAttribute('data-answers')) > (n as number),
    {},
    id,
    before,
  );
  return page.$eval(`#${id}`, (f) => ({
    recorded: f.querySelector('.done code')?.textContent ?? undefined,
    refused: f.querySelector('[role=alert]')?.textContent ?? undefined,
  }));
}
