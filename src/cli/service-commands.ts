/**
 * `kap-bridge serve | sync | subscribe`: the service and its two operator jobs, each configured
 * from the same environment variables (see the README's configuration table).
 */
import { registerSubscriptions } from '../ehr/subscriptions.js';
import { KEPT_TYPES } from '../intake.js';
import { createLogger } from '../log.js';
import { ehrGateway, startService } from '../service.js';
import { Store } from '../store/store.js';
import { catchUp } from '../sync.js';
import { createValidator } from '../validation/validator.js';
import { type Command, commandConfig, commandRun, EXIT, UsageError } from './command.js';
import { firstStartEnv, isFirstStart, localTokens } from './first-start.js';

/** How long the first start's sign-in link works. */
const SIGN_IN_LINK_MS = 15 * 60_000;

const CONFIG_HELP = 'Configuration comes from environment variables; see the README, "Configuration".';

/** These commands take no arguments. */
const noArguments = (args: string[]): void => {
  if (args.length > 0) throw new UsageError(`Unexpected argument '${args[0]}'.`);
};

const SERVE_USAGE = `Usage: kap-bridge serve\n\nRuns kap-bridge until SIGTERM or SIGINT, then lets in-flight requests finish and closes the store.\n${CONFIG_HELP}`;

export const serve: Command = {
  name: 'serve',
  summary: 'run the service: /fhir for the EHR, /api/v1 for the therapist system',
  usage: SERVE_USAGE,
  run: commandRun(SERVE_USAGE, async (args, io) => {
    noArguments(args);
    const first = isFirstStart(process.env);
    const config = commandConfig('serve', [], {
      ...process.env,
      ...(first ? firstStartEnv(process.env) : {}),
    });
    const therapist = first ? localTokens(io.stdout) : undefined;
    const log = createLogger(config.telemetry.logLevel);
    const service = await startService(config, log);
    if (therapist) {
      const code = service.consoleSessions.issueCode(therapist, SIGN_IN_LINK_MS);
      io.stdout(`Sign in to the console (once, within 15 minutes): ${service.url}/console#code=${code}`);
    }
    await new Promise<void>((resolve) => {
      const stop = (signal: string) => {
        log.info({ signal }, 'stopping');
        resolve();
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
    await service.close();
    return EXIT.ok;
  }),
};

const SYNC_USAGE = `Usage: kap-bridge sync\n\nCatch-up: reads every kept resource type changed in the EHR since the last checkpoint (in overlapping\n_lastUpdated windows, all pages) into the store, and reports what it found. Safe to run at any time.\n${CONFIG_HELP}`;

export const sync: Command = {
  name: 'sync',
  summary: 'pull everything changed in the EHR since the last checkpoint, once',
  usage: SYNC_USAGE,
  run: commandRun(SYNC_USAGE, async (args, io) => {
    noArguments(args);
    const config = commandConfig('job', ['KAP_EHR_BASE_URL']);
    const store = await Store.open(config.store);
    try {
      const report = await catchUp({
        ehr: ehrGateway(config.ehr)!,
        store,
        validator: createValidator(),
        overlapSeconds: config.sync.overlapSeconds,
        onProgress: (p) => io.stderr(`  ${p.type.padEnd(20)} ${p.fetched} read`),
        onRejected: (r, e) =>
          io.stderr(
            `  rejected ${r.resourceType}/${r.id}: ${e.outcome.issue.map((i) => i.diagnostics).join('; ')}`,
          ),
      });
      io.stdout(
        `Read ${report.fetched} resources: ${report.stored} new or changed, ${report.unchanged} already held, ${report.rejected} rejected.`,
      );
      return report.rejected > 0 ? EXIT.findings : EXIT.ok;
    } finally {
      await store.close();
    }
  }),
};

const SUBSCRIBE_USAGE = `Usage: kap-bridge subscribe\n\nRegisters one REST-hook Subscription per kept resource type in the EHR, pointing at\nKAP_PUBLIC_BASE_URL/fhir with the shared secret; Subscriptions already there are reused.\n${CONFIG_HELP}`;

export const subscribe: Command = {
  name: 'subscribe',
  summary: 'register (or find) the REST-hook Subscriptions in the EHR',
  usage: SUBSCRIBE_USAGE,
  run: commandRun(SUBSCRIBE_USAGE, async (args, io) => {
    noArguments(args);
    const config = commandConfig('job', [
      'KAP_EHR_BASE_URL',
      'KAP_SUBSCRIPTION_SECRET',
      'KAP_PUBLIC_BASE_URL',
    ]);
    const registered = await registerSubscriptions(ehrGateway(config.ehr)!, {
      endpoint: `${config.http.publicBaseUrl}/fhir`,
      secret: config.sync.subscriptionSecret!,
      types: KEPT_TYPES,
    });
    for (const r of registered)
      io.stdout(`${r.type.padEnd(20)} Subscription/${r.id}  ${r.action}, ${r.status}`);
    return EXIT.ok;
  }),
};
