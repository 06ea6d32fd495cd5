// Rosey dashboard. Every piece of data is written with textContent (never as HTML), so
// chat lines, user names and titles always show as text, and each piece of it sits in its
// own <bdi> (bidi-isolated: a right-to-left override in a title or a chat line cannot
// reorder the page's own text around it). The chart code (lineChart, svg) is in chart.js,
// loaded first.
'use strict';

const $ = (id) => document.getElementById(id);
const CHAT_MAX = 200;

const params = new URLSearchParams(location.search);
let channel = params.get('channel') || '';
let csrf = null;
let media = null;
let events = null;
// The chart period: `?hours=` (one of the period buttons') or a day.
const PERIODS = [1, 6, 24, 168];
let historyHours = PERIODS.includes(Number(params.get('hours'))) ? Number(params.get('hours')) : 24;
// How often the charts reload (the server may ask for more often: the demo does).
let chartRefreshMs = 60000;

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

// Dynamic text, isolated from the text around it.
function bdi(text, cls) { return el('bdi', text, cls); }

// An element made of pieces: strings are the page's own text, nodes are dynamic (bdi).
function compose(tag, parts, cls) {
  const e = el(tag, undefined, cls);
  e.append(...parts.map((p) => (typeof p === 'string' ? document.createTextNode(p) : p)));
  return e;
}

