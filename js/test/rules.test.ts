// The client's rules of PROTOCOL.md §6–§8 pinned at their boundaries by a
// scripted server (the fake WebSocket plays it frame by frame): exactly
// at the rule, one below, one above (issue 11, item 4). Each test fails if
// the rule it names is broken.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { Frame, HelloFrame } from '../src/wire.js';
import { FakeSocket, Harness, settle, text, welcome } from './fakes.js';

const enc = new TextEncoder();
const RESUMED = 1;
const ROOMS = 1;

/** Acknowledgements the client sent on a socket, in order: ACK, PONG and its GOAWAY reply. */
function acks(ws: FakeSocket): Array<[string, number]> {
  return ws.sent.flatMap((f): Array<[string, number]> => {
    if (f.type === 'ack' || f.type === 'pong') return [[f.type, f.seq]];
    if (f.type === 'goaway') return [['goaway', f.lastSeq]];
    return [];
  });
}

const hello = (ws: FakeSocket) => {
  const f = ws.sent[0];
  assert.equal(f?.type, 'hello');
  return f as HelloFrame;
};

// ---- §6.2: a repeat is dropped, the next is delivered once, a gap is a violation ----

/** The three kinds of numbered frames, each made distinct per call so that only its seq repeats. */
const kinds: Array<{ name: string; frame: (seq: number, n: number) => Frame; delivered: (h: Harness) => string[] }> = [
  {
    name: 'a message (TEXT)',
    frame: (seq, n) => text(seq, `m${n}`),
    delivered: (h) => h.messages,
  },
  {
    name: 'a room message (ROOM_TEXT)',
    // A new offset every time: the seq alone says it is a repeat.
    frame: (seq, n) => ({ type: 'room-text', seq, room: 'lobby', offset: 100 + n, payload: enc.encode(`r${n}`) }),
    delivered: (h) => h.messages,
  },
  {
    name: 'a room event (ROOM_EVENT)',
    frame: (seq, n) => ({
      type: 'room-event', seq, kind: 3, room: 'lobby', epoch: new Uint8Array(0), offset: 0, reason: 0, flags: 0,
      lost: 0, skipped: 0, recovered: 0, user: `u${n}`, session: 's',
    }),
    delivered: (h) => h.of('presence').map((p) => p.user),
  },
];

for (const k of kinds) {
  test(`§6.2 ${k.name}: seq R again is dropped, R+1 is delivered once, R+2 is a gap: a violation, detach and resume from R`, async () => {
    const h = new Harness();
    const ws = await h.connect(welcome({ sessionId: 's', features: ROOMS }));
    let n = 0;
    const next = (seq: number) => ws.deliver(k.frame(seq, ++n));
    next(1); // R = 1
    next(1); // R: a repeat
    next(2); // R + 1
    next(2); // R: a repeat
    next(1); // below R
    await settle();
    await h.acks();
    assert.equal(k.delivered(h).length, 2, `delivered ${JSON.stringify(k.delivered(h))}`);
    assert.deepEqual(h.of('error'), [], 'repeats are dropped silently');
    assert.deepEqual(acks(ws).at(-1), ['ack', 2], 'the ack counts each seq once');
    assert.equal(h.client.status, 'connected');

    next(4); // R + 2: a gap
    next(3); // too late: the connection is being dropped
    await settle();
    assert.equal(k.delivered(h).length, 2);
    assert.match(h.of('error')[0]?.error.message ?? '', /seq 4, expected 3/);
    assert.equal(h.of('error')[0].error.code, 'protocol_violation');
    assert.equal(ws.closedWith?.code, 4000, 'detach: the server keeps the session');
    assert.equal(h.of('disconnected')[0]?.cause, 'protocol-violation');
    await h.clock.advance(125);
    h.ws.accept();
    assert.equal(hello(h.ws).recv, 2, 'resumes from what it has');
  });

  test(`§6.2 ${k.name}: after a resume, a replay that starts at or below R is delivered once`, async () => {
    const h = new Harness();
    const ws = await h.connect(welcome({ sessionId: 's', features: ROOMS }));
    let n = 0;
    const next = (s: FakeSocket, seq: number) => s.deliver(k.frame(seq, ++n));
    next(ws, 1);
    next(ws, 2);
    await settle();
    ws.serverClose(1006);
    await h.clock.advance(125);
    const ws2 = await h.connect(welcome({ flags: RESUMED, sessionId: 's', features: ROOMS }));
    // The server replays from 1 (say, the client's ack of 2 never arrived).
    next(ws2, 1);
    next(ws2, 2);
    next(ws2, 3);
    await settle();
    await h.acks();
    assert.equal(k.delivered(h).length, 3, `delivered ${JSON.stringify(k.delivered(h))}`);
    assert.deepEqual(h.of('error'), []);
    assert.deepEqual(acks(ws2), [['ack', 2], ['ack', 3]]);
  });
}

