// Resume, replay, dedupe, gaps, lost sessions and draining.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { TetherError } from '../src/errors.js';
import { Harness, settle, text, welcome } from './fakes.js';

const enc = new TextEncoder();
const RESUMED = 1;
const PREV_KNOWN = 2;

/** The annotated example of PROTOCOL.md §13, connection 1, from the client's side. */
async function exampleSession(): Promise<Harness> {
  const h = new Harness();
  const ws = await h.connect(welcome({ sessionId: 's_7Hq2', token: 'T1' }));
  await h.client.send('hi');
  await h.client.send('ok');
  await settle();
  ws.deliver({ type: 'ack', seq: 2 });
  ws.deliver({ type: 'binary', seq: 1, payload: new Uint8Array([0, 255]) });
  ws.deliver(text(2, 'héllo'));
  await settle();
  ws.deliver({ type: 'ping', seq: 2 });
  await settle();
  await h.client.send('yes'); // written, lost in the cut
  await settle();
  ws.serverClose(1006); // the cut
  await settle();
  await h.client.send('later'); // queued offline
  return h;
}

test('resume: HELLO carries the counters; replay is delivered, unacked messages resent, in order', async () => {
  const h = await exampleSession();
  assert.equal(h.client.status, 'reconnecting');
  assert.deepEqual(h.of('disconnected'), [{ cause: 'network-lost', code: 1006, reason: '' }]);
  assert.deepEqual(h.of('reconnecting').map((r) => [r.attempt, r.delay]), [[1, 125]]);
  await h.clock.advance(125);
  const ws = h.ws;
  assert.equal(h.sockets.length, 2);
  ws.accept();
  const hello = ws.sent[0];
  assert.equal(hello.type, 'hello');
  assert.deepEqual(hello.type === 'hello' && {
    sessionId: new TextDecoder().decode(hello.sessionId), token: new TextDecoder().decode(hello.token),
    recv: hello.recv, acked: hello.acked, written: hello.written, last: hello.last,
  }, { sessionId: 's_7Hq2', token: 'T1', recv: 2, acked: 2, written: 3, last: 4 });
  const first = h.sockets[0].sent[0];
  assert.ok(hello.type === 'hello' && first.type === 'hello' && hello.attempt > first.attempt,
    'each attempt is stamped later than the one before');

  ws.deliver(welcome({ flags: RESUMED, sessionId: 's_7Hq2', token: 'T2', recv: 2, replay: 2 }));
  await settle();
  ws.deliver({ type: 'binary', seq: 3, payload: new Uint8Array([1]) });
  ws.deliver(text(4, 'bye'));
  await settle();
  await h.acks();
  assert.deepEqual(h.messages, ['bin:0,255', 'héllo', 'bin:1', 'bye']);
  assert.deepEqual(h.of('resumed'), [{ sessionId: 's_7Hq2', toClient: 2, fromClient: 2 }]);
  // First frame confirms the new token; then the resend, then the ack of the replay.
  assert.deepEqual(ws.sent.slice(1).map((f) => f.type === 'text' ? `text ${f.seq}` : `${f.type} ${'seq' in f ? f.seq : ''}`),
    ['ack 2', 'text 3', 'text 4', 'ack 4']);
  assert.deepEqual(ws.messages(), [[3, 'yes'], [4, 'later']]);
  assert.equal(h.client.sessionId, 's_7Hq2');

  // The next resume uses the rotated token.
  ws.serverClose(4002, 'heartbeat timeout');
  await h.clock.advance(1000);
  h.ws.accept();
  const hello2 = h.ws.sent[0];
  assert.equal(hello2.type === 'hello' && new TextDecoder().decode(hello2.token), 'T2');
});

test('resume: the WELCOME.recv acknowledges, so nothing the server has is resent', async () => {
  const h = await exampleSession();
  await h.clock.advance(125);
  const ws = await h.connect(welcome({ flags: RESUMED, sessionId: 's_7Hq2', recv: 3, replay: 0 }));
  assert.deepEqual(ws.messages(), [[4, 'later']]);
  assert.equal(h.client.pending, 1);
  assert.deepEqual(h.of('resumed')[0], { sessionId: 's_7Hq2', toClient: 0, fromClient: 1 });
});

test('repeats (seq ≤ recv) are dropped silently', async () => {
  const h = new Harness();
  const ws = await h.connect();
  ws.deliver(text(1, 'a'));
  ws.deliver(text(2, 'b'));
  ws.deliver(text(1, 'a again'));
  ws.deliver(text(2, 'b again'));
  ws.deliver(text(3, 'c'));
  await settle();
  assert.deepEqual(h.messages, ['a', 'b', 'c']);
  assert.equal(h.of('error').length, 0);
});

