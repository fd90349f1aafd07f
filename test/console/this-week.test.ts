/// <reference lib="dom" />
/**
 * The console in headless Chromium: sign-in with a token, This week with each course's verdict and
 * reasons, the verdict changing live when the EHR puts the order on hold, sign-out, axe-core on
 * each page at 1280 and 390 px, and nothing about a patient in the address, storage or console.
 */
import { CALLERS } from '../support/auth.js';
import {
  consoleSuite,
  courseWithMedicineSession,
  push,
  pushedPatient,
  screenshot,
  seriousViolations,
} from '../support/console.js';

const suite = consoleSuite();

test('This week shows each coming medicine session with its verdict, and a hold from the EHR turns it live', async () => {
  const { patient, order } = await pushedPatient(suite.service);
  const { episode } = await courseWithMedicineSession(suite.service, [patient]);
  const { page, seen } = await suite.page({ caller: 'therapist' });

  const card = `li.card[data-episode="${episode}"]`;
  await page.waitForSelector(card);
  // Ready but for the pre-dose blood pressure, taken on the day itself.
  expect(await page.$eval(`${card} .verdict`, (e) => e.textContent)).toBe('Pending day-of checks');
  expect(await page.$eval(card, (e) => e.textContent)).toContain('predose-blood-pressure');
  expect(await seriousViolations(page)).toEqual([]);
  await screenshot(page, 'this-week');

  await push(suite.service, {
    ...order,
    status: 'on-hold',
    meta: { versionId: '2', lastUpdated: new Date().toISOString() },
  });
  await page.waitForFunction(
    (sel) => document.querySelector(`${sel} .verdict`)?.textContent === 'Not ready',
    { timeout: 20_000 },
    card,
  );
  const reasons = await page.$eval(card, (e) => e.textContent ?? '');
  expect(reasons).toContain('prescription-not-active');
  expect(reasons).toContain(`MedicationRequest/${order.id}/_history/2`);

  // Nothing about the patient leaves the page: not in an address, not in storage.
  expect(seen.filter((s) => s.includes(patient))).toEqual([]);
  expect(await page.evaluate(() => [localStorage.length, sessionStorage.length, document.cookie])).toEqual([
    0,
    0,
    '',
  ]);
  expect(page.url()).not.toContain(patient);

  await page.setViewport({ width: 390, height: 844 });
  expect(await seriousViolations(page)).toEqual([]);
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
  await screenshot(page, 'this-week-390');

  await page.click('header button');
  await page.waitForSelector('#token');
  // Signed out: the old session no longer opens the page.
  await page.reload();
  await page.waitForSelector('#token');
  await page.close();
}, 60_000);

test('sign-in refuses an unknown token and the EHR, and the form has no serious accessibility fault', async () => {
  const { page } = await suite.page();
  await page.goto(`${suite.service.url}/console`);
  await page.waitForSelector('#token');
  expect(await seriousViolations(page)).toEqual([]);
  await screenshot(page, 'sign-in');
  for (const token of ['not-a-token', CALLERS.ehr.token]) {
    await page.$eval('#token', (e) => {
      (e as HTMLInputElement).value = '';
    });
    await page.type('#token', token);
    await page.click('button[type=submit]');
    await page.waitForSelector('[role=alert]');
    expect(await page.$('nav[aria-label="Pages"]')).toBeNull();
  }
  expect(await page.$eval('[role=alert]', (e) => e.textContent)).toContain('therapists and operators');
  await page.close();
}, 60_000);

test('a couple is shown together: one session, both partners, one verdict over both', async () => {
  const [a, b] = [await pushedPatient(suite.service), await pushedPatient(suite.service)];
  const { episode } = await courseWithMedicineSession(suite.service, [a.patient, b.patient], 2);
  const { page } = await suite.page({ caller: 'therapist' });
  const card = `li.card[data-episode="${episode}"]`;
  await page.waitForSelector(card);
  expect(await page.$$eval(card, (cards) => cards.length)).toBe(1);
  const heading = await page.$eval(`${card} h2`, (h) => h.textContent ?? '');
  expect(heading).toContain(`${a.patient} & ${b.patient}`);
  expect(heading).toContain('couple');
  await page.close();
}, 60_000);

test('keyboard alone: sign in, move between pages, sign out', async () => {
  const { page } = await suite.page();
  await page.goto(`${suite.service.url}/console`);
  await page.waitForSelector('#token');
  const focused = () =>
    page.evaluate(() => document.activeElement?.id || document.activeElement?.textContent);
  await page.keyboard.press('Tab');
  expect(await focused()).toBe('token');
  await page.keyboard.type(CALLERS.therapist.token);
  await page.keyboard.press('Enter');
  await page.waitForSelector('nav[aria-label="Pages"]');
  // Each page opens with the focus on its heading; the pages and sign-out are just before it.
  await page.waitForFunction(() => document.activeElement?.textContent === 'This week');
  await page.keyboard.down('Shift');
  await page.keyboard.press('Tab');
  expect(await focused()).toBe('Sign out');
  await page.keyboard.press('Tab');
  await page.keyboard.up('Shift');
  expect(await focused()).toBe('Courses');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#register-patient');
  expect(page.url()).toMatch(/#\/course$/);
  await page.waitForFunction(
    () => document.activeElement?.textContent === 'Courses' && document.activeElement.tagName === 'H1',
  );
  await page.keyboard.down('Shift');
  await page.keyboard.press('Tab');
  await page.keyboard.up('Shift');
  expect(await focused()).toBe('Sign out');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#token');
  await page.close();
}, 60_000);
