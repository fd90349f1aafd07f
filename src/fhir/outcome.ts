/**
 * OperationOutcome: the one shape every error takes, and the one place that decides an HTTP
 * status from it.
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

export function toOutcome(issues: readonly Issue[]): OperationOutcome {
  const list: OperationOutcomeIssue[] = issues.map((i) => ({
    severity: i.severity,
    code: i.code,
    diagnostics: i.message,
    ...(i.expression === undefined ? {} : { expression: [i.expression] }),
  }));
  if (list.length === 0) {
    list.push({ severity: 'information', code: 'informational', diagnostics: 'No issues found.' });
  }
  return { resourceType: 'OperationOutcome', issue: list };
}

export const isError = (i: Issue): boolean => i.severity === 'error' || i.severity === 'fatal';
export const hasErrors = (issues: readonly Issue[]): boolean => issues.some(isError);

/** An error that carries its OperationOutcome and HTTP status to the boundary that reports it. */
export class OperationOutcomeError extends Error {
  readonly outcome: OperationOutcome;
  readonly status: number;
  constructor(status: number, issues: readonly Issue[]) {
    super(issues[0]?.message ?? `HTTP ${status}`);
    this.name = 'OperationOutcomeError';
    this.status = status;
    this.outcome = toOutcome(issues);
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

/** A 404 for something not registered, or not the caller's: the answer never says which. */
export const notFound = (what: string, id: string) =>
  new OperationOutcomeError(404, [issue('error', 'not-found', `No ${what} ${id} is registered.`)]);
