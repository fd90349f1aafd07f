/** What every page shares: htm bound to Preact, the verdict badge, reasons with sources, errors. */
import { h } from 'preact';
import htm from 'htm';

export const html = htm.bind(h);

const VERDICT_TEXT = {
  ready: 'Ready',
  'pending-day-of-checks': 'Pending day-of checks',
  'not-ready': 'Not ready',
};

export const Verdict = ({ verdict }) =>
  html`<span class=${`verdict verdict-${verdict}`}>${VERDICT_TEXT[verdict] ?? verdict}</span>`;

export const Reasons = ({ reasons }) =>
  reasons.length === 0
    ? html`<p class="muted">No reason against.</p>`
    : html`<ul class="reasons">
        ${reasons.map(
          (r) => html`<li class=${`reason reason-${r.outcome}`}>
            <span class="reason-outcome">${r.outcome}</span>
            <span class="reason-text">${r.message}</span>
            <code class="reason-code">${r.code}</code>
            ${r.source ? html`<span class="source">source: <code>${r.source}</code></span>` : null}
          </li>`,
        )}
      </ul>`;

export const Problem = ({ error }) =>
  error
    ? html`<div class="problem" role="alert">
        <p>${error.message}</p>
        ${error.issues?.some((i) => i.field)
          ? html`<ul>${error.issues.filter((i) => i.field).map((i) => html`<li>field <code>${i.field}</code></li>`)}</ul>`
          : null}
      </div>`
    : null;

/** A date and time as the practice reads it, in the browser's zone (one formatter: making one per call is slow). */
const WHEN = new Intl.DateTimeFormat('en-GB', {
  weekday: 'short',
  day: 'numeric',
  month: 'short',
  year: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
});
export const when = (instant) => (instant ? WHEN.format(new Date(instant)) : '');

/** The name a therapist knows a patient by: their first identifier's value, else the id. */
export const patientLabel = (p) => p.identifiers?.[0]?.value ?? p.id;
