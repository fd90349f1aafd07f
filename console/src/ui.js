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
        ${(error.issues?.length ?? 0) > 1
          ? html`<p>Refused for ${error.issues.length} reasons:</p>
              <ul class="refusals">
                ${error.issues.map(
                  (i) => html`<li>${i.text}${i.code ? html` <code>${i.code}</code>` : null}${i.field ? html` (field <code>${i.field}</code>)` : null}</li>`,
                )}
              </ul>`
          : html`<p>${error.message}${error.issues?.[0]?.code ? html` <code>${error.issues[0].code}</code>` : null}</p>
              ${error.issues?.[0]?.field ? html`<ul><li>field <code>${error.issues[0].field}</code></li></ul>` : null}`}
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
