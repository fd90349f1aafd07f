/**
 * Outcomes: the one shape every answer about a request takes (an OperationOutcome), the named
 * builders for each kind of answer, and the one place that decides an HTTP status from an outcome
 * (`statusOf`). Handlers say what happened with a builder; only the HTTP layer asks for a status.
 */
import type { OperationOutcome, OperationOutcomeIssue } from 'fhir/r4';

export type Severity = OperationOutcomeIssue['severity'];
export type IssueCode = OperationOutcomeIssue['code'];

export interface Issue {
  severity: Severity;
  code: IssueCode;
  /** A sentence a person understands: what is wrong and, where it helps, what to do. */
  message: string;
  /** FHIRPath to the field, e.g. `MedicationRequest.dosageInstruction[0].route`. */
  expression?: string;
}

export const issue = (severity: Severity, code: IssueCode, message: string, expression?: string): Issue =>
  expression === undefined ? { severity, code, message } : { severity, code, message, expression };

/**
 * Every kind of outcome and its HTTP status: the one table of statuses. An outcome carries its kind
 * as its id (as Medplum's do), so the status follows from the outcome alone.
 */
const STATUS = {
  ok: 200,
  created: 201,
  'no-content': 204,
  'see-other': 303,
  'bad-request': 400,
  unauthorized: 401,
  forbidden: 403,
  'not-found': 404,
  'not-allowed': 405,
  'not-acceptable': 406,
  timeout: 408,
  conflict: 409,
  'precondition-failed': 412,
  'too-large': 413,
  'unsupported-media-type': 415,
  'business-rule': 422,
  throttled: 429,
  'headers-too-large': 431,
  'server-error': 500,
  'bad-gateway': 502,
  unavailable: 503,
} as const;

export type OutcomeKind = keyof typeof STATUS;

/** The HTTP status of an outcome: from its kind; an outcome of no known kind is a server error. */
export function statusOf(outcome: OperationOutcome): number {
  return STATUS[outcome.id as OutcomeKind] ?? STATUS['server-error'];
}

/** The status an answer is recorded with (audit trail, request log) when the client went away first (nginx's 499). */
export const CLIENT_WENT_AWAY = 499;

/** Whether a status is one of success (a 2xx), for answers kept as statuses (the audit trail). */
export const isSuccessStatus = (status: number): boolean => status < STATUS['bad-request'];
/** Whether a status is the client's fault (a 4xx). */
export const isClientErrorStatus = (status: number): boolean =>
  status >= STATUS['bad-request'] && status < STATUS['server-error'];

/**
 * An outcome for a status another library decided (body-parser's refusals): the kind with that
 * status, or a bad request when there is none.
 */
export function outcomeWithStatus(status: number, message: string): OperationOutcome {
  const kind = (Object.keys(STATUS) as OutcomeKind[]).find((k) => STATUS[k] === status) ?? 'bad-request';
  return toOutcome([issue('error', 'invalid', message)], kind);
}

/** The issues of an outcome, or of none: an outcome without issues says so. */
export function toOutcome(issues: readonly Issue[], kind?: OutcomeKind): OperationOutcome {
  const list: OperationOutcomeIssue[] = issues.map((i) => ({
    severity: i.severity,
    code: i.code,
    diagnostics: i.message,
    ...(i.expression === undefined ? {} : { expression: [i.expression] }),
  }));
  if (list.length === 0) {
    list.push({ severity: 'information', code: 'informational', diagnostics: 'No issues found.' });
  }
  return kind === undefined
    ? { resourceType: 'OperationOutcome', issue: list }
    : { resourceType: 'OperationOutcome', id: kind, issue: list };
}

/** The issues of an outcome as kap-bridge words them (the reverse of toOutcome). */
export const issuesOf = (outcome: OperationOutcome): Issue[] =>
  outcome.issue.map((i) => issue(i.severity, i.code, i.diagnostics ?? '', i.expression?.[0]));

/** What an outcome says: one sentence (with the field it is about), or a list of issues. */
type Said = string | readonly Issue[];

const build =
  (kind: OutcomeKind, defaultCode: IssueCode) =>
  (said: Said, expression?: string, code: IssueCode = defaultCode): OperationOutcome =>
    toOutcome(typeof said === 'string' ? [issue('error', code, said, expression)] : said, kind);

/** All went well; the answer is what was asked for (an information issue when there is something to say). */
export const allOk = (message?: string): OperationOutcome =>
  toOutcome(message === undefined ? [] : [issue('information', 'informational', message)], 'ok');
/** Something new was kept. */
export const created = (message?: string): OperationOutcome =>
  toOutcome(message === undefined ? [] : [issue('information', 'informational', message)], 'created');

