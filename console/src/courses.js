/** Courses: the practice's courses, and the forms to register a patient and start a course. */
import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';
import { ApiForm } from './form.js';
import { Problem, html, patientLabel } from './ui.js';

export function Courses() {
  const [list, setList] = useState();
  const [error, setError] = useState();
  const load = () => api('GET', '/api/v1/episodes').then(setList, setError);
  useEffect(() => {
    load();
  }, []);
  return html`<main id="main" tabindex="-1">
    <h1 tabindex="-1">Courses</h1>
    <${Problem} error=${error} />
    <div class="table-wrap" tabindex="0" role="region" aria-label="Table, scrolls sideways">
      <table>
        <caption class="muted">The practice's courses</caption>
        <thead><tr><th scope="col">Patients</th><th scope="col">Type</th><th scope="col">Status</th><th scope="col">Started</th></tr></thead>
        <tbody>
          ${(list?.episodes ?? []).map(
            (e) => html`<tr>
              <td><a href=${`#/course/${e.id}`}>${e.patients.map(patientLabel).join(' & ')}</a></td>
              <td>${e.type}</td><td>${e.status}</td><td>${e.start ?? ''}</td>
            </tr>`,
          )}
        </tbody>
      </table>
    </div>
    <div class="grid-2">
      <${ApiForm}
        id="register-patient"
        title="Register a patient"
        fields=${[
          { name: 'system', label: 'Identifier system', value: 'urn:mrn', hint: 'e.g. the EHR MRN system' },
          { name: 'value', label: 'Identifier (MRN)' },
          { name: 'ehrPatient', label: 'EHR Patient (Patient/id)', required: false },
        ]}
        submit=${(v) =>
          api('POST', '/api/v1/patients', {
            identifiers: [{ system: v.system, value: v.value }],
            ...(v.ehrPatient ? { ehrPatient: v.ehrPatient } : {}),
          })}
        submitLabel="Register"
      />
      <${ApiForm}
        id="start-course"
        title="Start a course"
        fields=${[
          { name: 'type', label: 'Type', type: 'select', options: [['individual', 'Individual'], ['couples', 'Couples']] },
          { name: 'patients', label: 'Patient id(s), comma-separated', hint: 'Two for a couple' },
          { name: 'start', label: 'Start (YYYY-MM-DD)', value: new Date().toISOString().slice(0, 10) },
          { name: 'intention', label: 'Intention', type: 'textarea', required: false },
        ]}
        submit=${(v) =>
          api('POST', '/api/v1/episodes', {
            type: v.type,
            patients: v.patients.split(',').map((p) => p.trim()).filter(Boolean),
            start: v.start,
            ...(v.intention ? { intention: v.intention } : {}),
          })}
        onDone=${(e) => {
          load();
          location.hash = `#/course/${e.id}`;
        }}
        submitLabel="Start the course"
      />
    </div>
  </main>`;
}
