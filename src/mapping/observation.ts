/**
 * Observation <-> KapObservation for every kind of score, vital sign, mental-status finding and
 * session effect. One table says, per kind, the profile, category and code, and which value
 * shape carries it; the shapes (a total with optional items, a coded component, two quantity
 * components, one quantity, one integer, text) are written once.
 *
 * Reading is tolerant: a kind is recognised by any of its codes anywhere in `code.coding` (a
 * PHQ-9 total sent alone as 44261-6 is still a PHQ-9), values are taken from components or from
 * value[x], and what cannot be read is an issue, never an exception.
 */
import type { CodeableConcept, Coding, Observation, ObservationComponent } from 'fhir/r4';
import type {
  CssrsRisk,
  KapObservation,
  ObservationKind,
  ObservationValue,
  Phq9Items,
} from '../domain/model.js';
import {
  CSSRS_LOINC_ANSWERS,
  HL7_CODE,
  identifierSystem,
  KAP_CODE,
  LOINC,
  PHQ9_ANSWERS,
  SUICIDE_RISK,
  SYSTEM,
} from '../fhir/codes.js';
import { doseFromQuantity } from '../fhir/dosage.js';
import { type Issue, issue } from '../fhir/outcome.js';
import { domainIdOf, type MappingContext, type Read, sourceOf } from '../fhir/reference-context.js';
import { convert } from '../fhir/ucum.js';
import { agreed, codesIn, coding, concept, hasCode, ownOpening } from './coding.js';

type ValueOf<K extends ObservationKind> = Extract<ObservationValue, { kind: K }>;
type Written = Pick<
  Observation,
  'valueInteger' | 'valueQuantity' | 'valueString' | 'valueCodeableConcept' | 'component'
>;

/** How one value shape is written to and read from an Observation. */
interface Shape<V> {
  write(value: V): Written;
  /** The value, or undefined after pushing an issue saying why not. */
  read(observation: Observation, issues: Issue[]): V | undefined;
}

interface KindSpec<K extends ObservationKind> {
  /** Our profile; absent for a kind only the EHR sends (kap-bridge reads it, never writes it). */
  profile?: string;
  category: 'survey' | 'vital-signs' | 'exam';
  /** The codes written in Observation.code; the first one names the kind. */
  codes: readonly Coding[];
  /** Further codes that identify the kind when read (a score's total sent on its own). */
  alsoReadFrom?: readonly Coding[];
  text: string;
  shape: Shape<Omit<ValueOf<K>, 'kind'>>;
}

const loinc = (code: string): Coding => coding(SYSTEM.loinc, code);
const ucum = (code: string, unit: string) => ({ system: SYSTEM.ucum, code, unit });

const componentIndex = (observation: Observation, code: Coding): number =>
  (observation.component ?? []).findIndex((c) => hasCode(c.code, code.system!, code.code!));

/** A number from valueInteger or valueQuantity.value. */
const numberOf = (carrier: { valueInteger?: number; valueQuantity?: { value?: number } } | undefined) =>
  carrier?.valueInteger ?? carrier?.valueQuantity?.value;

/** A number carried by a component with `code`, else by the Observation itself when its code is `code`. */
function readNumber(
  observation: Observation,
  code: Coding,
  what: string,
  issues: Issue[],
): number | undefined {
  const i = componentIndex(observation, code);
  const value =
    i >= 0
      ? numberOf(observation.component?.[i])
      : hasCode(observation.code, code.system!, code.code!)
        ? numberOf(observation)
        : undefined;
  if (value === undefined) {
    const where = i >= 0 ? `Observation.component[${i}].value` : 'Observation.component';
    issues.push(issue('error', 'required', `The ${what} (${code.code}) is missing.`, where));
  }
  return value;
}

function checkRange(
  value: number,
  lo: number,
  hi: number,
  what: string,
  expression: string,
  issues: Issue[],
) {
  if (Number.isInteger(value) && value >= lo && value <= hi) return true;
  issues.push(issue('error', 'value', `The ${what} ${value} is outside ${lo}..${hi}.`, expression));
  return false;
}

