/**
 * Score trends: PHQ-9, GAD-7 and PCL-5 totals of one patient on one time axis, PHQ-9's severity
 * bands behind them, a PHQ-9 whose item 9 was answered above 0 marked, and each dose a vertical
 * line. The same data is always in the table beneath the plot.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import { html, when } from './ui.js';

/** PHQ-9 severity (Kroenke et al. 2001): minimal, mild, moderate, moderately severe, severe. */
export const PHQ9_BANDS = [
  [0, 5, 'minimal', 'rgba(15,107,47,0.07)'],
  [5, 10, 'mild', 'rgba(122,77,0,0.06)'],
  [10, 15, 'moderate', 'rgba(122,77,0,0.12)'],
  [15, 20, 'moderately severe', 'rgba(163,20,28,0.10)'],
  [20, 27, 'severe', 'rgba(163,20,28,0.18)'],
];

const SCORES = ['phq9', 'gad7', 'pcl5'];
const LABEL = { phq9: 'PHQ-9', gad7: 'GAD-7', pcl5: 'PCL-5' };

/** Item 9 wherever it was given: the answer itself, or the last of the items. */
export const item9Of = (v) => v.item9 ?? v.items?.[8];

/** The score series of a patient's observations: aligned x (seconds) and one column per score. */
export function seriesOf(observations) {
  const scores = observations.filter((o) => SCORES.includes(o.value.kind) && typeof o.value.total === 'number');
  const xs = [...new Set(scores.map((o) => Math.floor(Date.parse(o.effective) / 1000)))].sort((a, b) => a - b);
  const at = new Map(xs.map((x, i) => [x, i]));
  const columns = Object.fromEntries([...SCORES, 'item9'].map((k) => [k, xs.map(() => null)]));
  for (const o of scores) {
    const i = at.get(Math.floor(Date.parse(o.effective) / 1000));
    columns[o.value.kind][i] = o.value.total;
    if (o.value.kind === 'phq9' && (item9Of(o.value) ?? 0) > 0) columns.item9[i] = o.value.total;
  }
  return [xs, columns.phq9, columns.gad7, columns.pcl5, columns.item9];
}

export function Trends({ label, observations, doses, width }) {
  const box = useRef();
  // The table is drawn when asked for: five years of weekly scores are hundreds of rows.
  const [tableShown, setTableShown] = useState(false);
  useEffect(() => {
    const data = seriesOf(observations);
    if (data[0].length === 0) return undefined;
    const doseTimes = doses.map((d) => Date.parse(d.administeredAt) / 1000);
    const plot = new uPlot(
      {
        width: Math.max(300, Math.min(width ?? 900, 1100)),
        height: 280,
        scales: { x: { time: true }, score: { range: [0, 27] }, pcl: { range: [0, 80] } },
        axes: [
          {},
          { scale: 'score', label: 'PHQ-9, GAD-7' },
          { scale: 'pcl', side: 1, label: 'PCL-5', grid: { show: false } },
        ],
        series: [
          {},
          { label: 'PHQ-9', scale: 'score', stroke: '#0b5cad', width: 2, spanGaps: true, points: { show: true } },
          { label: 'GAD-7', scale: 'score', stroke: '#7a4d00', width: 2, dash: [6, 3], spanGaps: true, points: { show: true } },
          { label: 'PCL-5', scale: 'pcl', stroke: '#5b2a86', width: 2, dash: [2, 3], spanGaps: true, points: { show: true } },
          {
            label: 'PHQ-9 item 9 above 0',
            scale: 'score',
            stroke: '#a3141c',
            width: 0,
            points: { show: true, size: 14, fill: '#a3141c' },
          },
        ],
        hooks: {
          drawClear: [
            (u) => {
              const { ctx, bbox } = u;
              for (const [lo, hi, , fill] of PHQ9_BANDS) {
                const top = u.valToPos(hi, 'score', true);
                const bottom = u.valToPos(lo, 'score', true);
                ctx.fillStyle = fill;
                ctx.fillRect(bbox.left, top, bbox.width, bottom - top);
              }
            },
          ],
          draw: [
            (u) => {
              const { ctx, bbox } = u;
              ctx.save();
              ctx.strokeStyle = '#1b1f24';
              ctx.setLineDash([4, 4]);
              for (const t of doseTimes) {
                const x = u.valToPos(t, 'x', true);
                if (x < bbox.left || x > bbox.left + bbox.width) continue;
                ctx.beginPath();
                ctx.moveTo(x, bbox.top);
                ctx.lineTo(x, bbox.top + bbox.height);
                ctx.stroke();
              }
              ctx.restore();
            },
          ],
        },
      },
      data,
      box.current,
    );
    return () => plot.destroy();
  }, [observations, doses, width]);
  const rows = observations
    .filter((o) => SCORES.includes(o.value.kind))
    .sort((a, b) => a.effective.localeCompare(b.effective));
  return html`<section class="trends" aria-label=${`Score trends of ${label}`}>
    <h3>Score trends: ${label}</h3>
    <figure class="plot" tabindex="0">
      <div ref=${box} role="img" aria-label=${`PHQ-9, GAD-7 and PCL-5 of ${label} over the course, with doses; the same data is in the table below`}></div>
      <figcaption class="muted">Shaded: PHQ-9 severity (minimal, mild, moderate, moderately severe, severe). Red dots: PHQ-9 item 9 above 0. Dashed lines: doses.</figcaption>
    </figure>
    <button type="button" class="secondary table-toggle" aria-expanded=${tableShown} onClick=${() => setTableShown(!tableShown)}>
      ${tableShown ? 'Hide the table' : `Table view (${rows.length + doses.length} rows)`}
    </button>
    ${tableShown ? html`<div class="table-wrap" tabindex="0" role="region" aria-label="Table, scrolls sideways">
      <table class="scores">
        <caption>Scores and doses of ${label} (table view)</caption>
        <thead><tr><th scope="col">When</th><th scope="col">What</th><th scope="col">Value</th><th scope="col">Item 9</th><th scope="col">Source</th></tr></thead>
        <tbody>
          ${[
            ...rows.map((o) => ({ at: o.effective, what: LABEL[o.value.kind], value: o.value.total, item9: o.value.kind === 'phq9' ? item9Of(o.value) : undefined, source: o.source })),
            ...doses.map((d) => ({ at: d.administeredAt, what: 'Dose', value: `${d.dose.value} ${d.dose.unit}`, source: d.source })),
          ]
            .sort((a, b) => a.at.localeCompare(b.at))
            .map(
              (r) => html`<tr class=${r.item9 > 0 ? 'flag' : undefined}>
                <td>${when(r.at)}</td><td>${r.what}</td><td>${r.value ?? ''}</td>
                <td>${r.item9 === undefined ? '' : r.item9 > 0 ? html`<strong>${r.item9} (flag)</strong>` : r.item9}</td>
                <td><code>${r.source ?? ''}</code></td>
              </tr>`,
            )}
        </tbody>
      </table>
    </div>` : null}
  </section>`;
}
