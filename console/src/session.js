/**
 * A medicine session: the day-of checks (readiness for its day, what is recorded and what is still
 * missing before the dose), each patient's monitoring with what is due and overdue and the time left
 * to the 40-minute reading and the end of monitoring, and the forms to start it, record readings,
 * doses and boosters, adverse events, and discharge; once completed, each patient's session report. A couple has a column per partner. Every time
 * shown counts down to an instant the server answered, on the server's clock; when one runs out the
 * page asks the server again, which alone says what is due or overdue.
 */
import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';
import { ApiForm } from './form.js';
import { Problem, Reasons, Verdict, html, when } from './ui.js';

const KIND_TEXT = {
  'blood-pressure': 'Blood pressure',
  'heart-rate': 'Heart rate',
  spo2: 'SpO2',
  sedation: 'MOAA/S',
  dissociation: 'CADSS',
  'check-in': 'Check-in',
};
const STATUS_TEXT = { done: 'Done', due: 'Due', overdue: 'Overdue', upcoming: 'Upcoming' };

const ADVERSE_EVENTS = [
  ['nausea', 'Nausea'],
  ['vomiting', 'Vomiting'],
  ['hypertension', 'Raised blood pressure'],
  ['tachycardia', 'Fast heart rate'],
  ['desaturation', 'Low oxygen saturation'],
  ['excessive-sedation', 'Excessive sedation'],
  ['dissociation-distress', 'Distressing dissociation'],
  ['anxiety', 'Anxiety or panic'],
  ['dizziness', 'Dizziness'],
  ['headache', 'Headache'],
  ['fall', 'Fall'],
  ['other', 'Other'],
];

/** The readings of one form, as the API's observation values; blank fields are not read. */
export function readingValues({ bp, hr, spo2, moaas, cadss }) {
  const values = [];
  if (bp) {
    const [systolic, diastolic] = bp.split('/').map(Number);
    values.push({ kind: 'blood-pressure', systolic, diastolic });
  }
  if (hr) values.push({ kind: 'heart-rate', perMinute: Number(hr) });
  if (spo2) values.push({ kind: 'spo2', percent: Number(spo2) });
  if (moaas) values.push({ kind: 'sedation', moaas: Number(moaas) });
  if (cadss) values.push({ kind: 'dissociation', cadss: Number(cadss) });
  return values;
}

/** "in 12 min", "3 min ago": how far an instant is from the server's now. */
function left(instant, serverNow) {
  const minutes = Math.round((Date.parse(instant) - serverNow) / 60_000);
  if (minutes === 0) return 'now';
  return minutes > 0 ? `in ${minutes} min` : `${-minutes} min ago`;
}

function Timer({ label, instant, serverNow, className }) {
  return instant
    ? html`<p class=${`timer ${className ?? ''}`}><strong>${label}</strong>: ${when(instant)} (${left(instant, serverNow)})</p>`
    : null;
}

function PatientMonitoring({ m, serverNow }) {
  const forty = m.points.find((p) => p.id === 'post-dose-40' && p.status !== 'done');
  return html`<div class="monitoring">
    ${m.firstDoseAt ? html`<p>First dose ${when(m.firstDoseAt)}</p>` : html`<p class="muted">No dose yet.</p>`}
    <${Timer} label="40-minute reading due by" instant=${forty?.dueBy} serverNow=${serverNow} />
    <${Timer} label="Monitoring ends" instant=${m.monitoredUntil} serverNow=${serverNow} />
    ${m.overdue.length
      ? html`<p class="overdue" role="alert">Overdue: ${m.overdue.map((p) => `${KIND_TEXT[p.kind] ?? p.kind} ${p.label}`).join('; ')}</p>`
      : null}
    ${m.outOfRange.length
      ? html`<ul class="reasons">${m.outOfRange.map(
          (r) => html`<li class="reason reason-not-ready"><span class="reason-outcome">out of range</span>
            <span class="reason-text">${r.message}</span>${r.source ? html`<span class="source">source: <code>${r.source}</code></span>` : null}</li>`,
        )}</ul>`
      : null}
    <table class="points">
      <caption>Monitoring plan</caption>
      <thead><tr><th scope="col">When</th><th scope="col">What</th><th scope="col">Status</th><th scope="col">Due</th></tr></thead>
      <tbody>
        ${m.points.map(
          (p) => html`<tr class=${`point point-${p.status}`}>
            <td>${p.label}</td>
            <td>${KIND_TEXT[p.kind] ?? p.kind}</td>
            <td>${STATUS_TEXT[p.status] ?? p.status}${p.takenAt ? ` ${when(p.takenAt)}` : ''}</td>
            <td>${p.status === 'done' ? '' : p.dueBy ? `by ${when(p.dueBy)} (${left(p.dueBy, serverNow)})` : p.dueFrom ? `from ${when(p.dueFrom)}` : ''}</td>
          </tr>`,
        )}
      </tbody>
    </table>
  </div>`;
}

/** Plain text of a FHIR narrative (XHTML), never put into the page as markup. */
const narrative = (div) => (div ? new DOMParser().parseFromString(div, 'text/html').body.textContent : '');

