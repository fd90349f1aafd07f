#!/usr/bin/env node
// Operator smoke test of a HAPI FHIR R4 server (the local sandbox or any other), not a jest test.
//
//   node sandbox/smoke.mjs                      # build if needed, start a sandbox on a free port, check, stop
//   node sandbox/smoke.mjs --base-url URL       # check a running server (e.g. http://127.0.0.1:8090/fhir)
//   KAP_FHIR_BASE_URL=URL node sandbox/smoke.mjs
//
// Checks: metadata; PUT with a client id; conditional create in a transaction (twice, the second
// creates nothing); stale If-Match; a differential StructureDefinition with $snapshot and
// $validate?profile=; a rest-hook Subscription delivered to a local listener; paging links.
// A rest-hook delivery needs the server to reach this machine's 127.0.0.1 (true for the sandbox;
// for docker pass --hook-host with an address the container can reach).

import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { ensurePackage } from './fhir-package.mjs';
import { startSandbox } from './sandbox.mjs';

const { values } = parseArgs({
  options: {
    'base-url': { type: 'string' },
    port: { type: 'string' },
    'db-file': { type: 'string' },
    'hook-host': { type: 'string', default: '127.0.0.1' },
  },
});

const FHIR_JSON = 'application/fhir+json';
const RUN = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const results = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function check(name, ok, detail = '') {
  results.push({ name, ok, detail });
  console.log(`${ok ? 'PASS' : 'FAIL'}  ${name}${detail ? `  — ${detail}` : ''}`);
  return ok;
}

async function fhir(base, method, path, body, headers = {}) {
  const url = /^https?:/.test(path) ? path : `${base}/${path}`;
  const res = await fetch(url, {
    method,
    headers: {
      accept: FHIR_JSON,
      ...(body ? { 'content-type': FHIR_JSON } : {}),
      ...headers,
    },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(60_000),
  });
  const text = await res.text();
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, text };
}

function issues(oo, severities = ['error', 'fatal']) {
  return (oo?.issue ?? []).filter((i) => severities.includes(i.severity));
}

