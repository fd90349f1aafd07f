/**
 * `kap-bridge outbox list | retry | drop`: the operator's view of the changes waiting for the EHR,
 * on the store the service uses (same environment variables).
 */
import { OUTBOX_STATUSES, Outbox, type OutboxMessage, type OutboxStatus } from '../outbox/outbox.js';
import { Store } from '../store/store.js';
import {
  type CliIo,
  type Command,
  commandConfig,
  commandRun,
  EXIT,
  parseOptions,
  UsageError,
} from './command.js';

const USAGE = `Usage:
  kap-bridge outbox list [--status pending|delivering|delivered|dead] [--patient Patient/<id>] [--limit N]
  kap-bridge outbox retry <id> | --all-dead
  kap-bridge outbox drop <id>

list   shows the messages, oldest first, with the EHR's answer to the last failed attempt
       (the first --limit, 1000 by default, and says so when there are more).
retry  puts dead messages back in their patient's queue, attempts reset to 0.
drop   removes a pending or dead message for good (delivered ones are kept: later updates need them).
The store is the service's: DATABASE_URL or KAP_SQLITE_FILE (see the README, "Configuration").`;

function describe(m: OutboxMessage): string {
  const head = `${m.id}  ${m.status.padEnd(10)} ${m.patientRef}  ${m.resourceType} ${m.identifier.system}|${m.identifier.value}  attempts ${m.attempts}`;
  if (m.status === 'delivered') return `${head}  -> ${m.ehrRef}`;
  const error = m.lastError;
  const why = error
    ? `\n    last error: ${error.status ?? error.kind ?? ''} ${
        error.outcome?.issue?.map((i) => i.diagnostics ?? i.code).join('; ') ?? error.message
      }`
    : '';
  return `${head}  next ${m.nextAttemptAt}${why}`;
}

async function runOutbox(args: string[], io: CliIo): Promise<number> {
  const [action, ...words] = args;
  const { values, rest } =
    action === 'list'
      ? parseOptions(words, {
          status: { type: 'string' },
          patient: { type: 'string' },
          limit: { type: 'string' },
        })
      : { values: {}, rest: words };
  const { status, patient: patientRef } = values;
  const limit = action === 'list' ? (values.limit ?? '1000') : '';
  if (action === 'list' && !/^[1-9]\d{0,6}$/.test(limit))
    throw new UsageError(`--limit must be a whole number from 1 to 9999999; got '${limit}'.`);
  const allDead = action === 'retry' && rest[0] === '--all-dead';
  if (status && !OUTBOX_STATUSES.includes(status as OutboxStatus)) {
    throw new UsageError(`--status must be one of ${OUTBOX_STATUSES.join(', ')}; got '${status}'.`);
  }
  if (
    action === 'list' ? rest.length > 0 : action === 'retry' || action === 'drop' ? rest.length !== 1 : true
  ) {
    throw new UsageError(action ? `Unexpected arguments for '${action}'.` : 'No action given.');
  }
  const config = commandConfig('job');
  const store = await Store.open(config.store);
  try {
    const outbox = new Outbox(store);
    const id = rest[0] ?? '';
    if (action === 'list') {
      // One more than shown, to tell whether there are more.
      const found = await outbox.list({
        ...(status ? { status: status as OutboxStatus } : {}),
        ...(patientRef ? { patientRef } : {}),
        limit: Number(limit) + 1,
      });
      const shown = found.slice(0, Number(limit));
      for (const m of shown) io.stdout(describe(m));
      const count = `${shown.length} message${shown.length === 1 ? '' : 's'}${status ? ` ${status}` : ''}`;
      io.stdout(
        found.length > shown.length
          ? `The first ${count} shown; there are more (narrow with --status or --patient, or raise --limit).`
          : `${count}.`,
      );
      return EXIT.ok;
    }
    if (allDead) {
      io.stdout(`${await outbox.retryAllDead()} dead messages queued again.`);
      return EXIT.ok;
    }
    if (action === 'retry') {
      if (await outbox.retry(id)) {
        io.stdout(`${id} queued again.`);
        return EXIT.ok;
      }
      io.stderr(`No dead message ${id}: \`kap-bridge outbox list --status dead\` shows the ids.`);
      return EXIT.findings;
    }
    const dropped = await outbox.drop(id);
    if (dropped === 'dropped') {
      io.stdout(`${id} dropped.`);
      return EXIT.ok;
    }
    io.stderr(
      dropped === 'not-found'
        ? `No message ${id}: \`kap-bridge outbox list\` shows the ids.`
        : `${id} is ${dropped}; only pending or dead messages can be dropped.`,
    );
    return EXIT.findings;
  } finally {
    await store.close();
  }
}

export const outbox: Command = {
  name: 'outbox',
  summary: 'list, retry or drop the changes waiting for the EHR',
  usage: USAGE,
  run: commandRun(USAGE, runOutbox),
};
