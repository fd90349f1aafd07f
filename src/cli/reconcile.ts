/**
 * `kap-bridge reconcile [--patient ID] [--fix]`: the drift between the local aligned record and the
 * EHR, per patient, and with --fix the healing the rules allow (src/reconcile/).
 */
import { Outbox } from '../outbox/outbox.js';
import { type PatientReport, reconcilePatient, UnknownPatientError } from '../reconcile/gather.js';
import { heal, type Repair } from '../reconcile/heal.js';
import type { Drift } from '../reconcile/rules.js';
import { ehrGateway } from '../service.js';
import { Store } from '../store/store.js';
import { createValidator } from '../validation/validator.js';
import {
  type CliIo,
  type Command,
  commandConfig,
  commandRun,
  EXIT,
  parseOptions,
  UsageError,
} from './command.js';

const USAGE = `Usage: kap-bridge reconcile [--patient ID] [--fix]

Compares the local aligned record with the EHR, for every registered patient or one (--patient, the
kap-bridge patient id), and lists the drift:
  missing-here          the EHR holds it, the local record does not
  missing-there         ours, not in the EHR and not queued in the outbox
  different-content     the same resource with other content (meta, text and id aside)
  conflicting-versions  an update of ours is queued while the EHR moved on
--fix pulls the EHR's resources (through intake) and sends ours again (through the outbox); conflicts
are listed for a person. Exit 0 without drift (or all healed), 1 with drift left, 2 on a usage mistake.
The store and EHR are the service's: DATABASE_URL or KAP_SQLITE_FILE, KAP_EHR_BASE_URL (see the README).`;

const line = (d: Drift): string =>
  `  ${d.kind.padEnd(21)} ${d.resourceType.padEnd(24)} here ${d.here ?? '-'}  there ${d.there ?? '-'}\n    ${d.remedy === 'person' ? 'for a person: ' : `${d.remedy}: `}${d.detail}`;

function print(report: PatientReport, io: CliIo): void {
  const head = `Patient ${report.patient}${report.ehrPatient ? ` (${report.ehrPatient})` : ''}`;
  if (report.skipped) {
    io.stdout(`${head}: skipped, ${report.skipped}.`);
    return;
  }
  io.stdout(
    `${head}: ${report.here} here, ${report.there} in the EHR, ${report.matched} matched, ${report.drift.length} drift.`,
  );
  for (const d of report.drift) io.stdout(line(d));
}

function parse(args: string[]): { patient?: string; fix: boolean } {
  const { values, rest } = parseOptions(args, {
    patient: { type: 'string', missing: '--patient needs a kap-bridge patient id.' },
    fix: { type: 'boolean' },
  });
  if (rest.length) throw new UsageError(`Unexpected argument '${rest[0]}'.`);
  return { ...(values.patient ? { patient: values.patient } : {}), fix: values.fix ?? false };
}

async function runReconcile(args: string[], io: CliIo): Promise<number> {
  const { patient, fix } = parse(args);
  const config = commandConfig('job', ['KAP_EHR_BASE_URL']);
  const ehr = ehrGateway(config.ehr)!;
  const store = await Store.open(config.store);
  try {
    const deps = {
      store,
      ehr,
      outbox: new Outbox(store),
      validator: createValidator(),
      patientLink: config.patientLink,
    };
    // Each practice has its own ids: --patient names the patient with that id in every practice that has one.
    const all = await store.patientIds();
    const patients = patient ? all.filter((p) => p.id === patient) : all;
    if (patient && patients.length === 0)
      throw new UnknownPatientError(`No patient ${patient} is registered.`);
    let left = 0;
    let drifted = 0;
    for (const [n, { tenant, id }] of patients.entries()) {
      if (patients.length > 1) io.stderr(`reconcile: patient ${n + 1}/${patients.length} (${id})`);
      const { report, gathered } = await reconcilePatient(id, tenant, deps);
      print(report, io);
      drifted += report.drift.length;
      if (!fix || !gathered || report.drift.length === 0) {
        left += report.drift.length;
        continue;
      }
      const repairs: Repair[] = await heal(report, gathered, deps);
      for (const r of repairs) {
        io.stdout(
          `  ${r.outcome.padEnd(17)} ${r.drift.here ?? r.drift.there}${r.detail ? `  ${r.detail}` : ''}`,
        );
        if (r.outcome === 'left for a person' || r.outcome === 'failed') left++;
      }
    }
    io.stdout(
      `${patients.length} patient${patients.length === 1 ? '' : 's'} reconciled: ${drifted} drift${
        fix
          ? `, ${drifted - left} healed (queued changes reach the EHR with the outbox), ${left} left for a person`
          : ''
      }.`,
    );
    return left > 0 ? EXIT.findings : EXIT.ok;
  } catch (e) {
    if (e instanceof UnknownPatientError) {
      io.stderr(
        `${e.message} \`kap-bridge reconcile\` without --patient reconciles every registered patient.`,
      );
      return EXIT.findings;
    }
    throw e;
  } finally {
    await store.close();
  }
}

export const reconcile: Command = {
  name: 'reconcile',
  summary: 'report (and with --fix heal) drift between the local record and the EHR',
  usage: USAGE,
  run: commandRun(USAGE, runReconcile),
};
