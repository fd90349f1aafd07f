/**
 * The medicine session's checks, one row per way each can say no: the day-of checks at the dose
 * and booster limits, the monitoring plan (due, overdue, out of range; remote check-ins), and the
 * discharge criteria. Each row starts from a session that passes and changes one thing.
 */
import {
  DEFAULT_MEDICINE_POLICY,
  DISCHARGE_CHECKS,
  DOSE_CHECKS,
  dischargeChecks,
  doseChecks,
  type MedicineFacts,
  type MedicinePolicy,
  monitoringAt,
} from './medicine-session.js';
import type { Administration, KapObservation, ObservationValue, Session } from './model.js';

const session: Session = {
  id: 's1',
  episodeId: 'e1',
  phase: 'medicine',
  status: 'in-progress',
  patientId: 'p1',
  start: '2026-12-03T10:00:00Z',
};
const at = (hhmm: string) => `2026-12-03T${hhmm}:00.000Z`;
let n = 0;
const reading = (
  value: ObservationValue,
  hhmm: string,
  over: Partial<KapObservation> = {},
): KapObservation => ({
  id: `o${++n}`,
  patientId: 'p1',
  sessionId: 's1',
  status: 'final',
  effective: at(hhmm),
  value,
  source: `Observation/o${n}/_history/1`,
  ...over,
});
const bp = (systolic: number, diastolic: number, hhmm: string) =>
  reading({ kind: 'blood-pressure', systolic, diastolic }, hhmm);
const hr = (perMinute: number, hhmm: string) => reading({ kind: 'heart-rate', perMinute }, hhmm);
const spo2 = (percent: number, hhmm: string) => reading({ kind: 'spo2', percent }, hhmm);
const moaas = (score: number, hhmm: string) => reading({ kind: 'sedation', moaas: score }, hhmm);
const cadss = (score: number, hhmm: string) => reading({ kind: 'dissociation', cadss: score }, hhmm);
const checkIn = (hhmm: string) => reading({ kind: 'check-in', note: 'All well' }, hhmm);
const dose = (hhmm: string, mg = 100, id = `d${hhmm}`): Administration => ({
  id,
  patientId: 'p1',
  sessionId: 's1',
  status: 'completed',
  medication: { text: 'ketamine', isKetamine: true },
  dose: { value: mg, unit: 'mg' },
  route: 'sublingual',
  administeredAt: at(hhmm),
});

const predose = (): MedicineFacts => ({
  session,
  patientId: 'p1',
  observations: [bp(122, 78, '10:05'), hr(72, '10:06'), spo2(98, '10:07')],
  administrations: [],
  dosePerSession: { value: 150, unit: 'mg' },
});

