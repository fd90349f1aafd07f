/// <reference lib="dom" />
/**
 * A medicine session walked through the console's forms in headless Chromium: reached from the
 * course, the day-of checks showing what is missing, started, a dose refused with its reasons, the
 * pre-dose readings, the dose, the 40-minute readings with the timers the server answered, discharge
 * refused with every unmet criterion and then completed with an override; axe-core at 1280 and 390
 * px, and nothing about the patient in an address or storage.
 */
import { randomUUID } from 'node:crypto';
import type { Page } from 'puppeteer-core';
import {
  consoleSuite,
  courseWithMedicineSession,
  pushedPatient,
  screenshot,
  seriousViolations,
  submitForm,
} from '../support/console.js';
import { post } from '../support/course.js';

const suite = consoleSuite();

/**
 * A patient pushed by the EHR, registered under an id of the practice's own: the medical record
 * number is what must not leave the page. Returns the id and the record number.
 */
async function registered(): Promise<[string, string]> {
  const { patient: mrn } = await pushedPatient(suite.service, { register: false });
  const patient = randomUUID();
  await post(suite.service, '/patients', {
    id: patient,
    identifiers: [{ system: 'urn:mrn', value: mrn }],
    ehrPatient: `Patient/${mrn}`,
  });
  return [patient, mrn];
}

/** An instant `minutes` after `start`, to the second, in UTC. */
const after = (start: number, minutes: number) =>
  `${new Date(start + minutes * 60_000).toISOString().slice(0, 19)}Z`;

const text = (page: Page, selector: string) => page.$eval(selector, (e) => e.textContent ?? '');

