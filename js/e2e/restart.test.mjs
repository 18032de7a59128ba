// A server restart: the server drains every connection (GOAWAY), the pages
// come back to a new server with a fresh memory store, and the loss report
// says nothing was lost.

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
      assert.ok(notices.includes('↺ new session (the server restarted): nothing lost'), JSON.stringify(notices));
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
    assert.deepEqual([...a.errors, ...b.errors], []);
  });
});
