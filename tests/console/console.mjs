// Drives the operator console in Debian's chromium for tests/tests/e2e/console.rs, one step per run:
//   node console.mjs STEP
// with QIAO_URL (the server), QIAO_KEY (the key to sign in with), QIAO_OP (the dead operation's id) and
// QIAO_SHOTS (where screenshots go) in the environment. Steps:
//   admin-sees-dead  every pane renders without an error; the dead letter is in the outbox with a retry button;
//                    event data is shown as text; the CSP blocks inline script
//   reader           a read-only key: only the panes its scopes read; the dead letter, but no retry or discard
//   limited          a key limited to connection main: only the panes that take one connection, narrowed to main
//   admin-retries    retry from the console; the operation succeeds
// Prints `ok STEP` and exits 0, or prints what failed and exits 1. Assertions are on the DOM as rendered.

import { chromium } from 'playwright-core';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const step = process.argv[2];
const { QIAO_URL: url, QIAO_KEY: key, QIAO_OP: op, QIAO_SHOTS: shots } = process.env;
if (!step || !url || !key || !shots) {
  console.error('usage: QIAO_URL=… QIAO_KEY=… QIAO_OP=… QIAO_SHOTS=… node console.mjs STEP');
  process.exit(2);
}
const TIMEOUT_MS = 20_000;

function check(condition, message) {
  if (!condition) throw new Error(message);
}

const ALL_PANES = ['connectors', 'connections', 'outbox', 'events', 'subscribers', 'directory', 'approvals', 'rules', 'audit'];

async function signIn(page) {
  await page.goto(`${url}/console`);
  await page.locator('#login-key').fill(key);
  await page.locator('#login-form button[type=submit]').click();
  await page.locator('#shell').waitFor({ state: 'visible' });
  // The key is kept for the tab, and never put into the page.
  check(await page.evaluate(() => sessionStorage.getItem('qiao.key')) === key, 'the key is not in sessionStorage');
  check(!(await page.content()).includes(key), 'the key appears in the page');
}

const panes = page => page.locator('#nav a').evaluateAll(links => links.map(a => a.dataset.pane));

/** Opens a pane by its hash and waits until it has rendered its heading (or failed). */
async function open(page, hash) {
  const pane = hash.split('?')[0];
  await page.evaluate(h => { location.hash = h; }, hash);
  await page.locator(`#pane[data-pane="${pane}"] h2`).first().waitFor();
  await page.waitForLoadState('networkidle');
}

async function noBanner(page, pane) {
  const banners = await page.locator('#pane .banner').allTextContents();
  check(banners.length === 0, `${pane} shows an error: ${banners.join(' | ')}`);
}

async function deadLetter(page) {
  await open(page, 'outbox?status=dead');
  const row = page.locator(`#op-list tr[data-id="${op}"]`);
  await row.waitFor();
  check(await row.locator('[data-state]').first().getAttribute('data-state') === 'dead', 'the row is not dead');
  await row.click();
  const status = page.locator('#op-detail [data-field=status] [data-state]');
  await status.waitFor();
  check(await status.getAttribute('data-state') === 'dead', `the operation is ${await status.getAttribute('data-state')}`);
  const error = await page.locator('#op-detail [data-field=last_error]').textContent();
  check(error && error !== '—', 'the dead letter shows no error');
  check(Number(await page.locator('#op-detail [data-field=attempts]').textContent()) >= 1, 'no attempts shown');
  return error;
}

async function adminSeesDead(page) {
  await signIn(page);
  const shown = await panes(page);
  check(JSON.stringify(shown) === JSON.stringify(ALL_PANES), `an admin key sees panes ${shown}`);
  for (const pane of ALL_PANES) {
    await open(page, pane);
    await noBanner(page, pane);
    await page.screenshot({ path: join(shots, `${pane}.png`), fullPage: true });
  }
  // The connectors pane lists what is loaded; the connections pane counts the dead letter.
  await open(page, 'connectors');
  check(await page.locator('#pane tr[data-id="feishu.wasm"] [data-state=loaded]').count() === 1, 'feishu is not shown loaded');
  await open(page, 'connections');
  check((await page.locator('#pane tr[data-id="fs"]').textContent()).includes('1 dead'), 'the connection does not count its dead letter');

  const error = await deadLetter(page);
  check(await page.locator('#op-detail button[data-action=retry]').isVisible(), 'an admin sees no retry button');
  check(await page.locator('#op-detail button[data-action=discard]').isVisible(), 'an admin sees no discard button');
  await page.screenshot({ path: join(shots, 'outbox-dead-letter.png'), fullPage: true });
  console.log(`dead letter shown: ${error}`);

  // Event data is text: the payload's markup is shown, not made.
  await open(page, 'events?tail=off');
  const hostile = page.locator('#event-list tr', { hasText: 'echo.received' }).first();
  await hostile.click();
  const payload = await page.locator('#event-detail pre').textContent();
  check(payload.includes('<img src=x onerror='), 'the payload is not shown as text');
  check(await page.locator('#pane img').count() === 0, 'the payload made an element');
  check(await page.evaluate(() => window.__xss) === undefined, 'the payload ran');
  await page.screenshot({ path: join(shots, 'events-payload.png'), fullPage: true });

  // The Content-Security-Policy is in force: an inline script does not run.
  const ran = await page.evaluate(() => new Promise(resolve => {
    document.addEventListener('securitypolicyviolation', () => resolve('blocked'), { once: true });
    const s = document.createElement('script');
    s.textContent = 'window.__inline = "ran"';
    document.body.appendChild(s);
    setTimeout(() => resolve(window.__inline ?? 'blocked'), 1000);
  }));
  check(ran === 'blocked', 'an inline script ran despite the CSP');
}