describe('day-of checks at the dose', () => {
  const rows: {
    name: string;
    facts?: (f: MedicineFacts) => MedicineFacts;
    policy?: Partial<MedicinePolicy>;
    time?: string;
    mg?: number;
    codes: (keyof typeof DOSE_CHECKS)[];
  }[] = [
    { name: 'a blood pressure within limits in the session before the dose', codes: [] },
    {
      name: 'no blood pressure in the session',
      facts: (f) => ({ ...f, observations: f.observations.filter((o) => o.value.kind !== 'blood-pressure') }),
      codes: ['predose-missing'],
    },
    {
      name: 'a blood pressure taken in another session does not count',
      facts: (f) => ({
        ...f,
        observations: f.observations.map((o) =>
          o.value.kind === 'blood-pressure' ? { ...o, sessionId: 'other' } : o,
        ),
      }),
      codes: ['predose-missing'],
    },
    {
      name: 'a blood pressure older than the window',
      time: at('11:10'),
      codes: ['predose-missing'],
    },
    {
      name: 'the window is configurable',
      time: at('11:10'),
      policy: { predoseWindowMinutes: 90 },
      codes: [],
    },
    {
      name: 'a blood pressure taken after the dose does not count before it',
      facts: (f) => ({ ...f, observations: [bp(122, 78, '10:25')] }),
      codes: ['predose-missing'],
    },
    {
      name: 'the last pre-dose blood pressure above the limits',
      facts: (f) => ({ ...f, observations: [...f.observations, bp(150, 95, '10:10')] }),
      codes: ['predose-out-of-range'],
    },
    {
      name: 'a high reading retaken within limits passes',
      facts: (f) => ({ ...f, observations: [bp(150, 95, '10:01'), ...f.observations] }),
      codes: [],
    },
    {
      name: 'a reading whose time cannot be read never counts',
      facts: (f) => ({ ...f, observations: [{ ...bp(120, 70, '10:05'), effective: '2026-12-03' }] }),
      codes: ['predose-missing'],
    },
    {
      name: 'heart rate and SpO2 are required where the practice says so',
      facts: (f) => ({ ...f, observations: [bp(122, 78, '10:05')] }),
      policy: { predoseChecks: ['blood-pressure', 'heart-rate', 'spo2'] },
      codes: ['predose-missing', 'predose-missing'],
    },
    {
      name: 'a low SpO2 before the dose where the practice requires it',
      facts: (f) => ({ ...f, observations: [...f.observations, spo2(88, '10:12')] }),
      policy: { predoseChecks: ['blood-pressure', 'spo2'] },
      codes: ['predose-out-of-range'],
    },
    {
      name: 'a dose before the session began',
      time: '2026-12-03T09:55:00Z',
      facts: (f) => ({ ...f, observations: [bp(122, 78, '09:50')] }),
      codes: ['dose-before-session'],
    },
    {
      name: 'a booster within the dose per session and the time allowed',
      facts: (f) => ({ ...f, administrations: [dose('10:20', 100)] }),
      time: at('10:50'),
      mg: 50,
      codes: [],
    },
    {
      name: 'a booster that takes the session above the dose per session',
      facts: (f) => ({ ...f, administrations: [dose('10:20', 100)] }),
      time: at('10:50'),
      mg: 60,
      codes: ['booster-above-dose'],
    },
    {
      name: 'a booster after the time allowed',
      facts: (f) => ({ ...f, administrations: [dose('10:20', 100)] }),
      time: at('11:21'),
      mg: 50,
      codes: ['booster-too-late'],
    },
    {
      name: 'a booster timed before the first dose',
      facts: (f) => ({ ...f, administrations: [dose('10:20', 100)] }),
      time: at('10:19'),
      mg: 50,
      codes: ['booster-out-of-order'],
    },
    {
      name: 'a booster when the order gives no dose per session',
      facts: (f) => {
        const { dosePerSession: _, ...rest } = f;
        return { ...rest, administrations: [dose('10:20', 100)] };
      },
      time: at('10:50'),
      mg: 50,
      codes: ['booster-dose-unknown'],
    },
    {
      name: 'a booster needs no new pre-dose readings',
      facts: (f) => ({ ...f, observations: [bp(122, 78, '10:05')], administrations: [dose('10:20', 100)] }),
      time: at('11:15'),
      mg: 50,
      codes: [],
    },
  ];
  test.each(rows)('$name', ({ facts, policy, time, mg, codes }) => {
    const found = doseChecks(
      (facts ?? ((f) => f))(predose()),
      { time: time ?? at('10:20'), dose: { value: mg ?? 100, unit: 'mg' } },
      { ...DEFAULT_MEDICINE_POLICY, ...policy },
    );
    expect(found.map((f) => f.code)).toEqual(codes);
    for (const f of found) expect(f.message).toMatch(/\S/);
  });

  test('the finding on an out-of-range reading names its source', () => {
    const high = bp(160, 100, '10:15');
    const [found] = doseChecks(
      { ...predose(), observations: [high] },
      { time: at('10:20'), dose: { value: 100, unit: 'mg' } },
    );
    expect(found).toMatchObject({ code: 'predose-out-of-range', source: high.source });
  });

  test('every code of the table is reachable from a row', () => {
    const reached = new Set(rows.flatMap((r) => r.codes));
    expect([...Object.keys(DOSE_CHECKS)].filter((c) => !reached.has(c as never))).toEqual([
      'dose-unreadable-time',
    ]);
    expect(
      doseChecks(predose(), { time: 'Thursday morning', dose: { value: 100, unit: 'mg' } }).map(
        (f) => f.code,
      ),
    ).toEqual(['dose-unreadable-time']);
  });
});

