// `rosey demo`'s dashboard in a real headless browser (Debian's chromium through
// playwright-core), started by crates/rosey/tests/demo_dashboard.rs right after the demo
// printed its dashboard address. Within 30 s of opening the page every panel must show
// something real: the demo notice, now playing and up next (and the playlist advancing),
// users, chat, top chatters, user-count samples in "Users over time", and the chat-per-hour
// chart with labelled axes.
//
// Environment: DASH_URL, CHROMIUM (the browser binary), SHOT (a screenshot file; optional).
// Exit status 0 when every check passed; each check prints one line.

import { run } from './lib.mjs';

const BUDGET_MS = 30000;
const started = Date.now();
const left = () => Math.max(1, BUDGET_MS - (Date.now() - started));
function ok(what) { console.log(`ok - ${what} (${((Date.now() - started) / 1000).toFixed(1)} s)`); }

await run(async (browser) => {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 1400 } })).newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(process.env.DASH_URL);
  await page.waitForSelector('body[data-ready="1"]', { timeout: left() });
  ok('the page loaded');

  const wait = async (what, fn, arg) => {
    await page.waitForFunction(fn, arg, { timeout: left() });
    ok(what);
  };
  await wait('the page says it is a demo', () => {
    const n = document.getElementById('notice');
    return n && !n.hidden && /demo/i.test(n.textContent);
  });
  await wait('now playing shows a title',
    () => !['', '-', '–'].includes(document.getElementById('now-title').textContent.trim()));
  const first = await page.evaluate(() => document.getElementById('now-title').textContent.trim());
  await wait('up next lists items', () => document.querySelectorAll('#upcoming li').length >= 1);
  await wait('the playlist advances', (f) => {
    const now = document.getElementById('now-title').textContent.trim();
    return now !== f && !['', '-', '–'].includes(now);
  }, first);
  await wait('users are listed', () => document.querySelectorAll('#userlist li').length >= 3);
  await wait('chat lines arrive', () => document.querySelectorAll('#chat li').length >= 1);
  await wait('top chatters are ranked', () => document.querySelectorAll('#top li').length >= 1);
  await wait('users over time has samples', () => document.querySelectorAll('#chart circle.pt').length >= 1);
  await wait('chat per hour has a bar and labelled axes', () => {
    const c = document.getElementById('activity');
    const labels = [...c.querySelectorAll('text')].map((t) => t.textContent);
    return c.querySelectorAll('rect.bar').length >= 1
      && labels.some((l) => /lines per hour/.test(l)) && labels.some((l) => /now/.test(l))
      && labels.includes('0');
  });
  if (errors.length) throw new Error(`script errors on the page: ${errors.join('; ')}`);
  ok('no script errors');
  if (process.env.SHOT) await page.screenshot({ path: process.env.SHOT, fullPage: true });
});