function clock(ts) {
  if (!ts) return '';
  return new Date(ts * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

function dateTime(ts) {
  if (!ts) return '–';
  return new Date(ts * 1000).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
}

function mmss(secs) {
  secs = Math.max(0, Math.floor(secs || 0));
  const h = Math.floor(secs / 3600), m = Math.floor((secs % 3600) / 60), s = secs % 60;
  const two = (n) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${two(m)}:${two(s)}` : `${m}:${two(s)}`;
}

function span(secs) {
  secs = Math.max(0, Math.floor(secs || 0));
  const d = Math.floor(secs / 86400), h = Math.floor((secs % 86400) / 3600), m = Math.floor((secs % 3600) / 60);
  return [d ? `${d}d` : '', h ? `${h}h` : '', `${m}m`].filter(Boolean).join(' ');
}

function withChannel(path) {
  if (!channel) return path;
  return path + (path.includes('?') ? '&' : '?') + 'channel=' + encodeURIComponent(channel);
}

async function getJson(path) {
  const r = await fetch(withChannel(path), { credentials: 'same-origin' });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(`${r.status}: ${body.error || r.statusText}`);
  return body;
}

// ---- live state ---------------------------------------------------------------------

function chatLine(line) {
  const li = el('li');
  li.append(el('span', clock(line.timestamp), 'time'), bdi(line.username, 'who'), bdi(line.message, 'msg'));
  return li;
}

function addChat(line) {
  const list = $('chat');
  const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 30;
  list.append(chatLine(line));
  while (list.children.length > CHAT_MAX) list.firstElementChild.remove();
  if (atBottom) list.scrollTop = list.scrollHeight;
}

// The server names ranks as CyTube does (guest … founder, site admin); '?' when unknown.
function rankLabel(u) {
  if (u.rank === null || u.rank === undefined) return '?';
  return u.rank_name || String(u.rank);
}

function renderUsers(users) {
  const list = $('userlist');
  list.replaceChildren(...users.map((u) => {
    const li = el('li', undefined, u.afk ? 'is-afk' : '');
    li.dataset.name = u.name;
    const rank = el('span', rankLabel(u), 'rank' + (u.rank >= 2 ? ' mod' : ''));
    li.append(rank, bdi(u.name, 'name'));
    if (u.afk) li.append(el('span', 'AFK', 'afk'));
    return li;
  }));
  $('users-count').textContent = `(${users.length})`;
}

function renderState(s) {
  const conn = $('conn');
  // The server ages the bot out: no word from it for a while → 'gone'.
  const state = s.bot_gone ? 'gone' : ((s.bot && s.bot.state) || s.connection || 'unknown');
  conn.textContent = state;
  conn.title = (s.bot && s.bot.detail) || '';
  conn.className = 'badge ' + (['running', 'joined', 'connected'].includes(state) ? 'ok' : (state === 'unknown' ? '' : 'bad'));
  document.body.dataset.bot = state;
  const stats = s.stats || {};
  const status = s.status || {};
  $('users-chat').textContent = String(s.users.length);
  const connected = s.bot_gone ? null : (s.connected ?? status.current_connected_users ?? (stats.current || {}).connected_users);
  $('users-connected').textContent = connected === undefined || connected === null ? '–' : String(connected);
  const peak = stats.high_water_mark || {}, peakC = stats.high_water_connected || {};
  $('peak-chat').textContent = peak.users === undefined ? '–' : String(peak.users);
  $('peak-chat-at').textContent = peak.timestamp ? dateTime(peak.timestamp) : '';
  $('peak-connected').textContent = peakC.users === undefined ? '–' : String(peakC.users);
  $('peak-connected-at').textContent = peakC.timestamp ? dateTime(peakC.timestamp) : '';
  $('total-seen').textContent = stats.total_users_seen === undefined ? '–' : String(stats.total_users_seen);
  media = s.media || null;
  $('now-title').textContent = media ? media.title : '–';
  const items = s.playlist_items ?? null;
  $('playlist-items').textContent = items === null ? '' : `· ${items} in playlist`;
  const next = (s.bot && s.bot.upcoming) || [];
  $('upcoming').replaceChildren(...next.map((i) => compose('li', i.duration ? [bdi(i.title, 'title'), ' (', bdi(i.duration), ')'] : [bdi(i.title, 'title')])));
  tickMedia();
  renderUsers(s.users || []);
  const top = $('top');
  top.replaceChildren(...(stats.top_chatters || []).map((t) => compose('li', [bdi(t.username), `: ${t.chat_lines}`])));
}

function tickMedia() {
  const pos = $('now-pos');
  if (!media) { pos.textContent = ''; return; }
  if (media.started) {
    const at = Math.min(Date.now() / 1000 - media.started, media.duration || Infinity);
    pos.textContent = `${mmss(at)} / ${mmss(media.duration)}`;
  } else {
    pos.textContent = mmss(media.duration);
  }
}

function connect() {
  if (events) events.close();
  events = new EventSource(withChannel('/events'));
  const live = $('live');
  events.addEventListener('open', () => { live.textContent = '● live'; live.className = 'badge ok'; });
  events.addEventListener('error', () => { live.textContent = '○ reconnecting'; live.className = 'badge bad'; });
  events.addEventListener('snapshot', (e) => {
    const s = JSON.parse(e.data);
    $('chat').replaceChildren(...(s.chat || []).map(chatLine));
    $('chat').scrollTop = $('chat').scrollHeight;
    renderState(s);
    document.body.dataset.ready = '1';
  });
  events.addEventListener('state', (e) => renderState(JSON.parse(e.data)));
  events.addEventListener('chat', (e) => addChat(JSON.parse(e.data)));
}

// ---- charts -------------------------------------------------------------------------

function drawHistory(rows, hours) {
  const now = Date.now() / 1000, from = now - hours * 3600;
  lineChart($('chart'), {
    width: 600, height: 200, from, to: now,
    left: hours >= 24 ? dateTime(from) : clock(from), right: 'now', unit: 'users',
    series: [
      { cls: 'line2', points: rows.map((r) => ({ x: r.timestamp, y: r.connected_users })) },
      {
        cls: 'line', dots: true,
        points: rows.map((r) => ({
          x: r.timestamp, y: r.chat_users,
          title: `${dateTime(r.timestamp)}: ${r.chat_users} in chat, ${r.connected_users} connected`,
        })),
      },
    ],
  });
  $('chart-note').textContent = `${rows.length} samples · solid: in chat, dashed: connected`;
}

function drawActivity(hoursRows, hours) {
  const chart = $('activity');
  const W = 600, H = 120, L = 34, R = 8, T = 8, B = 18;
  chart.replaceChildren();
  const now = Math.floor(Date.now() / 1000 / 3600) * 3600, first = now - (hours - 1) * 3600;
  const byHour = new Map(hoursRows.map((h) => [h.hour, h.lines]));
  const max = Math.max(1, ...hoursRows.map((h) => h.lines));
  const bw = (W - L - R) / hours;
  chart.append(svg('line', { x1: L, y1: H - B, x2: W - R, y2: H - B, class: 'axis' }));
  chart.append(svg('line', { x1: L, y1: T, x2: L, y2: H - B, class: 'axis' }));
  // The y axis: its top and zero, and its unit; the x axis: the first hour and the current one.
  chart.append(svg('text', { x: 2, y: T + 8 }, max), svg('text', { x: 2, y: H - B }, 0));
  chart.append(svg('text', { x: L + 6, y: T + 8, class: 'unit' }, 'lines per hour'));
  chart.append(svg('text', { x: L, y: H - 4 }, hours >= 24 ? dateTime(first) : clock(first)));
  chart.append(svg('text', { x: W - R - 24, y: H - 4 }, 'now'));
  for (let i = 0; i < hours; i++) {
    const lines = byHour.get(first + i * 3600) || 0;
    if (!lines) continue;
    const h = (lines / max) * (H - T - B);
    const bar = svg('rect', { x: (L + i * bw).toFixed(1), y: (H - B - h).toFixed(1), width: Math.max(1, bw - 1).toFixed(1), height: h.toFixed(1), class: 'bar' });
    bar.append(svg('title', {}, `${dateTime(first + i * 3600)}: ${lines} lines`));
    chart.append(bar);
  }
}

async function loadCharts() {
  try {
    drawHistory((await getJson(`/api/history/${historyHours}`)).data || [], historyHours);
    const act = await getJson(`/api/activity/${Math.min(historyHours, 168)}`);
    drawActivity(act.hours || [], Math.min(Math.max(historyHours, 6), 168));
  } catch (e) {
    $('chart-note').replaceChildren(document.createTextNode('History unavailable ('), bdi(e.message), document.createTextNode(')'));
  }
}

// ---- users --------------------------------------------------------------------------

async function search(q) {
  const out = $('user-results');
  try {
    const rows = await getJson('/api/users?limit=10&prefix=' + encodeURIComponent(q));
    out.replaceChildren(...rows.map((u) => {
      const li = el('li');
      const b = compose('button', [bdi(u.username), ` · ${u.total_chat_lines} lines${u.present ? ' · here' : ''}`]);
      b.type = 'button';
      b.addEventListener('click', () => showUser(u.username));
      li.append(b);
      return li;
    }));
  } catch (e) {
    out.replaceChildren(el('li', e.message, 'muted'));
  }
}

async function showUser(name) {
  const card = $('user-card');
  card.hidden = false;
  $('uc-name').textContent = name;
  try {
    const u = await getJson('/api/user/' + encodeURIComponent(name));
    $('uc-first').textContent = dateTime(u.first_seen);
    $('uc-last').textContent = dateTime(u.last_seen);
    $('uc-lines').textContent = String(u.total_chat_lines);
    const open = u.current_session_start ? Date.now() / 1000 - u.current_session_start : 0;
    $('uc-time').textContent = span(u.total_time_connected + open);
    $('uc-status').textContent = u.current_session_start ? 'Currently connected' : 'Away';
    const act = await getJson('/api/activity/168?user=' + encodeURIComponent(name));
    $('uc-recent').replaceChildren(...(act.lines || []).map(chatLine));
  } catch (e) {
    $('uc-first').textContent = e.message;
  }
}

// ---- media history ------------------------------------------------------------------

let mostPeriod = 'week';

function mediaButton(m, extra) {
  const b = compose('button', [bdi(m.title || m.media_id), extra]);
  b.type = 'button';
  b.addEventListener('click', () => showMedia(m.type, m.media_id));
  return b;
}

async function loadMedia() {
  const out = $('played-today');
  try {
    const t = await getJson('/api/media/recent?hours=24&limit=20');
    const rows = t.plays.map((p) => {
      const li = el('li');
      li.append(mediaButton(p, ` · ${clock(p.timestamp)}${p.end_reason ? ' · ' + p.end_reason : ''}`));
      if (p.queued_by) li.append(document.createTextNode(' · '), bdi(p.queued_by));
      return li;
    });
    out.replaceChildren(...(rows.length ? rows : [el('li', 'Nothing played today.', 'muted')]));
  } catch (e) {
    out.replaceChildren(el('li', e.message, 'muted'));
  }
  loadMostPlayed();
}

async function loadMostPlayed() {
  const out = $('most-played');
  try {
    const r = await getJson('/api/media/most_played?limit=10&period=' + mostPeriod);
    const rows = r.items.map((m) => {
      const li = el('li');
      li.append(mediaButton(m, ` · ${m.plays} ${m.plays === 1 ? 'play' : 'plays'}`));
      return li;
    });
    out.replaceChildren(...(rows.length ? rows : [el('li', 'Nothing played.', 'muted')]));
  } catch (e) {
    out.replaceChildren(el('li', e.message, 'muted'));
  }
}

async function searchMedia(q) {
  const out = $('media-results');
  if (!q) { out.replaceChildren(); return; }
  try {
    const r = await getJson('/api/media/search?limit=10&q=' + encodeURIComponent(q));
    const rows = r.items.map((m) => {
      const li = el('li');
      li.append(mediaButton(m, ` · ${m.plays} plays · last ${dateTime(m.last_played)}`));
      return li;
    });
    out.replaceChildren(...(rows.length ? rows : [el('li', 'No title matches.', 'muted')]));
  } catch (e) {
    out.replaceChildren(el('li', e.message, 'muted'));
  }
}

async function showMedia(type, id) {
  const card = $('media-card');
  card.hidden = false;
  try {
    const r = await getJson(`/api/media/item/${encodeURIComponent(type)}/${encodeURIComponent(id)}`);
    const s = r.stats;
    $('mc-title').replaceChildren(bdi(s.title || id), document.createTextNode(` (${type}:`), bdi(id), document.createTextNode(')'));
    $('mc-plays').textContent = String(s.plays);
    $('mc-first').textContent = dateTime(s.first_played);
    $('mc-last').textContent = dateTime(s.last_played);
    $('mc-time').textContent = mmss(s.total_played);
    $('mc-out').textContent = String(s.played_out);
    $('mc-skips').textContent = `${s.skips}${s.vote_skips ? ` (${s.vote_skips} by vote)` : ''}`;
    $('mc-removed').textContent = String(s.removals);
    const adders = r.adders.flatMap((a, i) => [...(i ? [document.createTextNode(', ')] : []), bdi(a.username), document.createTextNode(` ×${a.plays}`)]);
    $('mc-adders').replaceChildren(...(adders.length ? adders : [document.createTextNode('–')]));
  } catch (e) {
    $('mc-title').textContent = e.message;
  }
}

// ---- moderation panel ---------------------------------------------------------------

// The automated moderator's decisions, live, for a logged-in moderator only (a shadow
// mute shown to every viewer would tell the muted user). A mute or ban that was done can
// be undone; the bot answers in the server's words.
const AUTOMOD_MAX = 50;
let automod = null;

// The lift of a step that was taken (`mute 10m` → unmute, `ban 1h` → unban), if any.
function undoOf(row) {
  if (row.outcome !== 'done' || row.dry_run) return null;
  const action = String(row.step).split(' ')[0];
  if (action === 'mute' || action === 'smute') return 'unmute';
  if (action === 'ban') return 'unban';
  return null;
}

function automodRow(row) {
  const tr = el('tr', undefined, row.dry_run ? 'dry' : '');
  tr.dataset.user = row.username;
  tr.dataset.step = row.step;
  const td = (node) => { const c = el('td'); c.append(node); return c; };
  const outcome = el('td', row.dry_run ? 'dry run' : row.outcome, 'outcome-' + row.outcome);
  outcome.title = row.answer || '';
  const evidence = td(bdi(row.evidence || row.reason || ''));
  const last = el('td');
  const undo = undoOf(row);
  if (undo) {
    const b = el('button', undo === 'unmute' ? 'Unmute' : 'Unban', 'undo needs-login');
    b.type = 'button';
    b.dataset.action = undo;
    b.disabled = !csrf;
    b.addEventListener('click', () => undoStep(row.username, undo, last));
    last.append(b);
  }
  tr.append(el('td', clock(row.timestamp)), td(bdi(row.username, 'who')), el('td', row.rule), el('td', row.step), outcome, evidence, last);
  return tr;
}

async function undoStep(user, action, cell) {
  const out = $('automod-result');
  out.textContent = 'Waiting for the server…';
  delete out.dataset.status;
  delete out.dataset.success;
  const r = await post('/ui/moderation/undo', { user, action, channel: channel || undefined });
  const words = !r.ok ? [`Refused (${r.status}): `, r.data.error] : (r.data.success ? ['Server: ', r.data.message || 'done'] : ['Not done: ', r.data.error]);
  out.replaceChildren(document.createTextNode(words[0]), bdi(words[1] || ''));
  out.dataset.status = String(r.status);
  out.dataset.success = String(!!(r.ok && r.data.success));
  if (r.ok && r.data.success) cell.replaceChildren(el('span', action === 'unmute' ? 'unmuted' : 'unbanned', 'muted'));
}

function followAutomod(on) {
  if (automod) { automod.close(); automod = null; }
  $('automod-hint').hidden = on;
  $('automod-box').hidden = !on;
  delete document.body.dataset.automod;
  if (!on) { $('automod').replaceChildren(); return; }
  automod = new EventSource(withChannel('/ui/moderation/events'));
  automod.addEventListener('log', (e) => {
    const log = JSON.parse(e.data);
    $('automod').replaceChildren(...log.actions.map(automodRow));
    document.body.dataset.automod = 'live';
  });
  automod.addEventListener('decision', (e) => {
    const list = $('automod');
    list.prepend(automodRow(JSON.parse(e.data)));
    while (list.children.length > AUTOMOD_MAX) list.lastElementChild.remove();
  });
}

// ---- moderator actions --------------------------------------------------------------

// Logged in: the token form goes, the actions become usable; logged out: the reverse.
function showLogin(s) {
  csrf = s.logged_in ? s.csrf : null;
  $('login-form').hidden = !!s.logged_in;
  $('whoami').hidden = !s.logged_in;
  $('whoami-text').replaceChildren(...(s.logged_in ? [document.createTextNode('Logged in with '), bdi(`${s.prefix}…`), document.createTextNode(s.admin ? ' (admin)' : '')] : []));
  for (const c of document.querySelectorAll('.needs-login')) c.disabled = !s.logged_in;
  followAutomod(!!s.logged_in);
}

async function post(path, body) {
  const headers = { 'Content-Type': 'application/json' };
  if (csrf) headers['X-CSRF-Token'] = csrf;
  const r = await fetch(path, { method: 'POST', headers, body: JSON.stringify(body), credentials: 'same-origin' });
  const data = await r.json().catch(() => ({}));
  return { status: r.status, ok: r.ok, data };
}

async function loadOutbound() {
  try {
    const rows = (await getJson('/api/outbound/recent?limit=10')).messages || [];
    $('outbound').replaceChildren(...rows.map((r) => {
      const tr = el('tr');
      const td = (node) => { const c = el('td'); c.append(node); return c; };
      tr.append(el('td', clock(r.timestamp)), td(bdi(r.message)), el('td', r.status, 'status-' + r.status), td(bdi(r.last_error || '')));
      return tr;
    }));
  } catch (e) { /* the table keeps what it had */ }
}

// A line in the say/login result: our words, then the server's (isolated).
function say(prefix, text) {
  $('say-result').replaceChildren(document.createTextNode(prefix), bdi(text || ''));
}

function wire() {
  $('login-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const r = await post('/ui/login', { token: $('token').value });
    $('token').value = '';
    if (r.ok) { showLogin(r.data); $('say-result').textContent = 'Logged in.'; }
    else say(`Login refused (${r.status}): `, r.data.error);
  });
  $('logout').addEventListener('click', async () => { await post('/ui/logout', {}); showLogin({ logged_in: false }); });
  $('say-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const message = $('say-msg').value;
    const r = await post('/ui/say', { message, channel: channel || undefined });
    const out = $('say-result');
    if (r.ok) { out.textContent = `Queued as #${r.data.id}; the bot sends it.`; $('say-msg').value = ''; }
    else say(`Refused (${r.status}): `, r.data.error);
    out.dataset.status = String(r.status);
    loadOutbound();
  });
  // add / skip: the bot waits for the CyTube server; its answer (or refusal) is shown.
  const act = async (path, body) => {
    const out = $('action-result');
    out.textContent = 'Waiting for the server…';
    delete out.dataset.status;
    const r = await post(path, { ...body, channel: channel || undefined });
    const show = (prefix, text) => out.replaceChildren(document.createTextNode(prefix), bdi(text || ''));
    if (!r.ok) show(`Refused (${r.status}): `, r.data.error);
    else if (r.data.success) show('Server: ', r.data.message || 'done');
    else show('Not done: ', r.data.error);
    out.dataset.status = String(r.status);
    out.dataset.success = String(!!(r.ok && r.data.success));
    return r;
  };
  $('add-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const r = await act('/ui/add', { url: $('add-url').value });
    if (r.ok && r.data.success) $('add-url').value = '';
  });
  $('skip').addEventListener('click', () => act('/ui/skip', {}));
  for (const b of document.querySelectorAll('.media-periods button')) {
    b.addEventListener('click', () => {
      mostPeriod = b.dataset.period;
      for (const o of document.querySelectorAll('.media-periods button')) o.classList.toggle('on', o === b);
      loadMostPlayed();
    });
  }
  let mediaTimer = null;
  $('media-q').addEventListener('input', () => {
    clearTimeout(mediaTimer);
    mediaTimer = setTimeout(() => searchMedia($('media-q').value.trim()), 200);
  });
  for (const b of document.querySelectorAll('.periods:not(.media-periods) button')) {
    b.classList.toggle('on', Number(b.dataset.hours) === historyHours);
    b.addEventListener('click', () => {
      historyHours = Number(b.dataset.hours);
      for (const o of document.querySelectorAll('.periods:not(.media-periods) button')) o.classList.toggle('on', o === b);
      loadCharts();
    });
  }
  let timer = null;
  $('user-q').addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => search($('user-q').value.trim()), 200);
  });
  $('channel').addEventListener('change', () => {
    channel = $('channel').value;
    const u = new URL(location.href);
    u.searchParams.set('channel', channel);
    history.replaceState(null, '', u);
    connect(); loadCharts(); loadOutbound(); loadMedia(); followAutomod(!!csrf);
  });
}

async function start() {
  wire();
  try {
    const c = await getJson('/api/channels');
    if (!channel) channel = c.default;
    $('channel').replaceChildren(...c.channels.map((name) => {
      const o = el('option', name); o.value = name; o.selected = name === channel; return o;
    }));
    $('channel').disabled = c.channels.length < 2;
    if (c.notice) { $('notice').textContent = c.notice; $('notice').hidden = false; }
    if (c.chart_refresh_secs > 0) chartRefreshMs = c.chart_refresh_secs * 1000;
  } catch (e) { /* the default channel is used */ }
  connect();
  loadCharts();
  loadOutbound();
  loadMedia();
  fetch('/ui/session', { credentials: 'same-origin' }).then((r) => r.json()).then(showLogin).catch(() => {});
  setInterval(tickMedia, 1000);
  setInterval(loadOutbound, 5000);
  setInterval(loadCharts, chartRefreshMs);
  setInterval(loadMedia, 30000);
}

start();
