// The Moderation panel in a real headless browser (Debian's chromium through
// playwright-core), started by crates/web/tests/browser_moderation.rs, which runs the
// devserver, NATS, the database service, the bot, the automated moderator (flood → mute
// 10m; a banned word → ban 1h) and the dashboard, and a control server (CTL_URL) through
// which this script makes guests flood or say the banned word, and asks the devserver
// whether a user is muted or banned.
//
// Environment: DASH_URL, CTL_URL, TOKEN (an API token), CHROMIUM (the browser binary).
// Exit status 0 when every check passed; each check prints one line.

import { ctl, ok, run, scriptErrors } from './lib.mjs';

const DASH = process.env.DASH_URL;
const TOKEN = process.env.TOKEN;
// The moderator judges the line, asks the bot, the bot waits for the server, then the
// decision is published: well within this.
const LIVE_MS = 10000;

const user = (name) => ctl(`/user?name=${encodeURIComponent(name)}`);

// The row of `name`'s decision `step` (taken: outcome done), within `timeout`.
async function row(page, name, step, timeout) {
  const sel = `#automod tr[data-user="${name}"][data-step="${step}"]`;
  await page.waitForSelector(sel, { timeout }).catch(async () => {
    const rows = await page.$$eval('#automod tr', (trs) => trs.map((t) => t.textContent));
    throw new Error(`no row "${name} ${step}" in the panel: [${rows.join(' | ')}]`);
  });
  const outcome = await page.textContent(`${sel} td:nth-child(5)`);
  if (outcome !== 'done') throw new Error(`${name}'s ${step} shows outcome "${outcome}"`);
  return sel;
}

// Clicks the row's undo button; returns what the page shows of the server's answer.
async function undo(page, sel, label) {
  const button = `${sel} button.undo`;
  const text = await page.textContent(button);
  if (text !== label) throw new Error(`the row's button says "${text}", not "${label}"`);
  await page.click(button);
  await page.waitForSelector('#automod-result[data-success]', { timeout: 20000 });
  const answer = await page.textContent('#automod-result');
  if ((await page.getAttribute('#automod-result', 'data-success')) !== 'true') throw new Error(`the undo failed: "${answer}"`);
  return answer;
}

await run(async (browser) => {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 1400 } })).newPage();
  const errors = scriptErrors(page);
  await page.goto(DASH);
  await page.waitForSelector('body[data-ready="1"]', { timeout: 10000 });

  // Logged out: no decision on the page, and the stream refuses (a shadow mute shown to
  // every viewer would tell the muted user).
  if (!(await page.isHidden('#automod-box')) || !(await page.isVisible('#automod-hint'))) throw new Error('the moderation log is shown before login');
  const refused = await page.evaluate(async () => (await fetch('/ui/moderation/events')).status);
  if (refused !== 403) throw new Error(`the moderation stream answered ${refused} before login`);
  ok('nothing of the moderation log before login (its stream answers 403)');

  await page.fill('#token', TOKEN);
  await page.click('#login-form button[type="submit"]');
  await page.waitForSelector('#whoami:not([hidden])', { timeout: 5000 });
  await page.waitForSelector('body[data-automod="live"]', { timeout: 5000 });
  await row(page, 'early', 'mute 10m', 5000);
  ok("the history shows early's mute, taken before the dashboard started");

  // A flood now: the mute shows up without a reload.
  const t0 = Date.now();
  await ctl('/flood', { name: 'spammer' });
  const muted = await row(page, 'spammer', 'mute 10m', LIVE_MS);
  const liveMs = Date.now() - t0;
  if (!(await user('spammer')).muted) throw new Error('the devserver does not have spammer muted');
  ok(`a mute appeared live in ${liveMs} ms (spammer muted at the devserver)`);

  // The undo needs the session's CSRF token like every action.
  const noCsrf = await page.evaluate(async () => (await fetch('/ui/moderation/undo', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ user: 'spammer', action: 'unmute' }),
  })).status);
  if (noCsrf !== 403) throw new Error(`an undo without the CSRF token answered ${noCsrf}`);
  if (!(await user('spammer')).muted) throw new Error('an undo without the CSRF token unmuted spammer');
  ok('an undo without the CSRF token is refused (403) and changes nothing');

  const unmuted = await undo(page, muted, 'Unmute');
  if (unmuted !== 'Server: Unmuted spammer') throw new Error(`the page shows "${unmuted}"`);
  const after = await user('spammer');
  if (after.muted || !after.present) throw new Error(`spammer after the undo: ${JSON.stringify(after)}`);
  ok(`Unmute lifted the mute: the page shows "${unmuted}", the devserver has spammer unmuted`);

  // The banned word: a ban, live; Unban lifts it.
  await ctl('/banned-word', { name: 'caster' });
  const banned = await row(page, 'caster', 'ban 1h', LIVE_MS);
  if (!(await user('caster')).banned) throw new Error('the devserver does not have caster banned');
  ok('a ban appeared live (caster banned at the devserver)');
  const unbanned = await undo(page, banned, 'Unban');
  if (unbanned !== 'Server: Unbanned caster') throw new Error(`the page shows "${unbanned}"`);
  if ((await user('caster')).banned) throw new Error('caster is still banned at the devserver');
  ok(`Unban lifted the ban: the page shows "${unbanned}", the devserver's ban list no longer has caster`);

  if (errors.length) throw new Error(`errors in the page: ${errors.join(' | ')}`);
});