function peakRssKb(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /VmHWM:\s+(\d+) kB/.exec(status);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

async function main() {
  let base = values['base-url'] ?? process.env.KAP_FHIR_BASE_URL;
  let sandbox;
  if (!base) {
    const log = (m) => console.error(m);
    await ensurePackage({ log });
    sandbox = await startSandbox({
      port: values.port ? Number(values.port) : undefined,
      dbFile: values['db-file'],
      log,
    });
    base = sandbox.baseUrl;
    console.log(
      `sandbox started in ${(sandbox.startupMs / 1000).toFixed(1)} s at ${base} (pid ${sandbox.pid})`,
    );
  }
  base = base.replace(/\/+$/, '');
  const baseHost = new URL(base).host;

  try {
    await runChecks(base, baseHost);
  } catch (err) {
    check('unexpected error', false, err?.stack ?? String(err));
  } finally {
    if (sandbox) {
      const kb = peakRssKb(sandbox.pid);
      if (kb) console.log(`java peak RSS (VmHWM): ${(kb / 1024).toFixed(0)} MiB`);
      await sandbox.stop();
    }
  }
  const failed = results.filter((r) => !r.ok).length;
  console.log(`\n${results.length - failed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}

async function runChecks(base, baseHost) {
  // 1. metadata
  {
    const r = await fhir(base, 'GET', 'metadata');
    check(
      'GET /metadata',
      r.status === 200 && r.json?.resourceType === 'CapabilityStatement',
      `HTTP ${r.status}, fhirVersion ${r.json?.fhirVersion}, software ${r.json?.software?.name ?? '?'} ${r.json?.software?.version ?? ''}`,
    );
  }

  // 2. client-assigned id
  {
    const r = await fhir(base, 'PUT', 'Patient/abc', {
      resourceType: 'Patient',
      id: 'abc',
      name: [{ family: 'Smoke', given: [RUN] }],
    });
    check(
      'PUT Patient/abc (client id)',
      [200, 201].includes(r.status) && r.json?.id === 'abc',
      `HTTP ${r.status}`,
    );
  }

  // 3. conditional create in a transaction, twice
  {
    const system = 'urn:kap-bridge:smoke';
    const value = `cond-${RUN}`;
    const bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: 'urn:uuid:6b7e8f1e-0000-4000-8000-000000000001',
          resource: {
            resourceType: 'Patient',
            identifier: [{ system, value }],
            name: [{ family: 'Conditional' }],
          },
          request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${system}|${value}` },
        },
      ],
    };
    const r1 = await fhir(base, 'POST', '', bundle);
    const r2 = await fhir(base, 'POST', '', bundle);
    const s1 = r1.json?.entry?.[0]?.response;
    const s2 = r2.json?.entry?.[0]?.response;
    const search = await fhir(
      base,
      'GET',
      `Patient?identifier=${encodeURIComponent(`${system}|${value}`)}&_summary=count`,
    );
    check(
      'transaction conditional create (ifNoneExist) twice',
      r1.status === 200 &&
        r2.status === 200 &&
        s1?.status?.startsWith('201') &&
        s2?.status?.startsWith('200') &&
        s1?.location?.split('/_history')[0] === s2?.location?.split('/_history')[0] &&
        search.json?.total === 1,
      `first ${s1?.status} ${s1?.location}; second ${s2?.status} ${s2?.location}; matching Patients ${search.json?.total}`,
    );
  }

  // 4. stale If-Match
  {
    const id = `ifmatch-${RUN}`;
    const p = { resourceType: 'Patient', id, active: true };
    await fhir(base, 'PUT', `Patient/${id}`, p);
    const v2 = await fhir(base, 'PUT', `Patient/${id}`, { ...p, active: false }, { 'if-match': 'W/"1"' });
    const stale = await fhir(base, 'PUT', `Patient/${id}`, { ...p, active: true }, { 'if-match': 'W/"1"' });
    check(
      'PUT with stale If-Match rejected',
      v2.status === 200 && (stale.status === 409 || stale.status === 412),
      `update with current version: HTTP ${v2.status} (etag ${v2.headers.get('etag')}); stale If-Match W/"1": HTTP ${stale.status} ${issues(stale.json)[0]?.diagnostics ?? ''}`,
    );
  }

  // 5. uploaded differential profile: $snapshot and $validate?profile=
  {
    const url = `http://kap-bridge.dev/fhir/StructureDefinition/smoke-observation-${RUN}`;
    const sd = {
      resourceType: 'StructureDefinition',
      url,
      name: 'SmokeObservation',
      status: 'active',
      fhirVersion: '4.0.1',
      kind: 'resource',
      abstract: false,
      type: 'Observation',
      baseDefinition: 'http://hl7.org/fhir/StructureDefinition/Observation',
      derivation: 'constraint',
      differential: {
        element: [
          { id: 'Observation', path: 'Observation' },
          { id: 'Observation.subject', path: 'Observation.subject', min: 1 },
          { id: 'Observation.note', path: 'Observation.note', max: '0' },
        ],
      },
    };
    const created = await fhir(base, 'POST', 'StructureDefinition', sd);
    check(
      'POST StructureDefinition (differential)',
      created.status === 201,
      `HTTP ${created.status} id ${created.json?.id}`,
    );

    const snap = await fhir(base, 'GET', `StructureDefinition/$snapshot?url=${encodeURIComponent(url)}`);
    const subjectEl = snap.json?.snapshot?.element?.find((e) => e.path === 'Observation.subject');
    check(
      'GET StructureDefinition/$snapshot?url=',
      snap.status === 200 && subjectEl?.min === 1,
      `HTTP ${snap.status}, ${snap.json?.snapshot?.element?.length ?? 0} snapshot elements, Observation.subject min=${subjectEl?.min}`,
    );

    const bad = {
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'smoke' },
      note: [{ text: 'x' }],
    };
    const good = {
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'smoke' },
      subject: { reference: 'Patient/abc' },
    };
    const vBad = await fhir(base, 'POST', `Observation/$validate?profile=${encodeURIComponent(url)}`, bad);
    const vGood = await fhir(base, 'POST', `Observation/$validate?profile=${encodeURIComponent(url)}`, good);
    const badErrors = issues(vBad.json);
    const mentionsSubject = badErrors.some((i) =>
      /subject/i.test(`${i.diagnostics} ${(i.expression ?? []).join()}`),
    );
    check(
      '$validate?profile=<uploaded profile> finds the constraint violations',
      vBad.status === 200 && mentionsSubject,
      `HTTP ${vBad.status}, errors: ${badErrors.map((i) => i.diagnostics).join(' | ')}`,
    );
    check(
      '$validate?profile=<uploaded profile> passes a conforming Observation',
      vGood.status === 200 && issues(vGood.json).length === 0,
      `HTTP ${vGood.status}, errors: ${
        issues(vGood.json)
          .map((i) => i.diagnostics)
          .join(' | ') || 'none'
      }`,
    );
  }

  // 6. rest-hook subscription delivered to a local listener
  {
    const received = [];
    const hook = createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        received.push({
          at: Date.now(),
          method: req.method,
          url: req.url,
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        });
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('ok');
      });
    });
    await new Promise((r) => hook.listen(0, '127.0.0.1', r));
    const hookPort = hook.address().port;
    const endpoint = `http://${values['hook-host']}:${hookPort}/hook`;
    let subId;
    try {
      const sub = await fhir(base, 'POST', 'Subscription', {
        resourceType: 'Subscription',
        status: 'requested',
        reason: `kap-bridge smoke ${RUN}`,
        criteria: 'Observation?',
        channel: { type: 'rest-hook', endpoint, payload: FHIR_JSON, header: ['X-Kap-Secret: s'] },
      });
      subId = sub.json?.id;
      check(
        'POST Subscription (rest-hook)',
        sub.status === 201,
        `HTTP ${sub.status} id ${subId}, endpoint ${endpoint}`,
      );

      const t0 = Date.now();
      let status;
      while (Date.now() - t0 < 60_000) {
        status = (await fhir(base, 'GET', `Subscription/${subId}`)).json?.status;
        if (status === 'active' || status === 'error') break;
        await sleep(250);
      }
      check(
        'Subscription becomes active',
        status === 'active',
        `status ${status} after ${Date.now() - t0} ms`,
      );

      const obs = await fhir(base, 'POST', 'Observation', {
        resourceType: 'Observation',
        status: 'final',
        code: { text: `smoke ${RUN}` },
        subject: { reference: 'Patient/abc' },
      });
      const obsId = obs.json?.id;
      const t1 = Date.now();
      let hit;
      while (Date.now() - t1 < 60_000) {
        hit = received.find((r) => r.url?.includes(`/Observation/${obsId}`));
        if (hit) break;
        await sleep(100);
      }
      let bodyType;
      try {
        bodyType = `${JSON.parse(hit?.body ?? '').resourceType}/${JSON.parse(hit?.body ?? '').id}`;
      } catch {
        bodyType = hit?.body ? 'non-JSON body' : 'empty body';
      }
      check(
        'rest-hook delivery received',
        Boolean(hit) &&
          hit.method === 'PUT' &&
          hit.url === `/hook/Observation/${obsId}` &&
          hit.headers['x-kap-secret'] === 's',
        hit
          ? `${hit.method} ${hit.url} after ${hit.at - t1} ms; content-type ${hit.headers['content-type']}; X-Kap-Secret ${hit.headers['x-kap-secret']}; user-agent ${hit.headers['user-agent']}; body ${bodyType}; headers ${JSON.stringify(hit.headers)}`
          : `nothing for Observation/${obsId} within 60 s (got ${received.length} other requests)`,
      );
    } finally {
      if (subId) await fhir(base, 'DELETE', `Subscription/${subId}`);
      hook.close();
    }
  }

  // 7. paging: _count=2 over 5 resources
  {
    const system = 'urn:kap-bridge:smoke-paging';
    const value = `page-${RUN}`;
    const bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: Array.from({ length: 5 }, (_, i) => ({
        resource: {
          resourceType: 'Patient',
          identifier: [{ system, value }],
          name: [{ family: `Page${i}` }],
        },
        request: { method: 'POST', url: 'Patient' },
      })),
    };
    const tx = await fhir(base, 'POST', '', bundle);
    let page = await fhir(
      base,
      'GET',
      `Patient?identifier=${encodeURIComponent(`${system}|${value}`)}&_count=2`,
    );
    const ids = [];
    const nextHosts = [];
    let pages = 0;
    while (page.status === 200 && pages < 10) {
      pages++;
      for (const e of page.json?.entry ?? []) ids.push(e.resource.id);
      const next = page.json?.link?.find((l) => l.relation === 'next')?.url;
      if (!next) break;
      nextHosts.push(new URL(next).host);
      page = await fhir(base, 'GET', next);
    }
    check(
      'search _count=2 over 5 resources: next links work',
      tx.status === 200 && pages === 3 && new Set(ids).size === 5 && nextHosts.every((h) => h === baseHost),
      `${pages} pages, ${new Set(ids).size} distinct ids, next-link hosts ${[...new Set(nextHosts)].join(',')} (expected ${baseHost})`,
    );
  }
}

await main();
