/** A course: placeholder until the course page lands. */
import { html } from './ui.js';

export const Course = ({ id }) => html`<main id="main" tabindex="-1"><h1 tabindex="-1">Course ${id ?? ''}</h1></main>`;
