/**
 * The one way a suite starts kap-bridge: in this process, on a free port, with its own SQLite file,
 * the test callers' static tokens (support/auth.ts) and a silent log. `env` adds to that environment
 * or overrides it; a suite that restarts kap-bridge on the same store passes its own `dir`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config.js';
import { createLogger, type Logger } from '../../src/log.js';
import { type Service, startService } from '../../src/service.js';
import { authEnv } from './auth.js';

/** The environment of a kap-bridge under test keeping its store in `dir`. */
export const serviceEnv = (dir: string, env: Record<string, string> = {}): Record<string, string> => ({
  ...authEnv(),
  PORT: '0',
  KAP_SQLITE_FILE: join(dir, 'kap.db'),
  LOG_LEVEL: 'silent',
  ...env,
});

export interface TestService extends Service {
  /** The folder of its store: made for it and removed by `close()`, unless the suite gave its own. */
  dir: string;
}

export async function startTestService(
  env: Record<string, string> = {},
  options: { dir?: string; log?: Logger } = {},
): Promise<TestService> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'kap-service-'));
  const removeDir = () => {
    if (!options.dir) rmSync(dir, { recursive: true, force: true });
  };
  let service: Service;
  try {
    service = await startService(loadConfig(serviceEnv(dir, env)), options.log ?? createLogger('silent'));
  } catch (e) {
    removeDir();
    throw e;
  }
  return {
    ...service,
    dir,
    async close() {
      await service.close();
      removeDir();
    },
  };
}