for (const [name, deliver, pattern] of [
  ['a sequence gap', (ws: import('./fakes.js').FakeSocket) => ws.deliver(text(3, 'skipped 2')), /message seq 3, expected 2/],
  ['seq 0', (ws: import('./fakes.js').FakeSocket) => ws.deliver(text(0, 'zero')), /seq 0/],
  ['a malformed frame', (ws: import('./fakes.js').FakeSocket) => ws.deliver(Uint8Array.from([0x05, 0x80])), /malformed frame: truncated varint/],
  ['an unknown frame type', (ws: import('./fakes.js').FakeSocket) => ws.deliver(Uint8Array.from([0x7f])), /unknown frame type 0x7f/],
  ['a text WebSocket frame', (ws: import('./fakes.js').FakeSocket) => ws.deliver('{"hello":1}'), /text WebSocket frame/],
  ['invalid UTF-8 in TEXT', (ws: import('./fakes.js').FakeSocket) => ws.deliver({ type: 'text', seq: 2, payload: Uint8Array.from([0xff]) }), /not UTF-8/],
  ['an ack beyond what was sent', (ws: import('./fakes.js').FakeSocket) => ws.deliver({ type: 'ack', seq: 5 }), /ack 5 beyond last sent 0/],
  ['a second WELCOME', (ws: import('./fakes.js').FakeSocket) => ws.deliver(welcome()), /unexpected welcome frame/],
  ['a PONG from the server', (ws: import('./fakes.js').FakeSocket) => ws.deliver({ type: 'pong', seq: 0 }), /unexpected pong frame/],
] as const) {
  test(`${name} is a protocol violation: error event, detach with 4000 and the reason, resume`, async () => {
    const h = new Harness();
    const ws = await h.connect();
    ws.deliver(text(1, 'a'));
    await settle();
    deliver(ws);
    ws.deliver(text(2, 'ignored after the violation'));
    await settle();
    const errors = h.of('error');
    assert.equal(errors.length, 1);
    assert.equal(errors[0].error.code, 'protocol_violation');
    assert.match(errors[0].error.message, pattern);
    assert.equal(ws.closedWith?.code, 4000);
    assert.match(ws.closedWith?.reason ?? '', pattern);
    assert.equal(h.of('disconnected')[0].cause, 'protocol-violation');
    assert.equal(h.client.status, 'reconnecting');
    assert.deepEqual(h.messages, ['a']);
    await h.clock.advance(125);
    h.ws.accept();
    const hello = h.ws.sent[0];
    assert.equal(hello.type === 'hello' && hello.recv, 1, 'resumes from what it has');
  });
}

test('a server that selects no subprotocol: error, failed, no retry', async () => {
  const h = new Harness();
  await settle();
  h.ws.accept('');
  await settle();
  assert.equal(h.client.status, 'failed');
  assert.equal(h.client.error?.code, 'unsupported');
  assert.equal(h.of('failed')[0].error.code, 'unsupported');
  await h.clock.advance(60_000);
  assert.equal(h.sockets.length, 1);
});

test('a resumed WELCOME.recv outside [HELLO.acked, HELLO.last] is a violation', async () => {
  const h = await exampleSession();
  await h.clock.advance(125);
  await h.connect(welcome({ flags: RESUMED, sessionId: 's_7Hq2', recv: 9 }));
  assert.match(h.of('error')[0].error.message, /WELCOME.recv 9 outside \[2, 4\]/);
  assert.equal(h.client.status, 'reconnecting');
});

test('lost session with prevKnown: exact counts, processed dropped, the rest carried and renumbered', async () => {
  // recv 17, acked 40, written 45, last 47 as in PROTOCOL.md §8.1, scaled down:
  // recv 2, acked 1, written 3, last 5; prevIn 2, prevOut 4.
  const h = new Harness();
  const ws = await h.connect(welcome({ sessionId: 'old' }));
  for (const m of ['m1', 'm2', 'm3']) await h.client.send(m);
  await settle();
  ws.deliver({ type: 'ack', seq: 1 });
  ws.deliver(text(1, 's1'));
  ws.deliver(text(2, 's2'));
  await settle();
  ws.serverClose(1006);
  const receipts = [await h.client.send('m4'), await h.client.send('m5')];
  await h.clock.advance(125);
  const ws2 = await h.connect(welcome({ flags: PREV_KNOWN, sessionId: 'new', reason: 1, prevIn: 2, prevOut: 4 }));
  assert.deepEqual(h.names(), ['connected', 'disconnected', 'reconnecting', 'sessionLost', 'connected']);
  const lost = h.of('sessionLost')[0];
  assert.deepEqual(lost, { sessionId: 'old', reason: 'expired', reasonCode: 1, toClient: 2, inRooms: 0, fromClient: 0, carried: 3, unsent: [] });
  assert.equal(h.client.sessionId, 'new');
  assert.deepEqual(ws2.messages(), [[1, 'm3'], [2, 'm4'], [3, 'm5']]);
  assert.equal(receipts[0].seq, 2);
  // The new session counts from 1 both ways.
  ws2.deliver(text(1, 'fresh'));
  await settle();
  assert.deepEqual(h.messages.slice(-1), ['fresh']);
});

