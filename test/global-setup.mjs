// Jest globalSetup: provides a HAPI FHIR R4 server to the test run.
// - KAP_FHIR_BASE_URL set: use that server (only waits for its /metadata).
// - otherwise: build (first use) and start the local sandbox once per run (sandbox/sandbox.mjs).
// The base URL reaches the test workers through process.env.KAP_FHIR_BASE_URL
// (workers are spawned after globalSetup and inherit the environment).
// Either way the FHIR package (generated/package.tgz, package/) is built first when stale: the
// sandbox installs it at start with HAPI's package installer.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensurePackage, PACKAGE_DIR } from '../sandbox/fhir-package.mjs';
import { startSandbox, waitForMetadata } from '../sandbox/sandbox.mjs';

const FHIR_JSON = 'application/fhir+json';

/**
 * A server started without the package (one of an earlier build, or not this sandbox) gets the
 * package's conformance resources put by id, so the suites validate against the same profiles; one
 * whose package installer holds them (under ids of its own) is left as it is.
 */
async function putPackageWhereMissing(baseUrl, log) {
  const index = JSON.parse(readFileSync(join(PACKAGE_DIR, '.index.json'), 'utf8'));
  const order = ['CodeSystem', 'ValueSet', 'StructureDefinition'];
  const files = index.files
    .filter((f) => order.includes(f.resourceType))
    .sort((a, b) => order.indexOf(a.resourceType) - order.indexOf(b.resourceType));
  let put = 0;
  for (const f of files) {
    const search = await fetch(
      `${baseUrl}/${f.resourceType}?url=${encodeURIComponent(f.url)}&version=${encodeURIComponent(f.version)}&_elements=id`,
      { headers: { accept: FHIR_JSON } },
    );
    const held = await search.json();
    if ((held.entry ?? []).some((e) => e.resource.id !== f.id)) continue;
    const putOne = () =>
      fetch(`${baseUrl}/${f.resourceType}/${f.id}`, {
        method: 'PUT',
        headers: { 'content-type': FHIR_JSON, accept: FHIR_JSON },
        body: readFileSync(join(PACKAGE_DIR, f.filename)),
      });
    let res = await putOne();
    // Runs starting at once may create the same one together: HAPI refuses one with a 409.
    if (res.status === 409) {
      await new Promise((r) => setTimeout(r, 500));
      res = await putOne();
    }
    if (!res.ok)
      throw new Error(`PUT ${f.resourceType}/${f.id} to ${baseUrl}: HTTP ${res.status} ${await res.text()}`);
    put++;
  }
  if (put > 0)
    log(`[global-setup] ${baseUrl} had not installed the FHIR package: ${put} of its resources put`);
}

export default async function globalSetup() {
  const started = Date.now();
  const log = (msg) => process.stderr.write(`${msg}\n`);
  const external = process.env.KAP_FHIR_BASE_URL;
  await ensurePackage({ log });
  const built = Date.now();
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
    await putPackageWhereMissing(baseUrl, log);
    log(
      `\n[global-setup] FHIR server ${baseUrl} (external, ready after ${((Date.now() - started) / 1000).toFixed(1)} s)`,
    );
    return;
  }

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
