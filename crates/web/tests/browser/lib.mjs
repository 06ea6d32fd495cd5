// What every browser script shares: Debian's chromium launched through playwright-core
// (CHROMIUM: the binary), one `ok - …` line per check passed, the run that prints
// `not ok - …` for the first failure and sets the exit status, the control server's client
// (CTL_URL) and the page's script errors.

import { chromium } from 'playwright-core';

export function ok(what) { console.log(`ok - ${what}`); }

// Runs `checks(browser)`; exit status 0 when it finished, 1 (and `not ok - why`) when it threw.
export async function run(checks) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  let failed = false;
  try {
    await checks(browser);
  } catch (e) {
    failed = true;
    console.log(`not ok - ${e.message}`);
  } finally {
    await browser.close();
  }
  process.exit(failed ? 1 : 0);
}

// A request to the test's control server: GET without a body, POST with one.
export async function ctl(path, body) {
  const r = await fetch(process.env.CTL_URL + path, {
    method: body ? 'POST' : 'GET',
    headers: { 'Content-Type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!r.ok) throw new Error(`control ${path}: ${r.status} ${await r.text()}`);
  return r.json();
}

// The page's script errors, as they happen. Refused requests show as console errors too
// ("Failed to load resource"): only script errors count.
export function scriptErrors(page) {
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text());
  });
  return errors;
}
