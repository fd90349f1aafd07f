/**
 * A course: its readiness today with every reason, the score trends of each patient, the timeline
 * (referrals, consents, sessions by phase, doses, scores), and a form for each write on it.
 */
import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';
import { Courses } from './courses.js';
import { ApiForm } from './form.js';
import { Trends } from './trends.js';
import { Problem, Reasons, Verdict, html, when } from './ui.js';

const KINDS = [
  ['phq9', 'PHQ-9'],
  ['gad7', 'GAD-7'],
  ['pcl5', 'PCL-5'],
  ['blood-pressure', 'Blood pressure'],
  ['heart-rate', 'Heart rate'],
  ['spo2', 'SpO2'],
  ['cssrs', 'C-SSRS risk'],
];

/** The API's value of a score form: the number(s) read as the kind wants them. */
export function observationValue({ kind, score, items }) {
  const n = Number(score);
  switch (kind) {
    case 'phq9': {
      const answers = items ? items.split(',').map((s) => Number(s.trim())) : undefined;
      return { kind, ...(score ? { total: n } : {}), ...(answers ? { items: answers } : {}) };
    }
    case 'blood-pressure': {
      const [systolic, diastolic] = score.split('/').map(Number);
      return { kind, systolic, diastolic };
    }
    case 'heart-rate':
      return { kind, perMinute: n };
    case 'spo2':
      return { kind, percent: n };
    case 'cssrs':
      return { kind, risk: score };
    default:
      return { kind, total: n };
  }
}

const allSessions = (timeline) => timeline.phases.flatMap((p) => p.sessions);

function SessionRow({ s, episode, onChange }) {
  const [error, setError] = useState();
  const move = (action) => () =>
    api('POST', `/api/v1/sessions/${s.id}/${action}`, {}).then(onChange, setError);
  return html`<li class="session">
    <span>${when(s.start)} · ${s.status}</span>
    <code class="source">${s.source}</code>
    ${s.phase === 'medicine' ? html`<a class="open-session" href=${`#/session/${episode}/${s.id}`}>Open</a>` : null}
    ${s.status === 'planned' ? html`<button type="button" class="secondary" onClick=${move('start')}>Start</button>` : null}
    ${s.status === 'in-progress' ? html`<button type="button" class="secondary" onClick=${move('complete')}>Complete</button>` : null}
    ${s.status === 'planned' || s.status === 'in-progress' ? html`<button type="button" class="secondary" onClick=${move('cancel')}>Cancel</button>` : null}
    <${Problem} error=${error} />
  </li>`;
}

