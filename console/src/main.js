/**
 * The console: sign-in, then the pages by the hash (#/week, #/course/<id>, #/session/<course>/<session>,
 * #/operator/...), which never carries anything about a patient but a course's and a session's ids.
 * Nothing is kept in browser storage.
 */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, setCsrf, whenSignedOut } from './api.js';
import { Course } from './course.js';
import { Operator } from './operator.js';
import { Session } from './session.js';
import { Problem, html } from './ui.js';
import { Week } from './week.js';

const currentRoute = () => (location.hash.replace(/^#\/?/, '') || '').split('/');

function SignIn({ onSignedIn }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState();
  const submit = async (e) => {
    e.preventDefault();
    setError(undefined);
    try {
      onSignedIn(await api('POST', '/console/session', { token }));
    } catch (err) {
      setError(err);
    }
  };
  // The server says in the page whether its identity provider signs people in (jwt mode).
  const oidc = document.querySelector('meta[name="kap-sign-in"]')?.content === 'oidc';
  return html`<main id="main" class="sign-in">
    <h1>kap-bridge console</h1>
    ${oidc
      ? html`<p><a class="button" id="oidc-sign-in" href="/console/oidc/sign-in">Sign in with your identity provider</a></p>
          <p class="muted">Or, for a system's token:</p>`
      : null}
    <form onSubmit=${submit}>
      <label for="token">Your access token</label>
      <input id="token" name="token" type="password" autocomplete="off" required value=${token}
        onInput=${(e) => setToken(e.currentTarget.value)} />
      <button type="submit">Sign in</button>
    </form>
    <${Problem} error=${error} />
    <p class="muted">The token is sent once; the browser keeps only a session cookie it cannot read.</p>
  </main>`;
}

const THERAPIST_NAV = [
  ['week', 'This week'],
  ['course', 'Courses'],
];
const OPERATOR_NAV = [
  ['operator/outbox', 'Outbox'],
  ['operator/drift', 'Drift'],
  ['operator/audit', 'Audit trail'],
  ['operator/sync', 'Sync'],
  ['operator/metrics', 'Metrics'],
];

function Shell({ who, onSignOut }) {
  const [route, setRoute] = useState(currentRoute());
  useEffect(() => {
    const changed = () => setRoute(currentRoute());
    addEventListener('hashchange', changed);
    // The address may have changed between the first render and this listener.
    changed();
    return () => removeEventListener('hashchange', changed);
  }, []);
  const nav = who.kind === 'operator' ? OPERATOR_NAV : THERAPIST_NAV;
  const [page, ...rest] = route;
  const here = page ? [page, ...rest].join('/') : nav[0][0];
  useEffect(() => {
    document.querySelector('main h1')?.focus?.();
  }, [here]);
  let body;
  if (who.kind === 'operator') body = html`<${Operator} view=${rest[0] ?? 'outbox'} />`;
  else if (page === 'session') body = html`<${Session} episode=${rest[0]} id=${rest[1]} />`;
  else if (page === 'course') body = html`<${Course} id=${rest[0]} />`;
  else body = html`<${Week} />`;
  return html`<a class="skip" href="#main" onClick=${(e) => {
      e.preventDefault();
      document.getElementById('main')?.focus();
    }}>Skip to content</a>
    <header class="top">
      <span class="brand">kap-bridge</span>
      <nav aria-label="Pages">
        <ul>
          ${nav.map(
            ([href, label]) =>
              html`<li><a href=${`#/${href}`} aria-current=${here.startsWith(href) ? 'page' : undefined}>${label}</a></li>`,
          )}
        </ul>
      </nav>
      <span class="who">${who.client}${who.tenant ? ` · ${who.tenant}` : ''}</span>
      <button type="button" class="secondary" onClick=${onSignOut}>Sign out</button>
    </header>
    ${body}`;
}

function App() {
  const [who, setWho] = useState();
  const [checked, setChecked] = useState(false);
  const signedIn = (session) => {
    setCsrf(session.csrf);
    setWho(session);
  };
  useEffect(() => {
    whenSignedOut(() => setWho(undefined));
    const code = /^#code=([A-Za-z0-9_-]+)$/.exec(location.hash)?.[1];
    // The one-time link's code leaves the address bar at once (and never reached the server's logs).
    if (code) history.replaceState(null, '', location.pathname);
    (code ? api('POST', '/console/session', { code }) : api('GET', '/console/session'))
      .then(signedIn, () => {})
      .finally(() => setChecked(true));
  }, []);
  const signOut = async () => {
    await api('POST', '/console/session/end').catch(() => {});
    setCsrf('');
    setWho(undefined);
    history.replaceState(null, '', location.pathname);
  };
  if (!checked) return html`<main id="main"><p>Loading the console…</p></main>`;
  return who ? html`<${Shell} who=${who} onSignOut=${signOut} />` : html`<${SignIn} onSignedIn=${signedIn} />`;
}

render(html`<${App} />`, document.getElementById('app'));
