// The demo's own controls make the promise visible without DevTools:
// "Go offline for N s" (pending messages, then the resume banner),
// "Outlast the grace window" (the loss banner with the exact count and the
// room's recovery line), a chosen name that outlives sessions, and the
// line that explains why a page's offline messages come after others'.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  eventually, launchBrowser, openDemo, received, screenshot, send, setName, skipReason, startServer, type, waitBanner, waitReceived, waitStatus,
} from './harness.mjs';

const skip = skipReason();

const sessionId = (p) => p.page.evaluate(() => window.tetherDemo.client.sessionId);
const status = (p) => p.page.evaluate(() => window.tetherDemo.client.status);
const notices = (p) => p.page.evaluate(() => window.tetherDemo.notices.map((n) => n.text));
/** The chat bubbles on the page, top to bottom: [who, text, state, session]. */
const bubbles = (p) => p.page.$$eval('.msg', (els) => els.map((e) => [
  e.querySelector('.who').textContent, e.querySelector('.text').textContent, e.dataset.state ?? '', e.dataset.session,
]));

/** Waits for a notice that starts with `prefix`; returns it. */
async function waitNotice(p, prefix, timeout = 20_000) {
  await p.page.waitForFunction((s) => window.tetherDemo.notices.some((n) => n.text.startsWith(s)), prefix, { timeout })
    .catch(async (err) => {
      throw new Error(`${err.message}\nwanted a notice starting with ${JSON.stringify(prefix)}\ngot ${JSON.stringify(await notices(p))}`);
    });
  return (await notices(p)).find((n) => n.startsWith(prefix));
}

/** Sends from a page and waits until it came back from the room. */
async function say(p, text) {
  await send(p.page, text);
  await waitReceived(p.page, [text]);
}

