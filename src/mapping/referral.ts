/**
 * ServiceRequest + Task <-> ClearanceReferral: the therapist asks the prescriber for a medical
 * clearance (ServiceRequest, local code clearance-request) and the Task tracks the prescriber's
 * work; when done, Task.output points at the decision Observation.
 */

import type { ServiceRequest, Task } from 'fhir/r4';
import type { ClearanceReferral } from '../domain/model.js';
import { identifierSystem, KAP_CODE, SYSTEM } from '../fhir/codes.js';
import { parseReference } from '../fhir/ids.js';
import { type Issue, issue } from '../fhir/outcome.js';
import { domainIdOf, type MappingContext, type Read } from '../fhir/reference-context.js';
import { ownOpening } from './coding.js';

type TaskStatus = ClearanceReferral['taskStatus'];

/** Every status the domain has a word for. */
export const TASK_STATUSES: readonly TaskStatus[] = [
  'requested',
  'received',
  'accepted',
  'rejected',
  'in-progress',
  'completed',
  'cancelled',
  'failed',
];

/** Task statuses the domain has no word for, read as their nearest one. */
const NEAREST_TASK_STATUS: Record<string, TaskStatus> = {
  draft: 'requested',
  ready: 'accepted',
  'on-hold': 'in-progress',
  'entered-in-error': 'cancelled',
};

const SERVICE_REQUEST_STATUS: Record<TaskStatus, ServiceRequest['status']> = {
  requested: 'active',
  received: 'active',
  accepted: 'active',
  'in-progress': 'active',
  completed: 'completed',
  rejected: 'revoked',
  cancelled: 'revoked',
  failed: 'revoked',
};

const REQUEST_CODE = {
  system: SYSTEM.kap,
  code: KAP_CODE.clearanceRequest,
  display: 'Request for medical clearance for KAP',
};
const DECISION_CODE = {
  system: SYSTEM.kap,
  code: KAP_CODE.clearanceDecision,
  display: 'Medical clearance decision for KAP',
};

export interface ReferralResources {
  serviceRequest: ServiceRequest;
  task: Task;
}

export function referralToFhir(referral: ClearanceReferral, ctx: MappingContext): ReferralResources {
  const patient = { reference: ctx.ref('Patient', referral.patientId) };
  const serviceRequest: ServiceRequest = {
    ...ownOpening(ctx, 'ServiceRequest', referral.id, 'kap-clearance-request'),
    status: SERVICE_REQUEST_STATUS[referral.taskStatus],
    intent: 'order',
    code: { coding: [REQUEST_CODE] },
    subject: patient,
    authoredOn: referral.authoredOn,
  };
  if (referral.requester !== undefined) serviceRequest.requester = { reference: referral.requester };
  if (referral.performer !== undefined) serviceRequest.performer = [{ reference: referral.performer }];
  if (referral.reason !== undefined) serviceRequest.reasonCode = [{ text: referral.reason }];
  if (referral.episodeId !== undefined) {
    serviceRequest.supportingInfo = [{ reference: ctx.ref('EpisodeOfCare', referral.episodeId) }];
  }
  const task: Task = {
    ...ownOpening(ctx, 'Task', referral.id, 'kap-clearance-task'),
    status: referral.taskStatus,
    intent: 'order',
    focus: { reference: ctx.ref('ServiceRequest', referral.id) },
    for: patient,
    authoredOn: referral.authoredOn,
  };
  if (referral.requester !== undefined) task.requester = { reference: referral.requester };
  if (referral.performer !== undefined) task.owner = { reference: referral.performer };
  if (referral.decision !== undefined) {
    task.output = [{ type: { coding: [DECISION_CODE] }, valueReference: { reference: referral.decision } }];
  }
  return { serviceRequest, task };
}

/** Reads a referral from its ServiceRequest and, when known, the Task tracking it. */
export function referralFromFhir(
  serviceRequest: ServiceRequest,
  task: Task | undefined,
  ctx: MappingContext,
): Read<ClearanceReferral> {
  const issues: Issue[] = [];
  const id =
    domainIdOf(ctx, serviceRequest, 'ServiceRequest', identifierSystem('ServiceRequest')) ??
    (task === undefined ? undefined : domainIdOf(ctx, task, 'Task', identifierSystem('Task')));
  if (id === undefined)
    issues.push(issue('error', 'required', 'The ServiceRequest has no id.', 'ServiceRequest.id'));
  const patientId = ctx.idOf('Patient', serviceRequest.subject);
  if (patientId === undefined) {
    issues.push(issue('error', 'required', 'The referral names no known patient.', 'ServiceRequest.subject'));
  }
  const authoredOn = serviceRequest.authoredOn ?? task?.authoredOn;
  if (authoredOn === undefined) {
    issues.push(
      issue('error', 'required', 'The referral has no authored date.', 'ServiceRequest.authoredOn'),
    );
  }
  if (task !== undefined) checkFocus(serviceRequest, task, issues);
  if (id === undefined || patientId === undefined || authoredOn === undefined)
    return { value: undefined, issues };

  const value: ClearanceReferral = {
    id,
    patientId,
    authoredOn,
    taskStatus: readTaskStatus(serviceRequest, task, issues),
  };
  const episodeId = serviceRequest.supportingInfo
    ?.map((r) => ctx.idOf('EpisodeOfCare', r))
    .find((e) => e !== undefined);
  if (episodeId !== undefined) value.episodeId = episodeId;
  const requester = serviceRequest.requester?.reference ?? task?.requester?.reference;
  if (requester !== undefined) value.requester = requester;
  const performer = serviceRequest.performer?.[0]?.reference ?? task?.owner?.reference;
  if (performer !== undefined) value.performer = performer;
  const reason = serviceRequest.reasonCode?.[0];
  const reasonText = reason?.text ?? reason?.coding?.[0]?.display;
  if (reasonText !== undefined) value.reason = reasonText;
  const decision = task?.output
    ?.map((o) => o.valueReference?.reference)
    .find((r) => parseReference(r)?.type === 'Observation');
  if (decision !== undefined) value.decision = decision;
  return { value, issues };
}

function checkFocus(serviceRequest: ServiceRequest, task: Task, issues: Issue[]): void {
  const focus = parseReference(task.focus);
  if (focus?.type === 'ServiceRequest' && (serviceRequest.id === undefined || focus.id === serviceRequest.id))
    return;
  issues.push(
    issue('warning', 'invalid', 'The Task does not point at this ServiceRequest in its focus.', 'Task.focus'),
  );
}

function readTaskStatus(serviceRequest: ServiceRequest, task: Task | undefined, issues: Issue[]): TaskStatus {
  if (task === undefined) {
    const derived: TaskStatus =
      serviceRequest.status === 'completed'
        ? 'completed'
        : serviceRequest.status === 'revoked' || serviceRequest.status === 'entered-in-error'
          ? 'cancelled'
          : 'requested';
    issues.push(
      issue(
        'information',
        'incomplete',
        `No Task was given; its status was taken as "${derived}" from the ServiceRequest.`,
      ),
    );
    return derived;
  }
  const known = TASK_STATUSES.find((s) => s === task.status);
  if (known !== undefined) return known;
  const nearest = NEAREST_TASK_STATUS[task.status] ?? 'requested';
  issues.push(
    issue('warning', 'value', `The Task status "${task.status}" was read as "${nearest}".`, 'Task.status'),
  );
  return nearest;
}
