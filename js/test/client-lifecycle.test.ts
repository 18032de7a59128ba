// Reconnecting: backoff, giving up, close codes, the outbox bound,
// the watchdog and the browser's signals.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { backoffCeiling, backoffDelay } from '../src/backoff.js';
import { TetherError } from '../src/errors.js';
import { Harness, settle, text, welcome } from './fakes.js';

test('backoff: full jitter in [0, min(maxDelay, initial·mult^(n−1))) with the Go defaults', () => {
  const o = { initialDelay: 250, maxDelay: 15_000, multiplier: 2 };
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8, 100].map((n) => backoffCeiling(o, n)),
    [250, 500, 1000, 2000, 4000, 8000, 15_000, 15_000, 15_000]);
  assert.equal(backoffCeiling(o, 5000), 15_000, 'no overflow to Infinity/NaN');
  for (let n = 1; n < 12; n++) {
    assert.equal(backoffDelay(o, n, () => 0), 0);
    assert.ok(backoffDelay(o, n, () => 0.999999) < backoffCeiling(o, n));
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(o, n);
      assert.ok(d >= 0 && d < backoffCeiling(o, n), `attempt ${n}: ${d}`);
    }
  }
});

test('failed attempts back off with jitter and keep status connecting until the first session', async () => {
  const h = new Harness({ random: () => 0.999 });
  await settle();
  h.ws.serverClose(1006);
  await settle();
  assert.equal(h.client.status, 'connecting');
  const delays: number[] = [];
  for (let i = 0; i < 8; i++) {
    const r = h.of('reconnecting').at(-1)!;
    delays.push(r.delay);
    await h.clock.advance(r.delay);
    h.ws.serverClose(1006);
    await settle();
  }
  assert.deepEqual(delays, [249, 499, 999, 1998, 3996, 7992, 14985, 14985]);
  assert.deepEqual(h.of('reconnecting').map((r) => r.attempt).slice(0, 4), [1, 2, 3, 4]);
  assert.equal(h.of('reconnecting')[0].error?.code, 'connect_failed');
});

test('maxAttempts gives up: status failed with gave_up', async () => {
  const h = new Harness({ maxAttempts: 3 });
  const ws = await h.connect();
  ws.serverClose(1006);
  for (let i = 0; i < 3; i++) {
    await h.clock.advance(20_000);
    h.ws.serverClose(1006);
  }
  await settle();
  assert.equal(h.sockets.length, 4, 'the session plus 3 attempts');
  assert.equal(h.client.status, 'failed');
  assert.equal(h.client.error?.code, 'gave_up');
  assert.deepEqual(h.names().slice(-2), ['reconnecting', 'failed']);
});

test('maxElapsed gives up after that long without a connection', async () => {
  const h = new Harness({ maxElapsed: 5000 });
  const ws = await h.connect();
  ws.serverClose(1006);
  for (let i = 0; i < 20 && h.client.status !== 'failed'; i++) {
    await h.clock.advance(1000);
    if (h.ws.readyState === 0) h.ws.serverClose(1006);
    await settle();
  }
  assert.equal(h.client.status, 'failed');
  assert.equal(h.client.error?.code, 'gave_up');
});

test('a connection attempt without WELCOME times out', async () => {
  const h = new Harness({ connectTimeout: 3000 });
  await settle();
  h.ws.accept();
  await h.clock.advance(3000);
  assert.equal(h.sockets[0].closedWith?.code, 4000);
  assert.match(h.of('reconnecting')[0].error?.message ?? '', /no WELCOME within 3000 ms/);
});

