/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * A course recorded through the console's forms in headless Chromium: a patient registered and a
 * course started, consent, sessions scheduled, started and completed, scores with PHQ-9 item 9
 * answered above 0; the trends drawn with their table; a dose refused with every reason shown.
 */
import type { Page } from 'puppeteer-core';
import { CALLERS } from '../support/auth.js';
import {
  consoleSuite,
  pushedPatient,
  screenshot,
  seriousViolations,
  submitForm,
} from '../support/console.js';

const suite = consoleSuite();

const day = (n: number) => new Date(Date.now() + n * 86_400_000).toISOString().slice(0, 10);

/** Clicks the button of the session row whose text contains `text`, and waits for the page to show `after`. */
async function moveSession(page: Page, phase: string, button: string, after: string): Promise<void> {
  const clicked = await page.evaluate(
    (p, b) => {
      const heading = [...document.querySelectorAll('h3')].find((h) =>
        h.textContent?.startsWith(p as string),
      );
      const list = heading?.nextElementSibling;
      const target = [...(list?.querySelectorAll('button') ?? [])].find((x) => x.textContent === b);
      target?.click();
      return target !== undefined;
    },
    phase,
    button,
  );
  expect(clicked).toBe(true);
  await page.waitForFunction(
    (p, a) => {
      const heading = [...document.querySelectorAll('h3')].find((h) =>
        h.textContent?.startsWith(p as string),
      );
      return heading?.nextElementSibling?.textContent?.includes(a as string);
    },
    {},
    phase,
    after,
  );
}

test('a course recorded through the forms: timeline, trends with item 9 marked, a dose refused with its reasons', async () => {
  const { patient: mrn } = await pushedPatient(suite.service, { register: false });
  const { page, seen } = await suite.page({ caller: 'therapist' });
  await page.goto(`${suite.service.url}/console#/course`);
  await page.waitForSelector('#register-patient');
  expect(await seriousViolations(page)).toEqual([]);

  const registered = await submitForm(page, 'register-patient', { value: mrn, ehrPatient: `Patient/${mrn}` });
  expect(registered.refused).toBeUndefined();
  const patient = registered.recorded!;
  await submitForm(
    page,
    'start-course',
    { type: 'individual', patients: patient, start: day(-14) },
    { navigates: true },
  );
  await page.waitForSelector('#consent');
  const episode = page.url().split('#/course/')[1]!;
  expect(episode).toMatch(/^[0-9a-f-]{36}$/);

  expect(
    (
      await submitForm(page, 'consent', {
        signedAt: `${day(-10)}T09:00:00Z`,
        url: 'https://therapist.example/kap.pdf',
      })
    ).recorded,
  ).toMatch(/^Consent\//);
  await submitForm(page, 'schedule', { phase: 'preparation', start: `${day(-2)}T10:00:00Z` });
  await moveSession(page, 'preparation', 'Start', 'in-progress');
  await moveSession(page, 'preparation', 'Complete', 'finished');
  // Five years of history would be the benchmark's; here a few weeks of scores.
  for (const [kind, score, items, at] of [
    ['phq9', '14', '2,2,2,2,2,1,1,1,1', `${day(-9)}T09:00:00Z`],
    ['gad7', '11', '', `${day(-9)}T09:05:00Z`],
    ['pcl5', '40', '', `${day(-9)}T09:10:00Z`],
    ['phq9', '9', '1,1,1,1,1,1,1,2,0', `${day(-3)}T09:00:00Z`],
    ['gad7', '8', '', `${day(-3)}T09:05:00Z`],
  ] as const) {
    const answer = await submitForm(page, 'score', { kind, score, items, effective: at });
    expect({ kind, refused: answer.refused }).toEqual({ kind, refused: undefined });
  }
  // A clearance referral for the course's patient, named in the body.
  const referral = await submitForm(page, 'referral', {
    requester: 'Practitioner/therapist-1',
    reason: 'KAP course planned',
  });
  expect(referral.refused).toBeUndefined();
  const asked = await suite.service.store.getOwn(
    'ServiceRequest',
    referral.recorded!,
    CALLERS.therapist.tenant,
  );
  expect(asked?.resource).toMatchObject({ subject: { reference: `Patient/${mrn}` } });
  await submitForm(page, 'schedule', { phase: 'medicine', start: `${day(0)}T10:00:00Z` });
  await page.waitForSelector('#dose');
  await moveSession(page, 'medicine', 'Start', 'in-progress');

  // The table view of the trends lists each score, PHQ-9 item 9 among them.
  await page.click('button.table-toggle');
  await page.waitForFunction(() => document.querySelectorAll('table.scores tbody tr').length === 5);
  expect(
    await page.$$eval('table.scores tbody tr', (rows) => rows.map((r) => r.children[1]?.textContent)),
  ).toEqual(['PHQ-9', 'GAD-7', 'PCL-5', 'PHQ-9', 'GAD-7']);
  expect(await page.$('.plot canvas')).not.toBeNull();
  expect(await seriousViolations(page)).toEqual([]);
  await screenshot(page, 'course');
  await page.evaluate(() => window.scrollTo(0, 0));
  await screenshot(page, 'course-top', false);

  // A dose now is refused: not ready, for every reason the readiness gives.
  const refusal = await submitForm(page, 'dose', { mg: '150', time: `${day(0)}T10:30:00Z` });
  expect(refusal.recorded).toBeUndefined();
  expect(refusal.refused).toContain('blood pressure');
  expect(refusal.refused).toContain('item 9');

  // Item 9 answered 2 (of a nine-answer PHQ-9) is a flag, marked in the table and keeping the course not ready.
  await submitForm(page, 'score', {
    kind: 'phq9',
    score: '12',
    items: '1,1,1,1,2,2,1,1,2',
    effective: `${day(0)}T08:00:00Z`,
  });
  await page.waitForSelector('table.scores tr.flag');
  await page.waitForFunction(() =>
    document.getElementById('readiness-title')?.textContent?.includes('Not ready'),
  );
  expect(await page.$eval('main', (m) => m.textContent)).toContain('safety-phq9-item9');

  await page.setViewport({ width: 390, height: 844 });
  expect(await seriousViolations(page)).toEqual([]);
  await screenshot(page, 'course-390');
  // Nothing names the patient in an address: neither the record number nor the practice's own id.
  expect(seen.filter((s) => s.includes(mrn) || s.includes(patient))).toEqual([]);
  await page.close();
}, 120_000);