const integerComponent = (code: Coding, value: number): ObservationComponent => ({
  code: { coding: [code] },
  valueInteger: value,
});

/** A score panel: the total as a component with its own code. */
function totalShape(total: Coding, max: number, what: string): Shape<{ total: number }> {
  return {
    write: ({ total: value }) => ({ component: [integerComponent(total, value)] }),
    read: (observation, issues) => {
      const value = readNumber(observation, total, `${what} total`, issues);
      if (value === undefined) return undefined;
      return checkRange(value, 0, max, `${what} total`, 'Observation.component', issues)
        ? { total: value }
        : undefined;
    },
  };
}

const PHQ9_ANSWER_TEXT = ['Not at all', 'Several days', 'More than half the days', 'Nearly every day'];

/**
 * An answer 0..3 to a PHQ-9 item: a LOINC answer code (LA6568-5..LA6571-9) or an integer. Answer
 * codes that disagree give no answer.
 */
function phq9Answer(carrier: { valueCodeableConcept?: CodeableConcept; valueInteger?: number } | undefined) {
  const coded = codesIn(carrier?.valueCodeableConcept, SYSTEM.loinc)
    .map((c) => PHQ9_ANSWERS.indexOf(c as (typeof PHQ9_ANSWERS)[number]))
    .filter((a) => a >= 0);
  const answer = coded.length > 0 ? agreed(coded) : carrier?.valueInteger;
  return answer !== undefined && Number.isInteger(answer) && answer >= 0 && answer <= 3 ? answer : undefined;
}

type Phq9Value = Omit<ValueOf<'phq9'>, 'kind'>;

/**
 * PHQ-9: the total and the nine items as components answered with LOINC answer codes. Item 9
 * (thoughts of self-harm) is read on its own, wherever the panel carries it: a panel with other
 * items missing still gives its item 9, and its hasMember references are kept so that an item 9
 * sent as an Observation of its own is found. A panel with neither total nor item 9 is not read.
 */
const phq9Shape: Shape<Phq9Value> = {
  write: ({ total, items, item9 }) => {
    const written =
      total === undefined ? {} : totalShape(loinc(LOINC.phq9Total), 27, 'PHQ-9').write({ total });
    const answers: (number | undefined)[] = items ?? [...Array(8).fill(undefined), item9];
    const answered = answers.flatMap((answer, i): ObservationComponent[] =>
      answer === undefined
        ? []
        : [
            {
              code: { coding: [loinc(LOINC.phq9Items[i]!)] },
              valueCodeableConcept: concept(SYSTEM.loinc, PHQ9_ANSWERS[answer]!, PHQ9_ANSWER_TEXT[answer]),
            },
          ],
    );
    return { component: [...(written.component ?? []), ...answered] };
  },
  read: (observation, issues) => {
    const totalIssues: Issue[] = [];
    const total = totalShape(loinc(LOINC.phq9Total), 27, 'PHQ-9').read(observation, totalIssues);
    const value: Phq9Value = total === undefined ? {} : { ...total };
    const members = (observation.hasMember ?? [])
      .map((m) => m?.reference)
      .filter((r): r is string => typeof r === 'string');
    if (members.length > 0) value.members = members;
    const found = LOINC.phq9Items.map((code) => componentIndex(observation, loinc(code)));
    const answers = found.map((i) => (i < 0 ? undefined : phq9Answer(observation.component?.[i])));
    const item9At = found[8]!;
    if (answers[8] !== undefined) value.item9 = answers[8];
    else if (item9At >= 0) {
      issues.push(
        issue(
          'error',
          'value',
          'PHQ-9 item 9 (thoughts of self-harm) has no answer 0..3 (LOINC LA6568-5..LA6571-9).',
          `Observation.component[${item9At}].valueCodeableConcept`,
        ),
      );
    } else if (members.length === 0) {
      issues.push(
        issue(
          'warning',
          'incomplete',
          'PHQ-9 item 9 (thoughts of self-harm, 44260-8) is not in the panel: suicidality is unknown until it is.',
          'Observation.component',
        ),
      );
    }
    if (answers.every((a) => a !== undefined)) value.items = answers as Phq9Items;
    else if (found.some((i, n) => n < 8 && i >= 0)) {
      issues.push(
        issue(
          'warning',
          'incomplete',
          'Not every PHQ-9 item has an answer 0..3; the items were not kept.',
          'Observation.component',
        ),
      );
    }
    if (value.total === undefined && value.item9 === undefined) {
      issues.push(...totalIssues);
      return undefined;
    }
    return value;
  },
};

