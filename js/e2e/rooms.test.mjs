// Room streams: a page that loses its session (away past the grace window,
// a server restart, a reload) comes back to its room with what it missed,
// once each and in order, or is told exactly how much is gone.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  eventually, goOffline, goOnline, launchBrowser, openDemo, received, screenshot, send, setName, skipReason, startServer, waitReceived, waitStatus,
} from './harness.mjs';

const skip = skipReason();

const sessionId = (p) => p.page.evaluate(() => window.tetherDemo.client.sessionId);
const notices = (p) => p.page.evaluate(() => window.tetherDemo.notices.map((n) => n.text));
const texts = async (p) => (await received(p.page)).map((m) => m.text);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The server's record of one session. */
async function sessionStats(server, id) {
  return (await server.stats()).sessions.find((s) => s.id === id);
}

/** Waits until the server says the session is over, with this cause. */
async function waitClosed(server, id, cause, timeout = 20_000) {
  return eventually(async () => {
    const st = await sessionStats(server, id);
    return st?.closed === cause ? st : undefined;
  }, `session ${id} to end (${cause})`, timeout);
}

/** Waits for a notice that starts with `prefix`; returns every notice. */
async function waitNotice(p, prefix, timeout = 20_000) {
  await p.page.waitForFunction((s) => window.tetherDemo.notices.some((n) => n.text.startsWith(s)), prefix, { timeout })
    .catch(async (err) => {
      throw new Error(`${err.message}\nwanted a notice starting with ${JSON.stringify(prefix)}\ngot ${JSON.stringify(await notices(p))}`);
    });
  return notices(p);
}

/**
 * Opens the page that goes away, with a ?token= of its own so that the
 * server can refuse its reconnections alone; returns it with `block`.
 */
async function openAway(browser, server) {
  const token = `away-${Math.random().toString(36).slice(2)}`;
  const p = await openDemo(browser, server.url, `?token=${token}`);
  p.block = (on) => server.post(`/_test/block?on=${on ? 1 : 0}&token=${token}`);
  return p;
}

/** Sends from a page and waits until it came back from the room. */
async function say(p, text) {
  await send(p.page, text);
  await waitReceived(p.page, [text]);
}

/** Asserts that the page got each of `want` exactly once, in this order, with consecutive room offsets. */
async function assertOnceInOrder(p, want) {
  const all = await received(p.page);
  const got = all.filter((m) => want.includes(m.text));
  assert.deepEqual(got.map((m) => m.text), want,
    `each once, in order; received ${JSON.stringify(all.map((m) => [m.text, m.seq, m.room, m.offset]))}, notices ${JSON.stringify(await notices(p))}, `
    + `room events ${JSON.stringify(await p.page.evaluate(() => window.tetherDemo.roomEvents))}`);
  assert.ok(got.every((m) => m.room === 'lobby'), JSON.stringify(got));
}

