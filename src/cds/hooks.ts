/**
 * The CDS Services at work, free of HTTP: a hook request checked against the CDS Hooks models, the
 * KAP courses of the EHR Patient found, each course's record read (the aligned record, with what
 * the client prefetched laid over it) and its readiness turned into cards. Feedback is checked and
 * counted. src/http translates.
 */
import { randomUUID } from 'node:crypto';
import { Ajv, type ErrorObject } from 'ajv';
import type { Bundle, MedicationRequest, Resource } from 'fhir/r4';
import { reportIdOf } from '../api/discharge.js';
import { medicinePolicyOf, readinessQuery } from '../api/patients.js';
import { type CourseOutbox, sourceOf } from '../api/recording.js';
import { type MedicinePolicy, medicineFacts, monitoringAt } from '../domain/medicine-session.js';
import type { PatientRecord, Readiness, ReadinessPolicy, ReadinessQuery } from '../domain/readiness.js';
import { patientReadiness } from '../domain/readiness.js';
import { badRequest, issue, notFound, OperationOutcomeError } from '../fhir/outcome.js';
import { identityContext, sourceOf as localSourceOf } from '../fhir/reference-context.js';
import { prescriptionFromFhir } from '../mapping/medication-request.js';
import type { PatientLinkPolicy } from '../patient-link.js';
import { currentRecord, loadRecord } from '../record.js';
import type { Store } from '../store/store.js';
import {
  type Card,
  courseCards,
  type LastMedicineSession,
  noCourseCard,
  type PartnerReadiness,
  unreadableRecordCard,
} from './cards.js';
import { readPrefetch } from './prefetch.js';
import { CDS_HOOKS_SCHEMAS, type HookName, SCHEMA_BASE } from './schema.js';
import { type CdsService, serviceById } from './services.js';

export interface CdsDeps {
  store: Store;
  policy: ReadinessPolicy;
  /** The practice's medicine session policy: the limits a reading is out of range against. */
  medicine?: MedicinePolicy;
  patientLink?: PatientLinkPolicy;
  publicBaseUrl: string;
  /** Where the EHR's copy of a delivered resource is known (a session report's source). */
  outbox: Pick<CourseOutbox, 'ehrRefOf'>;
  /** The EHR's FHIR base URL: a request naming another `fhirServer` speaks of other patients. */
  cdsFhirServer?: string;
  now?: () => Date;
  /** Told what happened, never about whom: counts and names of keys and outcomes only. */
  note?: (event: string, fields: Record<string, string | number>) => void;
}

export interface HookRequest {
  hook: HookName;
  hookInstance: string;
  fhirServer?: string;
  fhirAuthorization?: Record<string, unknown>;
  context: {
    userId: string;
    patientId: string;
    encounterId?: string;
    selections?: string[];
    draftOrders?: Bundle;
  };
  prefetch?: Record<string, unknown>;
}

const ajv = new Ajv({ allErrors: true, strict: false });
for (const schema of CDS_HOOKS_SCHEMAS) ajv.addSchema(schema);

