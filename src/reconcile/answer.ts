/**
 * The therapist API's drift report of one patient (`GET /api/v1/patients/{id}/reconcile`): report
 * only, transport-free; src/http gives it its status.
 */
import type { Answer } from '../api/schemas.js';
import type { EhrGateway } from '../ehr/gateway.js';
import { type Answered, answered, notFound, OperationOutcomeError, unavailable } from '../fhir/outcome.js';
import { Outbox } from '../outbox/outbox.js';
import type { PatientLinkPolicy } from '../patient-link.js';
import type { Store } from '../store/store.js';
import { type PatientReport, reconcilePatient, UnknownPatientError } from './gather.js';

/** The report for one patient; unknown patients and a missing EHR are outcomes. */
export async function reconciliation(
  patientId: string,
  deps: { store: Store; ehr?: EhrGateway; now?: () => Date; patientLink?: PatientLinkPolicy },
  tenant: string,
): Promise<Answered<Answer<'Reconciliation'> & PatientReport>> {
  if (!deps.ehr) {
    throw new OperationOutcomeError(
      unavailable(
        'No EHR is configured (KAP_EHR_BASE_URL): there is nothing to reconcile with.',
        undefined,
        'not-supported',
      ),
    );
  }
  try {
    const { report } = await reconcilePatient(patientId, tenant, {
      store: deps.store,
      ehr: deps.ehr,
      outbox: new Outbox(deps.store),
      ...(deps.now ? { now: deps.now } : {}),
      ...(deps.patientLink ? { patientLink: deps.patientLink } : {}),
    });
    return answered(report);
  } catch (e) {
    if (e instanceof UnknownPatientError) throw new OperationOutcomeError(notFound(e.message));
    throw e;
  }
}
