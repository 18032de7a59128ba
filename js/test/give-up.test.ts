// Giving up never drops a message (issue 11, item 2): whatever ends the
// client (a refused login, maxAttempts, maxElapsed, a terminal close code,
// close() that stops waiting) hands back every message the server did not
// acknowledge, in order, and keeps none of them, not even in storage.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { TetherError } from '../src/errors.js';
import type { Message } from '../src/events.js';
import type { Receipt } from '../src/outbox.js';
import type { HelloFrame, RoomEventFrame } from '../src/wire.js';
import { FakeStorage, Harness, settle, text, welcome } from './fakes.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const KEY = 'tether:ws://tether.test/ws';

/** Unsent messages as [seq, text]. */
const texts = (u: Message[]) => u.map((m) => [m.seq, typeof m.data === 'string' ? m.data : dec.decode(m.data)]);

/** The receipts' outcomes: 'acked' or the error code. */
async function outcomes(rs: Receipt[]): Promise<string[]> {
  return Promise.all(rs.map((r) => r.acked.then(() => 'acked', (e: TetherError) => e.code)));
}

/** The client is stopped for good: nothing left, no socket opened later, send and close refuse. */
async function assertStopped(h: Harness): Promise<void> {
  assert.equal(h.client.pending, 0, 'the client keeps no message');
  const n = h.sockets.length;
  await h.clock.advance(10 * 60_000);
  assert.equal(h.sockets.length, n, 'no connection attempt after the end');
  await assert.rejects(h.client.send('after the end'), (e: TetherError) => e.code === 'closed');
  await assert.rejects(h.client.close(), (e: TetherError) => e.code === 'closed');
}

/**
 * A client on session 'old' that sent m1–m3 (the server acked m1) and
 * lost its connection; m4 was queued offline. m2 and m3 have an unknown
 * fate, m4 was never sent.
 */
async function withUnacked(opts = {}): Promise<{ h: Harness; receipts: Receipt[] }> {
  const h = new Harness(opts);
  const ws = await h.connect(welcome({ sessionId: 'old' }));
  const receipts = [await h.client.send('m1'), await h.client.send('m2'), await h.client.send(enc.encode('m3'))];
  await settle();
  ws.deliver({ type: 'ack', seq: 1 });
  await settle();
  assert.deepEqual(ws.messages().map((m) => m[0]), [1, 2, 3], 'all three written');
  ws.serverClose(1006);
  await settle();
  receipts.push(await h.client.send('m4'));
  return { h, receipts };
}

test('a login refused after a server restart (4401 before the WELCOME) hands back every unacknowledged message', async () => {
  const storage = new FakeStorage();
  const { h, receipts } = await withUnacked({ persist: 'session', storage });
  assert.ok(storage.getItem(KEY), 'the session is stored while it lives');
  await h.clock.advance(125);
  h.ws.accept();
  // The restarted server no longer knows the development secret: the resume is refused.
  h.ws.serverClose(4401, 'tether: unauthorized');
  await settle();
  assert.equal(h.client.status, 'failed');
  const [failed, ...more] = h.of('failed');
  assert.equal(more.length, 0);
  assert.equal(failed.error, h.client.error);
  assert.equal(failed.error.code, 'unauthorized');
  assert.equal(failed.error.closeCode, 4401);
  assert.match(failed.error.message, /tether: unauthorized/);
  assert.deepEqual(texts(failed.unsent), [[2, 'm2'], [3, 'm3'], [4, 'm4']], 'unknown fate and never sent, in order');
  assert.deepEqual(failed.unsent.map((m) => m.type), ['text', 'binary', 'text'], 'each with its type');
  assert.deepEqual(await outcomes(receipts), ['acked', 'unauthorized', 'unauthorized', 'unauthorized']);
  assert.equal(h.names().at(-1), 'failed', 'the last event');
  assert.equal(storage.getItem(KEY), null, 'nothing kept in storage');
  await assertStopped(h);
});