describe('room streams: a page away past the grace window', { skip }, () => {
  let server;
  let browser;

  before(async () => {
    server = await startServer('rooms-grace', ['-v', '-grace', '3s']);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('A away 6.5 s; B sends g2 before A\'s grace window ends and g4 after: A gets both, once, in order, and says so', async () => {
    const a = await openAway(browser, server);
    const b = await openDemo(browser, server.url);
    const oldA = await sessionId(a);
    await say(b, 'g1 before A leaves');
    await waitReceived(a.page, ['g1 before A leaves']);

    const away = Date.now();
    await goOffline(a, a.block);
    await eventually(async () => (await sessionStats(server, oldA))?.state === 'disconnected', "the server to see A's connection gone");
    // Inside A's grace window: the room queues g2 for A's session too.
    await say(b, 'g2 inside the grace window');
    assert.equal((await sessionStats(server, oldA)).state, 'disconnected', 'g2 went out before the grace window ended');
    await waitClosed(server, oldA, 'expired');
    // After it: A's session is gone; only the room's history has g4.
    await say(b, 'g4 after the grace window');
    await sleep(Math.max(0, 6500 - (Date.now() - away)));
    assert.equal(await sessionId(a), oldA, 'A stayed away');

    await goOnline(a, a.block);
    await waitStatus(a.page, 'connected');
    await waitReceived(a.page, ['g2 inside the grace window', 'g4 after the grace window']);
    const all = await waitNotice(a, '↺ lobby:');
    await screenshot(a.page, 'room-recovery.png');

    assert.notEqual(await sessionId(a), oldA, 'a new session: the old one expired');
    await assertOnceInOrder(a, ['g1 before A leaves', 'g2 inside the grace window', 'g4 after the grace window']);
    const r = await received(a.page);
    const offsets = r.filter((m) => m.room === 'lobby').map((m) => m.offset);
    assert.deepEqual(offsets, offsets.map((_, i) => offsets[0] + i), 'room offsets consecutive: no gap, no repeat');
    assert.ok(all.includes('↺ lobby: 2 missed messages recovered'), JSON.stringify(all));
    assert.ok(!all.some((n) => n.includes('lobby') && n.includes('lost')), `no loss reported for the room: ${JSON.stringify(all)}`);
    assert.ok(!all.some((n) => n.startsWith('⚠')), `no warning at all: ${JSON.stringify(all)}`);

    // The server application was told the same.
    const fresh = await eventually(async () => {
      const st = await sessionStats(server, await sessionId(a));
      return st?.recovery.length > 0 ? st : undefined;
    }, "the server to report A's room recovery");
    assert.equal(fresh.previous.Reason, 1, 'the old session expired');
    assert.deepEqual(fresh.recovery, [{ Room: 'lobby', Readmitted: true, Recovered: 2, Skipped: 0, Lost: 0, Reason: 0 }]);
    // B saw the room throughout, and the two pages agree.
    const rb = (await received(b.page)).map((m) => [m.text, m.offset]);
    const ra = r.map((m) => [m.text, m.offset]);
    assert.deepEqual(ra, rb.slice(rb.length - ra.length), 'A and B have the room in the same order, at the same offsets');
    assert.deepEqual([...a.errors, ...b.errors], [], 'no page errors');
  });
});

describe('room streams: a restart of a memory-store server while a page is away', { skip }, () => {
  let server;
  let browser;

  before(async () => {
    server = await startServer('rooms-restart', ['-v']);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('the page is told the count is unknown (the room\'s epoch changed) and gets what the new epoch holds', async () => {
    const a = await openAway(browser, server);
    const b = await openDemo(browser, server.url);
    const [oldA, oldB] = [await sessionId(a), await sessionId(b)];
    await say(b, 'e1 before the restart');
    await waitReceived(a.page, ['e1 before the restart']);
    const epochBefore = (await server.stats()).room.epoch;

    await goOffline(a, a.block);
    const res = await server.post('/_test/restart');
    assert.equal(res.restarted, true, JSON.stringify(res));
    await eventually(async () => (await sessionId(b)) !== oldB && (await b.page.evaluate(() => window.tetherDemo.client.status)) === 'connected',
      'B on the new server');
    await say(b, 'e2 after the restart');
    const { room } = await server.stats();
    assert.notEqual(room.epoch, epochBefore, 'a new memory store: the room has a new epoch');
    assert.equal(room.offset, 1, "e2 is the new epoch's first message");
    assert.equal(await sessionId(a), oldA, 'A stayed away');

    await goOnline(a, a.block);
    await waitStatus(a.page, 'connected');
    await waitReceived(a.page, ['e2 after the restart']);
    const na = await waitNotice(a, '⚠ lobby:');
    assert.notEqual(await sessionId(a), oldA);
    assert.ok(na.includes('⚠ lobby: an unknown number of messages lost (the server restarted)'), JSON.stringify(na));
    await waitNotice(a, '↺ lobby:');
    assert.ok((await notices(a)).includes('↺ lobby: 1 missed message recovered'), JSON.stringify(await notices(a)));
    await assertOnceInOrder(a, ['e1 before the restart', 'e2 after the restart']);
    assert.deepEqual((await received(a.page)).at(-1).offset, 1);
    await screenshot(a.page, 'room-epoch-changed.png');

    const fresh = await eventually(async () => {
      const st = await sessionStats(server, await sessionId(a));
      return st?.recovery.length > 0 ? st : undefined;
    }, "the server to report A's room recovery");
    assert.deepEqual(fresh.recovery, [{ Room: 'lobby', Readmitted: true, Recovered: 1, Skipped: 0, Lost: -1, Reason: 2 }]);

    // B was drained: it got everything its old session was sent, so its
    // room line is no warning, though the room's history is new.
    const nb = await waitNotice(b, '↺ lobby:');
    assert.ok(nb.includes('↺ new session (the server restarted): the old session missed nothing'), JSON.stringify(nb));
    assert.ok(nb.some((n) => n.startsWith('↺ lobby: its history restarted with the server; nothing sent to this page was missed')), JSON.stringify(nb));
    assert.ok(!nb.some((n) => n.startsWith('⚠')), JSON.stringify(nb));
    await assertOnceInOrder(b, ['e1 before the restart', 'e2 after the restart']);
    assert.deepEqual([...a.errors, ...b.errors], []);
  });
});

describe('room streams: a trimmed history', { skip }, () => {
  let server;
  let browser;

  before(async () => {
    server = await startServer('rooms-trimmed', ['-v', '-grace', '2s', '-room-history', '2']);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('the page is told exactly how many messages are gone, and gets the rest', async () => {
    const a = await openAway(browser, server);
    const b = await openDemo(browser, server.url);
    const oldA = await sessionId(a);
    await say(b, 't0');
    await waitReceived(a.page, ['t0']);

    await goOffline(a, a.block);
    await waitClosed(server, oldA, 'expired');
    for (const t of ['t1', 't2', 't3', 't4', 't5']) await say(b, t);
    assert.equal(await sessionId(a), oldA, 'A stayed away');

    await goOnline(a, a.block);
    await waitStatus(a.page, 'connected');
    await waitReceived(a.page, ['t4', 't5']);
    const na = await waitNotice(a, '↺ lobby:');
    assert.ok(na.includes('⚠ lobby: 3 messages lost (history trimmed)'), JSON.stringify(na));
    assert.ok(na.includes('↺ lobby: 2 missed messages recovered'), JSON.stringify(na));
    assert.deepEqual((await texts(a)).filter((t) => /^t\d$/.test(t)), ['t0', 't4', 't5'], 't1–t3 are gone, and nothing else is');
    await screenshot(a.page, 'room-trimmed.png');

    const fresh = await eventually(async () => {
      const st = await sessionStats(server, await sessionId(a));
      return st?.recovery.length > 0 ? st : undefined;
    }, "the server to report A's room recovery");
    assert.deepEqual(fresh.recovery, [{ Room: 'lobby', Readmitted: true, Recovered: 2, Skipped: 0, Lost: 3, Reason: 1 }]);

    // history() reads what the room keeps: the last two, under the room's epoch.
    const h = await a.page.evaluate(() => window.tetherDemo.client.history('lobby'));
    const pos = (await a.page.evaluate(() => window.tetherDemo.client.rooms())).lobby;
    assert.equal(h.epoch, pos.epoch);
    assert.deepEqual([h.first, h.last], [pos.offset - 1, pos.offset]);
    assert.deepEqual(h.messages.map((m) => [m.type, JSON.parse(m.data).text, m.offset]), [['text', 't4', pos.offset - 1], ['text', 't5', pos.offset]]);
    const page2 = await a.page.evaluate((since) => window.tetherDemo.client.history('lobby', { since, limit: 1 }), pos.offset - 1);
    assert.deepEqual(page2.messages.map((m) => m.offset), [pos.offset], 'paging on from an offset');
    const refused = await a.page.evaluate(() => window.tetherDemo.client.history('elsewhere').then(() => 'resolved', (e) => e.code));
    assert.equal(refused, 'forbidden', 'a room the session is not in');
    assert.deepEqual([...a.errors, ...b.errors], []);
  });
});

describe('room streams: presence', { skip }, () => {
  let server;
  let browser;

  before(async () => {
    server = await startServer('rooms-presence', ['-v', '-presence']);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('members see others enter and leave the room; a resume is neither', async () => {
    const b = await openDemo(browser, server.url);
    const a = await openDemo(browser, server.url);
    await setName(a.page, 'Ada');
    const shortA = (await sessionId(a)).slice(0, 6);
    await waitNotice(b, `${shortA} joined lobby`);
    const presence = () => b.page.evaluate(() => window.tetherDemo.roomEvents.filter((e) => e.event === 'presence'));
    assert.deepEqual((await presence()).map((e) => [e.room, e.session, e.joined]), [['lobby', await sessionId(a), true]]);

    await a.page.click('#cut');
    await waitStatus(a.page, 'reconnecting');
    await waitStatus(a.page, 'connected');
    await say(a, 'x1 after the resume');
    await waitReceived(b.page, ['x1 after the resume']);
    assert.equal((await presence()).length, 1, 'a resume is not a leave and a join');

    // B knows A's name from its message now: the leave says it.
    await a.page.evaluate(() => window.tetherDemo.client.close());
    await waitNotice(b, 'Ada left lobby');
    assert.deepEqual((await presence()).map((e) => e.joined), [true, false]);
    assert.deepEqual([...a.errors, ...b.errors], []);
  });
});

describe('room streams: a reload with persistence that lands on a new session', { skip }, () => {
  let server;
  let browser;

  before(async () => {
    server = await startServer('rooms-reload', ['-v', '-grace', '2s']);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('the stored room position brings back what the room got meanwhile, once', async () => {
    const a = await openDemo(browser, server.url, '?persist=session&token=reloading');
    const b = await openDemo(browser, server.url);
    const oldA = await sessionId(a);
    await say(b, 'p1 before');
    await waitReceived(a.page, ['p1 before']);
    const stored = await a.page.evaluate(() => window.tetherDemo.client.rooms());

    // A cannot reconnect; its session expires; the room goes on.
    await server.post('/_test/block?on=1&token=reloading');
    await a.page.click('#cut');
    await waitStatus(a.page, 'reconnecting');
    await waitClosed(server, oldA, 'expired');
    await say(b, 'p2 while A is away');
    await say(b, 'p3 while A is away');

    await a.page.reload();
    await a.page.waitForFunction(() => window.tetherDemo !== undefined);
    assert.deepEqual(await a.page.evaluate(() => window.tetherDemo.client.rooms()), stored, 'the positions are restored before any connection');
    await server.post('/_test/block?on=0&token=reloading');
    await waitStatus(a.page, 'connected');
    await waitReceived(a.page, ['p2 while A is away', 'p3 while A is away']);
    const na = await waitNotice(a, '↺ lobby:');
    assert.ok(na.includes('↺ lobby: 2 missed messages recovered'), JSON.stringify(na));
    assert.ok(!na.some((n) => n.startsWith('⚠')), JSON.stringify(na));
    assert.deepEqual((await texts(a)).filter((t) => t.startsWith('p')), ['p2 while A is away', 'p3 while A is away'],
      'after the reload: only what the room got meanwhile, once each');
    assert.deepEqual([...a.errors, ...b.errors], []);
  });
});
