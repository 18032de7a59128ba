// A new session: HELLO, WELCOME, acks after handlers, heartbeats, sending.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { TetherError } from '../src/errors.js';
import { Harness, settle, text, welcome } from './fakes.js';

test('hello offers tether.v1 and room streams, asks for a new session and confirms the welcome at once', async () => {
  const h = new Harness({ protocols: ['chat'] });
  await settle();
  const ws = h.ws;
  assert.equal(ws.url, 'ws://tether.test/ws');
  assert.deepEqual(ws.protocols, ['tether.v1', 'chat']);
  assert.equal(ws.binaryType, 'arraybuffer');
  ws.accept();
  const sent = ws.sent[0];
  assert.ok(sent.type === 'hello' && sent.attempt >= Date.now() - 60_000, 'the attempt is stamped');
  assert.deepEqual(ws.sent, [{
    type: 'hello', sessionId: new Uint8Array(0), token: new Uint8Array(0), epoch: new Uint8Array(0),
    recv: 0, acked: 0, written: 0, last: 0, window: 1024, attempt: sent.type === 'hello' ? sent.attempt : -1,
    features: 1, rooms: [],
  }]);
  ws.deliver(welcome({ sessionId: 's_7Hq2' }));
  await settle();
  assert.equal(h.client.status, 'connected');
  assert.equal(h.client.sessionId, 's_7Hq2');
  assert.deepEqual(h.names(), ['connected']);
  assert.deepEqual(h.of('connected'), [{ sessionId: 's_7Hq2' }]);
  assert.deepEqual(h.of('status'), [{ status: 'connected', previous: 'connecting' }]);
  // The first frame after WELCOME confirms it (and its token), with nothing to ack.
  assert.deepEqual(ws.sent.slice(1), [{ type: 'ack', seq: 0 }]);
});

test('messages are delivered in order and acked once per batch, after the handlers returned', async () => {
  const h = new Harness();
  const seenAckWhileHandling: number[] = [];
  h.client.on('message', () => {
    seenAckWhileHandling.push(Math.max(0, ...h.ws.sentOf('ack').map((a) => a.seq)));
  });
  const ws = await h.connect();
  ws.deliver(text(1, 'a'));
  ws.deliver(text(2, 'b'));
  ws.deliver({ type: 'binary', seq: 3, payload: new Uint8Array([0, 255]) });
  await settle();
  await h.acks();
  assert.deepEqual(h.messages, ['a', 'b', 'bin:0,255']);
  assert.deepEqual(seenAckWhileHandling, [0, 0, 0]);
  assert.deepEqual(ws.sentOf('ack').map((a) => a.seq), [0, 3]);
  const m = h.of('message');
  assert.deepEqual(m.map((x) => [x.type, x.seq]), [['text', 1], ['text', 2], ['binary', 3]]);
  assert.ok(m[2].data instanceof Uint8Array);
});

test('acks follow the shared rules (testdata/ack-cases.json): a lone ack waits ackDelay, rides on a message sooner, goes at once at half the window or 64 KiB', async () => {
  // A lone ack: only after ackDelay.
  let h = new Harness({ ackDelay: 100 });
  let ws = await h.connect();
  ws.deliver(text(1, 'a'));
  await settle();
  const seqs = (w: typeof ws) => w.sentOf('ack').map((a) => a.seq);
  assert.deepEqual(seqs(ws), [0], 'the confirming ack only');
  await h.clock.advance(99);
  assert.deepEqual(seqs(ws), [0]);
  await h.clock.advance(1);
  assert.deepEqual(seqs(ws), [0, 1]);

  // It rides on a message written before the delay passes, in front of it.
  ws.deliver(text(2, 'b'));
  await settle();
  await h.client.send('reply');
  await settle();
  assert.deepEqual(ws.sent.slice(-2).map((f) => f.type), ['ack', 'text']);
  assert.deepEqual(seqs(ws), [0, 1, 2]);
  await h.clock.advance(100);
  assert.deepEqual(seqs(ws), [0, 1, 2], 'the timer of a taken ack writes nothing');

  // Half the server's window unacknowledged: at once.
  h = new Harness();
  ws = await h.connect(welcome({ window: 4 }));
  ws.deliver(text(1, 'a'));
  await settle();
  assert.deepEqual(seqs(ws), [0]);
  ws.deliver(text(2, 'b'));
  await settle();
  assert.deepEqual(seqs(ws), [0, 2]);

  // 64 KiB of payload processed: at once.
  h = new Harness();
  ws = await h.connect(welcome({ maxSize: 1 << 20 }));
  ws.deliver({ type: 'binary', seq: 1, payload: new Uint8Array(40 << 10) });
  await settle();
  assert.deepEqual(seqs(ws), [0]);
  ws.deliver({ type: 'binary', seq: 2, payload: new Uint8Array(24 << 10) });
  await settle();
  assert.deepEqual(seqs(ws), [0, 2]);
});

test('every PING is answered with a PONG carrying the ack; its ack is processed', async () => {
  const h = new Harness();
  const ws = await h.connect();
  await h.client.send('x');
  await settle();
  ws.deliver(text(1, 'hi'));
  await settle();
  ws.deliver({ type: 'ping', seq: 1 });
  await settle();
  assert.deepEqual(ws.sentOf('pong'), [{ type: 'pong', seq: 1 }]);
  assert.equal(h.client.pending, 0);
  ws.deliver({ type: 'ping', seq: 1 });
  await settle();
  assert.equal(ws.sentOf('pong').length, 2);
});

