// The operator's page /admin on the tether binary, in real Chromium:
// sign-in is required, the page updates live (no reload) when the test
// cuts the demo's clients, search and the session detail work, a kick
// ends the session, and a POST without the CSRF token is refused. The
// screenshot is js/e2e/artifacts/admin.png; with TETHER_UPDATE_SCREENSHOTS=1
// it also replaces docs/admin.png (shown in README.md).

import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { ARTIFACTS, REPO, launchBrowser, openDemo, screenshot, send, skipReason, startTether, waitStatus } from './harness.mjs';

const skip = skipReason();

describe('the admin page', { skip }, () => {
  let tether;
  let browser;

  before(async () => {
    tether = await startTether('admin', ['-heartbeat-interval', '1s', '-heartbeat-timeout', '2s']);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await tether?.stop();
  });

  test('signs in, shows cuts live, searches, shows a session, kicks, refuses a POST without the CSRF token', async () => {
    const a = await openDemo(browser, tether.url);
    const b = await openDemo(browser, tether.url);
    const sidA = await a.page.evaluate(() => window.tetherDemo.client.sessionId);
    const [, infoA] = await tether.api(`/api/sessions/${sidA}`);
    const userA = infoA.user;
    await send(b.page, 'hello, admin'); // one message in the lobby's history

    const ctx = await browser.newContext({ viewport: { width: 1280, height: 1150 } });
    const page = await ctx.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    let navigations = 0;
    page.on('framenavigated', (f) => {
      if (f === page.mainFrame()) navigations++;
    });

    // Sign-in is required; a wrong password is refused.
    await page.goto(new URL('/admin', tether.url).toString());
    assert.match(page.url(), /\/admin\/login$/);
    await page.fill('#password', 'not the key');
    await page.click('#sign-in');
    await page.waitForSelector('#login-error:has-text("Wrong password")');
    await page.fill('#password', tether.apiKey);
    await page.click('#sign-in');
    await page.waitForURL(/\/admin$/);
    await page.waitForSelector('#live:has-text("live")');
    await page.waitForFunction(() => document.getElementById('st-connected').textContent === '2');

    // Cut both demo clients at the proxy: the chart and the resume
    // histogram move, without a reload.
    const loaded = navigations;
    const count = (cause) => page.evaluate((c) => Number(document.querySelector(`#cause-legend [data-cause="${c}"]`)?.dataset.count ?? 0), cause);
    assert.equal(await count('network-lost'), 0);
    tether.cut();
    await page.waitForFunction(() => Number(document.querySelector('#cause-legend [data-cause="network-lost"]')?.dataset.count ?? 0) >= 2, null, { timeout: 20_000 });
    await page.waitForFunction(() => Number(document.getElementById('offline-chart').dataset.total) >= 2, null, { timeout: 20_000 });
    await page.waitForFunction(() => document.querySelectorAll('#cause-chart rect[fill="#e4572e"]').length > 0);
    await waitStatus(a.page, 'connected');
    await waitStatus(b.page, 'connected');
    assert.equal(navigations, loaded, 'the page updated without a reload');

    // Search by user: one row, A's session; its detail has its lifecycle.
    await page.fill('#search', userA);
    await page.waitForFunction((sid) => {
      const rows = document.querySelectorAll('#sessions tbody tr');
      return rows.length === 1 && rows[0].dataset.session === sid;
    }, sidA);
    await page.click(`#sessions tbody tr[data-session="${sidA}"]`);
    await page.waitForSelector('#detail[open]');
    await page.waitForSelector('#detail-events tr[data-kind="disconnect"]');
    await page.waitForSelector('#detail-events tr[data-kind="resume"]');
    const detail = await page.textContent('#detail-events');
    assert.match(detail, /connection lost: network-lost/);
    assert.match(detail, /resumed after/);
    await screenshot(page, 'admin-detail.png');

    // Kick A from the dialog (confirmed): its client stops.
    page.once('dialog', (d) => d.accept());
    await page.fill('#kick-reason', 'e2e kick');
    await page.click('#kick');
    await page.waitForSelector('#kick-result:has-text("kicked")');
    await waitStatus(a.page, 'failed'); // the server ended its session
    await page.waitForFunction(() => Number(document.querySelector('#cause-legend [data-cause="kicked"]')?.dataset.count ?? 0) === 1);
    await page.waitForSelector('#detail-events tr[data-kind="close"]');
    assert.match(await page.textContent('#detail-events'), /session ended: kicked "e2e kick"/);
    await page.click('#detail-close');

    // A POST without the CSRF token, from the signed-in page, is refused.
    const sidB = await b.page.evaluate(() => window.tetherDemo.client.sessionId);
    const status = await page.evaluate(async (sid) => (await fetch(`/admin/api/sessions/${sid}/kick`, { method: 'POST', body: '{}' })).status, sidB);
    assert.equal(status, 403);
    assert.equal(await b.page.evaluate(() => window.tetherDemo.client.status), 'connected');

    await page.fill('#search', '');
    await page.waitForFunction(() => document.querySelectorAll('#sessions tbody tr').length === 1);
    await page.click('#rooms tbody tr[data-room="lobby"]');
    await page.waitForSelector('#room-detail:not([hidden])');
    assert.match(await page.textContent('#room-detail h3'), /^lobby: 1 member, 1 message in history$/);
    await screenshot(page, 'admin.png');
    if (process.env.TETHER_UPDATE_SCREENSHOTS === '1') {
      copyFileSync(join(ARTIFACTS, 'admin.png'), join(REPO, 'docs/admin.png'));
    }
    assert.deepEqual(errors, []);
    await ctx.close();
  });
});
