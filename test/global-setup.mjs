// Jest globalSetup: provides a HAPI FHIR R4 server to the test run.
// - KAP_FHIR_BASE_URL set: use that server (only waits for its /metadata).
// - otherwise: build (first use) and start the local sandbox once per run (sandbox/sandbox.mjs).
// The base URL reaches the test workers through process.env.KAP_FHIR_BASE_URL
// (workers are spawned after globalSetup and inherit the environment).

import { ensureSandbox, startSandbox, waitForMetadata } from '../sandbox/sandbox.mjs';

export default async function globalSetup() {
  const started = Date.now();
  const log = (msg) => process.stderr.write(`${msg}\n`);
  const external = process.env.KAP_FHIR_BASE_URL;
  if (external) {
    const baseUrl = external.replace(/\/+$/, '');
    const timeoutMs = Number(process.env.KAP_FHIR_WAIT_MS ?? 60_000);
    try {
      await waitForMetadata(baseUrl, timeoutMs);
    } catch (err) {
      throw new Error(
        `KAP_FHIR_BASE_URL=${external} is set but ${baseUrl}/metadata did not answer 200 within ${timeoutMs} ms: ${err.message}`,
      );
    }
    process.env.KAP_FHIR_BASE_URL = baseUrl;
    log(
      `\n[global-setup] FHIR server ${baseUrl} (external, ready after ${((Date.now() - started) / 1000).toFixed(1)} s)`,
    );
    return;
  }

  await ensureSandbox({ log });
  const built = Date.now();
  const sandbox = await startSandbox({
    timeoutMs: Number(process.env.KAP_SANDBOX_TIMEOUT_MS ?? 180_000),
    log: () => {},
  });
  globalThis.__KAP_HAPI_SANDBOX__ = sandbox;
  process.env.KAP_FHIR_BASE_URL = sandbox.baseUrl;
  log(
    `\n[global-setup] FHIR server ${sandbox.baseUrl} (HAPI sandbox pid ${sandbox.pid}, started in ${(sandbox.startupMs / 1000).toFixed(1)} s${built - started > 2000 ? ` after a ${((built - started) / 1000).toFixed(0)} s build` : ''}, log ${sandbox.logFile})`,
  );
}
