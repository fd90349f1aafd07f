// Jest globalSetup: provides a HAPI FHIR R4 server to the test run (sandbox/fhir-server.mjs, the
// start-up `npm run demo` uses too): KAP_FHIR_BASE_URL when set, otherwise the local sandbox, built
// on first use and started once per run (stopped by test/global-teardown.mjs).
// The base URL reaches the test workers through process.env.KAP_FHIR_BASE_URL
// (workers are spawned after globalSetup and inherit the environment).

import { provideFhirServer } from '../sandbox/fhir-server.mjs';

export default async function globalSetup() {
  const started = Date.now();
  const log = (msg) => process.stderr.write(`${msg}\n`);
  const server = await provideFhirServer({ log });
  process.env.KAP_FHIR_BASE_URL = server.baseUrl;
  if (server.external) {
    log(
      `\n[global-setup] FHIR server ${server.baseUrl} (external, ready after ${((Date.now() - started) / 1000).toFixed(1)} s)`,
    );
    return;
  }
  globalThis.__KAP_HAPI_SANDBOX__ = server;
  const built = Date.now() - started - server.startupMs;
  log(
    `\n[global-setup] FHIR server ${server.baseUrl} (HAPI sandbox pid ${server.pid}, started in ${(server.startupMs / 1000).toFixed(1)} s${built > 2000 ? ` after a ${(built / 1000).toFixed(0)} s build` : ''}, log ${server.logFile})`,
  );
}
