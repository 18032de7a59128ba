// A server restart: the server drains every connection (GOAWAY), the pages
// come back to a new server with a fresh memory store, and the loss report
// says nothing was lost: neither by their sessions nor in their room.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { eventually, launchBrowser, openDemo, send, skipReason, startServer, waitReceived } from './harness.mjs';

const skip = skipReason();

describe('a draining server restart', { skip }, () => {
  let server;
  let browser;

  before(async () => {
    server = await startServer('restart', ['-v']);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('pages are told nothing was lost, and messages sent during the drain are carried', async () => {
    const a = await openDemo(browser, server.url);
    const b = await openDemo(browser, server.url);
    const sid = (p) => p.page.evaluate(() => window.tetherDemo.client.sessionId);
    const [oldA, oldB] = [await sid(a), await sid(b)];
    await send(a.page, 'D1 before the restart');
    await waitReceived(b.page, ['D1 before the restart']);

    const restarting = server.post('/_test/restart');
    // Sent during the drain: the old server takes it if it is still
    // accepting, else it is carried into the new session.
    await send(a.page, 'D2 during the drain');
    const res = await restarting;
    assert.equal(res.restarted, true, JSON.stringify(res));

    await eventually(async () => (await sid(a)) !== oldA && (await sid(b)) !== oldB
      && (await a.page.evaluate(() => window.tetherDemo.client.status)) === 'connected', 'both pages on new sessions');
    for (const p of [a, b]) {
      await p.page.waitForFunction(() => window.tetherDemo.notices.some((n) => n.text.startsWith('↺ new session')));
      const notices = await p.page.evaluate(() => window.tetherDemo.notices.map((n) => n.text));
      // The pages are in a room: the session's line speaks of the old session, the room's of the room.
      assert.ok(notices.includes('↺ new session (the server restarted): the old session missed nothing'), JSON.stringify(notices));
      assert.ok(!notices.some((n) => n.startsWith('⚠')), JSON.stringify(notices));
    }
    // Exactly once at the server, across A's old and new sessions.
    const newA = await sid(a);
    const stats = await eventually(async () => {
      const s = await server.stats();
      const got = s.sessions.filter((x) => x.id === oldA || x.id === newA).flatMap((x) => x.received);
      return got.length >= 2 ? { s, got } : undefined;
    }, "the server to get A's messages");
    assert.deepEqual(stats.got, ['D1 before the restart', 'D2 during the drain']);
    const fresh = stats.s.sessions.find((x) => x.id === newA);
    assert.equal(fresh.previous.Reason, 4, 'the new server reports reason 4 (restarted)');
    // The room: a memory store restarted, so its history (and epoch) is new;
    // both pages were drained, so they missed nothing of the old one, and
    // each gets every message once, whichever server broadcast it.
    for (const p of [a, b]) {
      await waitReceived(p.page, ['D1 before the restart', 'D2 during the drain']);
      await p.page.waitForFunction(() => window.tetherDemo.notices.some((n) => n.text.startsWith('↺ lobby:')));
      const notices = await p.page.evaluate(() => window.tetherDemo.notices.map((n) => n.text));
      assert.ok(notices.some((n) => n.startsWith('↺ lobby: its history restarted with the server; nothing sent to this page was missed')),
        JSON.stringify(notices));
      const got = (await p.page.evaluate(() => window.tetherDemo.received.map((m) => m.text))).filter((t) => t.startsWith('D'));
      assert.deepEqual(got, ['D1 before the restart', 'D2 during the drain'], 'each once, in order');
    }
    assert.deepEqual([...a.errors, ...b.errors], []);
  });
});
