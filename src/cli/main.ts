/**
 * `kap-bridge <command>`: one module per command family; outbox and reconcile join the table
 * below as they are written.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type CliIo, type Command, EXIT } from './command.js';

const COMMANDS: Record<string, () => Promise<Command>> = {
  serve: async () => (await import('./service-commands.js')).serve,
  sync: async () => (await import('./service-commands.js')).sync,
  subscribe: async () => (await import('./service-commands.js')).subscribe,
  validate: async () => (await import('./validate.js')).validate,
  outbox: async () => (await import('./outbox.js')).outbox,
  reconcile: async () => (await import('./reconcile.js')).reconcile,
  audit: async () => (await import('./audit.js')).audit,
  openapi: async () => (await import('./openapi.js')).openapi,
};

async function help(): Promise<string> {
  const lines = ['Usage: kap-bridge <command> [options]', '', 'Commands:'];
  for (const load of Object.values(COMMANDS)) {
    const c = await load();
    lines.push(`  ${c.name.padEnd(12)} ${c.summary}`);
  }
  lines.push('', "Run `kap-bridge <command> --help` for a command's options.");
  return lines.join('\n');
}

export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const [name, ...args] = argv;
  if (name === '--help' || name === '-h' || name === 'help') {
    io.stdout(await help());
    return EXIT.ok;
  }
  const load = name === undefined ? undefined : COMMANDS[name];
  if (!load) {
    const problem = name === undefined ? 'No command given.' : `Unknown command '${name}'.`;
    io.stderr(`${problem}\n\n${await help()}`);
    return EXIT.usage;
  }
  return (await load()).run(args, io);
}

const consoleIo: CliIo = {
  stdout: (t) => process.stdout.write(`${t}\n`),
  stderr: (t) => process.stderr.write(`${t}\n`),
};

/** Runs the CLI for this process (bin/kap-bridge.js, or `tsx src/cli/main.ts`). */
export async function main(): Promise<void> {
  process.exitCode = await run(process.argv.slice(2), consoleIo);
}

const invokedDirectly = (): boolean => {
  try {
    return realpathSync(process.argv[1] ?? '') === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
};
if (invokedDirectly()) await main();