/**
 * A completed session's report for one patient (a FHIR document): its Composition's sections. Asked
 * for by the patient's own session (a partner's, in a couple's), so that no address names the patient.
 */
function Report({ id, index }) {
  const [report, setReport] = useState();
  const [error, setError] = useState();
  useEffect(() => {
    api('GET', `/api/v1/sessions/${id}/report`).then(setReport, setError);
  }, [id]);
  const composition = report?.entry?.find((e) => e.resource?.resourceType === 'Composition')?.resource;
  return html`<section class="report" aria-labelledby=${`report-${index}-title`}>
    <h3 id=${`report-${index}-title`}>Session report${composition?.title ? `: ${composition.title}` : ''}</h3>
    <${Problem} error=${error} />
    ${(composition?.section ?? []).map(
      (sec) => html`<h4>${sec.title}</h4><p>${narrative(sec.text?.div)}</p>`,
    )}
  </section>`;
}

/** The server's clock: the instant of its last answer, moved on by the time passed since. */
function useServerNow(answer) {
  const [now, setNow] = useState(0);
  useEffect(() => {
    if (!answer) return undefined;
    const offset = Date.parse(answer.at) - answer.receivedAt;
    const tick = () => setNow(Date.now() + offset);
    tick();
    const timer = setInterval(tick, 1000);
    return () => clearInterval(timer);
  }, [answer]);
  return now;
}