/** `/context/patientId` -> `context.patientId`, with the missing property named. */
function expressionOf(e: ErrorObject): string {
  const parts = e.instancePath
    .split('/')
    .slice(1)
    .map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`));
  if (e.keyword === 'required' || e.keyword === 'dependencies')
    parts.push(`.${(e.params as { missingProperty: string }).missingProperty}`);
  return parts.join('').replace(/^\./, '') || '(body)';
}

/** Checks a body against one of the CDS Hooks models; a 400 naming each field that does not fit. */
function checkBody(schemaId: string, body: unknown): void {
  const validate = ajv.getSchema(schemaId)!;
  if (validate(body)) return;
  // if/then and allOf wrappers add nothing a client can act on; the errors under them say it.
  const errors = (validate.errors ?? []).filter((e) => e.keyword !== 'if' && e.keyword !== 'allOf');
  throw new OperationOutcomeError(
    badRequest(
      errors.map((e) =>
        issue(
          'error',
          'invalid',
          e.keyword === 'required' || e.keyword === 'dependencies'
            ? `${(e.params as { missingProperty: string }).missingProperty} is required${e.keyword === 'dependencies' ? ` with ${(e.params as { property: string }).property}` : ''}.`
            : `The value ${e.message ?? 'is not valid'}.`,
          expressionOf(e),
        ),
      ),
    ),
  );
}

const serviceOf = (id: string): CdsService => {
  const service = serviceById(id);
  if (!service) throw new OperationOutcomeError(notFound(`There is no CDS Service ${id}.`));
  return service;
};

/** The orders the hook is about: order-select's selections, order-sign's whole draft Bundle. */
function ordersAtHand(request: HookRequest): MedicationRequest[] {
  const { draftOrders, selections } = request.context;
  const entries = (draftOrders?.entry ?? []).flatMap((e) => (e.resource ? [e.resource] : []));
  const picked =
    request.hook === 'order-select'
      ? entries.filter((r) => selections?.includes(`${r.resourceType}/${r.id}`))
      : entries;
  return picked.filter((r): r is MedicationRequest => r.resourceType === 'MedicationRequest');
}

/**
 * Whether an order is (or may be) for ketamine: one whose medication cannot be read may be, and is
 * treated as such for a patient in a course.
 */
function ketamineOrder(order: MedicationRequest, draftOrders: Bundle | undefined): 'yes' | 'maybe' | 'no' {
  const inBundle = new Map<string, Resource>(
    (draftOrders?.entry ?? []).flatMap((e) =>
      e.resource ? [[`${e.resource.resourceType}/${e.resource.id}`, e.resource] as const] : [],
    ),
  );
  const read = prescriptionFromFhir(order, { ...identityContext, resolve: (ref) => inBundle.get(ref) });
  if (read.value === undefined) return 'maybe';
  return read.value.medication.isKetamine ? 'yes' : 'no';
}

const instant = (value: string | undefined): number => (value ? Date.parse(value) : Number.NaN);

/**
 * The course's last medicine session of this patient that began (completed or under way), with its
 * session report once written (the EHR's Bundle once delivered) and its readings out of range.
 */
async function lastMedicineSession(
  record: PatientRecord,
  episodeId: string | undefined,
  tenant: string,
  deps: CdsDeps,
): Promise<LastMedicineSession | undefined> {
  const begun = record.sessions.filter(
    (s) =>
      s.phase === 'medicine' &&
      (s.status === 'finished' || s.status === 'in-progress') &&
      s.episodeId === episodeId &&
      s.patientId === record.patientId &&
      !Number.isNaN(instant(s.start ?? s.end)),
  );
  const last = begun.sort((a, b) => instant(b.start ?? b.end) - instant(a.start ?? a.end))[0];
  if (!last) return undefined;
  const completed = last.status === 'finished';
  const now = (deps.now?.() ?? new Date()).toISOString();
  const monitoring = monitoringAt(
    medicineFacts(record, last, record.patientId),
    completed ? (last.end ?? last.start!) : now,
    medicinePolicyOf(deps),
  );
  // The course's sessions and their reports are the practice's own, known by their ids in the practice's id space.
  const stored = await deps.store.getOwn('Encounter', last.id, tenant);
  const report = completed ? await deps.store.getOwn('Bundle', reportIdOf(last.id), tenant) : undefined;
  return {
    session: (stored && localSourceOf(stored.resource)) ?? `Encounter/${last.id}`,
    sessionId: last.jointSessionId ?? last.id,
    at: (last.start ?? last.end)!,
    completed,
    ...(report ? { report: await sourceOf(report, deps) } : {}),
    outOfRange: monitoring.outOfRange,
  };
}

/**
 * The other partner of the asked patient's couples course, read from the aligned record (prefetch
 * is about the asked patient only); undefined for an individual course. A partner who cannot be
 * read, or a couple that is not two partners, is unreadable: never taken as ready.
 */
async function partnerOf(
  readiness: Readiness,
  link: { id: string; tenant: string },
  query: ReadinessQuery,
  deps: CdsDeps,
  read: string[],
): Promise<PartnerReadiness | undefined> {
  if (!readiness.episodeId) return undefined;
  const episode = await deps.store.getEpisode(readiness.episodeId, link.tenant);
  if (episode?.type !== 'couples') return undefined;
  const others = episode.patients.filter((p) => p !== link.id);
  if (episode.patients.length !== 2 || others.length !== 1) return { readable: false };
  const partnerId = others[0]!;
  read.push(partnerId);
  try {
    const current = await currentRecord(
      deps.store,
      partnerId,
      link.tenant,
      'ehr:last-heard',
      deps.patientLink,
    );
    if (!current) return { readable: false };
    const { verdict, reasons } = patientReadiness(current.record, query, deps.policy, episode);
    return { readable: true, verdict, reasons };
  } catch (e) {
    deps.note?.('cds partner record unreadable', { error: (e as Error)?.name ?? 'Error' });
    return { readable: false };
  }
}

/**
 * The courses' cards for the EHR Patient; what cannot be read is a critical card, never silence.
 * `read` is told the practices' patients whose records were read (a couples course's partner too).
 */
async function cardsFor(
  request: HookRequest,
  links: readonly { id: string; tenant: string }[],
  deps: CdsDeps,
  read: string[],
): Promise<Card[]> {
  const ehrPatientId = request.context.patientId;
  const ehrPatient = `Patient/${ehrPatientId}`;
  const now = deps.now?.() ?? new Date();
  const newId = randomUUID;

  let concern: 'course' | 'order' | 'maybe-order' = 'course';
  if (request.hook !== 'patient-view') {
    const kinds = ordersAtHand(request).map((o) => ketamineOrder(o, request.context.draftOrders));
    if (kinds.includes('yes')) concern = 'order';
    else if (kinds.includes('maybe')) concern = 'maybe-order';
    else return [];
  }
  if (links.length === 0) return concern === 'order' ? [noCourseCard(newId, ehrPatientId)] : [];

  const prefetched = readPrefetch(request.prefetch, ehrPatientId);
  if (prefetched.unusable.length)
    deps.note?.('cds prefetch unusable', { keys: prefetched.unusable.join(',') });
  const cards: Card[] = [];
  for (const link of links) {
    try {
      const { record, ehrLastHeardAt } = prefetched.resources.length
        ? {
            record: await loadRecord(
              deps.store,
              { id: link.id, identifiers: [], ehrPatient },
              link.tenant,
              deps.patientLink,
              prefetched.resources,
            ),
            ehrLastHeardAt: await deps.store.getCheckpoint('ehr:last-heard'),
          }
        : await currentRecord(deps.store, link.id, link.tenant, 'ehr:last-heard', deps.patientLink).then(
            (c) => {
              if (!c) throw new Error('the linked patient is gone');
              return { record: c.record, ehrLastHeardAt: c.checkpoint };
            },
          );
      const query = readinessQuery({}, deps, ehrLastHeardAt);
      const readiness = patientReadiness(record, query, deps.policy);
      const lastSession = await lastMedicineSession(record, readiness.episodeId, link.tenant, deps);
      const partner = await partnerOf(readiness, link, query, deps, read);
      cards.push(
        ...courseCards({
          readiness,
          ...(lastSession ? { lastMedicineSession: lastSession } : {}),
          ...(partner ? { partner } : {}),
          ehrPatientId,
          publicBaseUrl: deps.publicBaseUrl,
          now: now.toISOString(),
          newId,
        }),
      );
    } catch (e) {
      deps.note?.('cds record unreadable', { error: (e as Error)?.name ?? 'Error' });
      cards.push(unreadableRecordCard(newId, link.id));
    }
  }
  return cards;
}

export interface HookAnswer {
  cards: Card[];
  /** The patients the answer speaks of, for the audit trail. */
  patients: string[];
}

/** `POST /cds-services/{id}`. */
export async function callService(id: string, body: unknown, deps: CdsDeps): Promise<HookAnswer> {
  const service = serviceOf(id);
  // The service decides the hook, and so which context the rest of the body is read against.
  const hook = (body as { hook?: unknown } | null)?.hook;
  if (hook !== undefined && hook !== service.hook)
    throw new OperationOutcomeError(
      badRequest(`The service ${service.id} answers the hook ${service.hook}.`, 'hook'),
    );
  checkBody(`${SCHEMA_BASE}HookRequest`, body);
  const request = body as HookRequest;
  if (
    request.fhirServer !== undefined &&
    deps.cdsFhirServer !== undefined &&
    request.fhirServer.replace(/\/+$/, '') !== deps.cdsFhirServer
  ) {
    // Its patient ids are another server's: reading them here would show another person's course.
    throw new OperationOutcomeError(
      badRequest('kap-bridge serves one EHR; this request names another FHIR server.', 'fhirServer'),
    );
  }
  const links = await deps.store.patientsLinkedTo(`Patient/${request.context.patientId}`);
  const read = links.map((l) => l.id);
  const cards = await cardsFor(request, links, deps, read);
  deps.note?.('cds hook', { service: service.id, cards: cards.length });
  return {
    cards,
    patients: [`Patient/${request.context.patientId}`, ...[...new Set(read)].map((id) => `Patient/${id}`)],
  };
}

/** `POST /cds-services/{id}/feedback`: checked, then counted by outcome. */
export function takeFeedback(id: string, body: unknown, deps: Pick<CdsDeps, 'note'>): void {
  const service = serviceOf(id);
  checkBody(`${SCHEMA_BASE}Feedback`, body);
  const { feedback } = body as { feedback: { outcome: string; acceptedSuggestions?: unknown[] }[] };
  for (const outcome of ['accepted', 'overridden']) {
    const n = feedback.filter((f) => f.outcome === outcome).length;
    if (n) deps.note?.('cds feedback', { service: service.id, outcome, cards: n });
  }
}
