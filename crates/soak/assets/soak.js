// The soak report page: reads the report embedded in #data; tables of the accounting, the
// faults and the processes, and charts (the dashboard's lineChart, inline above) of
// throughput, backlog, memory and channel coverage with every fault drawn as a dashed line.
// Text goes in with textContent only.
'use strict';

(function () {
  const r = JSON.parse(document.getElementById('data').textContent);
  const el = (tag, text, cls) => {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  };
  const row = (...cells) => { const tr = el('tr'); tr.append(...cells.map((c) => el('td', c))); return tr; };
  const num = (v, d = 1) => (v === null || v === undefined ? '–' : Number(v).toFixed(d));
  document.getElementById('run').textContent =
    `seed ${r.seed} · ${Math.round(r.duration_s)} s · ${r.channels} channels · ` +
    `second database ${r.second_database || 'sqlite'} · ` +
    `${new Date(r.started_unix * 1000).toLocaleString()}`;
  const a = r.accounting;
  document.getElementById('accounting').replaceChildren(
    row('lines broadcast', a.broadcast),
    row('stored once / twice / missing', `${a.stored_once} / ${a.stored_twice} / ${a.missing}`),
    row('exact', a.exact ? 'yes' : 'NO'),
    row('viewers: lines missed (total, worst viewer), reconnects', `${a.viewer_missed_total}, ${a.viewer_missed_max}, ${a.viewer_reconnects}`),
    row('shell PMs delivered / answered / audit rows', `${a.pm_delivered} / ${a.pm_answered} / ${a.pm_audit_rows}`),
    row('longest gap of a channel without a bot (s)', num(a.longest_gap_s)),
    row('abusive lines broadcast / warnings received', `${a.abuse_broadcast ?? '–'} / ${a.abuse_warnings ?? '–'}`),
    row('media added / starts seen (of which without a bot)', `${a.media_added ?? '–'} / ${a.plays_started ?? '–'} (${a.plays_started_without_bot ?? '–'})`),
    ...(a.databases || []).flatMap((d) => [
      row(`${d.name} (${d.kind}): lines stored once / twice / missing`, `${d.stored_once} / ${d.stored_twice} / ${d.missing}${d.exact ? ' — exact' : ' — NOT exact'}`),
      row(`${d.name}: abusive lines decided once / twice / never`, `${d.abuse_decided_once} / ${d.abuse_decided_twice} / ${d.abuse_undecided}`),
      row(`${d.name}: media starts recorded once / twice / missing (without a bot)`, `${d.plays_recorded_once} / ${d.plays_recorded_twice} / ${d.plays_missing} (${d.plays_missing_without_bot})`),
      row(`${d.name}: shell PM audit rows`, d.pm_audit_rows),
    ]),
    row('faults by kind', Object.entries(r.fault_counts || {}).map(([k, n]) => `${k} ${n}`).join(', ')),
    ...(r.load_average ? [row('machine load average (1 min): first / mean / max / last',
      `${num(r.load_average.first)} / ${num(r.load_average.mean)} / ${num(r.load_average.max)} / ${num(r.load_average.last)}`)] : []),
  );
  document.getElementById('faults').replaceChildren(...r.faults.map((f) =>
    row(num(f.started_s, 0), f.kind, f.target, f.recovered_after_s === null ? `not recovered ${f.error || ''}` : num(f.recovered_after_s))));
  document.getElementById('processes').replaceChildren(...r.processes.map((p) =>
    row(p.role, p.restarts,
      `${num(p.rss_kib_first / 1024)} / ${num(p.rss_kib_last / 1024)} / ${num(p.rss_kib_max / 1024)}`,
      num(p.rss_kib_per_min), `${p.fds_last ?? '–'} (${num(p.fds_per_min, 2)})`,
      `${p.threads_last ?? '–'} (${num(p.threads_per_min, 2)})`)));

  const s = r.samples;
  const from = 0, to = Math.max(1, r.duration_s);
  const L = 34, R = 8, W = 600;
  const rate = s.map((p, i) => ({ x: p.t, y: i ? Math.max(0, (p.broadcast - s[i - 1].broadcast) / Math.max(0.1, p.t - s[i - 1].t)) : 0 }));
  const stored = s.map((p, i) => ({ x: p.t, y: i ? Math.max(0, (p.stored - s[i - 1].stored) / Math.max(0.1, p.t - s[i - 1].t)) : 0 }));
  const backlog = s.map((p) => ({ x: p.t, y: Math.max(0, p.broadcast - p.stored) }));
  const coverage = s.map((p) => ({ x: p.t, y: p.covered }));
  const roles = [...new Set(s.flatMap((p) => p.procs.map((f) => f.role)))];
  const rss = roles.map((role) => ({
    cls: 'line', points: s.flatMap((p) => p.procs.filter((f) => f.role === role).map((f) => ({ x: p.t, y: f.rss_kib / 1024 }))),
  }));
  const charts = [
    ['Lines per second: broadcast (solid), stored (dots)', [{ cls: 'line', points: rate }, { cls: 'line', dots: true, points: stored }]],
    ['Backlog: lines broadcast, not yet stored', [{ cls: 'line', points: backlog }]],
    [`Resident memory, MiB (${roles.join(', ')})`, rss],
    ['Channels with a bot', [{ cls: 'line', points: coverage }]],
    ['Machine load average (1 min)', [{ cls: 'line', points: s.map((p) => ({ x: p.t, y: p.load1 || 0 })) }]],
  ];
  const box = document.getElementById('charts');
  for (const [title, series] of charts) {
    const card = el('section', undefined, 'panel');
    card.append(el('h3', title));
    const chart = document.createElementNS(SVG, 'svg');
    chart.setAttribute('viewBox', '0 0 600 180');
    chart.setAttribute('class', 'chart');
    chart.setAttribute('role', 'img');
    chart.setAttribute('aria-label', title);
    lineChart(chart, { width: W, height: 180, from, to, left: '0 s', right: `${Math.round(to)} s`, series });
    for (const f of r.faults) {
      const x = L + ((f.started_s - from) / (to - from)) * (W - L - R);
      const line = svg('line', { x1: x.toFixed(1), y1: 10, x2: x.toFixed(1), y2: 158, class: 'fault' });
      line.append(svg('title', {}, `${Math.round(f.started_s)} s: ${f.kind} ${f.target}`));
      chart.append(line);
    }
    card.append(chart);
    box.append(card);
  }
})();
