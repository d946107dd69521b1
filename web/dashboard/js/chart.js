// chart.js - a small inline-SVG chart: bars (left axis) with a line (right axis) over a
// category axis. Used for "last 30 runs: stones processed and duration". No dependencies.
import { s, h } from './dom.js';

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/*
 * barLineChart({points: [{label, bar, line, failed, title}], barLabel, lineLabel,
 *               barFormat, lineFormat, width, height}) -> element
 */
export function barLineChart(o) {
  const W = o.width || 760, H = o.height || 240;
  const m = { l: 56, r: 60, t: 14, b: 30 };
  const iw = W - m.l - m.r, ih = H - m.t - m.b;
  const pts = o.points || [];
  const bmax = niceMax(Math.max(0, ...pts.map((p) => Number(p.bar) || 0)));
  const lmax = niceMax(Math.max(0, ...pts.map((p) => Number(p.line) || 0)));
  const n = Math.max(pts.length, 1);
  const step = iw / n, bw = Math.max(3, Math.min(28, step * 0.62));
  const x = (i) => m.l + step * i + step / 2;
  const yb = (v) => m.t + ih - (ih * (Number(v) || 0)) / bmax;
  const yl = (v) => m.t + ih - (ih * (Number(v) || 0)) / lmax;
  const bf = o.barFormat || String, lf = o.lineFormat || String;

  const grid = s('g', { class: 'grid' });
  const axis = s('g', { class: 'axis' });
  for (let i = 0; i <= 4; i++) {
    const y = m.t + (ih * i) / 4;
    grid.appendChild(s('line', { x1: m.l, x2: W - m.r, y1: y, y2: y }));
    axis.appendChild(s('text', { x: m.l - 8, y: y + 4, 'text-anchor': 'end' }, bf(bmax * (1 - i / 4))));
    axis.appendChild(s('text', { x: W - m.r + 8, y: y + 4, 'text-anchor': 'start' }, lf(lmax * (1 - i / 4))));
  }
  const labelEvery = Math.ceil(pts.length / 10) || 1;
  pts.forEach((p, i) => {
    if (i % labelEvery === 0 || i === pts.length - 1)
      axis.appendChild(s('text', { x: x(i), y: H - 8, 'text-anchor': 'middle' }, p.label));
  });
  const bars = s('g', null, pts.map((p, i) => s('rect', {
    class: 'bar' + (p.failed ? ' failed' : ''), x: x(i) - bw / 2, y: yb(p.bar), width: bw,
    height: Math.max(0, m.t + ih - yb(p.bar)), rx: 2,
  }, s('title', null, p.title || `${p.label}: ${bf(p.bar)}, ${lf(p.line)}`))));
  const linePts = pts.map((p, i) => `${x(i)},${yl(p.line)}`).join(' ');
  const line = pts.length > 1 ? s('polyline', { class: 'line', points: linePts }) : null;
  const dots = s('g', null, pts.map((p, i) => s('circle', { class: 'dot', cx: x(i), cy: yl(p.line), r: 3 },
    s('title', null, p.title || `${p.label}: ${lf(p.line)}`))));

  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': o.ariaLabel || `${o.barLabel} and ${o.lineLabel}` },
    grid, bars, line, dots, axis);
  return h('div', { class: 'chart' }, svg,
    h('div', { class: 'chart-legend' },
      h('span', { style: { '--c': '#a5b4fc' } }, o.barLabel + ' (left)'),
      o.failedLabel ? h('span', { style: { '--c': '#fca5a5' } }, o.failedLabel) : null,
      h('span', { style: { '--c': '#f59e0b' } }, o.lineLabel + ' (right)')));
}

/* Compact number for axis ticks: 1.2k, 3M. */
export function compact(v) {
  v = Number(v) || 0;
  if (v >= 1e6) return (v / 1e6).toFixed(v >= 1e7 ? 0 : 1).replace(/\.0$/, '') + 'M';
  if (v >= 1e3) return (v / 1e3).toFixed(v >= 1e4 ? 0 : 1).replace(/\.0$/, '') + 'k';
  if (v < 10 && Math.round(v) !== v) return v.toFixed(v < 1 ? 2 : 1).replace(/\.?0+$/, '');
  return String(Math.round(v));
}