/** PHQ-9 item 9 sent as an Observation of its own (44260-8), the answer in value[x]. */
const phq9Item9Shape: Shape<{ answer: number }> = {
  write: ({ answer }) => ({
    valueCodeableConcept: concept(SYSTEM.loinc, PHQ9_ANSWERS[answer]!, PHQ9_ANSWER_TEXT[answer]),
  }),
  read: (observation, issues) => {
    const answer = phq9Answer(observation);
    if (answer === undefined) {
      issues.push(
        issue(
          'error',
          'value',
          'PHQ-9 item 9 (thoughts of self-harm) has no answer 0..3 (LOINC LA6568-5..LA6571-9).',
          'Observation.valueCodeableConcept',
        ),
      );
      return undefined;
    }
    return { answer };
  },
};

const RISK_DISPLAY: Record<CssrsRisk, string> = {
  low: 'Low risk',
  moderate: 'Moderate risk',
  high: 'High risk',
};

/** A risk level from text only when the text says exactly one level and nothing else ("High risk"). */
function riskFromText(text: string | undefined): CssrsRisk | undefined {
  const said =
    typeof text === 'string'
      ? /^\s*(low|moderate|high)(?:\s+(?:suicide\s+)?risk)?\s*\.?\s*$/i.exec(text)?.[1]
      : undefined;
  return said === undefined ? undefined : (said.toLowerCase() as CssrsRisk);
}

/** C-SSRS: the suicide risk level as a coded component (or the value, when sent as 93374-7 alone). */
const riskShape: Shape<{ risk: CssrsRisk }> = {
  write: ({ risk }) => ({
    component: [
      {
        code: { coding: [loinc(LOINC.cssrsRisk)] },
        valueCodeableConcept: concept(SYSTEM.suicideRisk, risk, RISK_DISPLAY[risk]),
      },
    ],
  }),
  read: (observation, issues) => {
    const i = componentIndex(observation, loinc(LOINC.cssrsRisk));
    const carrier: CodeableConcept | undefined =
      i >= 0 ? observation.component?.[i]?.valueCodeableConcept : observation.valueCodeableConcept;
    const coded = [
      ...codesIn(carrier, SYSTEM.suicideRisk).filter((c): c is CssrsRisk =>
        SUICIDE_RISK.includes(c as CssrsRisk),
      ),
      ...codesIn(carrier, SYSTEM.loinc)
        .map((c) => CSSRS_LOINC_ANSWERS[c])
        .filter((r) => r !== undefined),
    ];
    const risk =
      coded.length > 0
        ? agreed(coded)
        : riskFromText(
            carrier?.text ?? (i >= 0 ? observation.component?.[i]?.valueString : observation.valueString),
          );
    if (risk === undefined) {
      const where = i >= 0 ? `Observation.component[${i}].valueCodeableConcept` : 'Observation.component';
      issues.push(
        issue(
          'error',
          'code-invalid',
          coded.length > 1
            ? 'The C-SSRS risk level codings disagree.'
            : 'The C-SSRS has no risk level low, moderate or high.',
          where,
        ),
      );
      return undefined;
    }
    return { risk };
  },
};