for (const [code, reconnect] of [[4000, true], [4001, true], [4002, true], [4004, true], [4399, true], [1001, true], [1006, true], [1011, true],
  [1000, false], [1002, false], [4400, false], [4401, false], [4403, false], [4409, false], [4410, false], [4413, false], [4426, false], [4999, false]] as const) {
  test(`close ${code} from the server: ${reconnect ? 'reconnect' : 'stop (failed)'}`, async () => {
    const h = new Harness();
    const ws = await h.connect();
    ws.serverClose(code, 'why');
    await settle();
    assert.deepEqual(h.of('disconnected')[0].code, code);
    assert.equal(h.client.status, reconnect ? 'reconnecting' : 'failed');
    if (!reconnect) {
      const want: Record<number, string> = { 4401: 'unauthorized', 4403: 'forbidden', 4410: 'kicked' };
      assert.equal(h.client.error?.code, want[code] ?? 'refused');
      assert.equal(h.client.error?.closeCode, code);
      assert.equal(h.of('failed')[0].error, h.client.error);
    }
  });
}

test('a refusal before WELCOME (4401) fails without retrying; 4004 retries', async () => {
  const h = new Harness();
  await settle();
  h.ws.accept();
  h.ws.serverClose(4004, 'tether: server full');
  await settle();
  assert.equal(h.client.status, 'connecting');
  await h.clock.advance(250);
  h.ws.accept();
  h.ws.serverClose(4401, 'bad credentials');
  await settle();
  assert.equal(h.client.status, 'failed');
  assert.equal(h.client.error?.closeCode, 4401);
  assert.match(h.client.error?.message ?? '', /bad credentials/);
});

test('outbox full while offline: send rejects with outbox_full', async () => {
  const h = new Harness({ maxOutbox: 2 });
  await h.client.send('1');
  await h.client.send('2');
  await assert.rejects(h.client.send('3'), (e: TetherError) => e instanceof TetherError && e.code === 'outbox_full');
});

test('outbox byte bound; a lone message larger than it still fits', async () => {
  const h = new Harness({ maxOutboxBytes: 10 });
  await h.client.send('0123456789abc');
  await assert.rejects(h.client.send('x'), (e: TetherError) => e.code === 'outbox_full');
});

test('outbox full while connected: send waits for room, in order', async () => {
  const h = new Harness({ maxOutbox: 2 });
  const ws = await h.connect();
  await h.client.send('1');
  await h.client.send('2');
  const order: string[] = [];
  const p3 = h.client.send('3').then(() => order.push('3'));
  const p4 = h.client.send('4').then(() => order.push('4'));
  await settle();
  assert.deepEqual(order, []);
  ws.deliver({ type: 'ack', seq: 1 });
  await settle();
  assert.deepEqual(order, ['3']);
  ws.deliver({ type: 'ack', seq: 2 });
  await Promise.all([p3, p4]);
  assert.deepEqual(order, ['3', '4']);
  await settle();
  assert.deepEqual(ws.messages().map((m) => m[1]), ['1', '2', '3', '4']);
});

test('a send waiting for room fails with outbox_full when the connection drops', async () => {
  const h = new Harness({ maxOutbox: 1 });
  const ws = await h.connect();
  await h.client.send('1');
  const waiting = assert.rejects(h.client.send('2'), (e: TetherError) => e.code === 'outbox_full');
  await settle();
  ws.serverClose(1006);
  await waiting;
});

test('watchdog: silence for heartbeat+timeout drops the link with 4000 and resumes', async () => {
  const h = new Harness();
  const ws = await h.connect(welcome({ heartbeat: 1000, timeout: 2000 }));
  for (let i = 0; i < 5; i++) {
    await h.clock.advance(1000);
    ws.deliver({ type: 'ping', seq: 0 });
  }
  assert.equal(h.client.status, 'connected', 'pings keep it alive');
  await h.clock.advance(2999);
  assert.equal(h.client.status, 'connected');
  await h.clock.advance(1);
  assert.equal(ws.closedWith?.code, 4000);
  assert.equal(h.of('disconnected')[0].cause, 'heartbeat-timeout');
  assert.equal(h.client.status, 'reconnecting');
});

