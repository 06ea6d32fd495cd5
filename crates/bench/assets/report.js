// The benchmark report page: reads the history embedded in #data and draws one trend chart
// per figure with the dashboard's lineChart (chart.js, inline above). Text goes in with
// textContent only.
'use strict';

(function () {
  const data = JSON.parse(document.getElementById('data').textContent);
  const when = (t) => new Date(t * 1000).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
  const el = (tag, text, cls) => {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  };
  const points = data.points;
  const runs = document.getElementById('runs');
  runs.textContent = `${points.length} run${points.length === 1 ? '' : 's'}` +
    (data.skipped ? ` (${data.skipped} unreadable history line${data.skipped === 1 ? '' : 's'} skipped)` : '');
  document.getElementById('targets').replaceChildren(...data.targets.map((t) => {
    const tr = el('tr');
    const met = t.met === null ? 'not measured' : t.met ? 'yes' : 'NO';
    tr.append(el('td', t.figure), el('td', t.target), el('td', t.measured),
      el('td', met, t.met === false ? 'status-failed' : t.met ? 'status-sent' : ''));
    return tr;
  }));
  const names = [...new Set(points.flatMap((p) => Object.keys(p.figures)))].sort();
  const first = points.length ? points[0].run_unix : 0;
  const last = points.length ? points[points.length - 1].run_unix : 1;
  const figures = document.getElementById('figures');
  for (const name of names) {
    const series = points.filter((p) => name in p.figures).map((p) => ({
      x: p.run_unix, y: p.figures[name],
      title: `${when(p.run_unix)} · ${p.version} · ${p.preset || '?'} preset · ${p.machine}: ${p.figures[name]}`,
    }));
    const latest = series[series.length - 1];
    const card = el('section', undefined, 'panel figure');
    card.dataset.figure = name;
    card.append(el('h3', name), el('p', `latest ${Number(latest.y.toPrecision(4))} · ${series.length} point${series.length === 1 ? '' : 's'}`, 'muted'));
    const chart = document.createElementNS(SVG, 'svg');
    chart.setAttribute('viewBox', '0 0 600 160');
    chart.setAttribute('class', 'chart');
    chart.setAttribute('role', 'img');
    chart.setAttribute('aria-label', `${name} across runs`);
    lineChart(chart, {
      width: 600, height: 160, from: first, to: last,
      left: when(first), right: points.length > 1 ? 'latest' : '',
      series: [{ cls: 'line', dots: true, points: series }],
    });
    card.append(chart);
    figures.append(card);
  }
})();
