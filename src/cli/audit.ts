/**
 * `kap-bridge audit`: the operator's view of the audit trail, on the store the service uses: who
 * read or wrote what, when, and how it went, newest first. Reading only; nothing here changes it.
 */
import type { AuditEvent } from 'fhir/r4';
import { AuditTrail, MAX_AUDIT_COUNT } from '../audit/trail.js';
import { createLogger } from '../log.js';
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
  kap-bridge audit [--entity Type/id | --patient <id>] [--client <client id>] [--tenant <practice>]
                   [--since <date or instant>] [--until <date or instant>] [--limit N] [--json]

Lists the AuditEvents kap-bridge recorded, newest first (at most --limit, 100 by default, ${MAX_AUDIT_COUNT} at most).
--patient <id> is short for --entity Patient/<id> (the therapist API's patient id).
--json prints a FHIR searchset Bundle instead of one line per event.
The store is the service's: DATABASE_URL or KAP_SQLITE_FILE (see the README, "Configuration").`;

const INSTANT = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/;

const line = (e: AuditEvent): string => {
  const agent = e.agent[0];
  const who = agent?.who?.identifier?.value ?? '?';
  const user = agent?.altId ? ` (${agent.altId})` : '';
  const site = e.source.site ? ` @${e.source.site}` : '';
  const what = (e.entity ?? []).map((x) => x.what?.reference).join(' ') || '-';
  return `${e.recorded}  ${e.action} ${e.outcome === '0' ? 'ok  ' : `fail${e.outcome}`}  ${who}${user}${site}  ${what}  ${e.outcomeDesc ?? ''}`;
};

async function runAudit(args: string[], io: CliIo): Promise<number> {
  const { values, rest } = parseOptions(args, {
    json: { type: 'boolean' },
    patient: { type: 'string' },
    entity: { type: 'string' },
    client: { type: 'string' },
    tenant: { type: 'string' },
    since: { type: 'string' },
    until: { type: 'string' },
    limit: { type: 'string' },
  });
  const { json, patient, client, tenant, since, until } = values;
  const entity = values.entity ?? (patient ? `Patient/${patient}` : undefined);
  const limit = values.limit ?? '100';
  if (rest.length) throw new UsageError(`Unexpected arguments: ${rest.join(' ')}.`);
  for (const [name, value] of [
    ['--since', since],
    ['--until', until],
  ] as const) {
    if (value !== undefined && !INSTANT.test(value))
      throw new UsageError(
        `${name} must be a date (2026-11-26) or an instant (2026-11-26T09:00:00Z); got '${value}'.`,
      );
  }
  if (!/^[1-9]\d{0,5}$/.test(limit) || Number(limit) > MAX_AUDIT_COUNT)
    throw new UsageError(`--limit must be a whole number from 1 to ${MAX_AUDIT_COUNT}; got '${limit}'.`);
  const store = await Store.open(commandConfig('job').store);
  try {
    const bundle = await new AuditTrail(store, createLogger('silent')).search({
      ...(entity ? { entity } : {}),
      ...(client ? { client } : {}),
      ...(tenant ? { tenant } : {}),
      ...(since ? { since } : {}),
      ...(until ? { until } : {}),
      count: Number(limit),
    });
    const events = (bundle.entry ?? []).map((e) => e.resource!);
    if (json) io.stdout(JSON.stringify(bundle, null, 2));
    else {
      for (const e of events) io.stdout(line(e));
      io.stdout(`${events.length} event${events.length === 1 ? '' : 's'}.`);
    }
    return EXIT.ok;
  } finally {
    await store.close();
  }
}

export const audit: Command = {
  name: 'audit',
  summary: 'who read or wrote what PHI through kap-bridge, when, and how it went',
  usage: USAGE,
  run: commandRun(USAGE, runAudit),
};
