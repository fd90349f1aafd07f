// The HAPI FHIR server a run talks to, the one start-up of the test run (test/global-setup.mjs)
// and of `npm run demo`:
// - KAP_FHIR_BASE_URL set: that server, once its /metadata answers, given the FHIR package's
//   conformance resources where it has not installed them;
// - otherwise: the local sandbox (sandbox/sandbox.mjs), built on first use and started here.
// Either way the FHIR package (generated/package.tgz, package/) is built first when stale: the
// sandbox installs it at start with HAPI's package installer.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensurePackage, PACKAGE_DIR } from './fhir-package.mjs';
import { startSandbox, waitForMetadata } from './sandbox.mjs';

const FHIR_JSON = 'application/fhir+json';
const noop = () => {};

/**
 * A server started without the package (one of an earlier build, or not this sandbox) gets the
 * package's conformance resources put by id, so it validates against the same profiles; one whose
 * package installer holds them (under ids of its own) is left as it is.
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
  if (put > 0) log(`[sandbox] ${baseUrl} had not installed the FHIR package: ${put} of its resources put`);
}

/**
 * KAP_FHIR_BASE_URL (`external`), or the local sandbox started on a free port. `leaveRunning`: the
 * sandbox outlives this process once it is up (until then, this process ending stops it); otherwise
 * it stops when this process ends, or with `stop()`.
 * `javaOpts`: the sandbox's JVM flags, in place of sandbox/sandbox.mjs's (sized for the test run).
 * @param {{external?: string, waitMs?: number, timeoutMs?: number, leaveRunning?: boolean, javaOpts?: string[], log?: (msg: string) => void}} [opts]
 * @returns {Promise<{baseUrl: string, external: boolean, pid?: number, logFile?: string, startupMs?: number, stop: () => Promise<void>}>}
 */
export async function provideFhirServer({
  external = process.env.KAP_FHIR_BASE_URL,
  waitMs = Number(process.env.KAP_FHIR_WAIT_MS ?? 60_000),
  timeoutMs = Number(process.env.KAP_SANDBOX_TIMEOUT_MS ?? 180_000),
  leaveRunning = false,
  javaOpts,
  log = noop,
} = {}) {
  await ensurePackage({ log });
  if (external) {
    const baseUrl = external.replace(/\/+$/, '');
    try {
      await waitForMetadata(baseUrl, waitMs);
    } catch (err) {
      throw new Error(
        `KAP_FHIR_BASE_URL=${external} is set but ${baseUrl}/metadata did not answer 200 within ${waitMs} ms: ${err.message}`,
      );
    }
    await putPackageWhereMissing(baseUrl, log);
    return { baseUrl, external: true, stop: async () => undefined };
  }
  const sandbox = await startSandbox({ timeoutMs, leaveRunning, javaOpts, log });
  return { ...sandbox, external: false };
}
