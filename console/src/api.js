/**
 * The console's one way to the server: the session cookie goes by itself (HttpOnly, never seen
 * here); the CSRF token, kept in memory only, goes with every write. An error answer is thrown as
 * an ApiError carrying the OperationOutcome's sentences and the fields they name.
 */
let csrf = '';
let onSignedOut = () => {};

export const setCsrf = (token) => {
  csrf = token ?? '';
};
export const whenSignedOut = (fn) => {
  onSignedOut = fn;
};

export class ApiError extends Error {
  constructor(status, outcome) {
    const issues = (outcome?.issue ?? []).map((i) => ({
      text: i.diagnostics ?? i.details?.text ?? i.code,
      code: i.diagnostics ? i.details?.text : undefined,
      field: (i.expression ?? [])[0],
    }));
    super(issues.map((i) => i.text).join(' ') || `The server answered ${status}.`);
    this.status = status;
    this.issues = issues;
  }
}

/** A call; `body` is sent as JSON, or as a form when it is URLSearchParams (a FHIR search by POST). */
export async function api(method, path, body) {
  const headers = {};
  const form = body instanceof URLSearchParams;
  if (body !== undefined) headers['content-type'] = form ? 'application/x-www-form-urlencoded' : 'application/json';
  if (method !== 'GET') headers['x-csrf-token'] = csrf;
  const res = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    ...(body === undefined ? {} : { body: form ? body.toString() : JSON.stringify(body) }),
  });
  const type = res.headers.get('content-type') ?? '';
  const data = res.status === 204 ? null : type.includes('json') ? await res.json() : await res.text();
  if (res.status === 401 && !path.startsWith('/console/session')) onSignedOut();
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}
