/**
 * The operator's pages: the outbox (retry, drop), a patient's drift from the EHR with "fix", the
 * audit trail search, sync and subscription state, and a summary of the metrics.
 */
import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';
import { ApiForm } from './form.js';
import { Problem, html, when } from './ui.js';

const TITLES = {
  outbox: 'Outbox',
  drift: 'Drift from the EHR',
  audit: 'Audit trail',
  sync: 'Sync and subscriptions',
  metrics: 'Metrics',
};

const Table = ({ caption, head, rows }) =>
  html`<div class="table-wrap" tabindex="0" role="region" aria-label=${caption}>
    <table>
      <caption>${caption}</caption>
      <thead><tr>${head.map((h) => html`<th scope="col">${h}</th>`)}</tr></thead>
      <tbody>${rows}</tbody>
    </table>
  </div>`;

function Outbox() {
  const [status, setStatus] = useState('');
  const [data, setData] = useState();
  const [error, setError] = useState();
  const load = () =>
    api('GET', `/operator/outbox${status ? `?status=${status}` : ''}`).then((d) => (setData(d), setError(undefined)), setError);
  useEffect(() => {
    load();
  }, [status]);
  const act = (id, action) => api('POST', `/operator/outbox/${id}/${action}`).then(load, setError);
  return html`
    <p>${data ? Object.entries(data.depth.byStatus).map(([k, v]) => `${k}: ${v}`).join(' · ') : 'Loading…'}
      ${data?.depth.oldestPendingAt ? ` · oldest pending since ${when(data.depth.oldestPendingAt)}` : ''}</p>
    <label for="outbox-status">Show</label>
    <select id="outbox-status" value=${status} onChange=${(e) => setStatus(e.currentTarget.value)}>
      <option value="">all</option><option value="pending">pending</option><option value="delivering">in flight</option>
      <option value="dead">dead</option><option value="delivered">delivered</option>
    </select>
    <${Problem} error=${error} />
    <${Table} caption="Outbox messages" head=${['Queued', 'Resource', 'Status', 'Attempts', 'Last error', '']}
      rows=${(data?.messages ?? []).map(
        (m) => html`<tr data-message=${m.id}>
          <td>${when(m.createdAt)}</td><td>${m.resourceType}</td><td>${m.status}</td><td>${m.attempts}</td>
          <td>${m.lastError ? m.lastError.message ?? JSON.stringify(m.lastError) : ''}</td>
          <td>
            ${m.status === 'dead' ? html`<button type="button" class="secondary" onClick=${() => act(m.id, 'retry')}>Retry</button>` : null}
            ${m.status === 'dead' || m.status === 'pending' ? html`<button type="button" class="secondary" onClick=${() => act(m.id, 'drop')}>Drop</button>` : null}
          </td>
        </tr>`,
      )} />`;
}

function Drift() {
  const [answer, setAnswer] = useState();
  const show = (a) => setAnswer(a);
  return html`<div class="grid-2">
      <${ApiForm} id="drift" title="Drift report" fields=${[{ name: 'patient', label: 'Patient id' }]}
        submit=${(v) => api('POST', '/operator/reconcile', { patient: v.patient })} onDone=${show} submitLabel="Compare" />
      <${ApiForm} id="fix" title="Fix" fields=${[{ name: 'patient', label: 'Patient id' }]}
        submit=${(v) => api('POST', '/operator/reconcile', { patient: v.patient, fix: true })} onDone=${show} submitLabel="Fix what the rules allow" />
    </div>
    ${answer
      ? html`<${Table} caption=${`${(answer.report ?? answer).drift?.length ?? 0} differences`} head=${['Here', 'There', 'Kind', 'Remedy']}
          rows=${((answer.report ?? answer).drift ?? []).map(
            (d) => html`<tr><td><code>${d.here ?? ''}</code></td><td><code>${d.there ?? ''}</code></td><td>${d.kind}</td><td>${d.remedy}</td></tr>`,
          )} />
        ${answer.repairs ? html`<ul>${answer.repairs.map((r) => html`<li>${r.outcome}: <code>${r.drift.here ?? r.drift.there}</code></li>`)}</ul>` : null}`
      : null}`;
}

