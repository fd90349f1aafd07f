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