// ---- §6.3: acks ----

test('§6.3 an ack never covers a message whose handlers have not returned: PONG, ACK and the GOAWAY reply carry what was processed', async () => {
  const h = new Harness();
  const ws = await h.connect(welcome({ sessionId: 's' }));
  const seenWhileHandling: Array<[number, number]> = [];
  h.client.on('message', (m) => {
    seenWhileHandling.push([m.seq, Math.max(0, ...acks(ws).map((a) => a[1]))]);
  });
  ws.deliver(text(1, 'a'));
  await settle();
  await h.acks();
  assert.deepEqual(acks(ws), [['ack', 0], ['ack', 1]]);
  // A PING, two messages and a GOAWAY arrive together: the PONG and the
  // GOAWAY reply go out before the handlers of 2 and 3 have run.
  ws.deliver({ type: 'ping', seq: 0 });
  ws.deliver(text(2, 'b'));
  ws.deliver(text(3, 'c'));
  ws.deliver({ type: 'goaway', retryAfter: 1000, flags: 0, lastSeq: 0 });
  await settle();
  await h.acks();
  assert.deepEqual(acks(ws).slice(2), [['pong', 1], ['goaway', 1], ['ack', 3]]);
  assert.deepEqual(seenWhileHandling, [[1, 0], [2, 1], [3, 1]], 'no ack of a message while its handler runs');
});

test('§6.3 an ack from the server of exactly what the client wrote is fine; one more is a violation', async () => {
  const h = new Harness();
  const ws = await h.connect(welcome({ sessionId: 's' }));
  await h.client.send('m1');
  await h.client.send('m2');
  await settle();
  ws.deliver({ type: 'ack', seq: 2 });
  await settle();
  assert.deepEqual(h.of('error'), []);
  assert.equal(h.client.pending, 0);
  ws.deliver({ type: 'ack', seq: 3 });
  await settle();
  assert.match(h.of('error')[0]?.error.message ?? '', /ack 3 beyond last sent 2/);
  assert.equal(ws.closedWith?.code, 4000);
});

test('§6.3 on a resumed connection the baseline of what was sent is WELCOME.recv: an ack of it is fine, one more is a violation', async () => {
  const h = new Harness();
  const ws = await h.connect(welcome({ sessionId: 's' }));
  await h.client.send('m1');
  await settle();
  ws.serverClose(1006);
  await h.clock.advance(125);
  // The server has m1 (its ack was lost with the link): nothing to resend,
  // and nothing is written on the new connection; the baseline is 1.
  const ws2 = await h.connect(welcome({ flags: RESUMED, sessionId: 's', recv: 1 }));
  assert.deepEqual(ws2.messages(), []);
  ws2.deliver({ type: 'ack', seq: 1 });
  await settle();
  assert.deepEqual(h.of('error'), []);
  ws2.deliver({ type: 'ack', seq: 2 });
  await settle();
  assert.match(h.of('error')[0]?.error.message ?? '', /ack 2 beyond last sent 1/);
  assert.equal(ws2.closedWith?.code, 4000);
});

