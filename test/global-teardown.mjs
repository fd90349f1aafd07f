// Jest globalTeardown: stops the HAPI FHIR sandbox that test/global-setup.mjs started (if any).

export default async function globalTeardown() {
  const sandbox = globalThis.__KAP_HAPI_SANDBOX__;
  if (!sandbox) return;
  globalThis.__KAP_HAPI_SANDBOX__ = undefined;
  await sandbox.stop();
}