function Audit() {
  const [bundle, setBundle] = useState();
  // FHIR's search by POST: the criteria (a patient's id, often) go in the body, never in an address.
  const search = (v) =>
    api('POST', '/audit/AuditEvent/_search', new URLSearchParams(Object.entries(v).filter(([, x]) => x)));
  return html`<${ApiForm} id="audit" title="Search" submitLabel="Search" onDone=${setBundle}
      fields=${[
        { name: 'entity', label: 'Record (Type/id)', required: false },
        { name: 'client', label: 'Client', required: false },
        { name: 'since', label: 'Since (instant)', required: false },
        { name: '_count', label: 'At most', value: '50', required: false },
      ]}
      submit=${search} />
    ${bundle
      ? html`<${Table} caption=${`${bundle.entry?.length ?? 0} audit events`} head=${['When', 'Who', 'Action', 'Outcome', 'What']}
          rows=${(bundle.entry ?? []).map(({ resource: e }) => html`<tr>
            <td>${when(e.recorded)}</td><td>${e.agent?.[0]?.who?.identifier?.value ?? ''}</td><td>${e.action}</td>
            <td>${e.outcome === '0' ? 'success' : `failure (${e.outcome})`}</td>
            <td>${(e.entity ?? []).map((x) => x.what?.reference).join(', ')}</td></tr>`)} />`
      : null}`;
}

function Sync() {
  const [state, setState] = useState();
  const [ready, setReady] = useState();
  const [error, setError] = useState();
  useEffect(() => {
    api('GET', '/operator/sync').then(setState, setError);
    fetch('/readyz').then((r) => r.json()).then(setReady, () => {});
  }, []);
  return html`<${Problem} error=${error} />
    <p>The EHR was last heard from: <strong>${state?.ehrLastHeardAt ? when(state.ehrLastHeardAt) : 'never'}</strong>.
      ${ready ? ` Service ${ready.status}; EHR ${ready.checks?.ehr}.` : ''}</p>
    <${Table} caption="Catch-up per type (subscriptions deliver between)" head=${['Type', 'Caught up to']}
      rows=${(state?.types ?? []).map((t) => html`<tr><td>${t.type}</td><td>${t.caughtUpTo ? when(t.caughtUpTo) : 'not yet'}</td></tr>`)} />`;
}

/** Prometheus text, summed per metric name (labels folded), histograms by their count and sum. */
export function summarise(text) {
  const sums = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1].endsWith('_bucket')) continue;
    sums.set(m[1], (sums.get(m[1]) ?? 0) + Number(m[3]));
  }
  return [...sums].filter(([n]) => n.startsWith('kap_'));
}

function Metrics() {
  const [rows, setRows] = useState();
  const [error, setError] = useState();
  useEffect(() => {
    api('GET', '/metrics').then((t) => setRows(summarise(t)), setError);
  }, []);
  return html`<${Problem} error=${error} />
    <${Table} caption="kap-bridge's metrics, summed over their labels" head=${['Metric', 'Value']}
      rows=${(rows ?? []).map(([n, v]) => html`<tr><td><code>${n}</code></td><td>${Math.round(v * 1000) / 1000}</td></tr>`)} />`;
}

const VIEWS = { outbox: Outbox, drift: Drift, audit: Audit, sync: Sync, metrics: Metrics };

export function Operator({ view }) {
  const View = VIEWS[view] ?? Outbox;
  return html`<main id="main" tabindex="-1">
    <h1 tabindex="-1">${TITLES[view] ?? TITLES.outbox}</h1>
    <${View} />
  </main>`;
}
