// Opt-in persistence: a reload resumes the session and delivers what was
// queued before it exactly once.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Persistence } from '../src/persistence.js';
import { SessionState } from '../src/session.js';
import { FakeStorage, Harness, settle, text, welcome } from './fakes.js';

const RESUMED = 1;
const KEY = 'tether:ws://tether.test/ws';

class CountingStorage extends FakeStorage {
  writes = 0;
  override setItem(k: string, v: string): void {
    this.writes++;
    super.setItem(k, v);
  }
}

test('persistence round trip: a reload resumes the session and resends the queued messages once', async () => {
  const storage = new FakeStorage();
  const a = new Harness({ persist: 'session', storage });
  const ws = await a.connect(welcome({ sessionId: 'sess-A', token: 'T1', epoch: 'E' }));
  await a.client.send('m1');
  await a.client.send(new Uint8Array([7, 8]));
  await settle();
  ws.deliver({ type: 'ack', seq: 1 });
  ws.deliver(text(1, 's1'));
  ws.deliver(text(2, 's2'));
  await settle();
  ws.serverClose(1006);
  await a.client.send('m3 queued offline');
  await settle();

  const stored = JSON.parse(storage.getItem(KEY)!);
  assert.equal(atob(stored.sessionId), 'sess-A');
  assert.equal(atob(stored.token), 'T1');
  assert.deepEqual([stored.recv, stored.processed, stored.acked, stored.written, stored.last], [2, 2, 1, 2, 3]);
  assert.deepEqual(stored.outbox.map((e: { t: string; s: number }) => [e.t, e.s]), [['binary', 2], ['text', 3]]);

  // The page reloads: pagehide with persistence detaches (4000).
  a.env.dispatchEvent(Object.assign(new Event('pagehide'), { persisted: false }));
  await settle();

  const b = new Harness({ persist: 'session', storage });
  assert.equal(b.client.sessionId, 'sess-A', 'restored before connecting');
  assert.equal(b.client.pending, 2);
  await settle();
  const ws2 = b.ws;
  ws2.accept();
  const hello = ws2.sent[0];
  assert.ok(hello.type === 'hello');
  const dec = new TextDecoder();
  assert.deepEqual([dec.decode(hello.sessionId), dec.decode(hello.token), dec.decode(hello.epoch), hello.recv, hello.acked, hello.written, hello.last],
    ['sess-A', 'T1', 'E', 2, 1, 2, 3]);
  // The server had received m2 (seq 2) before the cut.
  ws2.deliver(welcome({ flags: RESUMED, sessionId: 'sess-A', token: 'T2', recv: 2, replay: 1 }));
  await settle();
  ws2.deliver(text(3, 's3'));
  await settle();
  assert.deepEqual(ws2.messages(), [[3, 'm3 queued offline']], 'only what the server lacks, once');
  assert.deepEqual(b.messages, ['s3'], 'only what the page lacks, once');
  assert.deepEqual(b.names(), ['resumed']);
  const after = JSON.parse(storage.getItem(KEY)!);
  assert.equal(atob(after.token), 'T2', 'the rotated token is stored');
});

test('messages received but not handled before the reload are asked for again', async () => {
  const storage = new FakeStorage();
  storage.setItem(KEY, JSON.stringify({
    v: 1, sessionId: btoa('s'), token: btoa('t'), epoch: btoa('e'),
    recv: 5, processed: 3, acked: 0, written: 0, last: 0, maxSize: 65536, finalOut: null, outbox: [],
  }));
  const h = new Harness({ persist: 'session', storage });
  await settle();
  h.ws.accept();
  const hello = h.ws.sent[0];
  assert.equal(hello.type === 'hello' && hello.recv, 3);
});

test('writes are batched: one storage write per microtask however many changes', async () => {
  const storage = new CountingStorage();
  const h = new Harness({ persist: 'local', storage });
  const ws = await h.connect();
  storage.writes = 0;
  for (let i = 0; i < 50; i++) void h.client.send(`m${i}`);
  for (let i = 1; i <= 50; i++) ws.deliver(text(i, `s${i}`));
  await settle();
  assert.ok(storage.writes <= 4, `${storage.writes} writes`);
  assert.equal(JSON.parse(storage.getItem(KEY)!).outbox.length, 50);
});

test('messages queued before the first session survive a reload too', async () => {
  const storage = new FakeStorage();
  const a = new Harness({ persist: 'session', storage });
  await a.client.send('early');
  await settle();
  a.env.dispatchEvent(Object.assign(new Event('pagehide'), { persisted: false }));
  const b = new Harness({ persist: 'session', storage });
  const ws = await b.connect();
  assert.deepEqual(ws.messages(), [[1, 'early']]);
  assert.deepEqual(b.names(), ['connected'], 'no session to lose');
});

test('close() forgets the stored session; corrupt state is discarded with an error event', async () => {
  const storage = new FakeStorage();
  const a = new Harness({ persist: 'session', storage });
  const ws = await a.connect();
  await settle();
  assert.ok(storage.getItem(KEY));
  const closing = a.client.close();
  await settle();
  ws.echoClose();
  await closing;
  assert.equal(storage.getItem(KEY), null);

  storage.setItem(KEY, '{"v":1,"sessionId":"!!"');
  const b = new Harness({ persist: 'session', storage });
  await settle();
  assert.equal(b.client.sessionId, '');
  assert.equal(storage.getItem(KEY), null);
  assert.deepEqual(b.of('error').map((e) => e.error.code), ['storage']);
  assert.match(b.of('error')[0].error.message, /discarding unreadable session state/);
});

test('a custom key and no persistence by default', async () => {
  const storage = new FakeStorage();
  const a = new Harness({ persist: 'session', persistKey: 'my-key', storage });
  await a.connect();
  await settle();
  assert.deepEqual([...storage.map.keys()], ['my-key']);
  const storage2 = new FakeStorage();
  const b = new Harness({ storage: storage2 });
  await b.connect();
  await settle();
  assert.equal(storage2.map.size, 0);
});

test('a write scheduled before clear() does not bring the session back', async () => {
  const storage = new FakeStorage();
  const p = new Persistence(storage, 'k', () => new SessionState().snapshot(), (err) => assert.fail(String(err)));
  p.save(false);
  p.clear();
  await settle();
  assert.equal(storage.getItem('k'), null);
  p.save(false);
  await settle();
  assert.ok(storage.getItem('k'), 'a later save writes again');
});
