/**
 * Every route kap-bridge serves, with who may call it: the kinds of client, the SMART scope it needs
 * (per resource type for the FHIR endpoint, where the request says which), the AuditEvent action it
 * is recorded with, and the object its `:id` names for the tenancy check. The app registers its
 * handlers against this table, and the security tests walk it, so a new route cannot be left open.
 */
import type { AuditAction } from '../audit/trail.js';
import type { Owner } from '../auth/access.js';
import type { ClientKind } from '../auth/authentication.js';
import type { Interaction } from '../auth/scopes.js';

export interface RouteAccess {
  method: 'GET' | 'POST' | 'PUT';
  /** express path. */
  path: string;
  /** 'public': no token (health checks, the CapabilityStatement). */
  clients: readonly ClientKind[] | 'public';
  /** The scope needed; 'per-resource' on the FHIR endpoint: the type in the path or in each Bundle entry. */
  scope?: readonly [resourceType: string, interaction: Interaction] | 'per-resource';
  /** Recorded in the audit trail with this action; unset: the route carries no PHI and is not audited. */
  audit?: AuditAction;
  owner?: Owner;
  /**
   * Body fields that name an object (a list when `list`): each must be the caller's practice's own,
   * and another practice's is answered exactly as an id nobody registered (422 naming the field,
   * code `not-found`: `unknownReference` in src/fhir/outcome.ts).
   */
  references?: readonly BodyReference[];
  /**
   * How the caller proves who it is when not with kap-bridge's own bearer tokens: 'cds-hooks', the
   * CDS client's JWT (src/cds/authentication.ts), whose audience is the URL called.
   */
  credential?: 'cds-hooks';
  /** 'form': the body is application/x-www-form-urlencoded (FHIR's POST search), not JSON. */
  body?: 'form';
}

export interface BodyReference {
  field: string;
  owner: Owner;
  list?: boolean;
}

const therapist = ['therapist'] as const;
const ehr = ['ehr'] as const;
const operator = ['operator'] as const;
/** The console's people: a therapist of a practice, or an operator. */
const people = ['therapist', 'operator'] as const;
const readers = ['ehr', 'operator', 'therapist'] as const;