test('a refusal of the resume (4403) and a kick (4410) say so in the error code', async () => {
  for (const [code, want] of [[4403, 'forbidden'], [4410, 'kicked'], [4429, 'refused'], [4409, 'refused'], [1000, 'refused']] as const) {
    const { h } = await withUnacked();
    await h.clock.advance(125);
    h.ws.accept();
    h.ws.serverClose(code, 'no');
    await settle();
    const failed = h.of('failed')[0];
    assert.equal(failed?.error.code, want, `close ${code}`);
    assert.equal(failed.error.closeCode, code);
    assert.deepEqual(texts(failed.unsent), [[2, 'm2'], [3, 'm3'], [4, 'm4']], `close ${code}`);
  }
});

test('maxAttempts reached: gave_up, with every unacknowledged message handed back', async () => {
  const { h, receipts } = await withUnacked({ maxAttempts: 2 });
  for (let i = 0; i < 2; i++) {
    await h.clock.advance(20_000);
    h.ws.serverClose(1006);
    await settle();
  }
  assert.equal(h.sockets.length, 3, 'the session plus 2 attempts');
  const failed = h.of('failed')[0];
  assert.equal(failed.error.code, 'gave_up');
  assert.match(failed.error.message, /after 2 attempts/);
  assert.equal((failed.error.cause as TetherError).code, 'connect_failed', 'the last attempt\'s error as the cause');
  assert.deepEqual(texts(failed.unsent), [[2, 'm2'], [3, 'm3'], [4, 'm4']]);
  assert.deepEqual(await outcomes(receipts), ['acked', 'gave_up', 'gave_up', 'gave_up']);
  await assertStopped(h);
});

test('maxElapsed reached while the server is gone: gave_up, with every unacknowledged message handed back', async () => {
  const { h } = await withUnacked({ maxElapsed: 5000, connectTimeout: 1500 });
  // The server is gone: attempts hang until their connect timeout.
  for (let i = 0; i < 40 && h.client.status !== 'failed'; i++) await h.clock.advance(500);
  const failed = h.of('failed')[0];
  assert.equal(failed?.error.code, 'gave_up');
  assert.match((failed.error.cause as TetherError).message, /no WELCOME within 1500 ms/);
  assert.deepEqual(texts(failed.unsent), [[2, 'm2'], [3, 'm3'], [4, 'm4']]);
  await assertStopped(h);
});

test('giving up with persistence keeps the room positions only: a reload starts a new session, recovers the rooms, resends nothing', async () => {
  const storage = new FakeStorage();
  const a = new Harness({ persist: 'session', storage, maxAttempts: 1 });
  const ws = await a.connect(welcome({ sessionId: 'old', features: 1 }));
  const joined: RoomEventFrame = {
    type: 'room-event', seq: 1, kind: 1, room: 'lobby', epoch: enc.encode('E1'), offset: 7, reason: 0, flags: 0,
    lost: 0, skipped: 0, recovered: 0, user: '', session: '',
  };
  ws.deliver(joined);
  ws.deliver({ type: 'room-text', seq: 2, room: 'lobby', offset: 8, payload: enc.encode('r8') });
  await a.client.send('m1');
  await settle();
  ws.serverClose(1006);
  await a.client.send('m2');
  await a.clock.advance(20_000);
  a.ws.serverClose(1006);
  await settle();
  assert.equal(a.client.error?.code, 'gave_up');
  assert.deepEqual(texts(a.of('failed')[0].unsent), [[1, 'm1'], [2, 'm2']]);
  const stored = JSON.parse(storage.getItem(KEY)!);
  assert.deepEqual([stored.sessionId, stored.last, stored.outbox], ['', 0, []], 'no session, no message');
  assert.equal(stored.rooms.length, 1);

  // The page reloads: a new session that presents the room position.
  const b = new Harness({ persist: 'session', storage });
  await settle();
  b.ws.accept();
  const hello = b.ws.sent[0] as HelloFrame;
  assert.equal(hello.type, 'hello');
  assert.deepEqual([hello.sessionId.length, hello.last], [0, 0]);
  assert.deepEqual(hello.rooms?.map((p) => [p.room, dec.decode(p.epoch), p.offset]), [['lobby', 'E1', 8]]);
  b.ws.deliver(welcome({ sessionId: 'new', features: 1 }));
  await settle();
  assert.deepEqual(b.ws.messages(), [], 'the handed-back messages are the application\'s now');
  assert.deepEqual(b.of('sessionLost'), []);
});

