/** This week: every coming medicine session with its course's verdict and reasons, live. */
import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';
import { Problem, Reasons, Verdict, html, patientLabel, when } from './ui.js';

export function Week() {
  const [week, setWeek] = useState();
  const [error, setError] = useState();
  const [live, setLive] = useState(false);
  useEffect(() => {
    let stopped = false;
    const load = () =>
      api('GET', '/api/v1/sessions?days=7').then(
        (w) => !stopped && (setWeek(w), setError(undefined)),
        (e) => !stopped && setError(e),
      );
    load();
    const events = new EventSource('/console/events');
    events.addEventListener('open', () => setLive(true));
    events.addEventListener('error', () => setLive(false));
    events.addEventListener('change', load);
    return () => {
      stopped = true;
      events.close();
    };
  }, []);
  return html`<main id="main" tabindex="-1">
    <h1 tabindex="-1">This week</h1>
    <p class="muted" aria-live="polite">
      ${week ? `${week.sessions.length} medicine session${week.sessions.length === 1 ? '' : 's'} from ${week.from} to ${week.to}.` : 'Loading…'}
      ${live ? ' Updated live.' : ''}
    </p>
    <${Problem} error=${error} />
    <ul class="cards" aria-label="Medicine sessions">
      ${(week?.sessions ?? []).map(
        (s) => html`<li class="card" data-episode=${s.episodeId}>
          <h2>
            <a href=${`#/course/${s.episodeId}`}>${s.patients.map(patientLabel).join(' & ')}</a>
            ${s.episodeType === 'couples' ? html` <span class="tag">couple</span>` : null}
          </h2>
          <p>${when(s.session.start)} · <${Verdict} verdict=${s.readiness.verdict} />
            · <a class="open-session" href=${`#/session/${s.episodeId}/${s.session.id}`}>Open the medicine session</a></p>
          <${Reasons} reasons=${s.readiness.reasons} />
        </li>`,
      )}
    </ul>
  </main>`;
}
