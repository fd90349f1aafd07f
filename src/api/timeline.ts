/**
 * An episode as the therapist follows it: clearance referrals (where the prescriber's Task
 * stands), consents, sessions by phase, doses, scores and vitals, each medicine session's monitoring
 * points, adverse events and report (each partner's own, in a couple), and readiness for a medicine
 * session, each item with the FHIR resource it rests on (the EHR's `Type/id/_history/version` once
 * delivered, kap-bridge's local `Type/id` until then).
 */
import type { Bundle, ServiceRequest, Task } from 'fhir/r4';
import { type Monitoring, medicineFacts, monitoringAt } from '../domain/medicine-session.js';
import type {
  Administration,
  ClearanceReferral,
  Episode,
  InformedConsent,
  KapAdverseEvent,
  KapObservation,
  PatientLink,
  Session,
  SessionPhase,
} from '../domain/model.js';
import type { EpisodeReadiness } from '../domain/readiness.js';
import { type Answered, answered } from '../fhir/outcome.js';
import { SESSION_PHASES } from '../mapping/episode.js';
import { referralFromFhir } from '../mapping/referral.js';
import { DEFAULT_PATIENT_LINK } from '../patient-link.js';
import { ehrContextOf, practiceView, readResource } from '../record.js';
import { reportIdOf } from './discharge.js';
import { findEpisode, readinessOn } from './episodes.js';
import { medicinePolicyOf } from './patients.js';
import { courseContext, type RecordingDeps, sourceOf } from './recording.js';
import { type SessionView, sessionsOf, viewOf } from './sessions.js';

type Sourced<T> = T & { source: string };

export interface Timeline extends Episode {
  source: string;
  /** Clearance requests for the course, as the prescriber's Task says (its source). */
  referrals: Sourced<ClearanceReferral>[];
  consents: Sourced<InformedConsent>[];
  phases: { phase: SessionPhase; planned: number; sessions: SessionView[] }[];
  doses: Sourced<Administration>[];
  /** Scores, vital signs, mental status and session effects. */
  observations: Sourced<KapObservation>[];
  /**
   * Each patient's medicine session that began (each partner's own, in a couple): the monitoring
   * points of the plan and the chaperone's check-ins, with the reading that met each (its source),
   * and the readings out of range, where they stood at the session's end (or stand now).
   */
  monitoring: (Monitoring & { at: string })[];
  adverseEvents: Sourced<KapAdverseEvent>[];
  /** The report of each patient's completed medicine session. */
  reports: SessionReportEntry[];
  readiness: EpisodeReadiness;
}

export interface SessionReportEntry {
  /** The report's id: the document's (`GET /sessions/{id}/report` returns it). */
  id: string;
  /** The patient's own session (in a couple, their part of the joint session `jointSessionId`). */
  sessionId: string;
  jointSessionId?: string;
  patientId: string;
  /** When it was written: the discharge. */
  issuedAt?: string;
  source: string;
}

/** The types the timeline shows besides referrals: consents, doses, scores and vitals, adverse events. */
const SHOWN = new Set(['Consent', 'MedicationAdministration', 'Observation', 'AdverseEvent']);

/** A patient's own medicine session (not a joint one) that began: it has monitoring, and once finished a report. */
const ownMedicineSession = (s: Session): s is Session & { patientId: string } =>
  s.phase === 'medicine' &&
  s.patientId !== undefined &&
  (s.status === 'in-progress' || s.status === 'finished');

const byTime =
  <T>(at: (t: T) => string | undefined) =>
  (a: T, b: T) =>
    (at(a) ?? '').localeCompare(at(b) ?? '');