test('kicked while messages wait behind a slow server: every unacknowledged one handed back, a send waiting for room refused', async () => {
  const h = new Harness({ maxOutbox: 5 });
  const ws = await h.connect(welcome({ sessionId: 's' }));
  const receipts: Receipt[] = [];
  for (let i = 1; i <= 5; i++) receipts.push(await h.client.send(`m${i}`));
  const sixth = h.client.send('m6');
  await settle();
  // The server is slow: it processed m1 and m2 only. m6 gets in, m7 too; m8 waits for room.
  ws.deliver({ type: 'ack', seq: 2 });
  receipts.push(await sixth);
  receipts.push(await h.client.send('m7'));
  const eighth = assert.rejects(h.client.send('m8'), (e: TetherError) => e.code === 'kicked');
  ws.deliver(text(1, 's1'));
  ws.deliver(text(2, 's2'));
  await settle();
  ws.serverClose(4410, 'tether: kicked by the application');
  await settle();
  await eighth;
  assert.deepEqual(h.messages, ['s1', 's2'], 'what arrived before the kick is delivered');
  const failed = h.of('failed')[0];
  assert.equal(failed.error.code, 'kicked');
  assert.equal(failed.error.closeCode, 4410);
  assert.match(failed.error.message, /kicked by the application/);
  assert.equal(h.of('disconnected')[0].cause, 'kicked');
  assert.deepEqual(texts(failed.unsent), [[3, 'm3'], [4, 'm4'], [5, 'm5'], [6, 'm6'], [7, 'm7']],
    'the unacknowledged ones, written or not, in order; m8 was never queued (its send rejected)');
  assert.deepEqual(await outcomes(receipts), ['acked', 'acked', 'kicked', 'kicked', 'kicked', 'kicked', 'kicked']);
  assert.equal(h.names().at(-1), 'failed');
  await assertStopped(h);
});

test('close() that stops waiting hands back what is left in the closed event; one that did not have to hands back nothing', async () => {
  const h = new Harness();
  const ws = await h.connect();
  await h.client.send('a');
  await h.client.send('b');
  await h.client.send('c');
  await settle();
  ws.deliver({ type: 'ack', seq: 1 });
  const closing = assert.rejects(h.client.close({ timeout: 500 }), (e: TetherError) => e.code === 'unacknowledged' && /2 message/.test(e.message));
  await h.clock.advance(500);
  ws.echoClose();
  await closing;
  await settle();
  assert.deepEqual(h.of('closed').map((c) => texts(c.unsent)), [[[2, 'b'], [3, 'c']]]);
  assert.equal(h.client.pending, 0);

  const g = new Harness();
  const ws2 = await g.connect();
  await g.client.send('x');
  const closed = g.client.close();
  await settle();
  ws2.deliver({ type: 'ack', seq: 1 });
  await settle();
  ws2.echoClose();
  await closed;
  await settle();
  assert.deepEqual(g.of('closed'), [{ unsent: [] }]);
});

test('close() while reconnecting hands back what waits in the outbox when it stops waiting', async () => {
  const { h } = await withUnacked();
  const closing = assert.rejects(h.client.close({ timeout: 100 }), (e: TetherError) => e.code === 'unacknowledged');
  // Stay away (random 0.5 of 250: the attempt is due at 125 ms, the close at 100 ms).
  await h.clock.advance(100);
  await closing;
  await settle();
  assert.deepEqual(texts(h.of('closed')[0].unsent), [[2, 'm2'], [3, 'm3'], [4, 'm4']]);
  assert.equal(h.client.status, 'closed');
});

test('a kicked client whose handlers return late does not write its session back to storage', async () => {
  const storage = new FakeStorage();
  const h = new Harness({ persist: 'session', storage });
  const ws = await h.connect(welcome({ sessionId: 's' }));
  // A message and the kick arrive together: the handler runs after the client stopped.
  ws.deliver(text(1, 'last words'));
  ws.serverClose(4410);
  await settle();
  assert.deepEqual(h.messages, ['last words']);
  assert.equal(h.client.error?.code, 'kicked');
  assert.equal(storage.getItem(KEY), null);
});
