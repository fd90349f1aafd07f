/**
 * `npm run demo` runs to the end against the HAPI sandbox, every step the README's Demo section
 * promises printed. The demo fails itself (exit 1) when an answer is not the one its story says:
 * the PHQ-9 item 9 flag not stopping the next session, the hold not cited, a report not in HAPI.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from '../support/fixtures.js';
import { sandboxBaseUrl } from '../support/sandbox.js';

let data: string;
beforeAll(() => {
  data = mkdtempSync(join(tmpdir(), 'kap-demo-'));
});
afterAll(() => rmSync(data, { recursive: true, force: true }));

test('the couples course plays to the end, each step printed', async () => {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'demo', 'couples-course.ts'), '--data', data],
    {
      cwd: ROOT,
      env: { ...process.env, KAP_FHIR_BASE_URL: sandboxBaseUrl() },
      timeout: 280_000,
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  const headings = stdout.split('\n').filter((l) => l.startsWith('== '));
  expect(
    headings.map((h) => h.replace(/ep-ruiz-karp-\w+\?date=\S+$/, '{episode}').replace(/\d+ s$/, '{n} s')),
  ).toEqual([
    '== The EHR and kap-bridge',
    '== Referral',
    '== Clearance and prescriptions (the prescriber, in the EHR)',
    '== Informed consent and preparation',
    '== Medicine session (joint, 2.5 h)',
    '== Integration',
    "== A safety flag, and the prescriber's review",
    '== The prescriber puts a prescription on hold',
    '== Episode timeline: GET /api/v1/episodes/{episode}',
    '== What HAPI holds for this course',
    '== Done in {n} s',
  ]);
  const promised = [
    /registers Ana Ruiz \(MRN [^)]+\), linked by MRN/,
    /asks Dr Okafor to clear Tomás {2}-> ServiceRequest\/\S+ \+ Task\/\S+/,
    /NOT YET for /,
    /hands Ana 9 troches; .* -> MedicationDispense\//,
    /closes Tomás's referral, decision attached {2}-> Task\/\S+\/_history\/2/,
    /heard of both clearances and prescriptions/,
    /READY BUT FOR THE DAY-OF CHECKS on /,
    /Ana before dosing: BP 118\/76, HR 72, SpO2 98%, C-SSRS low/,
    /Ana at the peak: CADSS 24, MOAA\/S 4/,
    /Ana feels sick for a while: a mild adverse event {2}-> AdverseEvent\//,
    /Tomás monitoring: \d+ of \d+ points done/,
    /medicine session finished: discharge criteria met/,
    /Tomás's session report for the prescriber to sign: a FHIR document of \d+ entries/,
    /Tomás: PHQ-9 6 \(items 1 1 0 1 0 1 0 0 2\)/,
    /outbox: everything delivered to HAPI/,
    new RegExp(`Ana's session report in HAPI: ${sandboxBaseUrl()}/Bundle/\\S+`),
    /- Tomás: PHQ-9 item 9 .* \[Observation\/\S+\]/,
    /reviews Tomás's PHQ-9: safe to continue {2}-> ClinicalImpression\//,
    /heard of the review after/,
    /puts Tomás's prescription on hold .* -> MedicationRequest\/rx-tomas-\w+\/_history\/2/,
    /- Tomás: prescription-not-active \[MedicationRequest\/rx-tomas-\w+\/_history\/2\]/,
    /Bundle {20}2\n/,
    /kap-bridge: stopped; its SQLite store is /,
  ];
  let from = 0;
  for (const line of promised) {
    const found = line.exec(stdout.slice(from));
    expect([line.source, found !== null]).toEqual([line.source, true]);
    from += found!.index;
  }
}, 300_000);