test('a medicine session through the forms: a dose refused with its reasons, monitoring, discharge refused then completed', async () => {
  const [patient, mrn] = await registered();
  const { episode } = await courseWithMedicineSession(suite.service, [patient]);
  // Today's medicine session began two and a half hours ago, so the monitoring time is over.
  const began = Math.floor((Date.now() - 150 * 60_000) / 60_000) * 60_000;
  const session = await post(suite.service, `/episodes/${episode}/sessions`, {
    phase: 'medicine',
    start: after(began, 0),
  });
  const { page, seen } = await suite.page({ caller: 'therapist' });

  // Reached from This week (the tomorrow's session of the course) and from the course page.
  await page.waitForSelector(`li.card[data-episode="${episode}"] a.open-session`);
  await page.goto(`${suite.service.url}/console#/course/${episode}`);
  const open = `a.open-session[href="#/session/${episode}/${session.id}"]`;
  await page.waitForSelector(open);
  await page.click(open);
  await page.waitForSelector('#start');
  expect(page.url()).toBe(`${suite.service.url}/console#/session/${episode}/${session.id}`);

  // The day-of checks: the pre-dose blood pressure is missing, and the readiness says so.
  await page.waitForFunction(() =>
    document.getElementById('day-of-title')?.textContent?.includes('Pending day-of checks'),
  );
  expect(await text(page, '.partner .checks')).toContain('Missing: Blood pressure');
  expect(await text(page, '.partner')).toContain('predose-blood-pressure');
  expect(await seriousViolations(page)).toEqual([]);

  await submitForm(page, 'start', { time: after(began, 0) }, { navigates: true });
  await page.waitForFunction(() => document.getElementById('session-status')?.textContent === 'in-progress');

  // A dose before the pre-dose readings is refused, with the reason and its code.
  const refused = await submitForm(page, 'dose-0', { mg: '150', time: after(began, 5) });
  expect(refused.recorded).toBeUndefined();
  expect(refused.refused).toContain('predose-missing');

  expect(
    (await submitForm(page, 'readings-0', { bp: '122/78', hr: '72', spo2: '98', effective: after(began, 6) }))
      .recorded,
  ).toMatch(/^Observation\//);
  expect((await submitForm(page, 'dose-0', { mg: '150', time: after(began, 10) })).recorded).toMatch(
    /^MedicationAdministration\//,
  );
  // The 40-minute reading was due by 50 minutes after the dose; the server says it is overdue.
  await page.waitForSelector('.monitoring .overdue');
  expect(await text(page, '.monitoring .overdue')).toContain('about 40 minutes after the dose');
  // Taken within the pre-dose window before the dose, the pre-dose readings now count.
  await page.waitForFunction(() =>
    document.querySelector('.partner .checks')?.textContent?.includes('Recorded: Blood pressure'),
  );
  // The timers are the server's: the end of monitoring two hours after the first dose.
  await page.waitForFunction(() =>
    document.querySelector('.monitoring')?.textContent?.includes('Monitoring ends'),
  );
  expect(await text(page, '.monitoring')).toContain('min ago');

  expect(
    (
      await submitForm(page, 'readings-0', {
        bp: '126/80',
        hr: '76',
        spo2: '97',
        moaas: '4',
        cadss: '12',
        effective: after(began, 50),
      })
    ).recorded,
  ).toMatch(/^Observation\//);
  expect(
    (await submitForm(page, 'adverse-0', { event: 'nausea', onset: after(began, 40), outcome: 'resolved' }))
      .recorded,
  ).toMatch(/^AdverseEvent\//);

  // Discharge without transport, before the pre-discharge readings: refused, every criterion listed.
  const discharge = await submitForm(page, 'discharge', { time: after(began, 145) });
  expect(discharge.recorded).toBeUndefined();
  const unmet = await page.$$eval('#discharge .refusals li', (items) =>
    items.map((i) => i.textContent ?? ''),
  );
  expect(unmet.length).toBeGreaterThan(1);
  expect(unmet.join(' ')).toContain('transport');
  expect(await seriousViolations(page)).toEqual([]);
  await screenshot(page, 'medicine-session');
  await page.evaluate(() => window.scrollTo(0, 0));
  await screenshot(page, 'medicine-session-top', false);

  await submitForm(
    page,
    'discharge',
    { transport: 'Partner drives', override: 'Alert and steady; the prescriber agreed by phone.' },
    { navigates: true },
  );
  await page.waitForFunction(() => document.getElementById('session-status')?.textContent === 'finished');
  // Completed, the session's report is shown, its sections read from the FHIR document.
  await page.waitForSelector('.report h4');
  expect(await text(page, '.report')).toContain('Session report');

  await page.setViewport({ width: 390, height: 844 });
  expect(await seriousViolations(page)).toEqual([]);
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
  await screenshot(page, 'medicine-session-390');
  // Nothing names the patient in an address: neither the record number nor the practice's own id.
  expect(seen.filter((s) => s.includes(mrn) || s.includes(patient))).toEqual([]);
  expect(page.url()).not.toContain(mrn);
  expect(await page.evaluate(() => [localStorage.length, sessionStorage.length])).toEqual([0, 0]);
  await page.close();
}, 120_000);

test("a couple's medicine session has a column per partner, and one partner's refusal is theirs alone", async () => {
  const [[ana, anaMrn], [tomas, tomasMrn]] = await Promise.all([registered(), registered()]);
  const { episode, session } = await courseWithMedicineSession(suite.service, [ana, tomas]);
  const { page, seen } = await suite.page({ caller: 'therapist' });
  const open = `li.card[data-episode="${episode}"] a.open-session`;
  await page.waitForSelector(open);
  await page.click(open);
  await page.waitForSelector('#dose-1');
  expect(page.url()).toBe(`${suite.service.url}/console#/session/${episode}/${session.id}`);
  expect(await page.$$eval('.partner h2', (hs) => hs.map((h) => h.textContent))).toEqual([ana, tomas]);
  // Each column lists its own missing pre-dose readings.
  for (const column of await page.$$('.partner'))
    expect(await column.$eval('.checks', (e) => e.textContent)).toContain('Missing: Blood pressure');

  // A dose for the second partner before the session is started is refused in their column only.
  const refused = await submitForm(page, 'dose-1', {
    mg: '150',
    time: `${session.start.slice(0, 10)}T09:00:00Z`,
  });
  expect(refused.recorded).toBeUndefined();
  expect(refused.refused).toContain('in progress');
  expect(await page.$('#dose-0 [role=alert]')).toBeNull();
  expect(await seriousViolations(page)).toEqual([]);
  await page.setViewport({ width: 390, height: 844 });
  expect(await seriousViolations(page)).toEqual([]);
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
  await screenshot(page, 'medicine-session-couple-390');

  // Completed (an override for what was not recorded), each partner's column shows their own report.
  const start = session.start as string;
  await post(suite.service, `/sessions/${session.id}/start`, { time: start });
  await post(suite.service, `/sessions/${session.id}/complete`, {
    time: after(Date.parse(start), 130),
    override: 'Monitored throughout; the readings were kept on paper.',
  });
  await page.reload();
  await page.waitForFunction(() =>
    [...document.querySelectorAll('.partner')].every((p) => p.querySelector('.report h4')),
  );
  expect(await page.$$eval('.partner .report [role=alert]', (es) => es.length)).toBe(0);
  const names = [ana, tomas, anaMrn, tomasMrn];
  expect(seen.filter((s) => names.some((n) => s.includes(n)))).toEqual([]);
  await page.close();
}, 120_000);