export const ROUTES = {
  healthz: { method: 'GET', path: '/healthz', clients: 'public' },
  readyz: { method: 'GET', path: '/readyz', clients: 'public' },
  metrics: { method: 'GET', path: '/metrics', clients: operator },
  auditEvents: {
    method: 'GET',
    path: '/audit/AuditEvent',
    clients: operator,
    scope: ['AuditEvent', 's'],
    audit: 'E',
  },
  // FHIR's search by POST: the criteria in a form body, never in the address (the console's search).
  auditSearch: {
    method: 'POST',
    path: '/audit/AuditEvent/_search',
    clients: operator,
    scope: ['AuditEvent', 's'],
    audit: 'E',
    body: 'form',
  },

  fhirMetadata: { method: 'GET', path: '/fhir/metadata', clients: 'public' },
  // SMART discovery: where and how a backend client gets its token (KAP_AUTH_TOKEN_URL).
  smartConfiguration: { method: 'GET', path: '/fhir/.well-known/smart-configuration', clients: 'public' },
  fhirBatch: { method: 'POST', path: '/fhir', clients: ehr, scope: 'per-resource', audit: 'E' },
  fhirCreate: { method: 'POST', path: '/fhir/:type', clients: ehr, scope: 'per-resource', audit: 'C' },
  fhirUpdate: { method: 'PUT', path: '/fhir/:type/:id', clients: ehr, scope: 'per-resource', audit: 'U' },
  // What kap-bridge holds, read back: the EHR and operators see all of it, a practice its own records
  // and the EHR's record of the patients in its care; the rest is answered as not held (404).
  fhirSearch: { method: 'GET', path: '/fhir/:type', clients: readers, scope: 'per-resource', audit: 'E' },
  fhirRead: { method: 'GET', path: '/fhir/:type/:id', clients: readers, scope: 'per-resource', audit: 'R' },
  fhirVread: {
    method: 'GET',
    path: '/fhir/:type/:id/_history/:version',
    clients: readers,
    scope: 'per-resource',
    audit: 'R',
  },

  // The therapist API's description, readable without a token (src/http/openapi.ts).
  openApi: { method: 'GET', path: '/api/v1/openapi.json', clients: 'public' },
  registerPatient: {
    method: 'POST',
    path: '/api/v1/patients',
    clients: therapist,
    scope: ['Patient', 'c'],
    audit: 'C',
  },
  patient: {
    method: 'GET',
    path: '/api/v1/patients/:id',
    clients: therapist,
    scope: ['Patient', 'r'],
    audit: 'R',
    owner: 'patient',
  },
  medicationStatus: {
    method: 'GET',
    path: '/api/v1/patients/:id/medication-status',
    clients: therapist,
    scope: ['MedicationRequest', 'r'],
    audit: 'R',
    owner: 'patient',
  },
  patientReconcile: {
    method: 'GET',
    path: '/api/v1/patients/:id/reconcile',
    clients: therapist,
    scope: ['Patient', 'r'],
    audit: 'R',
    owner: 'patient',
  },
  recordObservation: {
    method: 'POST',
    path: '/api/v1/patients/:id/observations',
    clients: therapist,
    scope: ['Observation', 'c'],
    audit: 'C',
    owner: 'patient',
    references: [{ field: 'session', owner: 'session' }],
  },
  requestClearance: {
    method: 'POST',
    path: '/api/v1/patients/:id/referrals',
    clients: therapist,
    scope: ['ServiceRequest', 'c'],
    audit: 'C',
    owner: 'patient',
    references: [{ field: 'episode', owner: 'episode' }],
  },
  registerEpisode: {
    method: 'POST',
    path: '/api/v1/episodes',
    clients: therapist,
    scope: ['EpisodeOfCare', 'c'],
    audit: 'C',
    references: [{ field: 'patients', owner: 'patient', list: true }],
  },
  episodeTimeline: {
    method: 'GET',
    path: '/api/v1/episodes/:id',
    clients: therapist,
    scope: ['EpisodeOfCare', 'r'],
    audit: 'R',
    owner: 'episode',
  },
  changeEpisodeStatus: {
    method: 'POST',
    path: '/api/v1/episodes/:id/status',
    clients: therapist,
    scope: ['EpisodeOfCare', 'u'],
    audit: 'U',
    owner: 'episode',
  },
  episodeReadiness: {
    method: 'GET',
    path: '/api/v1/episodes/:id/readiness',
    clients: therapist,
    scope: ['EpisodeOfCare', 'r'],
    audit: 'R',
    owner: 'episode',
  },
  recordConsent: {
    method: 'POST',
    path: '/api/v1/episodes/:id/consents',
    clients: therapist,
    scope: ['Consent', 'c'],
    audit: 'C',
    owner: 'episode',
    references: [{ field: 'patient', owner: 'patient' }],
  },
  // A course's scores and vitals, and its clearance referrals: the patient in the body, never in the
  // address (the console's way; the patient routes above stay for API callers).
  recordCourseObservation: {
    method: 'POST',
    path: '/api/v1/episodes/:id/observations',
    clients: therapist,
    scope: ['Observation', 'c'],
    audit: 'C',
    owner: 'episode',
    references: [
      { field: 'patient', owner: 'patient' },
      { field: 'session', owner: 'session' },
    ],
  },
  requestCourseClearance: {
    method: 'POST',
    path: '/api/v1/episodes/:id/referrals',
    clients: therapist,
    scope: ['ServiceRequest', 'c'],
    audit: 'C',
    owner: 'episode',
    references: [{ field: 'patient', owner: 'patient' }],
  },
  scheduleSession: {
    method: 'POST',
    path: '/api/v1/episodes/:id/sessions',
    clients: therapist,
    scope: ['Encounter', 'c'],
    audit: 'C',
    owner: 'episode',
  },
  startSession: {
    method: 'POST',
    path: '/api/v1/sessions/:id/start',
    clients: therapist,
    scope: ['Encounter', 'u'],
    audit: 'U',
    owner: 'session',
  },
  completeSession: {
    method: 'POST',
    path: '/api/v1/sessions/:id/complete',
    clients: therapist,
    scope: ['Encounter', 'u'],
    audit: 'U',
    owner: 'session',
  },
  cancelSession: {
    method: 'POST',
    path: '/api/v1/sessions/:id/cancel',
    clients: therapist,
    scope: ['Encounter', 'u'],
    audit: 'U',
    owner: 'session',
  },
  sessionMonitoring: {
    method: 'GET',
    path: '/api/v1/sessions/:id/monitoring',
    clients: therapist,
    scope: ['Observation', 'r'],
    audit: 'R',
    owner: 'session',
  },
  sessionReport: {
    method: 'GET',
    path: '/api/v1/sessions/:id/report',
    clients: therapist,
    scope: ['Composition', 'r'],
    audit: 'R',
    owner: 'session',
  },
  recordAdverseEvent: {
    method: 'POST',
    path: '/api/v1/sessions/:id/adverse-events',
    clients: therapist,
    scope: ['AdverseEvent', 'c'],
    audit: 'C',
    owner: 'session',
  },
  recordDose: {
    method: 'POST',
    path: '/api/v1/sessions/:id/doses',
    clients: therapist,
    scope: ['MedicationAdministration', 'c'],
    audit: 'C',
    owner: 'session',
    references: [{ field: 'patient', owner: 'patient' }],
  },
  practiceCourses: {
    method: 'GET',
    path: '/api/v1/episodes',
    clients: therapist,
    scope: ['EpisodeOfCare', 's'],
    audit: 'R',
  },
  upcomingSessions: {
    method: 'GET',
    path: '/api/v1/sessions',
    clients: therapist,
    scope: ['Encounter', 'r'],
    audit: 'R',
  },

  operatorOutbox: { method: 'GET', path: '/operator/outbox', clients: operator, audit: 'E' },
  operatorRetry: { method: 'POST', path: '/operator/outbox/:id/retry', clients: operator, audit: 'U' },
  operatorDrop: { method: 'POST', path: '/operator/outbox/:id/drop', clients: operator, audit: 'D' },
  operatorReconcile: { method: 'POST', path: '/operator/reconcile', clients: operator, audit: 'E' },
  operatorSync: { method: 'GET', path: '/operator/sync', clients: operator },

  consolePage: { method: 'GET', path: '/console', clients: 'public' },
  consoleAsset: { method: 'GET', path: '/console/assets/:file', clients: 'public' },
  consoleSignIn: { method: 'POST', path: '/console/session', clients: 'public' },
  consoleSession: { method: 'GET', path: '/console/session', clients: people },
  consoleSignOut: { method: 'POST', path: '/console/session/end', clients: people },
  // Sign-in with the identity provider (OpenID Connect, jwt mode): begun, and the provider's answer.
  consoleOidcSignIn: { method: 'GET', path: '/console/oidc/sign-in', clients: 'public' },
  consoleOidcCallback: { method: 'GET', path: '/console/oidc/callback', clients: 'public' },
  consoleEvents: {
    method: 'GET',
    path: '/console/events',
    clients: therapist,
    scope: ['EpisodeOfCare', 'r'],
  },

  cdsDiscovery: { method: 'GET', path: '/cds-services', clients: ehr, credential: 'cds-hooks' },
  cdsService: {
    method: 'POST',
    path: '/cds-services/:id',
    clients: ehr,
    credential: 'cds-hooks',
    audit: 'R',
  },
  cdsFeedback: {
    method: 'POST',
    path: '/cds-services/:id/feedback',
    clients: ehr,
    credential: 'cds-hooks',
  },
} as const satisfies Record<string, RouteAccess>;

export type RouteName = keyof typeof ROUTES;

/** Anything else under /fhir: answered by the endpoint itself (404, 405), to an authenticated EHR. */
export const FHIR_OTHER: RouteAccess = { method: 'GET', path: '/fhir/*', clients: ehr, audit: 'E' };
