/**
 * SessionReport -> a FHIR document (Bundle `document`, Composition `kap-session-report` first): one
 * patient's medicine session as the prescriber reads and signs it, after the Spravato REMS Patient
 * Monitoring Form with what KAP adds. Every section has a readable narrative, and the Composition's
 * own `text` holds them all, so an EHR that shows only narrative shows the whole report. The
 * Observations, MedicationAdministrations and AdverseEvents it summarises are entries of the
 * document (kap-bridge's copies, under its canonical base), each section pointing at its own. Pure.
 */
import type { Bundle, BundleEntry, Composition, CompositionSection, Resource } from 'fhir/r4';
import {
  type Finding,
  firstDoseAt,
  type MedicineFacts,
  type MedicinePolicy,
  outOfRange,
} from '../domain/medicine-session.js';
import type {
  BusinessIdentifier,
  KapAdverseEvent,
  KapObservation,
  ObservationValue,
  Prescription,
} from '../domain/model.js';
import { CANONICAL_BASE, codeSystemUrl, profileUrl } from '../fhir/codes.js';
import type { MappingContext } from '../fhir/reference-context.js';
import { administrationToFhir } from './administration.js';
import { adverseEventToFhir } from './adverse-event.js';
import { businessIdentifier, concept } from './coding.js';
import { observationToFhir } from './observation.js';

/** What one patient's report says: their part of the finished session and what surrounds it. */
export interface SessionReport {
  /** The report's id (the Bundle's and the Composition's). */
  id: string;
  /** When it was written. */
  issuedAt: string;
  /** The patient's part of the session (their own session, in a couple), finished. */
  facts: MedicineFacts;
  /** The EHR's identifier of the patient (their MRN), by which the document names them. */
  patientIdentifier?: BusinessIdentifier;
  adverseEvents: readonly KapAdverseEvent[];
  /** The patient's active orders in the EHR for medicines other than ketamine. */
  concomitant: readonly Prescription[];
  /** The discharge criteria that did not hold when the session was completed anyway. */
  unmet: readonly Finding[];
  override?: string;
  /** The therapist's short note. */
  note?: string;
}

const XHTML = 'http://www.w3.org/1999/xhtml';
const EMPTY_REASON = 'http://terminology.hl7.org/CodeSystem/list-empty-reason';
const MINUTE = 60_000;

/** Text made safe for XHTML narrative. */
export const escapeXhtml = (text: string): string =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );

const div = (body: string) => `<div xmlns="${XHTML}">${body}</div>`;
const paragraph = (text: string) => `<p>${escapeXhtml(text)}</p>`;
const list = (items: readonly string[]) =>
  `<ul>${items.map((i) => `<li>${escapeXhtml(i)}</li>`).join('')}</ul>`;

const VALUE: { [K in ObservationValue['kind']]?: (v: Extract<ObservationValue, { kind: K }>) => string } = {
  'blood-pressure': (v) => `blood pressure ${v.systolic}/${v.diastolic} mmHg`,
  'heart-rate': (v) => `heart rate ${v.perMinute}/min`,
  spo2: (v) => `SpO2 ${v.percent}%`,
  sedation: (v) => `sedation MOAA/S ${v.moaas}`,
  dissociation: (v) => `dissociation CADSS ${v.cadss}`,
  'check-in': (v) => `chaperone check-in${v.note === undefined ? '' : `: ${v.note}`}`,
};

/** The monitoring readings the report summarises, by what they measure. */
export const REPORTED_KINDS = Object.keys(VALUE) as ObservationValue['kind'][];

const said = (o: KapObservation): string | undefined =>
  (VALUE[o.value.kind] as ((v: ObservationValue) => string) | undefined)?.(o.value);

const fullUrl = (r: Resource) => `${CANONICAL_BASE}/${r.resourceType}/${r.id}`;

const minutesAfter = (first: number | undefined, time: string) => {
  const t = Date.parse(time);
  if (first === undefined || Number.isNaN(t)) return '';
  const m = Math.round((t - first) / MINUTE);
  return m < 0 ? ` (${-m} min before the first dose)` : ` (${m} min after the first dose)`;
};

function section(
  title: string,
  lines: { text?: string; items?: readonly string[] },
  entries: readonly Resource[] = [],
  emptyIfNone = false,
): CompositionSection {
  const body = `${lines.text === undefined ? '' : paragraph(lines.text)}${lines.items?.length ? list(lines.items) : ''}`;
  return {
    title,
    text: { status: 'generated', div: div(body) },
    ...(entries.length > 0 ? { entry: entries.map((r) => ({ reference: fullUrl(r) })) } : {}),
    ...(entries.length === 0 && emptyIfNone
      ? { emptyReason: concept(EMPTY_REASON, 'nilknown', 'Nil Known') }
      : {}),
  };
}

/**
 * The report as a FHIR document. The policy gives the limits a reading is said out of range
 * against; `ctx` turns kap-bridge's ids into the references its own resources carry.
 */