describe('the demo page\'s controls', { skip }, () => {
  let server;
  let browser;
  let a;
  let b;
  let stats;

  before(async () => {
    // A short grace window, so that outlasting it is quick; a room that
    // keeps 2 messages, so that a page away longer loses some.
    server = await startServer('demo', ['-v', '-grace', '5s', '-room-history', '2']);
    browser = await launchBrowser();
    a = await openDemo(browser, server.url); // fails on console errors or failed requests at load
    b = await openDemo(browser, server.url);
    await setName(a.page, 'Ada');
    await setName(b.page, 'Bob');
    stats = async (id) => (await server.stats()).sessions.find((s) => s.id === id);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('offline for 4 s: what A types waits as pending, then the session resumes and everything arrives once, in the room\'s order, explained', async () => {
    const id = await sessionId(a);
    await say(b, 'b0 before');
    await waitReceived(a.page, ['b0 before']);

    await a.page.fill('#offline-secs', '4');
    await a.page.click('#go-offline');
    await waitStatus(a.page, 'reconnecting');
    await type(a.page, 'a1 typed offline');
    await type(a.page, 'a2 typed offline');
    await say(b, 'b1 meanwhile');
    await say(b, 'b2 meanwhile');

    // Still offline (4 s is long enough for the above): A's messages wait,
    // B's have not reached A, and the banner says so.
    assert.equal(await status(a), 'reconnecting', 'the page is still offline');
    const offline = await waitBanner(a.page, 'offline', '2 messages of yours pending: sent when the page is back');
    assert.match(offline.title, /^⊘ Offline for 4 s: back in [0-4] s$/);
    assert.ok(offline.lines.includes("within the server's grace window (5 s): the session will resume with nothing lost"), JSON.stringify(offline));
    const pending = (await bubbles(a)).filter(([, , state]) => state === 'pending').map(([, text]) => text);
    assert.deepEqual(pending, ['a1 typed offline', 'a2 typed offline']);
    assert.ok(!(await received(a.page)).some((m) => m.text.startsWith('b1')), 'nothing reaches an offline page');
    assert.equal(await a.page.textContent('#pending'), '2 pending');
    await screenshot(a.page, 'demo-offline.png');

    // Back by itself after 4 s: the same session, the resume banner.
    const resumed = await waitBanner(a.page, 'resumed', '2 queued messages of yours sent now, once each');
    assert.match(resumed.title, /^↺ Back after \d+\.\d s offline: the same session \([\w-]+\) resumed, nothing lost$/);
    assert.ok(resumed.lines.includes('2 messages sent to this page meanwhile delivered now, once each'), JSON.stringify(resumed));
    assert.equal(await sessionId(a), id, 'resumed, not replaced');
    await waitReceived(a.page, ['b1 meanwhile', 'b2 meanwhile', 'a1 typed offline', 'a2 typed offline']);
    await waitReceived(b.page, ['a1 typed offline', 'a2 typed offline']);

    // A typed a1, a2 before B's b1, b2 arrived, but the server got them
    // after: A's page moves B's above them, as B's page has them, and says why.
    const why = await waitNotice(a, '↕');
    assert.equal(why, '↕ your 2 messages sent while offline reached the room when you came back, after 2 messages from Bob sent meanwhile: every page shows them in this order');
    await screenshot(a.page, 'demo-resumed.png');
    const order = ['b0 before', 'b1 meanwhile', 'b2 meanwhile', 'a1 typed offline', 'a2 typed offline'];
    const onA = (await bubbles(a)).map(([, text]) => text);
    const onB = (await bubbles(b)).map(([, text]) => text);
    assert.deepEqual(onA, order, 'A shows the room\'s order');
    assert.deepEqual(onB, order, 'B shows the same');
    assert.deepEqual((await received(a.page)).map((m) => m.text), order, 'A received each once, in the room\'s order');
    assert.ok((await bubbles(a)).every(([, , state]) => state !== 'pending' && state !== 'lost'));
    assert.deepEqual((await bubbles(b)).filter(([, t]) => t.startsWith('a')).map(([who]) => who), ['Ada', 'Ada']);
    const sa = await eventually(async () => {
      const st = await stats(id);
      return st?.received.length === 2 ? st : undefined;
    }, "the server to get A's messages");
    assert.deepEqual(sa.received, ['a1 typed offline', 'a2 typed offline'], 'the server got them once, in order');
    assert.ok(!(await notices(b)).some((n) => n.startsWith('↕')), 'B, online throughout, has nothing to explain');
  });

  test('outlasting the grace window: a new session, the loss banner with the exact count, the room\'s recovery, and the name stays', async () => {
    const oldA = await sessionId(a);
    assert.equal(await a.page.textContent('#outlast'), '◷ Outlast the grace window (5 s)', 'the page read the grace window from the server');
    await a.page.click('#outlast'); // 5 s + 2 s
    await eventually(async () => (await stats(oldA))?.state === 'disconnected', "the server to see A's connection gone");
    const offline = await waitBanner(a.page, 'offline');
    assert.match(offline.title, /^⊘ Offline for 7 s: back in [0-7] s$/);
    assert.ok(offline.lines.some((l) => l.startsWith("past the server's grace window (5 s): the server will end this session")), JSON.stringify(offline));
    await type(a.page, 'a3 typed offline');
    for (const t of ['t1', 't2', 't3', 't4', 't5']) await say(b, t);
    // The room keeps 2 messages: A, back after its session ended, gets t4
    // and t5 from the room's history; t1–t3 are gone, and it is told so.
    await eventually(async () => (await stats(oldA))?.closed === 'expired', "A's session to expire", 20_000);

    await waitStatus(a.page, 'connected');
    const lost = await waitBanner(a.page, 'lost', 'lobby: 3 messages lost for good (history trimmed); 2 missed messages recovered');
    const newA = await sessionId(a);
    assert.notEqual(newA, oldA);
    assert.match(lost.title, new RegExp(`^⚠ Session lost after \\d+\\.\\d s offline: grace window expired \\(5 s\\)\\. A new session \\(${newA.slice(0, 6)}\\) started\\.$`));
    assert.deepEqual(lost.lines, [
      'nothing sent to this page alone (outside rooms) was lost',
      '1 queued message of yours sent in the new session',
      'lobby: 3 messages lost for good (history trimmed); 2 missed messages recovered',
    ]);
    const na = await notices(a);
    assert.ok(na.includes('⚠ lobby: 3 messages lost (history trimmed)'), JSON.stringify(na));
    assert.ok(na.includes('↺ lobby: 2 missed messages recovered'), JSON.stringify(na));
    await waitReceived(a.page, ['t4', 't5', 'a3 typed offline']);
    await waitReceived(b.page, ['a3 typed offline']);
    const why = await waitNotice(a, '↕ your 1 message');
    assert.equal(why, '↕ your 1 message sent while offline reached the room when you came back, after 2 messages from Bob sent meanwhile: every page shows them in this order');
    await screenshot(a.page, 'demo-lost.png');
    assert.deepEqual((await bubbles(a)).map(([, text]) => text).slice(-3), ['t4', 't5', 'a3 typed offline']);

    // The name is the user's, not the session's: B shows A's messages of
    // both sessions under it.
    const fromA = (await bubbles(b)).filter(([, text]) => text.startsWith('a'));
    assert.deepEqual(fromA.map(([who, text]) => [who, text]), [['Ada', 'a1 typed offline'], ['Ada', 'a2 typed offline'], ['Ada', 'a3 typed offline']]);
    assert.deepEqual(fromA.map(([, , , session]) => session), [oldA.slice(0, 6), oldA.slice(0, 6), newA.slice(0, 6)]);
    assert.equal((await bubbles(a)).at(-1)[0], 'Ada (you)');
    // And this browser keeps it: a reload (a new session) still sends it.
    await a.page.reload();
    await waitStatus(a.page, 'connected');
    assert.equal(await a.page.inputValue('#name'), 'Ada');
    await say(a, 'a4 after a reload');
    await waitReceived(b.page, ['a4 after a reload']);
    assert.deepEqual((await bubbles(b)).at(-1).slice(0, 2), ['Ada', 'a4 after a reload']);
    assert.deepEqual([...a.errors, ...b.errors], [], 'no page errors');
    // The page's offline switch holds connection attempts: no failed WebSocket in the console.
    assert.deepEqual([...a.consoleErrors, ...b.consoleErrors], [], 'no console errors');
  });
});
