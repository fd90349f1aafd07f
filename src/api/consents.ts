/**
 * The therapist API's informed consent: the signed agreement for a course (Consent, scope
 * treatment, LOINC 59284-0), one per partner in a couples course.
 */
import { randomUUID } from 'node:crypto';
import type { InformedConsent } from '../domain/model.js';
import { type Answered, answered, conflict, created, OperationOutcomeError } from '../fhir/outcome.js';
import { consentToFhir } from '../mapping/consent.js';
import { courseOf } from './episodes.js';
import { courseContext, linksOf, type RecordingDeps, record, sourceOf } from './recording.js';
import type { Answer, ConsentRecording } from './schemas.js';

export async function recordConsent(
  episodeId: string,
  input: ConsentRecording,
  deps: RecordingDeps,
  tenant: string,
): Promise<Answered<Answer<'Recorded'> & InformedConsent & { source: string }>> {
  const consent = await deps.store.transaction(async (tx) => {
    const episode = await courseOf(tx, episodeId, input.patient, tenant);
    const links = await linksOf(tx, episode, tenant);
    const id = input.id ?? randomUUID();
    if (await tx.getOwn('Consent', id, tenant)) {
      throw new OperationOutcomeError(conflict(`A consent ${id} is already recorded.`, 'id', 'duplicate'));
    }
    const consent: InformedConsent = {
      id,
      patientId: input.patient,
      episodeId,
      status: input.status ?? 'active',
      dateTime: input.signedAt,
      document: input.document,
    };
    await record(
      tx,
      [{ resource: consentToFhir(consent, courseContext(links)), queue: links[0]!.ehrPatient }],
      deps,
      tenant,
    );
    return consent;
  });
  const stored = await deps.store.getOwn('Consent', consent.id, tenant);
  return answered({ ...consent, source: await sourceOf(stored!, deps) }, created());
}