export function sessionReportToFhir(
  report: SessionReport,
  policy: MedicinePolicy,
  ctx: MappingContext,
): Bundle {
  const { facts } = report;
  const session = facts.session;
  const first = firstDoseAt(facts);
  const administrations = [...facts.administrations].sort(
    (a, b) => Date.parse(a.administeredAt) - Date.parse(b.administeredAt),
  );
  const readings = facts.observations
    .filter((o) => said(o) !== undefined)
    .sort((a, b) => Date.parse(a.effective) - Date.parse(b.effective));
  const events = report.adverseEvents;
  const doses = administrations.map((a) => administrationToFhir(a, ctx));
  const observations = readings.map((o) => observationToFhir(o, ctx));
  const adverse = events.map((e) => adverseEventToFhir(e, ctx));

  const remote = session.mode === 'remote';
  const monitored =
    first === undefined || session.end === undefined
      ? 'no dose was taken'
      : `${Math.round((Date.parse(session.end) - first) / MINUTE)} minutes from the first dose to discharge`;
  const sections: CompositionSection[] = [
    section('Session', {
      items: [
        `Date: ${session.start ?? 'not started'} to ${session.end ?? 'not finished'}`,
        `Setting: ${remote ? `remote, the therapist on video, with a chaperone in the room (${session.chaperone ?? 'not named'})` : 'in person, in the office'}`,
        `Monitored by: ${session.therapist ?? 'the therapist (not named)'}${remote && session.chaperone ? ` and the chaperone ${session.chaperone}` : ''}`,
        `Total monitoring time: ${monitored}`,
      ],
    }),
    section(
      'Doses',
      administrations.length === 0
        ? { text: 'No dose was taken.' }
        : {
            items: administrations.map(
              (a, i) =>
                `${i === 0 ? 'Dose' : 'Booster'} at ${a.administeredAt}: ${a.medication.text}, ${a.dose.value} ${a.dose.unit}, ${a.route}; ${a.lotNumber === undefined ? 'lot not recorded' : `lot ${a.lotNumber}`}`,
            ),
          },
      doses,
      true,
    ),
    section(
      'Monitoring',
      readings.length === 0
        ? { text: 'No reading was recorded.' }
        : {
            items: readings.map((o) => {
              const wrong = outOfRange(o, policy);
              return `${o.effective}${minutesAfter(first, o.effective)}: ${said(o)}${wrong === undefined ? '' : ` - OUT OF RANGE: ${wrong}`}`;
            }),
          },
      observations,
      true,
    ),
    section(
      'Adverse events',
      events.length === 0
        ? { text: 'None recorded.' }
        : {
            items: events.map(
              (e) =>
                `${e.occurredAt}: ${e.event ?? 'event'}${e.description ? ` (${e.description})` : ''}, ${e.severity ?? 'severity not said'}, ${e.serious ? 'serious' : 'not serious'}; action taken: ${e.actionTaken ?? 'none recorded'}; outcome: ${e.outcome ?? 'not said'}`,
            ),
          },
      adverse,
      true,
    ),
    section(
      'Concomitant medications',
      report.concomitant.length === 0
        ? { text: "No active order for another medicine in the EHR's record." }
        : {
            items: report.concomitant.map(
              (p) =>
                `${p.medication.text}${p.dosageText ? `: ${p.dosageText}` : ''}${p.source ? ` (${p.source})` : ''}`,
            ),
          },
    ),
    section('Discharge', {
      text: `Discharged at ${session.end ?? 'not finished'}; transport home: ${session.transport ?? 'not said'}.${
        report.override === undefined
          ? ' The discharge criteria held.'
          : ` Discharged against the criteria. Reason: ${report.override}`
      }`,
      items: report.unmet.map((f) => `Unmet: ${f.message}`),
    }),
    section("Therapist's note", { text: report.note ?? 'No note.' }),
  ];

  const composition: Composition = {
    resourceType: 'Composition',
    id: report.id,
    meta: { profile: [profileUrl('kap-session-report')] },
    text: {
      status: 'generated',
      div: div(
        sections
          .map((s) => `<h3>${escapeXhtml(s.title!)}</h3>${s.text!.div.replace(/^<div[^>]*>|<\/div>$/g, '')}`)
          .join(''),
      ),
    },
    identifier: businessIdentifier('Composition', report.id),
    status: 'final',
    type: concept(codeSystemUrl('kap-document'), 'medicine-session-report', 'Medicine session report'),
    subject: {
      type: 'Patient',
      identifier: report.patientIdentifier ?? businessIdentifier('Patient', facts.patientId),
    },
    encounter: { type: 'Encounter', identifier: businessIdentifier('Encounter', session.id) },
    date: report.issuedAt,
    author: [{ display: 'kap-bridge, from the therapist’s records of the session' }],
    title: 'Medicine session report',
    section: sections,
  };
  const entries: BundleEntry[] = [composition, ...doses, ...observations, ...adverse].map((resource) => ({
    fullUrl: fullUrl(resource),
    resource,
  }));
  return {
    resourceType: 'Bundle',
    id: report.id,
    identifier: businessIdentifier('Bundle', report.id),
    type: 'document',
    timestamp: report.issuedAt,
    entry: entries,
  };
}
