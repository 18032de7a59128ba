// With persistence on, a page reload inside the grace window resumes the
// same session, and what was queued before the reload is delivered exactly
// once after it.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  eventually, launchBrowser, openDemo, received, send, skipReason, startServer, waitReceived, waitStatus,
} from './harness.mjs';

const skip = skipReason();

const count = (list, text) => list.filter((t) => t === text).length;

describe('reloading a page with persistence', { skip }, () => {
  let server;
  let browser;

  before(async () => {
    server = await startServer('reload', ['-v']);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  const sessionId = (page) => page.evaluate(() => window.tetherDemo.client.sessionId);
  const texts = async (page) => (await received(page)).map((m) => m.text);
  const stored = (page) => page.evaluate(() => {
    const key = Object.keys(sessionStorage).find((k) => k.startsWith('tether:'));
    return key ? JSON.parse(sessionStorage.getItem(key)) : null;
  });

  test('messages queued while unreachable survive the reload and arrive exactly once', async () => {
    const a = await openDemo(browser, server.url, '?persist=session');
    const b = await openDemo(browser, server.url);
    const id = await sessionId(a.page);
    await send(a.page, 'R0 before the reload');
    await waitReceived(b.page, ['R0 before the reload']);
    await waitReceived(a.page, ['R0 before the reload']);

    // The server becomes unreachable for A; A queues two messages, B talks.
    await server.post('/_test/block?on=1');
    await a.page.click('#cut');
    await waitStatus(a.page, 'reconnecting');
    await send(a.page, 'R1 queued before the reload');
    await send(a.page, 'R2 queued before the reload');
    await send(b.page, 'R3 from B while A is away');
    await waitReceived(b.page, ['R3 from B while A is away']);
    const before = await stored(a.page);
    assert.equal(before.outbox.length, 2, 'the queued messages are in sessionStorage');

    await a.page.reload();
    await a.page.waitForFunction(() => window.tetherDemo !== undefined);
    assert.equal(await sessionId(a.page), id, 'the session is restored before any connection');
    assert.equal(await a.page.evaluate(() => window.tetherDemo.client.pending), 2);

    await server.post('/_test/block?on=0');
    await waitStatus(a.page, 'connected', 30_000);
    assert.equal(await sessionId(a.page), id, 'the same session was resumed');
    await waitReceived(a.page, ['R1 queued before the reload', 'R2 queued before the reload', 'R3 from B while A is away']);
    await waitReceived(b.page, ['R1 queued before the reload', 'R2 queued before the reload']);

    const ta = await texts(a.page);
    const tb = await texts(b.page);
    assert.equal(count(ta, 'R0 before the reload'), 0, 'what A handled before the reload is not replayed');
    for (const t of ['R1 queued before the reload', 'R2 queued before the reload', 'R3 from B while A is away']) {
      assert.equal(count(ta, t), 1, `A got "${t}" once`);
    }
    for (const t of ['R0 before the reload', 'R1 queued before the reload', 'R2 queued before the reload']) {
      assert.equal(count(tb, t), 1, `B got "${t}" once`);
    }
    const notices = await a.page.evaluate(() => window.tetherDemo.notices.map((n) => n.text));
    assert.ok(notices.some((n) => /↺ resumed: 1 missed message delivered, 2 queued messages sent/.test(n)), JSON.stringify(notices));

    const stats = await eventually(async () => {
      const s = await server.stats();
      const sa = s.sessions.find((x) => x.id === id);
      return sa?.received.length === 3 ? s : undefined;
    }, "the server to get A's messages");
    const sa = stats.sessions.find((x) => x.id === id);
    assert.deepEqual(sa.received, ['R0 before the reload', 'R1 queued before the reload', 'R2 queued before the reload']);
    assert.equal(sa.state, 'connected');
    assert.equal(sa.previous, undefined, 'resumed, not replaced');
    assert.deepEqual([...a.errors, ...b.errors], []);
    await a.context.close();
    await b.context.close();
  });

  test('a reload right after sending delivers every message exactly once', async () => {
    const a = await openDemo(browser, server.url, '?persist=session');
    const b = await openDemo(browser, server.url);
    const id = await sessionId(a.page);
    const burst = Array.from({ length: 20 }, (_, i) => `burst ${i + 1}`);
    // Queue a burst and reload at once: some are written, some acked, some neither.
    await a.page.evaluate((list) => {
      for (const t of list) void window.tetherDemo.client.send(t);
    }, burst);
    await a.page.reload();
    await waitStatus(a.page, 'connected');
    assert.equal(await sessionId(a.page), id);
    await waitReceived(b.page, burst);
    const tb = await texts(b.page);
    assert.deepEqual(tb.filter((t) => t.startsWith('burst')), burst, 'once each, in order');
    const stats = await eventually(async () => {
      const s = await server.stats();
      const sa = s.sessions.find((x) => x.id === id);
      return sa?.received.length === burst.length ? s : undefined;
    }, 'the server to get the burst');
    assert.deepEqual(stats.sessions.find((x) => x.id === id).received, burst);
    await a.context.close();
    await b.context.close();
  });

  test('without persistence, leaving the page ends the session (client-closed)', async () => {
    const a = await openDemo(browser, server.url);
    const id = await sessionId(a.page);
    await a.page.goto('about:blank');
    const s = await eventually(async () => {
      const st = await server.stats();
      return st.sessions.find((x) => x.id === id && x.closed) ? st : undefined;
    }, 'the session to end');
    assert.equal(s.sessions.find((x) => x.id === id).closed, 'client-closed');
    await a.context.close();
  });
});