/** Mental status: the findings as text; components (findings by area) are joined when sent so. */
const findingsShape: Shape<{ findings: string }> = {
  write: ({ findings }) => ({ valueString: findings }),
  read: (observation, issues) => {
    if (observation.valueString !== undefined) return { findings: observation.valueString };
    const parts = (observation.component ?? [])
      .map((c) => {
        const area = c.code.text ?? c.code.coding?.find((x) => x.display)?.display;
        const said =
          c.valueString ?? c.valueCodeableConcept?.text ?? c.valueCodeableConcept?.coding?.[0]?.display;
        return said === undefined ? undefined : area === undefined ? said : `${area}: ${said}`;
      })
      .filter((p): p is string => p !== undefined);
    if (parts.length === 0) {
      issues.push(
        issue('error', 'required', 'The mental status has no findings.', 'Observation.valueString'),
      );
      return undefined;
    }
    return { findings: parts.join('; ') };
  },
};

/** A chaperone's check-in: what they said, when they said something. */
const checkInShape: Shape<{ note?: string }> = {
  write: ({ note }) => (note === undefined ? {} : { valueString: note }),
  read: (observation) => (observation.valueString === undefined ? {} : { note: observation.valueString }),
};

const MMHG = ucum('mm[Hg]', 'mmHg');

/** A pressure component in mmHg, converted through UCUM from the unit it was sent in (kPa, mm[Hg]). */
function readPressure(
  observation: Observation,
  code: Coding,
  what: string,
  issues: Issue[],
): number | undefined {
  const value = readNumber(observation, code, what, issues);
  if (value === undefined) return undefined;
  const i = componentIndex(observation, code);
  const quantity = i >= 0 ? observation.component?.[i]?.valueQuantity : observation.valueQuantity;
  const where = i >= 0 ? `Observation.component[${i}].valueQuantity` : 'Observation.valueQuantity';
  if (quantity?.comparator !== undefined) {
    issues.push(
      issue('error', 'value', `The ${what} is "${quantity.comparator} ${value}", not a reading.`, where),
    );
    return undefined;
  }
  const unit = quantity === undefined ? undefined : doseFromQuantity(quantity)?.unit;
  const mmHg = unit === undefined ? undefined : convert(value, unit, 'mm[Hg]');
  if (mmHg === undefined) {
    issues.push(
      issue(
        'error',
        'value',
        `The ${what} is in ${unit === undefined ? 'no unit' : `"${unit}"`}, which is not a pressure UCUM can convert to mm[Hg].`,
        where,
      ),
    );
    return undefined;
  }
  return Math.round(mmHg * 10) / 10;
}

const bloodPressureShape: Shape<{ systolic: number; diastolic: number }> = {
  write: ({ systolic, diastolic }) => ({
    component: [
      {
        code: { coding: [loinc(LOINC.systolic)], text: 'Systolic' },
        valueQuantity: { value: systolic, ...MMHG },
      },
      {
        code: { coding: [loinc(LOINC.diastolic)], text: 'Diastolic' },
        valueQuantity: { value: diastolic, ...MMHG },
      },
    ],
  }),
  read: (observation, issues) => {
    const systolic = readPressure(observation, loinc(LOINC.systolic), 'systolic pressure', issues);
    const diastolic = readPressure(observation, loinc(LOINC.diastolic), 'diastolic pressure', issues);
    return systolic === undefined || diastolic === undefined ? undefined : { systolic, diastolic };
  },
};

/** One quantity in value[x] under `field`. */
function quantityShape<F extends string>(
  field: F,
  unit: { system: string; code: string; unit: string },
): Shape<Record<F, number>> {
  return {
    write: (value) => ({ valueQuantity: { value: value[field], ...unit } }),
    read: (observation, issues) => {
      const value = numberOf(observation);
      if (value === undefined) {
        issues.push(
          issue(
            'error',
            'required',
            `The observation has no value in ${unit.unit}.`,
            'Observation.valueQuantity',
          ),
        );
        return undefined;
      }
      // "< 90" is a bound, not a reading: a monitoring check must not take it for 90.
      const comparator = observation.valueQuantity?.comparator;
      if (comparator !== undefined) {
        issues.push(
          issue(
            'error',
            'value',
            `The value is "${comparator} ${value}", not a reading.`,
            'Observation.valueQuantity',
          ),
        );
        return undefined;
      }
      return { [field]: value } as Record<F, number>;
    },
  };
}

