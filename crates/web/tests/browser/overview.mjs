// The dashboard in a real headless browser (Debian's chromium through playwright-core),
// started by crates/web/tests/browser.rs, which runs the devserver, NATS, the database
// service, the bot and the dashboard (started after the bot and alice joined), and a small
// control server (CTL_URL) through which this script makes devserver clients chat and join,
// queues a titled item, and at the end stops the bot.
//
// Environment: DASH_URL, CTL_URL, TOKEN (an API token), CHROMIUM (the browser binary),
// SHOT_DIR (where to write the screenshots; optional).
// Exit status 0 when every check passed; each check prints one line.

import { ctl, ok, run, scriptErrors } from './lib.mjs';

const DASH = process.env.DASH_URL;
const TOKEN = process.env.TOKEN;
const SHOTS = process.env.SHOT_DIR || '';
const LIVE_MS = 2000;

async function chatHas(page, text, timeout) {
  await page.waitForFunction(
    (t) => [...document.querySelectorAll('#chat li .msg')].some((m) => m.textContent === t),
    text, { timeout });
}

await run(async (browser) => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 }, colorScheme: 'dark' });
  const page = await context.newPage();
  const dialogs = [];
  page.on('dialog', async (d) => { dialogs.push(d.message()); await d.dismiss(); });
  // Refused requests (the 403 below) are not script errors.
  const errors = scriptErrors(page);

  await page.goto(DASH);
  await page.waitForSelector('body[data-ready="1"]', { timeout: 10000 });
  ok('the overview loaded and received its snapshot');

  // The users and the recent chat, as the snapshot had them.
  const before = await ctl('/state');
  for (const name of before.users) {
    await page.waitForSelector(`#userlist li[data-name="${name}"]`, { timeout: 5000 });
  }
  ok(`the user list shows ${before.users.join(', ')}`);

  // The dashboard started after they joined: the ranks come from the bot's status, named
  // as CyTube names them.
  for (const [name, want] of Object.entries(before.ranks)) {
    await page.waitForFunction(([n, w]) => {
      const r = document.querySelector(`#userlist li[data-name="${n}"] .rank`);
      return r && r.textContent === w;
    }, [name, want], { timeout: 5000 }).catch(async () => {
      const shown = await page.textContent(`#userlist li[data-name="${name}"] .rank`);
      throw new Error(`${name}'s rank shows "${shown}", not "${want}"`);
    });
  }
  ok(`ranks of users present before the dashboard started: ${JSON.stringify(before.ranks)}`);
  await chatHas(page, before.said, 5000);
  ok('the recent chat shows a line sent before the page was opened');

  // A line typed by a devserver client appears without a reload, within 2 s.
  const navigations = [];
  page.on('framenavigated', (f) => { if (f === page.mainFrame()) navigations.push(f.url()); });
  const live = `live line ${Date.now()}`;
  const t0 = Date.now();
  await ctl('/chat', { text: live });
  await chatHas(page, live, LIVE_MS);
  ok(`a chat line appeared live in ${Date.now() - t0} ms`);

  // The XSS line is shown as text: no element made of it, no dialog.
  const xss = '<img src=x onerror=alert(1)>';
  await ctl('/chat', { text: xss });
  await chatHas(page, xss, LIVE_MS);
  const imgs = await page.locator('#chat img').count();
  if (imgs !== 0) throw new Error(`the XSS line made ${imgs} <img> element(s)`);
  if (dialogs.length) throw new Error(`a dialog opened: ${dialogs}`);
  ok('the XSS line renders as text and opened no dialog');

  // A user joining shows up in the user list live.
  const newcomer = `newbie${Date.now() % 1000}`;
  await ctl('/join', { name: newcomer });
  await page.waitForSelector(`#userlist li[data-name="${newcomer}"]`, { timeout: 5000 });
  ok(`${newcomer} joined and appeared in the user list`);

  // CyTube whispers "<name> joined (aliases: …)" to moderators (the bot is one): never on
  // the public page. A line said after the join shows the page is past it.
  const marker = `after the join ${Date.now()}`;
  await ctl('/chat', { text: marker });
  await chatHas(page, marker, LIVE_MS);
  const whispers = await page.$$eval('#chat li', (lis) => lis.map((li) => li.textContent).filter((t) => t.includes('(aliases:')));
  if (whispers.length) throw new Error(`the page shows a moderators' whisper: ${whispers.join(' | ')}`);
  ok('no alias whisper on the page');


  // The chart draws one point per history sample.
  await page.click('.periods button[data-hours="24"]');
  const samples = await page.evaluate(async () => (await (await fetch('/api/history/24')).json()).data.length);
  if (samples < 3) throw new Error(`expected the seeded history, got ${samples} samples`);
  await page.waitForFunction((n) => document.querySelectorAll('#chart circle.pt').length === n, samples, { timeout: 5000 }).catch((e) => { throw new Error(`the chart points: ${e.message}`); });
  ok(`the chart draws ${samples} points for ${samples} samples`);

  // Without a login, say, add and skip cannot be used at all ...
  const actions = ['#say-msg', '#say-form button[type="submit"]', '#add-url', '#add-form button[type="submit"]', '#skip'];
  for (const sel of actions) {
    if (!(await page.isDisabled(sel))) throw new Error(`${sel} is usable before login`);
  }
  ok('say, add and skip are disabled before login');
  // ... and the server refuses them anyway (403): nothing queued, the playlist unchanged.
  const queued = async () => (await page.evaluate(async () => (await (await fetch('/api/outbound/recent')).json()).messages.length));
  const queuedBefore = await queued();
  const plBefore = (await ctl('/playlist')).items.length;
  const refused = await page.evaluate(async () => Promise.all([
    ['/ui/say', { message: 'should not be sent' }], ['/ui/add', { url: 'https://youtu.be/notLoggedIn1' }], ['/ui/skip', {}],
  ].map(async ([path, body]) => (await fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })).status)));
  if (refused.some((st) => st !== 403)) throw new Error(`actions without a login answered ${refused}`);
  if ((await queued()) !== queuedBefore) throw new Error('a refused say queued something');
  if ((await ctl('/playlist')).items.length !== plBefore) throw new Error('a refused add changed the playlist');
  ok('say, add and skip without a login are refused with 403 and change nothing');

  // Log in with the token and say once: it reaches the channel once.
  await page.fill('#token', TOKEN);
  await page.click('#login-form button[type="submit"]');
  await page.waitForSelector('#whoami:not([hidden])', { timeout: 5000 });
  ok('the token login works');
  if (!(await page.isHidden('#login-form'))) throw new Error('the token form is still shown after login');
  ok('the token form is hidden after login');
  for (const sel of actions) {
    if (await page.isDisabled(sel)) throw new Error(`${sel} is still disabled after login`);
  }
  const line = `hello from the page ${Date.now()}`;
  await page.fill('#say-msg', line);
  await page.click('#say-form button[type="submit"]');
  await page.waitForFunction(() => document.querySelector('#say-result').textContent.startsWith('Queued'), null, { timeout: 5000 }).catch((e) => { throw new Error(`the say result: ${e.message}`); });
  await chatHas(page, line, 10000);
  await page.waitForFunction(async (t) => {
    const rows = (await (await fetch('/api/outbound/recent')).json()).messages;
    return rows.some((r) => r.message === t && r.status === 'sent');
  }, line, { timeout: 10000, polling: 200 });
  const seen = await ctl('/seen', { text: line });
  if (seen.count !== 1) throw new Error(`the channel received the line ${seen.count} times`);
  ok('say from the page reached the channel exactly once');

  // Add two URLs from the page: each is on the devserver's playlist once, and the page
  // shows the server's answer (the title it gave the item).
  const stamp = Date.now() % 100000;
  const ids = [`pageAddA${stamp}`, `pageAddB${stamp}`];
  const titles = [];
  for (const id of ids) {
    await page.fill('#add-url', `https://youtu.be/${id}`);
    await page.click('#add-form button[type="submit"]');
    await page.waitForSelector('#action-result[data-status="200"]', { timeout: 15000 });
    const shown = await page.textContent('#action-result');
    const items = (await ctl('/playlist')).items.filter((i) => i.id === id);
    if (items.length !== 1) throw new Error(`the playlist holds ${id} ${items.length} times`);
    titles.push(items[0].title);
    if (!shown.startsWith('Server: Added') || !shown.includes(items[0].title)) {
      throw new Error(`the page did not show the server's answer: "${shown}" (title ${items[0].title})`);
    }
  }
  ok('add from the page put the URL on the playlist once');

  // Those not playing already (the first starts at once on an empty playlist) show up in the
  // overview's "Up next" list without a reload (from the bot's status).
  await page.waitForFunction((added) => {
    const playing = document.querySelector('#now-title').textContent;
    const shown = [...document.querySelectorAll('#upcoming li')].map((li) => li.textContent);
    const want = added.filter((t) => t !== playing);
    return want.length > 0 && want.every((t) => shown.some((s) => s.startsWith(t)))
      && !shown.some((s) => s.startsWith(playing));
  }, titles, { timeout: 10000, polling: 200 }).catch(async (e) => {
    const shown = await page.$$eval('#upcoming li', (lis) => lis.map((li) => li.textContent));
    throw new Error(`"Up next" shows [${shown.join(' | ')}], not ${titles.join(', ')}: ${e.message}`);
  });
  ok('the added items show under "Up next" live');

  // The same URL again: the server refuses it, the page says so, the playlist is unchanged.
  await page.fill('#add-url', `https://youtu.be/${ids[1]}`);
  await page.click('#add-form button[type="submit"]');
  await page.waitForSelector('#action-result[data-success="false"][data-status="200"]', { timeout: 15000 });
  const refusal = await page.textContent('#action-result');
  if (!refusal.includes('already on the playlist')) throw new Error(`unexpected answer to a duplicate: "${refusal}"`);
  if ((await ctl('/playlist')).items.filter((i) => i.id === ids[1]).length !== 1) throw new Error('the duplicate was queued');
  ok(`a duplicate add shows the server's refusal: ${refusal}`);

  // Skip: the server moves to the next item; the page shows its answer and the new title.
  const playingBefore = await page.textContent('#now-title');
  await page.click('#skip');
  await page.waitForSelector('#action-result[data-success="true"]', { timeout: 15000 });
  const skipped = await page.textContent('#action-result');
  const m = skipped.match(/^Server: Skipped to the next item: (.*)$/);
  if (!m) throw new Error(`unexpected answer to skip: "${skipped}"`);
  if (m[1] === playingBefore) throw new Error(`skip did not move on from ${playingBefore}`);
  await page.waitForFunction((t) => document.querySelector('#now-title').textContent === t, m[1], { timeout: 5000 }).catch((e) => { throw new Error(`the title after skip: ${e.message}`); });
  ok(`skip from the page moved on (${playingBefore} → ${m[1]})`);
  // ... and "Up next" follows: the item now playing leaves it.
  await page.waitForFunction((t) => ![...document.querySelectorAll('#upcoming li')].some((li) => li.textContent.startsWith(t)), m[1], { timeout: 5000 }).catch((e) => { throw new Error(`"Up next" after skip: ${e.message}`); });
  ok('"Up next" no longer lists the item now playing');


  if (navigations.length) throw new Error(`the page navigated: ${navigations}`);
  if (errors.length) throw new Error(`errors in the page: ${errors.join(' | ')}`);
  ok('no reload and no script error during the run');

  if (SHOTS) {
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: `${SHOTS}/dashboard-desktop.png`, fullPage: true });
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, colorScheme: 'dark' });
    const p2 = await phone.newPage();
    await p2.goto(DASH);
    await p2.waitForSelector('body[data-ready="1"]', { timeout: 10000 });
    await p2.waitForFunction(() => document.querySelectorAll('#chart circle.pt').length > 0, null, { timeout: 5000 }).catch((e) => { throw new Error(`the phone chart: ${e.message}`); });
    await p2.screenshot({ path: `${SHOTS}/dashboard-phone.png`, fullPage: false });
    ok(`screenshots written to ${SHOTS}`);
  }

  // A right-to-left override in a chat line stays inside it (bidi-isolated).
  const rloLine = 'look: evil\u202Efdp.exe';
  await ctl('/chat', { text: rloLine });
  await chatHas(page, rloLine, LIVE_MS);
  const bidi = await page.$$eval('#chat li', (lis, t) => {
    const li = lis.find((l) => l.querySelector('.msg') && l.querySelector('.msg').textContent === t);
    return ['.who', '.msg'].map((c) => getComputedStyle(li.querySelector(c)).unicodeBidi);
  }, rloLine);
  if (bidi.some((b) => b !== 'isolate')) throw new Error(`chat text is not isolated: ${bidi}`);
  // A title with a right-to-left override in "Up next": the page's own " (mm:ss)" after it
  // stays after it (the title is isolated), instead of being reversed into it.
  await ctl('/queue-titled', {});
  const title = before.rlo_title;
  await page.waitForFunction((t) => [...document.querySelectorAll('#upcoming li')].some((li) => li.textContent.startsWith(t)), title, { timeout: 10000 });
  const layout = await page.evaluate((t) => {
    const li = [...document.querySelectorAll('#upcoming li')].find((l) => l.textContent.startsWith(t));
    const nodes = [];
    const walk = document.createTreeWalker(li, NodeFilter.SHOW_TEXT);
    let text = '';
    while (walk.nextNode()) { nodes.push([walk.currentNode, text.length]); text += walk.currentNode.data; }
    const at = (i) => { const [n, start] = nodes.filter(([, s]) => s <= i).pop(); return [n, Math.min(i - start, n.data.length)]; };
    const rects = (from, to) => {
      const r = document.createRange();
      r.setStart(...at(from)); r.setEnd(...at(to));
      return [...r.getClientRects()].filter((x) => x.width > 0);
    };
    const open = text.lastIndexOf('(');
    const titleRects = rects(0, t.length), durRects = rects(open, text.length);
    return {
      text, titleRight: Math.max(...titleRects.map((x) => x.right)), durLeft: Math.min(...durRects.map((x) => x.left)),
    };
  }, title);
  if (!(layout.durLeft >= layout.titleRight - 0.5)) {
    throw new Error(`the override reordered the page's text: "${layout.text}" (duration at ${layout.durLeft}, title ends at ${layout.titleRight})`);
  }
  ok('a right-to-left override stays inside its title');

  // Last: the bot stops. Within its time (bot_gone_after, plus a refresh or two) the page
  // says it is gone; its users and the media clock go with it.
  const t1 = Date.now();
  await ctl('/stop-bot', {});
  await page.waitForSelector('body[data-bot="gone"]', { timeout: before.gone_ms + 3000 });
  const goneIn = Date.now() - t1;
  const conn = await page.textContent('#conn');
  if (conn !== 'gone') throw new Error(`the status badge says "${conn}"`);
  const users = await page.$$eval('#userlist li', (lis) => lis.length);
  if (users !== 0) throw new Error(`${users} users still listed with no bot`);
  if ((await page.textContent('#now-pos')) !== '') throw new Error('the media clock still ticks with no bot');
  ok(`the bot stopping turns the status to gone in ${goneIn} ms (bot_gone_after ${before.gone_ms} ms)`);
});
