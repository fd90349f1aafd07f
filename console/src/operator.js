/** The operator's pages: placeholder until they land. */
import { html } from './ui.js';

export const Operator = ({ view }) => html`<main id="main" tabindex="-1"><h1 tabindex="-1">Operator: ${view}</h1></main>`;
