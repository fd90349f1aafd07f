/**
 * `kap-bridge serve | sync | subscribe`: the service and its two operator jobs, each configured
 * from the same environment variables (see the README's configuration table).
 */
import { type Config, ConfigError, loadConfig } from '../config.js';
import { EhrError } from '../ehr/gateway.js';
import { registerSubscriptions } from '../ehr/subscriptions.js';
import { KEPT_TYPES } from '../intake.js';
import { createLogger } from '../log.js';
import { ehrGateway, openStore, startService } from '../service.js';
import { catchUp } from '../sync.js';
import { createValidator } from '../validation/validator.js';
import { type CliIo, type Command, EXIT } from './command.js';

const CONFIG_HELP = 'Configuration comes from environment variables; see the README, "Configuration".';

/** Loads the configuration, or says what is wrong with it and returns undefined. */
function configOrUsage(io: CliIo, needs: (keyof Config)[] = []): Config | undefined {
  try {
    const config = loadConfig(process.env, needs.length ? 'job' : 'serve');
    const missing = needs.filter((k) => config[k] === undefined);
    if (missing.length) {
      const names: Partial<Record<keyof Config, string>> = {
        ehrBaseUrl: 'KAP_EHR_BASE_URL',
        subscriptionSecret: 'KAP_SUBSCRIPTION_SECRET',
        publicBaseUrl: 'KAP_PUBLIC_BASE_URL',
      };
      io.stderr(
        `This command needs ${missing.map((k) => names[k] ?? k).join(' and ')} to be set. ${CONFIG_HELP}`,
      );
      return undefined;
    }
    return config;
  } catch (e) {
    if (e instanceof ConfigError) {
      io.stderr(`${e.message}\n${CONFIG_HELP}`);
      return undefined;
    }
    throw e;
  }
}

/** An EHR that cannot be reached is an operator's message and exit code 1, not a stack trace. */
async function reportingEhrErrors(io: CliIo, job: () => Promise<number>): Promise<number> {
  try {
    return await job();
  } catch (e) {
    if (!(e instanceof EhrError)) throw e;
    io.stderr(`${e.message}\nCheck KAP_EHR_BASE_URL and that the EHR is up, then run the command again.`);
    return EXIT.findings;
  }
}

const helpOnly = (args: string[], io: CliIo, usage: string): number | undefined => {
  if (args.includes('--help') || args.includes('-h')) {
    io.stdout(usage);
    return EXIT.ok;
  }
  if (args.length > 0) {
    io.stderr(`Unexpected argument '${args[0]}'.\n\n${usage}`);
    return EXIT.usage;
  }
  return undefined;
};

export const serve: Command = {
  name: 'serve',
  summary: 'run the service: /fhir for the EHR, /api/v1 for the therapist system',
  usage: `Usage: kap-bridge serve\n\nRuns kap-bridge until SIGTERM or SIGINT, then lets in-flight requests finish and closes the store.\n${CONFIG_HELP}`,
  async run(args, io) {
    const early = helpOnly(args, io, this.usage);
    if (early !== undefined) return early;
    const config = configOrUsage(io);
    if (!config) return EXIT.usage;
    const log = createLogger(config.logLevel);
    const service = await startService(config, log);
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
  },
};

export const sync: Command = {
  name: 'sync',
  summary: 'pull everything changed in the EHR since the last checkpoint, once',
  usage: `Usage: kap-bridge sync\n\nCatch-up: reads every kept resource type changed in the EHR since the last checkpoint (in overlapping\n_lastUpdated windows, all pages) into the store, and reports what it found. Safe to run at any time.\n${CONFIG_HELP}`,
  async run(args, io) {
    const early = helpOnly(args, io, this.usage);
    if (early !== undefined) return early;
    const config = configOrUsage(io, ['ehrBaseUrl']);
    if (!config) return EXIT.usage;
    const store = await openStore(config);
    return reportingEhrErrors(io, async () => {
      const report = await catchUp({
        ehr: ehrGateway(config)!,
        store,
        validator: createValidator(),
        overlapSeconds: config.syncOverlapSeconds,
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
    }).finally(() => store.close());
  },
};

export const subscribe: Command = {
  name: 'subscribe',
  summary: 'register (or find) the REST-hook Subscriptions in the EHR',
  usage: `Usage: kap-bridge subscribe\n\nRegisters one REST-hook Subscription per kept resource type in the EHR, pointing at\nKAP_PUBLIC_BASE_URL/fhir with the shared secret; Subscriptions already there are reused.\n${CONFIG_HELP}`,
  async run(args, io) {
    const early = helpOnly(args, io, this.usage);
    if (early !== undefined) return early;
    const config = configOrUsage(io, ['ehrBaseUrl', 'subscriptionSecret', 'publicBaseUrl']);
    if (!config) return EXIT.usage;
    const registered = await registerSubscriptions(ehrGateway(config)!, {
      endpoint: `${config.publicBaseUrl}/fhir`,
      secret: config.subscriptionSecret!,
      types: KEPT_TYPES,
    });
    for (const r of registered)
      io.stdout(`${r.type.padEnd(20)} Subscription/${r.id}  ${r.action}, ${r.status}`);
    return EXIT.ok;
  },
};
