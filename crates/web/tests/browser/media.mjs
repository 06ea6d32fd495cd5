// The media panels in a real headless browser (Debian's chromium through playwright-core),
// started by crates/web/tests/browser_media.rs once the database service holds a history
// of known plays: "Played today", "Most played" for each period, the media search and an
// item's page must show exactly what EXPECT says.
//
// Environment: DASH_URL, CHROMIUM (the browser binary), EXPECT (JSON: today, most, search,
// item, old). Exit status 0 when every check passed; each check prints one line.

import { ok, run, scriptErrors } from './lib.mjs';

const DASH = process.env.DASH_URL;
const EXPECT = JSON.parse(process.env.EXPECT);
const WAIT = 5000;

// Re-reads `read(arg)` in the page until it equals `want` (as Playwright's own waits poll),
// at most WAIT ms; fails with what the page showed last.
async function shows(page, what, read, arg, want) {
  const deadline = Date.now() + WAIT;
  let got;
  for (;;) {
    got = await page.evaluate(read, arg);
    if (JSON.stringify(got) === JSON.stringify(want)) return;
    if (Date.now() > deadline) break;
    await page.waitForTimeout(100);
  }
  throw new Error(`${what}: the page shows ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
}

const texts = (sel) => [...document.querySelectorAll(sel)].map((e) => e.textContent);
const titles = (sel) => [...document.querySelectorAll(sel)].map((b) => b.querySelector('bdi').textContent);
// The item's page, as the fields `keys` (its title without the "(type:id)" after it).
const card = (keys) => {
  const ids = { title: 'mc-title', plays: 'mc-plays', out: 'mc-out', skips: 'mc-skips', removed: 'mc-removed', time: 'mc-time', adders: 'mc-adders' };
  return Object.fromEntries(keys.map((k) => {
    const t = document.getElementById(ids[k]).textContent;
    return [k, k === 'title' ? t.split(' (')[0] : t];
  }));
};

await run(async (browser) => {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 1600 } })).newPage();
  const errors = scriptErrors(page);
  await page.goto(DASH);
  await page.waitForSelector('body[data-ready="1"]', { timeout: 10000 });

  // Played today: each play of the last 24 hours, newest first — its title, how it ended
  // and who queued it (the start time between them is the browser's local clock).
  const today = EXPECT.today;
  await shows(page, 'played today', (sel) => [...document.querySelectorAll(sel)].map((li) => {
    const parts = li.textContent.split(' · ');
    return [parts[0], parts[2], parts[3]];
  }), '#played-today li', today);
  ok(`played today: ${today.length} plays, newest first, with how each ended and who queued it`);

  // Most played: the week by default, then each period by its button.
  for (const period of ['week', 'day', 'all']) {
    await page.click(`.media-periods button[data-period="${period}"]`);
    await shows(page, `most played over ${period}`, texts, '#most-played li', EXPECT.most[period]);
    ok(`most played over ${period}: ${EXPECT.most[period].join(', ')}`);
  }

  // The search finds the title by a word of it, in any case.
  await page.fill('#media-q', EXPECT.search.q.toUpperCase());
  await shows(page, `search "${EXPECT.search.q}"`, titles, '#media-results li button', EXPECT.search.titles);
  ok(`the search finds ${EXPECT.search.titles.join(', ')} for "${EXPECT.search.q.toUpperCase()}"`);

  // Its page: plays, played out, skips (by vote), removals, time played, adders.
  await page.click('#media-results li button');
  await page.waitForSelector('#media-card:not([hidden])', { timeout: WAIT });
  const want = EXPECT.item;
  await shows(page, "the item's page", card, Object.keys(want), want);
  ok(`the item's page: ${JSON.stringify(want)}`);

  // An item not played this week is found and has its own page.
  await page.fill('#media-q', EXPECT.old.q);
  await shows(page, `search "${EXPECT.old.q}"`, titles, '#media-results li button', [EXPECT.old.title]);
  await page.click('#media-results li button');
  const old = { title: EXPECT.old.title, plays: EXPECT.old.plays, adders: EXPECT.old.adders };
  await shows(page, "the old item's page", card, Object.keys(old), old);
  ok(`an old item: ${EXPECT.old.title}, ${EXPECT.old.plays} plays by ${EXPECT.old.adders}`);

  if (errors.length) throw new Error(`errors in the page: ${errors.join(' | ')}`);
});
