/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The operator's console in headless Chromium: the outbox with retry and drop, drift (here with no
 * EHR configured, said plainly), the audit trail search, sync state and the metrics summary; axe-core
 * on each page at 1280 and 390 px.
 */
import { OUTBOX_TABLES } from '../../src/outbox/migrations.js';
import {
  consoleSuite,
  courseWithMedicineSession,
  pushedPatient,
  screenshot,
  seriousViolations,
  submitForm,
} from '../support/console.js';

const suite = consoleSuite();

test('the operator pages: outbox retry and drop, drift, audit search, sync and metrics, each accessible', async () => {
  // With no EHR configured nothing is delivered: the course's changes wait in the outbox.
  const { patient } = await pushedPatient(suite.service);
  await courseWithMedicineSession(suite.service, [patient]);
  const [dead, doomed] = await suite.service.outbox.list({ status: 'pending', limit: 2 });
  await suite.service.store.transaction((tx) =>
    tx
      .tables(OUTBOX_TABLES)
      .run("UPDATE outbox SET status = 'dead', last_error = ? WHERE id = ?", [
        JSON.stringify({ message: 'HAPI-0450: the EHR refused it' }),
        dead!.id,
      ]),
  );

  const { page, seen } = await suite.page({ caller: 'operator' });
  expect(await page.$$eval('nav a', (as) => as.map((a) => a.textContent))).toEqual([
    'Outbox',
    'Drift',
    'Audit trail',
    'Sync',
    'Metrics',
  ]);

  const row = (id: string) => `tr[data-message="${id}"]`;
  await page.waitForSelector(row(dead!.id));
  expect(await page.$eval(row(dead!.id), (r) => r.textContent)).toContain('HAPI-0450');
  expect(await seriousViolations(page)).toEqual([]);
  await screenshot(page, 'operator-outbox');
  await page.click(`${row(dead!.id)} button`);
  await page.waitForFunction(
    (sel) => document.querySelector(sel)?.children[2]?.textContent === 'pending',
    {},
    row(dead!.id),
  );
  expect((await suite.service.outbox.get(dead!.id))?.status).toBe('pending');
  const drop = await page.$$(`${row(doomed!.id)} button`);
  await drop[drop.length - 1]!.click();
  await page.waitForFunction((sel) => !document.querySelector(sel), {}, row(doomed!.id));
  expect(await suite.service.outbox.get(doomed!.id)).toBeUndefined();

  await page.goto(`${suite.service.url}/console#/operator/drift`);
  const driftAnswer = await submitForm(page, 'drift', { patient });
  expect(driftAnswer.refused).toContain('No EHR is configured');
  expect(await seriousViolations(page)).toEqual([]);

  await page.goto(`${suite.service.url}/console#/operator/audit`);
  const audit = await submitForm(page, 'audit', { entity: `Patient/${patient}` });
  expect(audit.refused).toBeUndefined();
  await page.waitForSelector('table tbody tr');
  expect(await page.$eval('table caption', (c) => c.textContent)).toMatch(/^[1-9]\d* audit events$/);
  expect(await seriousViolations(page)).toEqual([]);
  await screenshot(page, 'operator-audit');

  await page.goto(`${suite.service.url}/console#/operator/sync`);
  await page.waitForFunction(() => document.querySelector('main p strong')?.textContent !== 'never');
  expect(await seriousViolations(page)).toEqual([]);

  await page.goto(`${suite.service.url}/console#/operator/metrics`);
  await page.waitForFunction(() => document.querySelectorAll('table tbody tr').length > 0);
  expect(await page.$$eval('table tbody td code', (cs) => cs.map((c) => c.textContent))).toContain(
    'kap_outbox_messages',
  );
  expect(await seriousViolations(page)).toEqual([]);

  await page.setViewport({ width: 390, height: 844 });
  for (const view of ['outbox', 'drift', 'audit', 'sync', 'metrics']) {
    await page.goto(`${suite.service.url}/console#/operator/${view}`);
    await page.waitForSelector('main h1');
    expect({ view, violations: await seriousViolations(page) }).toEqual({ view, violations: [] });
  }
  // Nothing names the patient in an address, the audit search's criteria included (a POST _search).
  expect(seen.filter((s) => s.includes(patient))).toEqual([]);
  await page.close();
}, 120_000);
