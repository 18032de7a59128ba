// The reproduction, on the tether binary as a new user runs it
// (`tether -grace-window 3s`, the embedded demo in two Chromium pages):
// page A goes offline for 6.5 s; B sends g2 before A's grace window ends
// and g4 after. A comes back with both, once each, in order, and says so.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  eventually, goOffline, goOnline, launchBrowser, openDemo, received, screenshot, send, setName, skipReason, startTether, waitReceived, waitStatus,
} from './harness.mjs';

const skip = skipReason();

describe('the tether binary and its demo page', { skip }, () => {
  let tether;
  let browser;

  before(async () => {
    tether = await startTether('grace', ['-grace-window', '3s', '-heartbeat-interval', '1s', '-heartbeat-timeout', '2s']);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await tether?.stop();
  });

  test('a page away past the grace window gets back the room messages it missed, once each, in order', async () => {
    const a = await openDemo(browser, tether.url); // fails on console errors at load
    const b = await openDemo(browser, tether.url);
    await setName(b.page, 'Bea');
    const sid = (p) => p.page.evaluate(() => window.tetherDemo.client.sessionId);
    const oldA = await sid(a);
    const say = async (text) => {
      await send(b.page, text);
      await waitReceived(b.page, [text]);
    };
    await say('g1');
    await waitReceived(a.page, ['g1']);

    // B stays connected: the proxy in front of tether refuses new
    // connections only, so A cannot slip back in while offline.
    const away = Date.now();
    await goOffline(a, tether.block);
    const state = async () => {
      const [status, body] = await tether.api(`/api/sessions/${oldA}`);
      return status === 404 ? 'gone' : body?.state;
    };
    await eventually(async () => (await state()) === 'disconnected', "the server to see A's connection gone");
    await say('g2');
    assert.equal(await state(), 'disconnected', 'g2 was sent within the grace window');
    await eventually(async () => (await state()) === 'gone', "A's session to expire", 20_000);
    await say('g4');
    await new Promise((r) => setTimeout(r, Math.max(0, 6500 - (Date.now() - away))));
    assert.equal(await sid(a), oldA, 'A stayed away');

    await goOnline(a, tether.block);
    await waitStatus(a.page, 'connected');
    await waitReceived(a.page, ['g2', 'g4']);
    await a.page.waitForFunction(() => window.tetherDemo.notices.some((n) => n.text.startsWith('↺ lobby:')));
    await screenshot(a.page, 'binary-room-recovery.png');
    const notices = await a.page.evaluate(() => window.tetherDemo.notices.map((n) => n.text));
    assert.ok(notices.includes('↺ lobby: 2 missed messages recovered'), JSON.stringify(notices));
    assert.ok(!notices.some((n) => n.startsWith('⚠')), JSON.stringify(notices));
    assert.notEqual(await sid(a), oldA);
    const got = (await received(a.page)).map((m) => [m.text, m.room, m.offset]);
    assert.deepEqual(got, [['g1', 'lobby', 1], ['g2', 'lobby', 2], ['g4', 'lobby', 3]], 'each once, in order, at their offsets');
    // The binary relays what the page sent ({name, text}) as its text: the
    // page shows the name B chose, on messages live and recovered alike.
    const who = await a.page.$$eval('.msg', (els) => els.map((e) => [e.querySelector('.who').textContent, e.querySelector('.text').textContent]));
    assert.deepEqual(who, [['Bea', 'g1'], ['Bea', 'g2'], ['Bea', 'g4']]);
    assert.deepEqual([...a.errors, ...b.errors], []);
  });
});
