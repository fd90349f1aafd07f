#!/usr/bin/env node
// npm run sandbox [-- --port N] [-- --db-file PATH]
// Builds the HAPI FHIR sandbox on first use, runs it in the foreground, prints the base URL
// once /fhir/metadata answers, and stops it on SIGINT/SIGTERM.

import { parseArgs } from 'node:util';
import { ensurePackage } from './fhir-package.mjs';
import { startSandbox } from './sandbox.mjs';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    'db-file': { type: 'string' },
    'timeout-s': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});

if (values.help) {
  console.log(
    'usage: node sandbox/run.mjs [--port N (default 8090)] [--db-file PATH (H2 file database; default in-memory)] [--timeout-s S]',
  );
  process.exit(0);
}

const log = (msg) => console.error(msg);
const port = values.port ? Number(values.port) : 8090;
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error(`invalid --port ${values.port}`);
  process.exit(2);
}

let sandbox;
let stopping = false;
async function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  log(`[sandbox] ${signal}: stopping HAPI FHIR...`);
  if (sandbox) await sandbox.stop();
  log('[sandbox] stopped');
  process.exit(0);
}
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGTERM', () => shutdown('SIGTERM'));

try {
  await ensurePackage({ log });
  sandbox = await startSandbox({
    port,
    dbFile: values['db-file'],
    timeoutMs: values['timeout-s'] ? Number(values['timeout-s']) * 1000 : 180_000,
    log,
  });
} catch (err) {
  console.error(`[sandbox] ${err.message}`);
  process.exit(1);
}
if (stopping) {
  await sandbox.stop();
  process.exit(0);
}
log(
  `[sandbox] ready in ${(sandbox.startupMs / 1000).toFixed(1)} s (pid ${sandbox.pid}, log ${sandbox.logFile}); Ctrl-C stops it`,
);
console.log(sandbox.baseUrl);
// Keep running until a signal arrives; exit if java dies on its own.
const watch = setInterval(() => {
  try {
    process.kill(sandbox.pid, 0);
  } catch {
    clearInterval(watch);
    console.error(`[sandbox] HAPI FHIR process ${sandbox.pid} exited; see ${sandbox.logFile}`);
    process.exit(1);
  }
}, 2000);