/** Done, and nothing to say back (a body-less answer). */
export const noContent = (): OperationOutcome => toOutcome([], 'no-content');

/** Go on elsewhere (the Location header says where): a browser sent on after a sign-in step. */
export const seeOther = (): OperationOutcome => toOutcome([], 'see-other');

/** The request is malformed: a field, a parameter, the path or the body (code `invalid` unless said). */
export const badRequest = build('bad-request', 'invalid');
/** The caller is not known (RFC 6750: a bearer token is needed, or the one sent is not valid). */
export const unauthorized = build('unauthorized', 'login');
/** The caller is known but may not do this. */
export const forbidden = build('forbidden', 'forbidden');
/** Nothing at this path, or nothing the caller may see there: the answer never says which. */
export const notFound = build('not-found', 'not-found');
/** A thing not registered, or not the caller's practice's: said the same way for both. */
export const notRegistered = (what: string, id: string, expression?: string): OperationOutcome =>
  notFound(`No ${what} ${id} is registered.`, expression);
/** The path exists but not with this method. */
export const notAllowed = build('not-allowed', 'not-supported');
/** The answer cannot be given in a format the request accepts. */
export const notAcceptable = build('not-acceptable', 'not-supported');
/** The request did not arrive in time. */
export const timedOut = build('timeout', 'timeout');
/** The request contradicts what is held (a duplicate, another version of the same thing). */
export const conflict = build('conflict', 'conflict');
/** A condition of the request (If-Match) does not hold. */
export const preconditionFailed = build('precondition-failed', 'conflict');
/** The body is larger than kap-bridge takes. */
export const tooLarge = build('too-large', 'too-costly');
/** The body is not of a media type kap-bridge reads. */
export const unsupportedMediaType = build('unsupported-media-type', 'not-supported');
/** Well-formed, but against a KAP rule or a profile: nothing was kept. */
export const businessRule = build('business-rule', 'business-rule');
/**
 * A patient, episode or session named in a body that is not registered, or not the caller's
 * practice's: the body is refused (422, code `not-found`), the field named, in the same words for
 * both. (An unknown id in the path is `notRegistered`, a 404.)
 */
export const unknownReference = (what: string, id: string, expression: string): OperationOutcome =>
  businessRule(`No ${what} ${id} is registered.`, expression, 'not-found');
/** Too many requests from one caller; the HTTP layer says when to try again. */
export const throttled = build('throttled', 'throttled');
/** The request line and headers are larger than kap-bridge reads. */
export const headersTooLarge = build('headers-too-large', 'too-costly');
/** kap-bridge failed; nothing about the request is said (the error is logged). */
export const serverError = build('server-error', 'exception');
/** An outside system (the EHR) answered, but not with anything kap-bridge could use. */
export const badGateway = build('bad-gateway', 'transient');
/** An outside system (the EHR) could not be reached or is not configured, or kap-bridge is not ready. */
export const unavailable = build('unavailable', 'transient');

/**
 * What a transport-free handler answers: what came of the request (an outcome of `allOk`,
 * `created`, ...) and the answer itself. The HTTP layer gives it its status and headers.
 */
export interface Answered<T> {
  outcome: OperationOutcome;
  answer: T;
}

/** An answer, and what came of the request: all went well unless said otherwise. */
export const answered = <T>(answer: T, outcome: OperationOutcome = allOk()): Answered<T> => ({
  outcome,
  answer,
});

export const isError = (i: Issue): boolean => i.severity === 'error' || i.severity === 'fatal';
export const hasErrors = (issues: readonly Issue[]): boolean => issues.some(isError);

/** An error that carries its OperationOutcome to the boundary that answers it. */
export class OperationOutcomeError extends Error {
  readonly outcome: OperationOutcome;
  constructor(outcome: OperationOutcome) {
    super(outcome.issue[0]?.diagnostics ?? outcome.id ?? 'OperationOutcome');
    this.name = 'OperationOutcomeError';
    this.outcome = outcome;
  }
  /** The outcome's kind (its id), e.g. `not-found`. */
  get kind(): OutcomeKind | undefined {
    return this.outcome.id as OutcomeKind | undefined;
  }
}

export const isOperationOutcomeError = (e: unknown): e is OperationOutcomeError =>
  e instanceof OperationOutcomeError;

/** Prefixes every issue's expression, e.g. with `Bundle.entry[3].resource`. */
export function prefixIssues(issues: readonly Issue[], prefix: string, resourceType: string): Issue[] {
  return issues.map((i) => {
    if (i.expression === undefined) return { ...i, expression: prefix };
    const rest = i.expression.startsWith(resourceType)
      ? i.expression.slice(resourceType.length)
      : `.${i.expression}`;
    return { ...i, expression: `${prefix}${rest}` };
  });
}