/** One integer score in value[x] under `field`, within lo..hi. */
function integerShape<F extends string>(
  field: F,
  lo: number,
  hi: number,
  what: string,
): Shape<Record<F, number>> {
  return {
    write: (value) => ({ valueInteger: value[field] }),
    read: (observation, issues) => {
      const value = numberOf(observation);
      if (value === undefined) {
        issues.push(issue('error', 'required', `The ${what} score is missing.`, 'Observation.valueInteger'));
        return undefined;
      }
      return checkRange(value, lo, hi, `${what} score`, 'Observation.valueInteger', issues)
        ? ({ [field]: value } as Record<F, number>)
        : undefined;
    },
  };
}

/** Every kind kap-bridge knows: profile, category, codes and value shape. */
export const OBSERVATION_KINDS: { [K in ObservationKind]: KindSpec<K> } = {
  phq9: {
    profile: 'kap-phq9',
    category: 'survey',
    codes: [loinc(LOINC.phq9Panel)],
    alsoReadFrom: [loinc(LOINC.phq9Total)],
    text: 'PHQ-9',
    shape: phq9Shape,
  },
  'phq9-item9': {
    category: 'survey',
    codes: [loinc(LOINC.phq9Item9)],
    text: 'PHQ-9 item 9',
    shape: phq9Item9Shape,
  },
  gad7: {
    profile: 'kap-gad7',
    category: 'survey',
    codes: [loinc(LOINC.gad7Panel)],
    alsoReadFrom: [loinc(LOINC.gad7Total)],
    text: 'GAD-7',
    shape: totalShape(loinc(LOINC.gad7Total), 21, 'GAD-7'),
  },
  pcl5: {
    profile: 'kap-pcl5',
    category: 'survey',
    codes: [loinc(LOINC.pcl5Panel)],
    alsoReadFrom: [loinc(LOINC.pcl5Total)],
    text: 'PCL-5',
    shape: totalShape(loinc(LOINC.pcl5Total), 80, 'PCL-5'),
  },
  cssrs: {
    profile: 'kap-cssrs',
    category: 'survey',
    codes: [loinc(LOINC.cssrsPanel)],
    alsoReadFrom: [loinc(LOINC.cssrsRisk)],
    text: 'C-SSRS',
    shape: riskShape,
  },
  'mental-status': {
    profile: 'kap-mental-status',
    category: 'exam',
    codes: [loinc(LOINC.mentalStatus)],
    text: 'Mental status',
    shape: findingsShape,
  },
  'blood-pressure': {
    profile: 'kap-blood-pressure',
    category: 'vital-signs',
    codes: [loinc(LOINC.bpPanel)],
    text: 'Blood pressure',
    shape: bloodPressureShape,
  },
  'heart-rate': {
    profile: 'kap-heart-rate',
    category: 'vital-signs',
    codes: [loinc(LOINC.heartRate)],
    text: 'Heart rate',
    shape: quantityShape('perMinute', ucum('/min', 'beats/minute')),
  },
  spo2: {
    profile: 'kap-spo2',
    category: 'vital-signs',
    codes: [loinc(LOINC.spo2), loinc(LOINC.spo2Arterial)],
    text: 'Oxygen saturation',
    shape: quantityShape('percent', ucum('%', '%')),
  },
  dissociation: {
    profile: 'kap-dissociation',
    category: 'survey',
    codes: [coding(SYSTEM.kap, KAP_CODE.cadss, 'CADSS total score')],
    text: 'CADSS',
    shape: integerShape('cadss', 0, 92, 'CADSS'),
  },
  sedation: {
    profile: 'kap-sedation',
    category: 'survey',
    codes: [coding(SYSTEM.kap, KAP_CODE.moaas, 'MOAA/S score')],
    text: 'MOAA/S',
    shape: integerShape('moaas', 0, 5, 'MOAA/S'),
  },
  'check-in': {
    profile: 'kap-check-in',
    category: 'survey',
    codes: [coding(SYSTEM.kap, KAP_CODE.checkIn, 'Chaperone check-in')],
    text: 'Chaperone check-in',
    shape: checkInShape,
  },
};