test('send queues, numbers and writes messages; the receipt settles on ack', async () => {
  const h = new Harness();
  const early = await h.client.send('queued before the welcome');
  assert.equal(early.seq, 1);
  const ws = await h.connect();
  const r2 = await h.client.send(new Uint8Array([1, 2, 3]));
  await settle();
  assert.deepEqual(ws.messages(), [[1, 'queued before the welcome'], [2, '\x01\x02\x03']]);
  assert.deepEqual(ws.sentOf('binary').map((f) => [...f.payload]), [[1, 2, 3]]);
  let acked = false;
  void r2.acked.then(() => (acked = true));
  ws.deliver({ type: 'ack', seq: 1 });
  await settle();
  assert.equal(acked, false);
  assert.equal(h.client.pending, 1);
  ws.deliver({ type: 'ack', seq: 2 });
  await settle();
  assert.equal(acked, true);
  await early.acked;
  assert.equal(h.client.pending, 0);
});

test('send rejects bad input and oversized messages', async () => {
  const h = new Harness();
  await h.connect(welcome({ maxSize: 4 }));
  await assert.rejects(h.client.send(42 as unknown as string), (e: TetherError) => e.code === 'invalid_message');
  await assert.rejects(h.client.send('12345'), (e: TetherError) => e.code === 'too_big');
  await h.client.send('1234');
});

test('flush resolves when everything queued is acknowledged', async () => {
  const h = new Harness();
  const ws = await h.connect();
  await h.client.send('a');
  await h.client.send('b');
  let done = false;
  const f = h.client.flush().then(() => (done = true));
  await settle();
  ws.deliver({ type: 'ack', seq: 1 });
  await settle();
  assert.equal(done, false);
  ws.deliver({ type: 'ack', seq: 2 });
  await f;
  assert.equal(done, true);
});

test('close flushes, then closes with 1000 and reports closed', async () => {
  const h = new Harness();
  const ws = await h.connect();
  await h.client.send('bye');
  const closing = h.client.close();
  await settle();
  assert.equal(ws.closedWith, undefined, 'waits for the ack first');
  await assert.rejects(h.client.send('too late'), (e: TetherError) => e.code === 'closed');
  ws.deliver({ type: 'ack', seq: 1 });
  await settle();
  assert.deepEqual(ws.closedWith, { code: 1000, reason: 'client closed' });
  ws.echoClose();
  await closing;
  await settle();
  assert.equal(h.client.status, 'closed');
  assert.deepEqual(h.names(), ['connected', 'disconnected', 'closed']);
  assert.equal(h.of('disconnected')[0].cause, 'client-closed');
  await assert.rejects(h.client.close(), (e: TetherError) => e.code === 'closed');
});

test('close gives up waiting after its timeout and says how many were left', async () => {
  const h = new Harness();
  const ws = await h.connect();
  await h.client.send('never acked');
  const closing = h.client.close({ timeout: 500 });
  const check = assert.rejects(closing, (e: TetherError) => e.code === 'unacknowledged' && /1 message/.test(e.message));
  await h.clock.advance(500);
  assert.equal(ws.closedWith?.code, 1000);
  await h.clock.advance(1000);
  await check;
  assert.equal(h.client.status, 'closed');
});

test('handler exceptions are reported as error events and never break the client', async () => {
  const h = new Harness();
  let calls = 0;
  h.client.on('message', () => {
    calls++;
    throw new Error('app bug');
  });
  h.client.on('connected', () => {
    throw new Error('connected bug');
  });
  const ws = await h.connect();
  ws.deliver(text(1, 'a'));
  ws.deliver(text(2, 'b'));
  await settle();
  assert.equal(calls, 2);
  assert.deepEqual(h.messages, ['a', 'b'], 'other handlers still run');
  const errors = h.of('error').map((e) => e.error);
  assert.deepEqual(errors.map((e) => e.code), ['handler', 'handler', 'handler']);
  assert.match(errors[0].message, /connected handler threw: connected bug/);
  assert.match(errors[1].message, /message handler threw: app bug/);
  assert.equal(h.client.status, 'connected');
  await h.acks();
  assert.equal(ws.sentOf('ack').at(-1)?.seq, 2, 'a throwing handler still counts as processed');
});

test('handlers run one at a time: events caused inside a handler wait for it to return', async () => {
  const h = new Harness();
  const log: string[] = [];
  let depth = 0;
  h.client.on('message', () => {
    depth++;
    log.push(`message depth ${depth}`);
    h.client.reconnectNow();
    log.push('reconnectNow returned');
    depth--;
  });
  h.client.on('disconnected', () => log.push(`disconnected depth ${depth}`));
  const ws = await h.connect();
  ws.deliver(text(1, 'a'));
  await settle();
  assert.deepEqual(log, ['message depth 1', 'reconnectNow returned', 'disconnected depth 0']);
});

test('the token function is called on every connect and its result goes in the URL', async () => {
  let n = 0;
  const h = new Harness({ token: async () => `jwt-${++n}` }, 'ws://tether.test/ws?room=1');
  const ws = await h.connect();
  assert.equal(ws.url, 'ws://tether.test/ws?room=1&token=jwt-1');
  ws.serverClose(1006);
  await h.clock.advance(250);
  assert.equal(h.ws.url, 'ws://tether.test/ws?room=1&token=jwt-2');
});

test('http(s) URLs map to ws(s)', async () => {
  const h = new Harness({}, 'https://tether.test/ws');
  await settle();
  assert.equal(h.ws.url, 'wss://tether.test/ws');
});