// ---- §8: acks are per session ----

test('§8 acks are per session: a handler of a lost session that returns after the new session began acks nothing in it', async () => {
  const h = new Harness();
  const ws = await h.connect(welcome({ sessionId: 'old' }));
  let ws2: FakeSocket | undefined;
  h.client.on('message', (m) => {
    if (m.data !== 'a') return;
    // While 'a' is handled: 'b' arrives, the link drops, the retry fires,
    // and the server answers with a new session (the old one is gone).
    ws.deliver(text(2, 'b'));
    ws.serverClose(1006);
    h.clock.advanceSync(125);
    ws2 = h.ws;
    ws2.accept();
    ws2.deliver(welcome({ sessionId: 'new', reason: 1 }));
  });
  ws.deliver(text(1, 'a'));
  await settle();
  assert.ok(ws2 && ws2 !== ws, 'the new session began inside the handler');
  assert.equal(hello(ws2).recv, 2, 'b was accepted before the old session was lost');
  assert.deepEqual(h.messages, ['a', 'b'], 'what the old session accepted is still delivered');
  assert.equal(h.client.sessionId, 'new');
  assert.deepEqual(acks(ws2), [['ack', 0]], 'the old session\'s 1 and 2 are not acked in the new one');
  ws2.deliver(text(1, 'n1'));
  await settle();
  await h.acks();
  assert.deepEqual(acks(ws2), [['ack', 0], ['ack', 1]]);
  assert.deepEqual(h.messages, ['a', 'b', 'n1']);
});

// ---- §7.4: a resumed WELCOME.recv outside [HELLO.acked, HELLO.last] ----

/** A client with acked 1, written 3, last 4 (m2, m3 unacknowledged, m4 queued offline), reconnecting. */
async function unacked(): Promise<Harness> {
  const h = new Harness();
  const ws = await h.connect(welcome({ sessionId: 's' }));
  for (const m of ['m1', 'm2', 'm3']) await h.client.send(m);
  await settle();
  ws.deliver({ type: 'ack', seq: 1 });
  await settle();
  ws.serverClose(1006);
  await h.client.send('m4');
  await h.clock.advance(125);
  return h;
}

for (const [recv, ok] of [[0, false], [1, true], [4, true], [5, false]] as const) {
  test(`§7.4 a resumed WELCOME.recv of ${recv} with HELLO.acked 1 and HELLO.last 4: ${ok ? 'resumed' : 'a violation: detach, and try again with the same state'}`, async () => {
    const h = await unacked();
    const ws = await h.connect(welcome({ flags: RESUMED, sessionId: 's', recv }));
    const sent = hello(ws);
    assert.deepEqual([sent.acked, sent.written, sent.last], [1, 3, 4]);
    if (ok) {
      assert.deepEqual(h.of('error'), []);
      assert.equal(h.client.status, 'connected');
      assert.deepEqual(ws.messages().map((m) => m[0]), [2, 3, 4].filter((s) => s > recv), 'resends what follows WELCOME.recv');
      assert.equal(h.client.pending, 4 - recv);
      return;
    }
    // The server claims to have processed less than it acknowledged, or
    // more than the client ever assigned: nothing the client holds can be
    // trusted to match. It changes nothing, detaches and tries again later.
    assert.match(h.of('error')[0]?.error.message ?? '', new RegExp(`WELCOME.recv ${recv} outside \\[1, 4\\]`));
    assert.equal(ws.closedWith?.code, 4000);
    assert.equal(h.client.status, 'reconnecting');
    assert.deepEqual(h.of('resumed'), []);
    assert.deepEqual(ws.messages(), [], 'nothing written on that connection');
    assert.equal(h.client.pending, 3, 'the outbox is intact');
    await h.clock.advance(20_000);
    h.ws.accept();
    const again = hello(h.ws);
    assert.deepEqual([again.recv, again.acked, again.written, again.last], [0, 1, 3, 4], 'the same counters');
  });
}
