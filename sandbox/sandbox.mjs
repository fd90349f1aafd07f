// kap-bridge HAPI FHIR sandbox: build and run the local HAPI FHIR JPA server (sandbox/hapi).
// Plain Node ESM, built-ins only. Used by sandbox/run.mjs (npm run sandbox),
// test/global-setup.mjs and sandbox/smoke.mjs.

import { spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
export const HAPI_DIR = join(HERE, 'hapi');
export const JAR_PATH = join(HAPI_DIR, 'target', 'kap-hapi-sandbox.jar');
const BUILD_DIR = join(HAPI_DIR, 'target', 'build');
/** kap-bridge's FHIR package (npm run build:package, sandbox/fhir-package.mjs), installed by the sandbox at start. */
export const PACKAGE_TGZ = join(HERE, '..', 'generated', 'package.tgz');
/** The hapi.fhir.* settings shared with docker-compose.yml (read by the sandbox at start-up). */
export const HAPI_ENV_FILE = join(HERE, 'hapi.env');

/** JVM flags measured on a 2-core / 24 GiB machine (C1 only: ~30% faster start-up, same smoke timings). Override with KAP_SANDBOX_JAVA_OPTS. */
export const DEFAULT_JAVA_OPTS = [
  '-Xms256m',
  '-Xmx1g',
  '-XX:+UseSerialGC',
  '-XX:TieredStopAtLevel=1',
  '-Xss512k',
  '-XX:ReservedCodeCacheSize=128m',
  '-Djava.awt.headless=true',
];

const MISSING_TOOLS_MESSAGE =
  'The HAPI FHIR sandbox needs a JDK 17+ (`java`) and Maven (`mvn`) on PATH: install JDK 17+ and Maven, ' +
  'or set KAP_FHIR_BASE_URL to a running HAPI server (e.g. the docker-compose one: ' +
  'KAP_FHIR_BASE_URL=http://127.0.0.1:8080/fhir).';

const noop = () => {};

function hasCommand(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

/** Major version of `java` on PATH, or 0 when there is none. */
function javaMajor() {
  const r = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return 0;
  const m = /version "(\d+)(?:\.(\d+))?/.exec(`${r.stderr}${r.stdout}`);
  if (!m) return 0;
  return m[1] === '1' ? Number(m[2]) : Number(m[1]);
}

function newestMtime(path) {
  let st;
  try {
    st = statSync(path);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const name of readdirSync(path)) {
    newest = Math.max(newest, newestMtime(join(path, name)));
  }
  return newest;
}

/** True when the jar is missing or older than pom.xml / src. */
export function jarIsStale() {
  if (!existsSync(JAR_PATH)) return true;
  const jarTime = statSync(JAR_PATH).mtimeMs;
  const srcTime = Math.max(newestMtime(join(HAPI_DIR, 'pom.xml')), newestMtime(join(HAPI_DIR, 'src')));
  // hapi.env is read from disk at start-up, so a change to it needs no rebuild.
  return srcTime > jarTime;
}

/**
 * Builds sandbox/hapi/target/kap-hapi-sandbox.jar with Maven when it is missing or stale.
 * @param {{log?: (msg: string) => void}} [opts]
 * @returns {Promise<string>} the jar path
 */
export async function ensureJar({ log = noop } = {}) {
  const major = javaMajor();
  if (major < 17) {
    throw new Error(`${MISSING_TOOLS_MESSAGE}${major ? ` Found Java ${major}.` : ' No `java` found.'}`);
  }
  if (!jarIsStale()) return JAR_PATH;
  if (!hasCommand('mvn', ['-v'])) throw new Error(MISSING_TOOLS_MESSAGE);
  // Several test runs may start at once in one work tree: one builds, the others wait for it.
  return withBuildLock(log, async () => {
    if (!jarIsStale()) return JAR_PATH;
    await build(log);
    return JAR_PATH;
  });
}

/**
 * Runs `fn` holding a lock folder, so that of several processes starting at once in one work tree
 * one builds and the others wait for it (a lock whose holder died is taken over).
 */
export async function withBuildLock(
  log,
  fn,
  lockDir = join(HAPI_DIR, 'target', '.build-lock'),
  what = 'the sandbox jar',
) {
  mkdirSync(dirname(lockDir), { recursive: true });
  const deadline = Date.now() + 20 * 60_000;
  let told = false;
  for (;;) {
    try {
      mkdirSync(lockDir);
      writeFileSync(join(lockDir, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
    }
    let alive;
    try {
      const pid = Number(readFileSync(join(lockDir, 'pid'), 'utf8'));
      process.kill(pid, 0);
      alive = true;
    } catch (err) {
      // EPERM: the process exists. No pid file yet: alive while the lock is young.
      alive = err.code === 'EPERM' || (err.code === 'ENOENT' && Date.now() - lockAge(lockDir) < 30_000);
    }
    if (!alive) {
      rmSync(lockDir, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline)
      throw new Error(`Timed out waiting for another build of ${what} (lock ${lockDir})`);
    if (!told) log(`[sandbox] another process is building ${what}; waiting...`);
    told = true;
    await sleep(1000);
  }
  try {
    return await fn();
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}

function lockAge(dir) {
  try {
    return statSync(dir).mtimeMs;
  } catch {
    return 0;
  }
}

async function build(log) {
  log(`[sandbox] building ${JAR_PATH} with Maven (first build downloads HAPI FHIR, a few minutes)...`);
  const started = Date.now();
  mkdirSync(join(HAPI_DIR, 'target'), { recursive: true });
  const buildLog = join(HAPI_DIR, 'target', 'build.log');
  const builtJar = join(BUILD_DIR, 'kap-hapi-sandbox.jar');
  const fd = openSync(buildLog, 'w');
  try {
    const code = await new Promise((resolve, reject) => {
      const child = spawn('mvn', ['-q', '-B', 'package', '-DskipTests', `-Dsandbox.build.dir=${BUILD_DIR}`], {
        cwd: HAPI_DIR,
        stdio: ['ignore', fd, fd],
      });
      child.on('error', reject);
      child.on('exit', (c, signal) => resolve(signal ? 1 : c));
    });
    if (code !== 0 || !existsSync(builtJar)) {
      throw new Error(
        `Maven build of the HAPI FHIR sandbox failed (exit ${code}); see ${buildLog}:\n${tail(buildLog, 40)}`,
      );
    }
  } finally {
    closeSync(fd);
  }
  // Atomic replace: a sandbox that is running keeps its (old) jar file.
  renameSync(builtJar, JAR_PATH);
  log(`[sandbox] built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

/** Name and version of the FHIR package the sandbox installs (package/package.json, built with its .tgz). */
function builtPackage() {
  const file = join(HERE, '..', 'package', 'package.json');
  if (!existsSync(PACKAGE_TGZ) || !existsSync(file))
    throw new Error(
      `FHIR package not found at ${PACKAGE_TGZ}; run npm run build:package (or call ensurePackage() of sandbox/fhir-package.mjs).`,
    );
  return JSON.parse(readFileSync(file, 'utf8'));
}

/** Last `lines` lines of a text file ('' if it does not exist). */
export function tail(file, lines = 60) {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Asks the OS for a free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls GET {baseUrl}/metadata until it answers 200.
 * @param {string} baseUrl e.g. http://127.0.0.1:8090/fhir
 * @param {number} [timeoutMs]
 * @param {{isAlive?: () => boolean, describe?: () => string}} [opts] stop early when the process died
 */
export async function waitForMetadata(
  baseUrl,
  timeoutMs = 120_000,
  { isAlive = () => true, describe = () => '' } = {},
) {
  const url = `${baseUrl.replace(/\/+$/, '')}/metadata`;
  const deadline = Date.now() + timeoutMs;
  let lastError = 'no answer yet';
  while (Date.now() < deadline) {
    if (!isAlive()) {
      throw new Error(`HAPI FHIR server exited before ${url} answered.${describe()}`);
    }
    try {
      const res = await fetch(url, {
        headers: { accept: 'application/fhir+json' },
        signal: AbortSignal.timeout(Math.max(1000, Math.min(10_000, deadline - Date.now()))),
      });
      await res.arrayBuffer();
      if (res.status === 200) return;
      lastError = `HTTP ${res.status}`;
    } catch (err) {
      lastError = err?.cause?.code ?? err?.cause?.message ?? err?.message ?? String(err);
    }
    await sleep(500);
  }
  throw new Error(
    `Timed out after ${timeoutMs} ms waiting for GET ${url} to answer 200 (last: ${lastError}).${describe()}`,
  );
}

/**
 * Starts the sandbox jar: java -jar kap-hapi-sandbox.jar, FHIR R4 at http://127.0.0.1:<port>/fhir.
 * It stops when this process ends; with `leaveRunning`, only until it is up: then it runs on in its
 * own process group (its pid is returned for stopping it).
 * @param {{port?: number, dbFile?: string, timeoutMs?: number, log?: (msg: string) => void, jar?: string, javaOpts?: string[], leaveRunning?: boolean}} [opts]
 * @returns {Promise<{baseUrl: string, port: number, pid: number, logFile: string, startupMs: number, stop: () => Promise<void>}>}
 */
export async function startSandbox({
  port,
  dbFile,
  timeoutMs = 180_000,
  log = noop,
  jar = JAR_PATH,
  javaOpts,
  leaveRunning = false,
} = {}) {
  if (!existsSync(jar))
    throw new Error(
      `HAPI sandbox jar not found at ${jar}; call ensurePackage() of sandbox/fhir-package.mjs first.`,
    );
  const { name: packageName, version: packageVersion } = builtPackage();
  const thePort = port ? Number(port) : await freePort();
  const baseUrl = `http://127.0.0.1:${thePort}/fhir`;
  mkdirSync(join(HAPI_DIR, 'target'), { recursive: true });
  const logFile = join(HAPI_DIR, 'target', `sandbox-${thePort}.log`);
  const fd = openSync(logFile, 'w');

  const opts =
    javaOpts ??
    (process.env.KAP_SANDBOX_JAVA_OPTS
      ? process.env.KAP_SANDBOX_JAVA_OPTS.split(/\s+/).filter(Boolean)
      : DEFAULT_JAVA_OPTS);
  const env = {
    ...process.env,
    HAPI_PORT: String(thePort),
    HAPI_BIND: '127.0.0.1',
    HAPI_ENV_FILE,
    KAP_FHIR_PACKAGE: PACKAGE_TGZ,
    KAP_FHIR_PACKAGE_NAME: packageName,
    KAP_FHIR_PACKAGE_VERSION: packageVersion,
  };
  if (dbFile) env.HAPI_DB_FILE = dbFile;
  else delete env.HAPI_DB_FILE;

  const started = Date.now();
  const child = spawn('java', [...opts, '-jar', jar], {
    cwd: HAPI_DIR,
    env,
    stdio: ['ignore', fd, fd],
    detached: leaveRunning,
  });
  closeSync(fd);
  let exited = null;
  const exitPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    });
    child.on('error', (err) => {
      exited = { code: -1, signal: null, err };
      resolve(exited);
    });
  });

  const stop = async (graceMs = 15_000) => {
    if (exited) return;
    child.kill('SIGTERM');
    const timer = sleep(graceMs).then(() => 'timeout');
    const r = await Promise.race([exitPromise, timer]);
    if (r === 'timeout' && !exited) {
      child.kill('SIGKILL');
      await exitPromise;
    }
  };

  // Do not leave a java process behind when our own process goes away.
  const onExit = () => {
    if (!exited) child.kill('SIGKILL');
  };
  process.once('exit', onExit);

  log(`[sandbox] starting HAPI FHIR (pid ${child.pid}) at ${baseUrl}, log ${logFile}`);
  try {
    await waitForMetadata(baseUrl, timeoutMs, {
      isAlive: () => !exited,
      describe: () =>
        `${exited ? ` Exit: ${JSON.stringify({ code: exited.code, signal: exited.signal })}.` : ''}\n--- tail of ${logFile} ---\n${tail(logFile, 60)}`,
    });
  } catch (err) {
    await stop(5_000);
    process.removeListener('exit', onExit);
    throw err;
  }
  const startupMs = Date.now() - started;
  if (leaveRunning) {
    process.removeListener('exit', onExit);
    child.unref();
  }
  return {
    baseUrl,
    port: thePort,
    pid: child.pid,
    logFile,
    startupMs,
    stop: async () => {
      await stop();
      process.removeListener('exit', onExit);
    },
  };
}