export async function episodeTimeline(
  id: string,
  date: string | undefined,
  deps: RecordingDeps,
  tenant: string,
): Promise<Answered<Timeline>> {
  const { store } = deps;
  const episode = await findEpisode(store, id, tenant);
  const links = (await Promise.all(episode.patients.map((p) => store.getPatient(p, tenant)))).filter(
    (l): l is PatientLink => l !== undefined,
  );
  const ctx = courseContext(links);
  const ehrCtx = ehrContextOf(ctx);
  const sessions = await sessionsOf(store, episode, links, tenant);
  const inCourse = new Set(sessions.map((s) => s.id));
  const referrals: Sourced<ClearanceReferral>[] = [];
  const consents: Sourced<InformedConsent>[] = [];
  const doses: Sourced<Administration>[] = [];
  const observations: Sourced<KapObservation>[] = [];
  const adverseEvents: Sourced<KapAdverseEvent>[] = [];
  for (const link of links) {
    const view = link.ehrPatient
      ? await practiceView(store, link.ehrPatient, tenant, deps.patientLink ?? DEFAULT_PATIENT_LINK)
      : undefined;
    for (const stored of view?.stored ?? []) {
      const r = stored.resource;
      // A referral is read with its Task (where the prescriber's answer stands), which the record does not keep.
      if (r.resourceType === 'ServiceRequest' && stored.ours) {
        const task = await store.getOwn('Task', r.id!, tenant);
        const referral = referralFromFhir(r as ServiceRequest, task?.resource as Task | undefined, ctx).value;
        if (referral?.episodeId === id)
          referrals.push({ ...referral, source: await sourceOf(task ?? stored, deps) });
        continue;
      }
      // What else the timeline shows, through the record's one dispatch, read with the course's patients.
      if (!SHOWN.has(r.resourceType)) continue;
      // The EHR's resources are read with its ids apart from the practice's (its Encounter 12 is not session 12).
      const out = readResource(r, stored.ours ? ctx : ehrCtx);
      if (out?.into === 'consents') {
        const c = out.read.value;
        if (c?.episodeId === id) consents.push({ ...c, source: await sourceOf(stored, deps) });
      } else if (out?.into === 'administrations') {
        const a = out.read.value;
        if (a?.sessionId !== undefined && inCourse.has(a.sessionId))
          doses.push({ ...a, source: await sourceOf(stored, deps) });
      } else if (out?.into === 'observations') {
        const value = out.read.value;
        if (value && (value.sessionId === undefined || inCourse.has(value.sessionId)))
          observations.push({ ...value, source: await sourceOf(stored, deps) });
      } else if (out?.into === 'adverseEvents') {
        const e = out.read.value;
        if (e?.sessionId !== undefined && inCourse.has(e.sessionId))
          adverseEvents.push({ ...e, source: await sourceOf(stored, deps) });
      }
    }
  }
  const own = sessions.filter(ownMedicineSession).sort(byTime((s) => s.start));
  const now = (deps.now?.() ?? new Date()).toISOString();
  const policy = medicinePolicyOf(deps);
  // From the readings and doses above, so each point names the source the timeline gives its reading.
  const monitoring = own.map((s) => {
    const at = s.end ?? now;
    return {
      ...monitoringAt(medicineFacts({ observations, administrations: doses }, s, s.patientId), at, policy),
      at,
    };
  });
  const reports: SessionReportEntry[] = [];
  for (const s of own.filter((s) => s.status === 'finished')) {
    const stored = await store.getOwn('Bundle', reportIdOf(s.id), tenant);
    if (!stored) continue;
    reports.push({
      id: stored.resource.id!,
      sessionId: s.id,
      ...(s.jointSessionId === undefined ? {} : { jointSessionId: s.jointSessionId }),
      patientId: s.patientId,
      ...((stored.resource as Bundle).timestamp === undefined
        ? {}
        : { issuedAt: (stored.resource as Bundle).timestamp }),
      source: await sourceOf(stored, deps),
    });
  }
  const views = (await viewOf(sessions, tenant, deps)).sort(byTime((s) => s.start));
  const episodeOfCare = await store.getOwn('EpisodeOfCare', id, tenant);
  return answered({
    ...episode,
    source: episodeOfCare ? await sourceOf(episodeOfCare, deps) : `EpisodeOfCare/${id}`,
    referrals: referrals.sort(byTime((r) => r.authoredOn)),
    consents: consents.sort(byTime((c) => c.dateTime)),
    phases: SESSION_PHASES.map((phase) => ({
      phase,
      planned: episode.plannedSessions[phase],
      sessions: views.filter((s) => s.phase === phase),
    })),
    doses: doses.sort(byTime((d) => d.administeredAt)),
    observations: observations.sort(byTime((o) => o.effective)),
    monitoring,
    adverseEvents: adverseEvents.sort(byTime((e) => e.occurredAt)),
    reports,
    readiness: await readinessOn(store, episode, tenant, date === undefined ? {} : { date }, deps),
  });
}
