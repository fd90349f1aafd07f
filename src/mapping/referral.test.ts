import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import type { ServiceRequest, Task } from 'fhir/r4';
import { referral } from '../../test/support/prescriber-arbitraries.js';
import { isError } from '../fhir/outcome.js';
import { identityContext as ctx } from '../fhir/reference-context.js';
import { validateResource } from '../validation/validator.js';
import { referralFromFhir, referralToFhir } from './referral.js';

const fixture = <T>(name: string): T =>
  JSON.parse(readFileSync(new URL(`../../fixtures/referral/${name}`, import.meta.url), 'utf8'));

const PAIRS = [
  ['servicerequest-clearance.fhir.json', 'task-clearance-completed.fhir.json'],
  ['servicerequest-clearance-open.fhir.json', 'task-clearance-in-progress.fhir.json'],
] as const;

describe('referral fixtures round-trip (FHIR -> domain -> FHIR -> domain)', () => {
  test.each(PAIRS)('%s + %s', (srName, taskName) => {
    const first = referralFromFhir(fixture<ServiceRequest>(srName), fixture<Task>(taskName), ctx);
    expect(first.issues).toEqual([]);
    const { serviceRequest, task } = referralToFhir(first.value!, ctx);
    expect(validateResource(serviceRequest).filter(isError)).toEqual([]);
    expect(validateResource(task).filter(isError)).toEqual([]);
    expect(referralFromFhir(serviceRequest, task, ctx)).toEqual({ value: first.value, issues: [] });
  });

  test('the completed referral points at the clearance decision', () => {
    const { value } = referralFromFhir(
      fixture<ServiceRequest>('servicerequest-clearance.fhir.json'),
      fixture<Task>('task-clearance-completed.fhir.json'),
      ctx,
    );
    expect(value).toEqual({
      id: 'ref-lindqvist-1',
      patientId: '48213',
      episodeId: 'ep-lindqvist-2026',
      requester: 'Practitioner/th-vance',
      performer: 'Practitioner/pr-okafor',
      authoredOn: '2026-01-29T14:00:00-05:00',
      reason: expect.stringMatching(/^Treatment-resistant depression/),
      taskStatus: 'completed',
      decision: 'Observation/clr-lindqvist-2026-02',
    });
  });
});

test('domain -> FHIR -> domain is the identity for any referral', () => {
  fc.assert(
    fc.property(referral, (r) => {
      const { serviceRequest, task } = referralToFhir(r, ctx);
      expect(serviceRequest.meta?.profile).toEqual([
        'https://fhir.kap-bridge.org/StructureDefinition/kap-clearance-request',
      ]);
      expect(task.meta?.profile).toEqual([
        'https://fhir.kap-bridge.org/StructureDefinition/kap-clearance-task',
      ]);
      expect(task.focus).toEqual({ reference: `ServiceRequest/${r.id}` });
      expect(referralFromFhir(serviceRequest, task, ctx)).toEqual({ value: r, issues: [] });
    }),
  );
});

describe('tolerant reading', () => {
  const sr = () => fixture<ServiceRequest>('servicerequest-clearance.fhir.json');
  const task = () => fixture<Task>('task-clearance-completed.fhir.json');

  test('without a Task the status comes from the ServiceRequest, said in an information issue', () => {
    const { value, issues } = referralFromFhir(sr(), undefined, ctx);
    expect(value?.taskStatus).toBe('completed');
    expect(value?.decision).toBeUndefined();
    expect(issues.map((i) => i.severity)).toEqual(['information']);
  });

  test('a Task status the domain lacks is read as the nearest one', () => {
    const { value, issues } = referralFromFhir(sr(), { ...task(), status: 'ready' }, ctx);
    expect(value?.taskStatus).toBe('accepted');
    expect(issues).toEqual([expect.objectContaining({ severity: 'warning', expression: 'Task.status' })]);
  });

  test('a Task focused on another request is flagged', () => {
    const other = { ...task(), focus: { reference: 'ServiceRequest/someone-else' } };
    expect(referralFromFhir(sr(), other, ctx).issues).toEqual([
      expect.objectContaining({ severity: 'warning', expression: 'Task.focus' }),
    ]);
  });
});