export function Course({ id }) {
  const [timeline, setTimeline] = useState();
  const [error, setError] = useState();
  const [width, setWidth] = useState(innerWidth - 48);
  const load = () => api('GET', `/api/v1/episodes/${id}`).then(setTimeline, setError);
  useEffect(() => {
    if (!id) return undefined;
    load();
    const resized = () => setWidth(innerWidth - 48);
    addEventListener('resize', resized);
    return () => removeEventListener('resize', resized);
  }, [id]);
  if (!id) return html`<${Courses} />`;
  if (!timeline) return html`<main id="main" tabindex="-1"><h1 tabindex="-1">Course</h1><${Problem} error=${error} /></main>`;
  const patients = timeline.patients.map((p) => [p, p]);
  const sessions = allSessions(timeline);
  const sessionOptions = [['', '(none)'], ...sessions.map((s) => [s.id, `${s.phase} ${when(s.start)}`])];
  const medicine = sessions.filter((s) => s.phase === 'medicine').map((s) => [s.id, when(s.start)]);
  const post = (path, body) => api('POST', `/api/v1${path}`, body);
  const done = () => load();
  return html`<main id="main" tabindex="-1">
    <h1 tabindex="-1">Course: ${timeline.type}${timeline.type === 'couples' ? ' (together)' : ''}</h1>
    <p>Status <strong>${timeline.status}</strong>${timeline.start ? ` since ${timeline.start}` : ''} · patients ${timeline.patients.join(' & ')}</p>
    ${timeline.intention ? html`<p class="muted">Intention: ${timeline.intention}</p>` : null}
    <section aria-labelledby="readiness-title">
      <h2 id="readiness-title">Readiness today: <${Verdict} verdict=${timeline.readiness.verdict} /></h2>
      <${Reasons} reasons=${timeline.readiness.reasons} />
    </section>
    <section aria-labelledby="trends-title">
      <h2 id="trends-title">Score trends</h2>
      ${timeline.patients.map(
        (p) => html`<${Trends} label=${p} width=${width}
          observations=${timeline.observations.filter((o) => o.patientId === p)}
          doses=${timeline.doses.filter((d) => d.patientId === p)} />`,
      )}
    </section>
    <section aria-labelledby="timeline-title">
      <h2 id="timeline-title">Timeline</h2>
      <h3>Clearance referrals</h3>
      <ul>${timeline.referrals.map((r) => html`<li>${r.patientId}: ${r.taskStatus} <code class="source">${r.source}</code></li>`)}</ul>
      <h3>Consents</h3>
      <ul>${timeline.consents.map((c) => html`<li>${c.patientId}: ${c.status}, signed ${when(c.dateTime)} <code class="source">${c.source}</code></li>`)}</ul>
      ${timeline.phases.map(
        (p) => html`<h3>${p.phase} (${p.sessions.length} of ${p.planned} planned)</h3>
          <ul class="sessions">${p.sessions.map((s) => html`<${SessionRow} s=${s} episode=${id} onChange=${done} />`)}</ul>`,
      )}
      <h3>Doses</h3>
      <ul>${timeline.doses.map((d) => html`<li>${d.patientId}: ${d.dose.value} ${d.dose.unit} ${d.route}, ${when(d.administeredAt)} <code class="source">${d.source}</code></li>`)}</ul>
    </section>
    <section aria-labelledby="record-title">
      <h2 id="record-title">Record</h2>
      <div class="grid-2">
        <${ApiForm} id="consent" title="Signed consent" onDone=${done}
          fields=${[
            { name: 'patient', label: 'Patient', type: 'select', options: patients },
            { name: 'signedAt', label: 'Signed at', type: 'instant' },
            { name: 'url', label: 'Document URL', value: 'https://' },
          ]}
          submit=${(v) => post(`/episodes/${id}/consents`, { patient: v.patient, signedAt: v.signedAt, document: { url: v.url, contentType: 'application/pdf' } })} />
        <${ApiForm} id="schedule" title="Schedule a session" onDone=${done}
          fields=${[
            { name: 'phase', label: 'Phase', type: 'select', options: [['preparation', 'Preparation'], ['medicine', 'Medicine'], ['integration', 'Integration']] },
            { name: 'start', label: 'Start', type: 'instant' },
          ]}
          submit=${(v) => post(`/episodes/${id}/sessions`, v)} />
        <${ApiForm} id="score" title="Scores and vitals" onDone=${done}
          fields=${[
            { name: 'patient', label: 'Patient', type: 'select', options: patients },
            { name: 'kind', label: 'What', type: 'select', options: KINDS },
            { name: 'score', label: 'Value', hint: 'a total; 122/78 for a blood pressure; low, moderate or high for C-SSRS', required: false },
            { name: 'items', label: 'PHQ-9 answers, comma-separated', hint: 'nine answers 0-3', required: false },
            { name: 'effective', label: 'When', type: 'instant' },
            { name: 'session', label: 'Session', type: 'select', options: sessionOptions, required: false },
          ]}
          submit=${(v) =>
            post(`/episodes/${id}/observations`, {
              patient: v.patient,
              value: observationValue(v),
              effective: v.effective,
              ...(v.session ? { session: v.session } : {}),
            })} />
        <${ApiForm} id="referral" title="Refer for clearance" onDone=${done}
          fields=${[
            { name: 'patient', label: 'Patient', type: 'select', options: patients },
            { name: 'requester', label: 'Therapist (Practitioner/id)' },
            { name: 'performer', label: 'Prescriber (Practitioner/id)', required: false },
            { name: 'reason', label: 'Reason', type: 'textarea', required: false },
          ]}
          submit=${(v) =>
            post(`/episodes/${id}/referrals`, {
              patient: v.patient,
              requester: v.requester,
              ...(v.performer ? { performer: v.performer } : {}),
              ...(v.reason ? { reason: v.reason } : {}),
            })} />
        ${medicine.length
          ? html`<${ApiForm} id="dose" title="Dose taken" onDone=${done}
              fields=${[
                { name: 'session', label: 'Medicine session', type: 'select', options: medicine },
                { name: 'patient', label: 'Patient', type: 'select', options: patients },
                { name: 'mg', label: 'Dose (mg)', type: 'number' },
                { name: 'time', label: 'When', type: 'instant' },
              ]}
              submit=${(v) => post(`/sessions/${v.session}/doses`, { patient: v.patient, dose: { value: Number(v.mg), unit: 'mg' }, time: v.time })} />`
          : null}
        <${ApiForm} id="status" title="Course status" onDone=${done}
          fields=${[
            { name: 'status', label: 'Status', type: 'select', options: [['onhold', 'On hold'], ['active', 'Active'], ['finished', 'Finished'], ['cancelled', 'Cancelled']] },
            { name: 'reason', label: 'Reason', type: 'textarea' },
          ]}
          submit=${(v) => post(`/episodes/${id}/status`, v)} />
      </div>
    </section>
  </main>`;
}
