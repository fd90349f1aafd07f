/**
 * One form for every write the API offers: labelled fields, the answer's source on success, and
 * on refusal every reason the server gave (a dose refused lists each readiness reason), with the
 * field each names.
 */
import { useState } from 'preact/hooks';
import { Problem, html } from './ui.js';

const nowInstant = () => `${new Date().toISOString().slice(0, 16)}:00Z`;

/** fields: [{ name, label, type: text|number|select|textarea|instant, options, value, required, hint }] */
export function ApiForm({ id, title, fields, submit, onDone, submitLabel = 'Save' }) {
  const initial = Object.fromEntries(
    fields.map((f) => [f.name, f.value ?? (f.type === 'instant' ? nowInstant() : f.type === 'select' ? (f.options[0]?.[0] ?? '') : '')]),
  );
  const [values, setValues] = useState(initial);
  const [error, setError] = useState();
  const [done, setDone] = useState();
  const [busy, setBusy] = useState(false);
  const [answers, setAnswers] = useState(0);
  const set = (name) => (e) => setValues({ ...values, [name]: e.currentTarget.value });
  const send = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    setDone(undefined);
    try {
      const answer = await submit(values);
      setDone(answer?.source ?? answer?.id ?? 'saved');
      onDone?.(answer);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
      setAnswers((n) => n + 1);
    }
  };
  return html`<form id=${id} onSubmit=${send} aria-labelledby=${`${id}-title`} data-answers=${answers}>
    <h3 id=${`${id}-title`}>${title}</h3>
    ${fields.map((f) => {
      const fid = `${id}-${f.name}`;
      const common = { id: fid, name: f.name, required: f.required !== false, value: values[f.name], onInput: set(f.name), onChange: set(f.name) };
      const input =
        f.type === 'select'
          ? html`<select ...${common}>${f.options.map(([v, label]) => html`<option value=${v}>${label}</option>`)}</select>`
          : f.type === 'textarea'
            ? html`<textarea ...${common} rows="2" />`
            : html`<input ...${common} type=${f.type === 'number' ? 'number' : 'text'} inputmode=${f.type === 'number' ? 'decimal' : undefined}
                autocomplete="off" placeholder=${f.type === 'instant' ? 'YYYY-MM-DDThh:mm:ssZ' : undefined} />`;
      return html`<div class="field"><label for=${fid}>${f.label}</label>${input}${f.hint ? html`<small class="muted">${f.hint}</small>` : null}</div>`;
    })}
    <button type="submit" disabled=${busy}>${submitLabel}</button>
    ${done ? html`<p class="done" role="status">Recorded: <code>${done}</code></p>` : null}
    <${Problem} error=${error} />
  </form>`;
}