async function reader(page) {
  await signIn(page);
  const shown = await panes(page);
  const expected = ['connectors', 'connections', 'outbox', 'events', 'subscribers'];
  check(JSON.stringify(shown) === JSON.stringify(expected), `a read-only key sees panes ${shown}`);
  await deadLetter(page);
  check(await page.locator('#pane button[data-action]').count() === 0, 'a read-only key sees a retry or discard button');
  await page.screenshot({ path: join(shots, 'outbox-read-only.png'), fullPage: true });
}

async function limited(page) {
  await signIn(page);
  // Panes spanning every connection refuse a key limited to some; the others are offered, narrowed to its own.
  const shown = await panes(page);
  const expected = ['outbox', 'events', 'directory', 'audit'];
  check(JSON.stringify(shown) === JSON.stringify(expected), `a key limited to main sees panes ${shown}`);
  for (const pane of expected) {
    await open(page, pane);
    await noBanner(page, pane);
    const options = await page.locator('#filter-connection option').evaluateAll(o => o.map(x => x.value));
    check(JSON.stringify(options) === '["main"]', `${pane} offers connections ${options}`);
  }
  await open(page, 'outbox');
  check(await page.locator(`#op-list tr[data-id="${op}"]`).count() === 0, 'an operation on fs is listed for main');
}

async function adminRetries(page) {
  await signIn(page);
  await deadLetter(page);
  await page.locator('#op-detail button[data-action=retry]').click();
  await page.locator('#op-detail [data-field=status] [data-state=succeeded]').waitFor({ timeout: 40_000 });
  const notice = await page.locator('#op-notice').textContent();
  check(notice.includes('succeeded'), `the console says: ${notice}`);
  check(await page.locator('#op-detail button[data-action]').count() === 0, 'a succeeded operation still offers actions');
  // The list and the counts are re-read after the detail: give them the same chance to catch up.
  const row = page.locator(`#op-list tr[data-id="${op}"]`);
  await row.waitFor({ state: 'detached', timeout: 10_000 }).catch(() => {});
  check(await row.count() === 0, 'the retried operation is still listed as dead');
  const deadCount = page.locator('#op-counts button[data-status=dead] b');
  await page.waitForFunction(() => document.querySelector('#op-counts button[data-status=dead] b')?.textContent === '0',
    null, { timeout: 10_000 }).catch(() => {});
  const dead = await deadCount.textContent();
  check(dead === '0', `the counts still show ${dead} dead`);
  await page.screenshot({ path: join(shots, 'outbox-retried.png'), fullPage: true });
}

const steps = { 'admin-sees-dead': adminSeesDead, reader, limited, 'admin-retries': adminRetries };
if (!steps[step]) {
  console.error(`unknown step ${step}; one of ${Object.keys(steps).join(', ')}`);
  process.exit(2);
}

mkdirSync(shots, { recursive: true });
const profile = mkdtempSync(join(tmpdir(), 'qiao-console-'));
// A fresh profile each run (playwright's way of passing --user-data-dir).
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  viewport: { width: 1400, height: 900 },
  // As root in a container, with no network but loopback: no sandbox, and nothing that calls out.
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
let failed = null;
try {
  const page = browser.pages()[0] ?? await browser.newPage();
  page.setDefaultTimeout(TIMEOUT_MS);
  const errors = [];
  page.on('pageerror', e => errors.push(`page error: ${e.message}`));
  page.on('console', m => {
    // The CSP check provokes exactly one violation report; anything else logged as an error is a failure.
    if (m.type() === 'error' && !m.text().includes('Content Security Policy')) errors.push(`console: ${m.text()}`);
  });
  // Nothing may be fetched from another origin.
  page.on('request', r => {
    if (!r.url().startsWith(url) && !r.url().startsWith('data:')) errors.push(`request to another origin: ${r.url()}`);
  });
  await steps[step](page);
  check(errors.length === 0, errors.join('\n'));
} catch (e) {
  failed = e;
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
if (failed) {
  console.log(`FAILED ${step}: ${failed.message}`);
  process.exit(1);
}
console.log(`ok ${step}`);