export function Session({ episode, id }) {
  const [timeline, setTimeline] = useState();
  const [readiness, setReadiness] = useState();
  const [monitoring, setMonitoring] = useState();
  const [error, setError] = useState();
  const session = timeline?.phases.flatMap((p) => p.sessions).find((s) => s.id === id);
  const loadMonitoring = () =>
    api('GET', `/api/v1/sessions/${id}/monitoring`).then(
      (m) => setMonitoring({ ...m, receivedAt: Date.now() }),
      setError,
    );
  const load = () => {
    setError(undefined);
    api('GET', `/api/v1/episodes/${episode}`).then(setTimeline, setError);
    loadMonitoring();
  };
  useEffect(() => {
    load();
    const every = setInterval(loadMonitoring, 30_000);
    return () => clearInterval(every);
  }, [episode, id]);
  const day = session?.start?.slice(0, 10);
  useEffect(() => {
    if (day) api('GET', `/api/v1/episodes/${episode}/readiness?date=${day}`).then(setReadiness, setError);
  }, [episode, day, monitoring]);
  const serverNow = useServerNow(monitoring);
  // When a time the server gave runs out, the server says what is now due or overdue.
  const next = (monitoring?.patients ?? [])
    .flatMap((m) => [...m.points.filter((p) => p.status !== 'done').flatMap((p) => [p.dueFrom, p.dueBy]), m.monitoredUntil])
    .filter((t) => t && Date.parse(t) > Date.parse(monitoring.at))
    .map(Date.parse)
    .sort((a, b) => a - b)[0];
  useEffect(() => {
    if (next !== undefined && serverNow >= next) loadMonitoring();
  }, [serverNow >= (next ?? Number.POSITIVE_INFINITY)]);

  if (!timeline || !monitoring)
    return html`<main id="main" tabindex="-1"><h1 tabindex="-1">Medicine session</h1><${Problem} error=${error} /></main>`;
  const post = (path, body) => api('POST', `/api/v1${path}`, body);
  const patients = monitoring.patients.map((m) => m.patientId);
  const both = [['', 'everyone'], ...patients.map((p) => [p, p])];
  return html`<main id="main" tabindex="-1" class="medicine">
    <h1 tabindex="-1">Medicine session${session ? `: ${when(session.start)}` : ''}</h1>
    <p>
      Status <strong id="session-status">${session?.status ?? 'unknown'}</strong>
      ${session?.source ? html` <code class="source">${session.source}</code>` : null}
      · <a href=${`#/course/${episode}`}>the course</a>
    </p>
    <p class="muted" aria-live="polite">Monitoring as of ${when(monitoring.at)}; asked again every 30 s and whenever a time runs out.</p>
    <${Problem} error=${error} />
    <section aria-labelledby="day-of-title">
      <h2 id="day-of-title">Day-of checks${readiness ? html`: <${Verdict} verdict=${readiness.verdict} />` : null}</h2>
      ${readiness ? null : html`<p class="muted">Loading…</p>`}
    </section>
    ${session?.status === 'planned'
      ? html`<${ApiForm} id="start" title="Start the session" submitLabel="Start" onDone=${load}
          fields=${[{ name: 'time', label: 'Started at', type: 'instant' }]}
          submit=${(v) => post(`/sessions/${id}/start`, v)} />`
      : null}
    <div class="partners">
      ${monitoring.patients.map((m, i) => {
        const mine = (readiness?.reasons ?? []).filter((r) => !r.patientId || r.patientId === m.patientId);
        const pre = m.points.filter((p) => p.id === 'pre-dose');
        return html`<section class="partner" aria-labelledby=${`partner-${i}-title`}>
          <h2 id=${`partner-${i}-title`}>${m.patientId}${m.mode === 'remote' ? ` (remote, chaperone ${m.chaperone ?? 'not named'})` : ''}</h2>
          <h3>Before the dose</h3>
          <ul class="checks">
            ${pre.map(
              (p) => html`<li class=${`check check-${p.status === 'done' ? 'recorded' : 'missing'}`}>
                <strong>${p.status === 'done' ? 'Recorded' : 'Missing'}</strong>: ${KIND_TEXT[p.kind] ?? p.kind}${p.status === 'done' ? ` ${when(p.takenAt)}` : ''}
                ${p.source ? html` <code class="source">${p.source}</code>` : null}
              </li>`,
            )}
          </ul>
          <${Reasons} reasons=${mine} />
          ${session?.status === 'finished' ? html`<${Report} id=${m.sessionId} index=${i} />` : null}
          <h3>Monitoring</h3>
          <${PatientMonitoring} m=${m} serverNow=${serverNow} />
          <${ApiForm} id=${`readings-${i}`} title="Vitals, sedation and dissociation" onDone=${load}
            fields=${[
              { name: 'bp', label: 'Blood pressure (mmHg)', hint: 'e.g. 122/78', required: false },
              { name: 'hr', label: 'Heart rate (/min)', type: 'number', required: false },
              { name: 'spo2', label: 'SpO2 (%)', type: 'number', required: false },
              { name: 'moaas', label: 'MOAA/S (0-5)', type: 'number', required: false },
              { name: 'cadss', label: 'CADSS (0-92)', type: 'number', required: false },
              { name: 'effective', label: 'Taken at', type: 'instant' },
            ]}
            submit=${async (v) => {
              let last;
              for (const value of readingValues(v))
                last = await post(`/episodes/${episode}/observations`, { patient: m.patientId, value, effective: v.effective, session: id });
              return last;
            }} />
          <${ApiForm} id=${`dose-${i}`} title="Dose or booster" onDone=${load}
            fields=${[
              { name: 'mg', label: 'Dose (mg)', type: 'number' },
              { name: 'route', label: 'Route', type: 'select', required: false,
                options: [['', "the prescription's"], ['sublingual', 'Sublingual'], ['oral', 'Oral'], ['intranasal', 'Intranasal'], ['intramuscular', 'Intramuscular'], ['intravenous', 'Intravenous']] },
              { name: 'time', label: 'Taken at', type: 'instant' },
            ]}
            submit=${(v) =>
              post(`/sessions/${id}/doses`, {
                patient: m.patientId,
                dose: { value: Number(v.mg), unit: 'mg' },
                ...(v.route ? { route: v.route } : {}),
                time: v.time,
              })} />
          <${ApiForm} id=${`adverse-${i}`} title="Adverse event" onDone=${load}
            fields=${[
              { name: 'event', label: 'What happened', type: 'select', options: ADVERSE_EVENTS },
              { name: 'severity', label: 'Severity', type: 'select', options: [['mild', 'Mild'], ['moderate', 'Moderate'], ['severe', 'Severe']] },
              { name: 'serious', label: 'Serious', type: 'select', options: [['false', 'No'], ['true', 'Yes: the prescriber is told at once']] },
              { name: 'onset', label: 'Began at', type: 'instant' },
              { name: 'description', label: 'Description', type: 'textarea', required: false },
              { name: 'actionTaken', label: 'Action taken', type: 'textarea', required: false },
              { name: 'outcome', label: 'Outcome', type: 'select',
                options: [['resolved', 'Resolved'], ['recovering', 'Recovering'], ['ongoing', 'Ongoing'], ['resolvedWithSequelae', 'Resolved with sequelae'], ['unknown', 'Unknown']] },
            ]}
            submit=${(v) =>
              post(`/sessions/${id}/adverse-events`, {
                patient: m.patientId,
                event: v.event,
                severity: v.severity,
                serious: v.serious === 'true',
                onset: v.onset,
                outcome: v.outcome,
                ...(v.description ? { description: v.description } : {}),
                ...(v.actionTaken ? { actionTaken: v.actionTaken } : {}),
              })} />
        </section>`;
      })}
    </div>
    ${session?.status === 'in-progress'
      ? html`<section aria-labelledby="discharge-title">
          <h2 id="discharge-title">Discharge</h2>
          <p class="muted">Refused with every unmet criterion of ${both.length > 2 ? 'both partners' : 'the patient'}; an override completes it anyway and tells the prescriber.</p>
          <${ApiForm} id="discharge" title="Complete the session" submitLabel="Discharge" onDone=${load}
            fields=${[
              { name: 'time', label: 'Discharged at', type: 'instant' },
              { name: 'transport', label: 'Transport home', hint: 'no driving until the next day', required: false },
              { name: 'override', label: 'Override: why discharge anyway', type: 'textarea', required: false },
            ]}
            submit=${(v) =>
              post(`/sessions/${id}/complete`, {
                time: v.time,
                ...(v.transport ? { transport: v.transport } : {}),
                ...(v.override ? { override: v.override } : {}),
              })} />
        </section>`
      : null}
  </main>`;
}