const dosed = (over: Partial<MedicineFacts> = {}): MedicineFacts => ({
  ...predose(),
  administrations: [dose('10:20')],
  ...over,
});
const stateOf = (facts: MedicineFacts, now: string, id: string, kind = 'blood-pressure') =>
  monitoringAt(facts, now).points.find((p) => p.id === id && p.kind === kind);

describe('monitoring plan', () => {
  test('before the dose, the pre-dose readings are due and nothing else', () => {
    const m = monitoringAt({ ...predose(), observations: [] }, at('10:10'));
    expect(m.due.map((p) => `${p.id}:${p.kind}`)).toEqual([
      'pre-dose:blood-pressure',
      'pre-dose:heart-rate',
      'pre-dose:spo2',
    ]);
    expect(m.overdue).toEqual([]);
    expect(m.firstDoseAt).toBeUndefined();
  });

  test('the 40-minute blood pressure: upcoming, due within its tolerance, overdue after it, done when taken', () => {
    expect(stateOf(dosed(), at('10:40'), 'post-dose-40')?.status).toBe('upcoming');
    expect(stateOf(dosed(), at('10:55'), 'post-dose-40')).toMatchObject({
      status: 'due',
      dueFrom: at('10:50'),
      dueBy: at('11:10'),
    });
    expect(stateOf(dosed(), at('11:11'), 'post-dose-40')?.status).toBe('overdue');
    const taken = bp(128, 80, '11:02');
    expect(
      stateOf(dosed({ observations: [...predose().observations, taken] }), at('11:30'), 'post-dose-40'),
    ).toMatchObject({
      status: 'done',
      takenAt: taken.effective,
      source: taken.source,
    });
  });

  test('a reading outside the tolerance does not count for the 40-minute point', () => {
    const early = dosed({ observations: [...predose().observations, bp(128, 80, '10:35')] });
    expect(stateOf(early, at('11:15'), 'post-dose-40')?.status).toBe('overdue');
  });

  test('the pre-discharge point is due from the end of the monitoring time less its tolerance', () => {
    expect(stateOf(dosed(), at('12:00'), 'pre-discharge')?.status).toBe('upcoming');
    expect(stateOf(dosed(), at('12:10'), 'pre-discharge')).toMatchObject({
      status: 'due',
      dueFrom: at('12:05'),
    });
  });

  test('sedation and dissociation are points of the 40-minute check', () => {
    const m = monitoringAt(
      dosed({ observations: [...predose().observations, moaas(4, '11:00'), cadss(18, '11:00')] }),
      at('11:05'),
    );
    expect(
      m.points
        .filter((p) => p.id === 'post-dose-40' && p.status === 'done')
        .map((p) => p.kind)
        .sort(),
    ).toEqual(['dissociation', 'sedation']);
  });

  test('out-of-range readings are listed with their time and source, whatever point they belong to', () => {
    const low = spo2(89, '10:45');
    const fast = hr(130, '10:50');
    const m = monitoringAt(
      dosed({ observations: [...predose().observations, low, fast, hr(80, '10:55')] }),
      at('11:00'),
    );
    expect(m.outOfRange.map((r) => [r.kind, r.at, r.source])).toEqual([
      ['spo2', low.effective, low.source],
      ['heart-rate', fast.effective, fast.source],
    ]);
  });

  test('the monitoring plan is configurable: a point at 20 minutes', () => {
    const m = monitoringAt(dosed(), at('10:41'), {
      ...DEFAULT_MEDICINE_POLICY,
      plan: [
        {
          id: 'twenty',
          label: '20 minutes after',
          kinds: ['heart-rate'],
          at: 'after',
          minutes: 20,
          tolerance: 0,
        },
      ],
    });
    expect(m.points).toEqual([
      expect.objectContaining({ id: 'twenty', status: 'overdue', dueBy: at('10:40') }),
    ]);
  });

  describe('remote sessions', () => {
    const remote = (observations: KapObservation[]) =>
      dosed({
        session: { ...session, mode: 'remote', chaperone: 'Marta' },
        observations: [...predose().observations, ...observations],
      });
    const checkIns = (facts: MedicineFacts, now: string) =>
      monitoringAt(facts, now).points.filter((p) => p.kind === 'check-in');

    test('name the chaperone, and the first check-in is due within 15 minutes of the dose', () => {
      const m = monitoringAt(remote([]), at('10:30'));
      expect(m).toMatchObject({ mode: 'remote', chaperone: 'Marta' });
      expect(checkIns(remote([]), at('10:30'))).toEqual([
        expect.objectContaining({ id: 'check-in-1', status: 'due', dueBy: at('10:35') }),
      ]);
    });

    test('a missed check-in is overdue; the next is due 15 minutes after the missed one was due', () => {
      expect(checkIns(remote([]), at('10:40')).map((p) => [p.id, p.status, p.dueBy])).toEqual([
        ['check-in-1', 'overdue', at('10:35')],
        ['check-in-2', 'due', at('10:50')],
      ]);
    });

    test('check-ins on time are done, the next measured from each', () => {
      const m = checkIns(remote([checkIn('10:33'), checkIn('10:47')]), at('10:55'));
      expect(m.map((p) => [p.id, p.status, p.dueBy])).toEqual([
        ['check-in-1', 'done', at('10:35')],
        ['check-in-2', 'done', at('10:48')],
        ['check-in-3', 'due', at('11:02')],
      ]);
    });

    test('an in-person session has no check-ins', () => {
      expect(checkIns(dosed(), at('11:00'))).toEqual([]);
    });
  });
});