test('lost session without prevKnown: unknown fate reported, not resent; never-sent carried', async () => {
  const h = new Harness();
  const ws = await h.connect(welcome({ sessionId: 'old' }));
  for (const m of ['m1', 'm2', 'm3']) await h.client.send(m);
  await settle();
  ws.deliver({ type: 'ack', seq: 1 });
  await settle();
  ws.serverClose(1006);
  const r4 = await h.client.send('m4');
  await h.clock.advance(125);
  const ws2 = await h.connect(welcome({ sessionId: 'new', reason: 4 }));
  const lost = h.of('sessionLost')[0];
  assert.equal(lost.reason, 'server-restarted');
  assert.equal(lost.toClient, -1);
  assert.equal(lost.fromClient, 2);
  assert.equal(lost.carried, 1);
  assert.deepEqual(lost.unsent, [{ type: 'text', data: 'm2', seq: 2 }, { type: 'text', data: 'm3', seq: 3 }]);
  assert.deepEqual(ws2.messages(), [[1, 'm4']]);
  assert.equal(r4.seq, 1);
});

test('receipts of unknown-fate messages reject with lost; flush reports it', async () => {
  const h = new Harness();
  const ws = await h.connect(welcome({ sessionId: 'old' }));
  const r = await h.client.send('m1');
  const flushed = assert.rejects(h.client.flush(), (e: TetherError) => e.code === 'lost');
  await settle();
  ws.serverClose(1006);
  await h.clock.advance(125);
  await h.connect(welcome({ sessionId: 'new', reason: 3 }));
  await assert.rejects(r.acked, (e: TetherError) => e.code === 'lost');
  await flushed;
});

test('GOAWAY: stop sending, reply with the ack, keep acking, wait retryAfter, then no loss on a restarted server', async () => {
  const h = new Harness();
  const ws = await h.connect(welcome({ sessionId: 'old' }));
  await h.client.send('before');
  await settle();
  ws.deliver(text(1, 's1'));
  ws.deliver({ type: 'ack', seq: 1 });
  await settle();
  ws.deliver({ type: 'goaway', retryAfter: 1500, flags: 0, lastSeq: 1 });
  await h.client.send('during the drain');
  await settle();
  assert.deepEqual(ws.messages(), [[1, 'before']], 'nothing sent after GOAWAY');
  assert.deepEqual(ws.sentOf('goaway'), [{ type: 'goaway', retryAfter: 0, flags: 0, lastSeq: 1 }]);
  ws.deliver(text(2, 's2'));
  ws.deliver({ type: 'ping', seq: 1 });
  await settle();
  assert.deepEqual(ws.sentOf('pong'), [{ type: 'pong', seq: 2 }], 'still processing and acking');
  ws.deliver({ type: 'ack', seq: 1 });
  ws.deliver({ type: 'goaway', retryAfter: 0, flags: 1, lastSeq: 2 });
  ws.serverClose(4001, 'tether: server restarting');
  await settle();
  assert.equal(h.of('disconnected')[0].cause, 'server-restart');
  assert.deepEqual(h.of('reconnecting').map((r) => r.delay), [1500], 'retryAfter instead of the backoff');
  await h.clock.advance(1499);
  assert.equal(h.sockets.length, 1);
  await h.clock.advance(1);
  const ws2 = await h.connect(welcome({ sessionId: 'new', reason: 4 }));
  const lost = h.of('sessionLost')[0];
  assert.deepEqual(lost, { sessionId: 'old', reason: 'server-restarted', reasonCode: 4, toClient: 0, inRooms: 0, fromClient: 0, carried: 1, unsent: [] });
  assert.deepEqual(ws2.messages(), [[1, 'during the drain']]);
});

test('a drain that times out (no final GOAWAY) leaves the server loss unknown', async () => {
  const h = new Harness();
  const ws = await h.connect(welcome({ sessionId: 'old' }));
  ws.deliver({ type: 'goaway', retryAfter: 10, flags: 0, lastSeq: 0 });
  ws.serverClose(4001);
  await h.clock.advance(10);
  await h.connect(welcome({ sessionId: 'new', reason: 4 }));
  assert.equal(h.of('sessionLost')[0].toClient, -1);
});

test('binary unsent messages are reported as bytes', async () => {
  const h = new Harness();
  const ws = await h.connect(welcome({ sessionId: 'old' }));
  await h.client.send(enc.encode('bin'));
  await settle();
  ws.serverClose(1006);
  await h.clock.advance(125);
  await h.connect(welcome({ sessionId: 'new', reason: 1 }));
  const u = h.of('sessionLost')[0].unsent;
  assert.equal(u[0].type, 'binary');
  assert.deepEqual([...(u[0].data as Uint8Array)], [...enc.encode('bin')]);
});

test('graceWindow is what the last WELCOME said, new session or resumed', async () => {
  const h = new Harness();
  assert.equal(h.client.graceWindow, 0, 'nothing known before the first WELCOME');
  const ws = await h.connect(welcome({ sessionId: 's_7Hq2', grace: 5000 }));
  assert.equal(h.client.graceWindow, 5000);
  ws.serverClose(4002, 'heartbeat timeout');
  await h.clock.advance(1000);
  await h.connect(welcome({ flags: RESUMED, sessionId: 's_7Hq2', grace: 30000 }));
  assert.equal(h.of('resumed').length, 1);
  assert.equal(h.client.graceWindow, 30000, 'a resumed WELCOME brings the server\'s current setting');
});
