/**
 * How a module declares the environment variables it reads: each module that uses configuration
 * declares its variables next to the typed section it is handed (e.g. src/outbox/config.ts);
 * src/config.ts collects the sections into one table, for the README and the start-up check.
 * Plain TypeScript that imports nothing, so that any module, src/domain included, may declare.
 */

export type Parse<T> = (raw: string) => T | { error: string };

export interface Variable<T> {
  name: string;
  description: string;
  /** Shown in the README; undefined means the variable is optional with no default. */
  default?: string;
  parse: Parse<T>;
  /** Never echoed back in an error message. */
  secret?: boolean;
}

/** A section's variables, one per field of the section `S`, keyed by the field they set. */
export type Declarations<S> = { [K in keyof S]-?: Variable<Exclude<S[K], undefined>> };

export const integer =
  (min: number, max: number): Parse<number> =>
  (raw) => {
    const n = Number(raw);
    return Number.isInteger(n) && n >= min && n <= max
      ? n
      : { error: `must be a whole number from ${min} to ${max}` };
  };

export const url: Parse<string> = (raw) => {
  try {
    const u = new URL(raw);
    return u.protocol === 'http:' || u.protocol === 'https:'
      ? raw.replace(/\/+$/, '')
      : { error: 'must be an http(s) URL' };
  } catch {
    return { error: 'must be an http(s) URL, e.g. https://ehr.example.org/fhir' };
  }
};

export const text: Parse<string> = (raw) => (raw.trim() ? raw : { error: 'must not be empty' });

export const boolean: Parse<boolean> = (raw) =>
  /^(true|1|yes)$/i.test(raw)
    ? true
    : /^(false|0|no)$/i.test(raw)
      ? false
      : { error: 'must be true or false' };

export const oneOf =
  <T extends string>(...values: readonly T[]): Parse<T> =>
  (raw) =>
    (values as readonly string[]).includes(raw)
      ? (raw as T)
      : { error: `must be one of ${values.join(', ')}` };

/** A comma-separated list; with `allowed`, of those values only. */
export function list(): Parse<string[]>;
export function list<T extends string>(allowed: readonly T[]): Parse<T[]>;
export function list(allowed?: readonly string[]): Parse<string[]> {
  return (raw) => {
    const items = raw
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean);
    const wrong = allowed ? items.filter((x) => !allowed.includes(x)) : [];
    if (wrong.length) return { error: `may name only ${allowed!.join(', ')}; not ${wrong.join(', ')}` };
    return items;
  };
}

/** A JWKS: a file path, or an https URL (http only on the loopback interface). */
export const jwksLocation: Parse<string> = (raw) => {
  if (!/^https?:\/\//.test(raw)) return text(raw);
  const u = new URL(raw);
  return u.protocol === 'https:' || ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname)
    ? raw
    : { error: 'must be a file path or an https URL' };
};

/** Why a token URL is refused, or undefined when it is fine: a client assertion never travels in clear. */
export function tokenUrlProblem(raw: string): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'must be an https URL, e.g. https://ehr.example.org/oauth2/token';
  }
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:' && isLoopback(url.hostname)) return undefined;
  return 'must be an https URL (http only for a loopback address such as 127.0.0.1)';
}

const isLoopback = (host: string): boolean =>
  host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);

export const tokenUrl: Parse<string> = (raw) => {
  const problem = tokenUrlProblem(raw);
  return problem ? { error: problem } : raw;
};

/** Whether the environment gives a variable a value (an empty one counts as not given). */
export const given = (env: Record<string, string | undefined>, name: string): boolean =>
  env[name] !== undefined && env[name] !== '';
