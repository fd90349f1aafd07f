import { parseArgs } from 'node:util';
import { type Config, ConfigError, isSet, loadConfig } from '../config.js';
import { EhrError } from '../ehr/gateway.js';
import { privateKeyCheck } from '../ehr/private-key-check.js';

/**
 * What every `kap-bridge` command module provides, and the I/O it may use: commands print
 * through `io`, never to the console directly, so that tests run them in-process.
 */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

export interface Command {
  name: string;
  /** One line for `kap-bridge --help`. */
  summary: string;
  /** The command's own help text. */
  usage: string;
  /** Resolves to the exit code: 0 success, 1 a finding (e.g. invalid input), 2 a usage mistake. */
  run: (args: string[], io: CliIo) => Promise<number>;
}

export const EXIT = { ok: 0, findings: 1, usage: 2 } as const;

/** A usage mistake: the message names the problem and the fix. */
export class UsageError extends Error {}

export interface OptionSpec {
  type: 'string' | 'boolean';
  /** The usage message when a string option is given without its value; `--name needs a value.` unless set. */
  missing?: string;
}

type OptionValues<O extends Record<string, OptionSpec>> = {
  [K in keyof O]?: O[K]['type'] extends 'string' ? string : boolean;
};

/**
 * A command's options, read with node:util's parseArgs (`--name value` or `--name=value`). A string
 * option without a value (at the end, or followed by another `--` option) is a UsageError; what is
 * not one of `options` (other words, unknown options) is left in `rest`, in order, for the command
 * to take or refuse.
 */
export function parseOptions<const O extends Record<string, OptionSpec>>(
  args: readonly string[],
  options: O,
): { values: OptionValues<O>; rest: string[] } {
  const types = Object.fromEntries(
    Object.entries(options).map(([name, spec]) => [name, { type: spec.type }]),
  );
  const { tokens } = parseArgs({
    args: [...args],
    options: types,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const values: Record<string, string | boolean> = {};
  const rest: string[] = [];
  for (const token of tokens) {
    if (token.kind === 'positional') rest.push(token.value);
    else if (token.kind === 'option-terminator') rest.push('--');
    else {
      const spec = options[token.name];
      if (!spec || (spec.type === 'boolean' && token.inlineValue)) {
        rest.push(token.inlineValue ? `${token.rawName}=${token.value}` : token.rawName);
        continue;
      }
      if (spec.type === 'boolean') {
        values[token.name] = true;
        continue;
      }
      const value = token.value;
      if (!value || (!token.inlineValue && value.startsWith('--')))
        throw new UsageError(spec.missing ?? `${token.rawName} needs a value.`);
      values[token.name] = value;
    }
  }
  return { values: values as OptionValues<O>, rest };
}

const CONFIG_HELP = 'Configuration comes from environment variables; see the README, "Configuration".';

/**
 * The configuration of `serve`, or of an operator job (sync, subscribe, outbox, reconcile) with the
 * variables it `needs` (by name): a ConfigError names every wrong or missing variable.
 */
export function commandConfig(
  purpose: 'serve' | 'job',
  needs: string[] = [],
  env: Record<string, string | undefined> = process.env,
): Config {
  const config = loadConfig(env, purpose, [(c) => privateKeyCheck(c.ehr)]);
  const missing = needs.filter((name) => !isSet(config, name));
  if (missing.length) throw new ConfigError([`This command needs ${missing.join(' and ')} to be set.`]);
  return config;
}

/**
 * A command's `run`: `--help` prints the usage; a usage or configuration mistake is a message and
 * exit code 2, an EHR that cannot be reached a message and exit code 1; never a stack trace.
 */
export function commandRun(
  usage: string,
  run: (args: string[], io: CliIo) => Promise<number>,
): Command['run'] {
  return async (args, io) => {
    if (args.includes('--help') || args.includes('-h')) {
      io.stdout(usage);
      return EXIT.ok;
    }
    try {
      return await run(args, io);
    } catch (e) {
      if (e instanceof UsageError) {
        io.stderr(`${e.message}\n\n${usage}`);
        return EXIT.usage;
      }
      if (e instanceof ConfigError) {
        io.stderr(`${e.message}\n${CONFIG_HELP}`);
        return EXIT.usage;
      }
      if (e instanceof EhrError) {
        io.stderr(`${e.message}\nCheck KAP_EHR_BASE_URL and that the EHR is up, then run the command again.`);
        return EXIT.findings;
      }
      throw e;
    }
  };
}