test('watchdog: a tick that fired late (throttled tab) re-checks instead of declaring the link dead', async () => {
  const h = new Harness();
  const ws = await h.connect(welcome({ heartbeat: 1000, timeout: 2000 }));
  // The tab is frozen for 10 s: the timer is overdue, the pings are queued.
  h.clock.jump(10_000);
  await h.clock.runDue();
  assert.equal(h.client.status, 'connected', 'a late tick does not judge');
  ws.deliver({ type: 'ping', seq: 0 }); // the queued events arrive
  await h.clock.advance(1000);
  assert.equal(h.client.status, 'connected');
  // Frozen again, and this time nothing was waiting: the re-check judges.
  h.clock.jump(10_000);
  await h.clock.runDue();
  assert.equal(h.client.status, 'connected');
  await h.clock.advance(1000);
  assert.equal(h.client.status, 'reconnecting');
  assert.equal(h.of('disconnected')[0].cause, 'heartbeat-timeout');
});

test('reconnectNow detaches with 4000 and reconnects without backoff once the close settled', async () => {
  const h = new Harness();
  const ws = await h.connect();
  h.client.reconnectNow();
  await settle();
  assert.deepEqual(ws.closedWith, { code: 4000, reason: 'reconnecting' });
  assert.equal(h.of('disconnected')[0].cause, 'client-detached');
  assert.equal(h.sockets.length, 1, 'waits for the close echo');
  ws.echoClose();
  await settle();
  assert.equal(h.sockets.length, 2);
  assert.equal(h.of('reconnecting').length, 0);
});

test('reconnectNow without the echo reconnects after at most a second', async () => {
  const h = new Harness();
  await h.connect();
  h.client.reconnectNow();
  await h.clock.advance(1000);
  assert.equal(h.sockets.length, 2);
});

test('browser offline drops the link (4000), online skips the backoff', async () => {
  const h = new Harness({ random: () => 0.99 });
  const ws = await h.connect();
  h.env.dispatchEvent(new Event('offline'));
  await settle();
  assert.equal(ws.closedWith?.code, 4000);
  assert.equal(h.client.status, 'reconnecting');
  assert.equal(h.of('disconnected')[0].cause, 'network-lost');
  assert.equal(h.sockets.length, 1);
  h.env.dispatchEvent(new Event('online'));
  await settle();
  assert.equal(h.sockets.length, 2, 'reconnects at once');
});

test('pagehide without persistence closes with 1000: the session ends', async () => {
  const h = new Harness();
  const ws = await h.connect();
  h.env.dispatchEvent(Object.assign(new Event('pagehide'), { persisted: false }));
  await settle();
  assert.equal(ws.closedWith?.code, 1000);
  assert.equal(h.client.status, 'closed');
});

test('pagehide into the bfcache detaches (4000); pageshow resumes', async () => {
  const h = new Harness();
  const ws = await h.connect();
  h.env.dispatchEvent(Object.assign(new Event('pagehide'), { persisted: true }));
  await settle();
  assert.equal(ws.closedWith?.code, 4000);
  assert.equal(h.client.status, 'reconnecting');
  await h.clock.advance(60_000);
  assert.equal(h.sockets.length, 1, 'no reconnect while hidden');
  h.env.dispatchEvent(Object.assign(new Event('pageshow'), { persisted: true }));
  await settle();
  assert.equal(h.sockets.length, 2);
});

test('text frames while handlers throw still leave the client consistent across a resume', async () => {
  const h = new Harness();
  h.client.on('message', (m) => {
    if (m.seq === 2) throw new Error('boom');
  });
  const ws = await h.connect();
  ws.deliver(text(1, 'a'));
  ws.deliver(text(2, 'b'));
  await settle();
  ws.serverClose(1006);
  await h.clock.advance(125);
  h.ws.accept();
  const hello = h.ws.sent[0];
  assert.equal(hello.type === 'hello' && hello.recv, 2);
});
