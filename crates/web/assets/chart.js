// Rosey's chart code: small SVG line charts drawn with DOM calls (every label goes in as
// text). Loaded before app.js by the dashboard, and embedded in the benchmark report page
// (`rosey bench` writes report.html with it).
'use strict';

const SVG = 'http://www.w3.org/2000/svg';

function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = String(text);
  return e;
}

// Draws series of {x, y, title?} points into the <svg> `chart` (its viewBox width × height).
// opts: {width, height, from, to (the x range), left, right (x-axis labels), unit (the y
// axis's, optional), series: [{points,
// cls ('line' or 'line2'), dots (a circle.pt with the point's title per point)}]}.
function lineChart(chart, opts) {
  const W = opts.width, H = opts.height, L = 34, R = 8, T = 10, B = 22;
  chart.replaceChildren();
  const all = opts.series.flatMap((s) => s.points.map((p) => p.y));
  const max = Math.max(1, ...all);
  const from = opts.from, to = opts.to > opts.from ? opts.to : opts.from + 1;
  const x = (t) => L + ((t - from) / (to - from)) * (W - L - R);
  const y = (v) => H - B - (v / max) * (H - T - B);
  const fmt = (v) => (Number.isInteger(v) ? v : Number(v.toPrecision(3)));
  chart.append(svg('line', { x1: L, y1: H - B, x2: W - R, y2: H - B, class: 'axis' }));
  chart.append(svg('line', { x1: L, y1: T, x2: L, y2: H - B, class: 'axis' }));
  chart.append(svg('text', { x: 2, y: T + 8 }, fmt(max)), svg('text', { x: 2, y: H - B }, 0));
  chart.append(svg('text', { x: L, y: H - 6 }, opts.left));
  chart.append(svg('text', { x: W - R - 60, y: H - 6 }, opts.right));
  if (opts.unit) chart.append(svg('text', { x: L + 6, y: T + 8, class: 'unit' }, opts.unit));
  for (const s of opts.series) {
    if (!s.points.length) continue;
    const pts = s.points.map((p) => `${x(p.x).toFixed(1)},${y(p.y).toFixed(1)}`).join(' ');
    chart.append(svg('polyline', { points: pts, class: s.cls || 'line' }));
    if (!s.dots) continue;
    for (const p of s.points) {
      const c = svg('circle', { cx: x(p.x).toFixed(1), cy: y(p.y).toFixed(1), r: 2.5, class: 'pt' });
      if (p.title) c.append(svg('title', {}, p.title));
      chart.append(c);
    }
  }
}
