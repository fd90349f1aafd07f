// Jest globalTeardown: stops the HAPI FHIR sandbox that test/global-setup.mjs started (if any),
// after printing its peak memory over the run.
import { readFileSync } from 'node:fs';

export default async function globalTeardown() {
  const sandbox = globalThis.__KAP_HAPI_SANDBOX__;
  if (!sandbox) return;
  globalThis.__KAP_HAPI_SANDBOX__ = undefined;
  try {
    const peak = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${sandbox.pid}/status`, 'utf8'))?.[1];
    if (peak)
      process.stderr.write(
        `[global-teardown] HAPI sandbox peak memory (VmHWM): ${Math.round(Number(peak) / 1024)} MB\n`,
      );
  } catch {
    // not Linux, or already gone: nothing to report
  }
  await sandbox.stop();
}