describe('discharge', () => {
  const all = (hhmm: string) => [bp(124, 80, hhmm), hr(70, hhmm), spo2(97, hhmm), moaas(5, hhmm)];
  const complete = () =>
    dosed({
      observations: [...predose().observations, ...all('11:00'), cadss(10, '11:00'), ...all('12:15')],
    });
  const rows: {
    name: string;
    facts?: (f: MedicineFacts) => MedicineFacts;
    time?: string;
    transport?: string | null;
    codes: (keyof typeof DISCHARGE_CHECKS)[];
  }[] = [
    { name: 'every criterion holds', codes: [] },
    { name: 'before the monitoring time is over', time: at('12:19'), codes: ['monitoring-time'] },
    {
      name: 'no heart rate after the dose',
      facts: (f) => ({
        ...f,
        observations: f.observations.filter(
          (o) => o.value.kind !== 'heart-rate' || o.effective < at('10:20'),
        ),
      }),
      codes: ['discharge-vitals-missing', 'monitoring-overdue'],
    },
    {
      name: 'the last blood pressure is above the limits',
      facts: (f) => ({ ...f, observations: [...f.observations, bp(150, 96, '12:18')] }),
      codes: ['discharge-vitals-out-of-range'],
    },
    {
      name: 'the last MOAA/S is not fully alert',
      facts: (f) => ({ ...f, observations: [...f.observations, moaas(4, '12:18')] }),
      codes: ['not-alert'],
    },
    { name: 'transport home not confirmed', transport: null, codes: ['transport-not-confirmed'] },
    { name: 'transport given as blank', transport: '  ', codes: ['transport-not-confirmed'] },
    {
      name: 'the 40-minute point was missed',
      facts: (f) => ({ ...f, observations: f.observations.filter((o) => o.effective !== at('11:00')) }),
      codes: ['monitoring-overdue'],
    },
    {
      name: 'a session without a dose has nothing to monitor',
      facts: (f) => ({ ...f, administrations: [], observations: [] }),
      codes: [],
    },
  ];
  test.each(rows)('$name', ({ facts, time, transport, codes }) => {
    const found = dischargeChecks((facts ?? ((f) => f))(complete()), {
      time: time ?? at('12:30'),
      ...(transport === null ? {} : { transport: transport ?? 'Driven home by her sister' }),
    });
    expect(found.map((f) => f.code)).toEqual(codes);
  });

  test('every discharge criterion is reachable from a row', () => {
    const reached = new Set(rows.flatMap((r) => r.codes));
    expect(Object.keys(DISCHARGE_CHECKS).filter((c) => !reached.has(c as never))).toEqual([]);
  });
});