const KINDS = Object.keys(OBSERVATION_KINDS) as ObservationKind[];

const CATEGORY_DISPLAY = { survey: 'Survey', 'vital-signs': 'Vital Signs', exam: 'Exam' } as const;

/** The kind an Observation's code names, by any of the kind's codes anywhere in its codings. */
export function kindOf(observation: Observation): ObservationKind | undefined {
  const names = (c: Coding) => hasCode(observation.code, c.system!, c.code!);
  return (
    KINDS.find((k) => OBSERVATION_KINDS[k].codes.some(names)) ??
    KINDS.find((k) => OBSERVATION_KINDS[k].alsoReadFrom?.some(names))
  );
}

export function observationToFhir(observation: KapObservation, ctx: MappingContext): Observation {
  const spec = OBSERVATION_KINDS[observation.value.kind] as KindSpec<ObservationKind>;
  const { kind: _kind, ...value } = observation.value;
  const category = HL7_CODE[spec.category === 'vital-signs' ? 'vitalSigns' : spec.category];
  return {
    ...ownOpening(ctx, 'Observation', observation.id, spec.profile),
    status: observation.status,
    category: [concept(SYSTEM.observationCategory, category, CATEGORY_DISPLAY[spec.category])],
    code: { coding: [...spec.codes], text: spec.text },
    subject: { reference: ctx.ref('Patient', observation.patientId) },
    ...(observation.sessionId === undefined
      ? {}
      : { encounter: { reference: ctx.ref('Encounter', observation.sessionId) } }),
    effectiveDateTime: observation.effective,
    ...(observation.performer === undefined ? {} : { performer: [{ reference: observation.performer }] }),
    ...spec.shape.write(value as never),
  };
}

export function observationFromFhir(resource: Observation, ctx: MappingContext): Read<KapObservation> {
  const issues: Issue[] = [];
  const id = domainIdOf(ctx, resource, 'Observation', identifierSystem('Observation'));
  if (id === undefined)
    issues.push(issue('error', 'required', 'The observation has no id.', 'Observation.id'));
  const patientId = ctx.idOf('Patient', resource.subject);
  if (patientId === undefined) {
    issues.push(issue('error', 'required', 'The observation names no known patient.', 'Observation.subject'));
  }
  const effective =
    resource.effectiveDateTime ?? resource.effectivePeriod?.start ?? resource.effectiveInstant;
  if (effective === undefined) {
    issues.push(
      issue(
        'error',
        'required',
        'The observation does not say when it was taken.',
        'Observation.effectiveDateTime',
      ),
    );
  }
  const kind = kindOf(resource);
  let value: ObservationValue | undefined;
  if (kind === undefined) {
    const codes = (resource.code?.coding ?? []).map((c) => `${c.system}|${c.code}`).join(', ') || 'no code';
    issues.push(
      issue(
        'error',
        'code-invalid',
        `The observation's code (${codes}) is not one kap-bridge reads.`,
        'Observation.code',
      ),
    );
  } else {
    const read = OBSERVATION_KINDS[kind].shape.read(resource, issues);
    if (read !== undefined) value = { kind, ...read } as ObservationValue;
  }
  if (id === undefined || patientId === undefined || effective === undefined || value === undefined) {
    return { value: undefined, issues };
  }
  const result: KapObservation = { id, patientId, status: resource.status, effective, value };
  const sessionId = ctx.idOf('Encounter', resource.encounter);
  if (sessionId !== undefined) result.sessionId = sessionId;
  const performer = resource.performer?.find((p) => p.reference !== undefined)?.reference;
  if (performer !== undefined) result.performer = performer;
  if (resource.issued !== undefined) result.issued = resource.issued;
  if (resource.meta?.lastUpdated !== undefined) result.versionTime = resource.meta.lastUpdated;
  const source = sourceOf(resource);
  if (source !== undefined) result.source = source;
  return { value: result, issues };
}
