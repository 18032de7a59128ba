// Two pages chat while their connections are cut from the server side,
// from the page, and by taking the browser offline. Every message must
// arrive exactly once, in order, on both pages and at the server.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  eventually, goOffline, goOnline, launchBrowser, openDemo, received, screenshot, send, skipReason, startServer, type, waitReceived, waitStatus,
} from './harness.mjs';

const skip = skipReason();

describe('two pages chatting through connection cuts', { skip }, () => {
  let server;
  let browser;
  let a;
  let b;
  const sentA = [];
  const sentB = [];
  const all = () => [...sentA, ...sentB];
  const ids = {};

  /** Sends from a page, through the compose box or the API. */
  async function say(p, list, text, how = 'api') {
    list.push(text);
    if (how === 'type') await type(p.page, text);
    else await send(p.page, text);
  }
  const sessionId = (p) => p.page.evaluate(() => window.tetherDemo.client.sessionId);

  before(async () => {
    server = await startServer('chat', ['-v']);
    browser = await launchBrowser();
    a = await openDemo(browser, server.url, '?token=page-a');
    a.block = (on) => server.post(`/_test/block?on=${on ? 1 : 0}&token=page-a`);
    b = await openDemo(browser, server.url);
    ids.a = await sessionId(a);
    ids.b = await sessionId(b);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('messages go both ways', async () => {
    await say(a, sentA, 'A1 hello from A', 'type');
    await say(b, sentB, 'B1 hello from B', 'type');
    await waitReceived(a.page, all());
    await waitReceived(b.page, all());
  });

  test('server-side cut: every TCP connection reset, both pages send during the outage', async () => {
    await server.post('/_test/cut');
    await waitStatus(a.page, 'reconnecting');
    await say(a, sentA, 'A2 sent while cut');
    await say(b, sentB, 'B2 sent while cut');
    await say(a, sentA, 'A3 sent while cut');
    await waitStatus(a.page, 'connected');
    await waitStatus(b.page, 'connected');
    await waitReceived(a.page, all());
    await waitReceived(b.page, all());
  });

  test("page-side cut: the page drops its socket as a network failure would", async () => {
    await a.page.click('#cut');
    await waitStatus(a.page, 'reconnecting');
    await say(a, sentA, 'A4 sent right after the page cut', 'type');
    await say(b, sentB, 'B3 sent while A reconnects');
    await waitStatus(a.page, 'connected');
    await waitReceived(a.page, all());
    await waitReceived(b.page, all());
  });

  test('browser offline: messages wait as pending, then are delivered once online', async () => {
    await goOffline(a, a.block);
    await say(a, sentA, 'A5 typed offline', 'type');
    await say(a, sentA, 'A6 typed offline');
    await say(b, sentB, 'B4 while A is offline');
    await say(b, sentB, 'B5 while A is offline');
    await waitReceived(b.page, ['B4 while A is offline', 'B5 while A is offline']);
    const pending = await a.page.$$eval('.msg.mine[data-state="pending"] .text', (els) => els.map((e) => e.textContent));
    assert.deepEqual(pending, ['A5 typed offline', 'A6 typed offline']);
    const got = (await received(a.page)).map((m) => m.text);
    assert.ok(!got.includes('B4 while A is offline'), 'nothing reaches an offline page');
    await screenshot(a.page, 'demo.png');

    await goOnline(a, a.block);
    await waitStatus(a.page, 'connected');
    await waitReceived(a.page, all());
    await waitReceived(b.page, all());
    await a.page.waitForFunction(() => document.querySelectorAll('.msg.mine[data-state="pending"]').length === 0);
  });

  test('everything arrived exactly once, in order, on both pages and at the server', async () => {
    const strip = (m) => ({ from: m.from, text: m.text, n: m.n });
    const ra = await received(a.page);
    const rb = await received(b.page);
    assert.deepEqual(ra.map(strip), rb.map(strip), 'both pages saw the same room, in the same order');
    assert.deepEqual([...ra.map((m) => m.text)].sort(), all().sort(), 'every message exactly once');
    ra.forEach((m, i) => {
      assert.equal(m.n, ra[0].n + i, 'room numbers are consecutive: no gap, no repeat');
      assert.equal(m.seq, ra[0].seq + i, 'session sequence numbers are consecutive');
    });
    assert.deepEqual(ra.map((m) => m.text).filter((t) => t.startsWith('A')), sentA, "A's messages in A's order");
    assert.deepEqual(ra.map((m) => m.text).filter((t) => t.startsWith('B')), sentB, "B's messages in B's order");

    // The same sessions throughout: every cut was resumed, nothing lost.
    assert.equal(await sessionId(a), ids.a);
    assert.equal(await sessionId(b), ids.b);
    const stats = await eventually(async () => {
      const s = await server.stats();
      const sa = s.sessions.find((x) => x.id === ids.a);
      return sa?.state === 'connected' && sa.received.length === sentA.length ? s : undefined;
    }, 'the server to see every message');
    const sa = stats.sessions.find((x) => x.id === ids.a);
    const sb = stats.sessions.find((x) => x.id === ids.b);
    assert.deepEqual(sa.received, sentA, 'the server got A\'s messages once, in order');
    assert.deepEqual(sb.received, sentB, 'the server got B\'s messages once, in order');
    assert.equal(sa.previous, undefined);
    assert.ok(sa.resumes >= 3, `A resumed after each cut (${sa.resumes})`);
    assert.equal(stats.sessions.length, 2, 'no session was lost and replaced');

    // The page shows each message once, all delivered.
    const bubbles = await a.page.$$eval('.msg', (els) => els.map((e) => [e.querySelector('.text').textContent, e.dataset.state ?? '']));
    assert.equal(bubbles.length, all().length);
    assert.ok(bubbles.every(([, state]) => state !== 'pending' && state !== 'lost'), JSON.stringify(bubbles));
    const notices = await a.page.evaluate(() => window.tetherDemo.notices.map((n) => n.text));
    assert.ok(notices.some((t) => t.startsWith('↺ resumed')), JSON.stringify(notices));
    assert.deepEqual([...a.errors, ...b.errors], [], 'no page errors');
  });

  test('close() ends the session: the server sees the client leave', async () => {
    await b.page.evaluate(() => window.tetherDemo.client.close());
    assert.equal(await b.page.evaluate(() => window.tetherDemo.client.status), 'closed');
    const stats = await eventually(async () => {
      const s = await server.stats();
      return s.sessions.find((x) => x.id === ids.b && x.closed) ? s : undefined;
    }, "B's session to end");
    assert.equal(stats.sessions.find((x) => x.id === ids.b).closed, 'client-closed');
  });
});
