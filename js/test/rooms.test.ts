// Room streams (docs/PROTOCOL.md §14): positions kept across connections
// and sessions, presented in every HELLO, duplicates dropped, room events,
// history() and the persistence of positions.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { TetherError } from '../src/errors.js';
import type { Frame, HelloFrame, RoomEventFrame } from '../src/wire.js';
import { FakeSocket, FakeStorage, Harness, settle, text, welcome } from './fakes.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const RESUMED = 1;
const PREV_KNOWN = 2;
const ROOMS = 1;
const KEY = 'tether:ws://tether.test/ws';

function roomText(seq: number, room: string, offset: number, s: string): Frame {
  return { type: 'room-text', seq, room, offset, payload: enc.encode(s) };
}

function roomEvent(seq: number, kind: number, room: string, o: Partial<Omit<RoomEventFrame, 'epoch'>> & { epoch?: string } = {}): RoomEventFrame {
  return {
    type: 'room-event', seq, kind, room, epoch: enc.encode(o.epoch ?? ''), offset: o.offset ?? 0, reason: o.reason ?? 0,
    flags: o.flags ?? 0, lost: o.lost ?? 0, skipped: o.skipped ?? 0, recovered: o.recovered ?? 0, user: o.user ?? '', session: o.session ?? '',
  };
}

function joined(seq: number, room: string, epoch: string, offset: number, o: Partial<RoomEventFrame> = {}): RoomEventFrame {
  return roomEvent(seq, 1, room, { ...o, epoch, offset });
}

/** The positions a HELLO presents, as [room, epoch, offset]. */
function positions(f: Frame | undefined): Array<[string, string, number]> {
  assert.equal(f?.type, 'hello');
  const h = f as HelloFrame;
  assert.equal(h.features, ROOMS, 'the HELLO offers room streams');
  return (h.rooms ?? []).map((p) => [p.room, dec.decode(p.epoch), p.offset]);
}

/** Acks the client sent on a socket. */
const acks = (ws: FakeSocket) => ws.sentOf('ack').map((a) => a.seq);

/** A client in room 'lobby' (epoch E1) that received offsets 1–3 as seqs 2–4. */
async function inLobby(opts = {}): Promise<Harness> {
  const h = new Harness(opts);
  const ws = await h.connect(welcome({ sessionId: 'old', features: ROOMS }));
  ws.deliver(joined(1, 'lobby', 'E1', 0));
  ws.deliver(roomText(2, 'lobby', 1, 'r1'));
  ws.deliver(roomText(3, 'lobby', 2, 'r2'));
  ws.deliver(roomText(4, 'lobby', 3, 'r3'));
  await settle();
  return h;
}

test('room messages are delivered with their room and offset; positions follow them; events and messages are acked', async () => {
  const h = await inLobby();
  const ws = h.ws;
  ws.deliver({ type: 'room-binary', seq: 5, room: '', offset: 7, payload: new Uint8Array([1, 2]) });
  ws.deliver(text(6, 'direct'));
  await settle();
  await h.acks();
  assert.deepEqual(h.of('message').map((m) => [m.seq, m.room, m.offset, typeof m.data === 'string' ? m.data : [...m.data]]), [
    [2, 'lobby', 1, 'r1'], [3, 'lobby', 2, 'r2'], [4, 'lobby', 3, 'r3'], [5, '', 7, [1, 2]], [6, undefined, undefined, 'direct'],
  ]);
  assert.deepEqual(h.of('roomJoined'), [{
    room: 'lobby', epoch: 'E1', offset: 0, previous: undefined, recovered: 0, skipped: 0, lost: 0, reason: 'none', reasonCode: 0,
  }]);
  assert.deepEqual(h.client.rooms(), { lobby: { epoch: 'E1', offset: 3 }, '': { epoch: '', offset: 7 } });
  assert.equal(acks(ws).at(-1), 6, 'the room event counts in the ack');
  assert.equal(h.of('error').length, 0);
});

test('a room event is acked only after its handlers returned, in order with the messages', async () => {
  const h = new Harness();
  const log: string[] = [];
  h.client.on('roomJoined', (e) => log.push(`joined ${e.room}, acks ${acks(h.ws).join(',')}`));
  h.client.on('message', (m) => log.push(`message ${m.data}`));
  const ws = await h.connect(welcome({ features: ROOMS }));
  ws.deliver(roomText(1, 'a', 1, 'before the join: no position yet'));
  ws.deliver(joined(2, 'lobby', 'E', 0));
  ws.deliver(roomText(3, 'lobby', 1, 'x'));
  await settle();
  await h.acks();
  assert.deepEqual(log, ['message before the join: no position yet', 'joined lobby, acks 0', 'message x']);
  assert.deepEqual(acks(ws), [0, 3], 'one ack for the batch, after every handler returned');
  assert.deepEqual(h.client.rooms().a, { epoch: '', offset: 1 }, 'a room message without a position starts one, as the Go client');
});

test('duplicate room messages across a lost session are delivered once', async () => {
  const h = await inLobby();
  h.ws.serverClose(1006);
  await h.clock.advance(125);
  // The grace window passed: a new session. The server recovers the room
  // after the presented position (3): 4 and 5, then a racing publish
  // brings 5 again, and a replay brings 3 again.
  const ws = h.ws;
  ws.accept();
  assert.deepEqual(positions(ws.sent[0]), [['lobby', 'E1', 3]]);
  ws.deliver(welcome({ flags: PREV_KNOWN, sessionId: 'new', reason: 1, prevIn: 0, prevOut: 4, features: ROOMS }));
  ws.deliver(joined(1, 'lobby', 'E1', 3, { recovered: 2 }));
  ws.deliver(roomText(2, 'lobby', 4, 'r4'));
  ws.deliver(roomText(3, 'lobby', 5, 'r5'));
  ws.deliver(roomText(4, 'lobby', 5, 'r5 again'));
  ws.deliver(roomText(5, 'lobby', 3, 'r3 again'));
  ws.deliver(roomText(6, 'lobby', 6, 'r6'));
  await settle();
  await h.acks();
  assert.deepEqual(h.messages, ['r1', 'r2', 'r3', 'r4', 'r5', 'r6'], 'each room message once, in offset order');
  assert.equal(acks(ws).at(-1), 6, 'duplicates count as processed');
  const j = h.of('roomJoined')[1];
  assert.deepEqual(j, {
    room: 'lobby', epoch: 'E1', offset: 3, previous: { epoch: 'E1', offset: 3 }, recovered: 2, skipped: 0, lost: 0, reason: 'none', reasonCode: 0,
  });
  assert.deepEqual(h.names(), ['connected', 'roomJoined', 'disconnected', 'reconnecting', 'sessionLost', 'connected', 'roomJoined']);
  assert.deepEqual(h.client.rooms(), { lobby: { epoch: 'E1', offset: 6 } });
});

test('a lost session in rooms: sessionLost counts what the session alone lost; inRooms what its rooms recover (WELCOME.prevRooms)', async () => {
  const h = await inLobby();
  // The server sent seqs 5 (a room message), 6 (to the session alone) and
  // 7 (a room event): none arrived. Then the grace window passed.
  h.ws.serverClose(1006);
  await h.clock.advance(125);
  const ws = await h.connect(welcome({ flags: PREV_KNOWN, sessionId: 'new', reason: 1, prevIn: 0, prevOut: 7, features: ROOMS, prevRooms: 2 }));
  ws.deliver(joined(1, 'lobby', 'E1', 3, { recovered: 1 }));
  ws.deliver(roomText(2, 'lobby', 4, 'r4'));
  await settle();
  assert.deepEqual(h.of('sessionLost'), [{
    sessionId: 'old', reason: 'expired', reasonCode: 1, toClient: 1, inRooms: 2, fromClient: 0, carried: 0, unsent: [],
  }]);
  assert.deepEqual(h.messages, ['r1', 'r2', 'r3', 'r4']);
});

test('positions are presented in every HELLO: on resume and after each lost session, across sessions', async () => {
  const h = await inLobby();
  h.ws.deliver(joined(5, 'ops', 'E9', 40));
  await settle();
  h.ws.serverClose(1006);
  await h.clock.advance(125);
  let ws = h.ws;
  ws.accept();
  assert.deepEqual(positions(ws.sent[0]), [['lobby', 'E1', 3], ['ops', 'E9', 40]], 'a resume lists them too');
  ws.deliver(welcome({ flags: RESUMED, sessionId: 'old', recv: 0, features: ROOMS }));
  ws.deliver(roomText(6, 'ops', 41, 'o41'));
  await settle();
  ws.serverClose(1006);
  await h.clock.advance(125);
  ws = h.ws;
  ws.accept();
  assert.deepEqual(positions(ws.sent[0]), [['lobby', 'E1', 3], ['ops', 'E9', 41]]);
  // The session is lost; the new one readmits nothing yet. Then it is lost too.
  ws.deliver(welcome({ sessionId: 'second', reason: 1, features: ROOMS }));
  await settle();
  ws.serverClose(1006);
  await h.clock.advance(125);
  ws = h.ws;
  ws.accept();
  assert.deepEqual(positions(ws.sent[0]), [['lobby', 'E1', 3], ['ops', 'E9', 41]], 'kept across sessions until the server says otherwise');
});

test('joined after a lost session reports an exact loss (history trimmed) or an unknown one (epoch changed, diverged)', async () => {
  const h = await inLobby();
  h.ws.serverClose(1006);
  await h.clock.advance(125);
  const ws = await h.connect(welcome({ sessionId: 'new', reason: 4, features: ROOMS }));
  ws.deliver(joined(1, 'lobby', 'E1', 9, { reason: 1, lost: 6, recovered: 2, skipped: 1 }));
  ws.deliver(roomText(2, 'lobby', 10, 'r10'));
  ws.deliver(roomText(3, 'lobby', 11, 'r11'));
  ws.deliver(joined(4, 'news', 'E2', 0, { reason: 2, flags: 1, recovered: 1 }));
  ws.deliver(roomText(5, 'news', 1, 'n1'));
  ws.deliver(joined(6, 'ops', 'E3', 12, { reason: 3, flags: 1 }));
  ws.deliver(joined(7, 'x', 'E4', 1, { reason: 42 }));
  await settle();
  const js = h.of('roomJoined').slice(1).map((j) => [j.room, j.epoch, j.offset, j.previous?.offset, j.recovered, j.skipped, j.lost, j.reason]);
  assert.deepEqual(js, [
    ['lobby', 'E1', 9, 3, 2, 1, 6, 'history-trimmed'],
    ['news', 'E2', 0, undefined, 1, 0, -1, 'epoch-changed'],
    ['ops', 'E3', 12, undefined, 0, 0, -1, 'diverged'],
    ['x', 'E4', 1, undefined, 0, 0, 0, 'other'],
  ]);
  assert.deepEqual(h.messages.slice(3), ['r10', 'r11', 'n1']);
  assert.deepEqual(h.client.rooms(), {
    lobby: { epoch: 'E1', offset: 11 }, news: { epoch: 'E2', offset: 1 }, ops: { epoch: 'E3', offset: 12 }, x: { epoch: 'E4', offset: 1 },
  });
});

test('a joined event resets the position, even to a lower offset or another epoch', async () => {
  const h = await inLobby();
  h.ws.deliver(joined(5, 'lobby', 'E2', 1));
  h.ws.deliver(roomText(6, 'lobby', 2, 'new epoch, offset 2'));
  await settle();
  assert.deepEqual(h.messages.slice(3), ['new epoch, offset 2']);
  assert.deepEqual(h.client.rooms().lobby, { epoch: 'E2', offset: 2 });
});

test('left forgets the position: no longer presented, and the room starts afresh if joined again', async () => {
  const h = await inLobby();
  let ws = h.ws;
  ws.deliver(joined(5, 'ops', 'E9', 4));
  ws.deliver(roomEvent(6, 2, 'lobby'));
  await settle();
  assert.deepEqual(h.of('roomLeft'), [{ room: 'lobby', reason: 'left', previous: { epoch: 'E1', offset: 3 } }]);
  assert.deepEqual(Object.keys(h.client.rooms()), ['ops']);
  ws.serverClose(1006);
  await h.clock.advance(125);
  ws = h.ws;
  ws.accept();
  assert.deepEqual(positions(ws.sent[0]), [['ops', 'E9', 4]]);
  ws.deliver(welcome({ sessionId: 'new', reason: 1, features: ROOMS }));
  ws.deliver(roomEvent(1, 2, 'ops', { reason: 4 }));
  ws.deliver(joined(2, 'lobby', 'E1', 7));
  ws.deliver(roomText(3, 'lobby', 8, 'r8'));
  await settle();
  assert.deepEqual(h.of('roomLeft')[1], { room: 'ops', reason: 'not-readmitted', previous: { epoch: 'E9', offset: 4 } });
  assert.equal(h.of('roomJoined').at(-1)?.previous, undefined, 'a fresh join, not a recovery');
  assert.deepEqual(h.client.rooms(), { lobby: { epoch: 'E1', offset: 8 } });
  assert.deepEqual(h.messages.at(-1), 'r8');
});

test('presence events are reported; unknown event kinds are counted and ignored', async () => {
  const h = await inLobby();
  const ws = h.ws;
  ws.deliver(roomEvent(5, 3, 'lobby', { user: 'alice', session: 's_A' }));
  ws.deliver(roomEvent(6, 200, 'lobby', { epoch: 'X', offset: 99 }));
  ws.deliver(roomEvent(7, 4, 'lobby', { user: 'alice', session: 's_A' }));
  await settle();
  await h.acks();
  assert.deepEqual(h.of('presence'), [
    { room: 'lobby', user: 'alice', session: 's_A', joined: true },
    { room: 'lobby', user: 'alice', session: 's_A', joined: false },
  ]);
  assert.equal(acks(ws).at(-1), 7);
  assert.equal(h.of('error').length, 0);
  assert.deepEqual(h.client.rooms(), { lobby: { epoch: 'E1', offset: 3 } }, 'an unknown kind changes no position');
});

for (const [name, frame, pattern] of [
  ['a room message at offset 0', roomText(5, 'lobby', 0, 'x'), /room message 5 at offset 0/],
  ['invalid UTF-8 in ROOM_TEXT', { type: 'room-text', seq: 5, room: 'lobby', offset: 4, payload: Uint8Array.from([0xc3]) } as Frame, /text message 5 is not UTF-8/],
  ['a room event out of sequence', joined(9, 'lobby', 'E', 1), /seq 9, expected 5/],
  ['a HISTORY from the server', { type: 'history', id: 1, room: '', since: 0, limit: 0 } as Frame, /unexpected history frame/],
] as const) {
  test(`${name} is a protocol violation, and changes no position`, async () => {
    const h = await inLobby();
    h.ws.deliver(frame);
    await settle();
    assert.match(h.of('error')[0]?.error.message ?? '', pattern);
    assert.equal(h.ws.closedWith?.code, 4000);
    assert.deepEqual(h.client.rooms(), { lobby: { epoch: 'E1', offset: 3 } });
  });
}

test('the rooms option seeds the positions; bad seeds are refused', async () => {
  const h = new Harness({ rooms: { lobby: { epoch: 'E1', offset: 12 }, '': { epoch: 'U', offset: 3 } } });
  await settle();
  h.ws.accept();
  assert.deepEqual(positions(h.ws.sent[0]), [['', 'U', 3], ['lobby', 'E1', 12]]);
  assert.deepEqual(h.client.rooms(), { lobby: { epoch: 'E1', offset: 12 }, '': { epoch: 'U', offset: 3 } });
  for (const rooms of [{ x: { epoch: 'E', offset: -1 } }, { x: { epoch: 'E'.repeat(65), offset: 1 } }, { ['r'.repeat(129)]: { epoch: 'E', offset: 1 } }, { x: null }]) {
    assert.throws(() => new Harness({ rooms: rooms as never }), TypeError, JSON.stringify(rooms));
  }
});

// ---- history() ---------------------------------------------------------------

/** The HISTORY frames a socket carried, as [id, room, since, limit]. */
const historyRequests = (ws: FakeSocket) => ws.sentOf('history').map((f) => [f.id, f.room, f.since, f.limit]);

function page(id: number, first: number, last: number, msgs: Array<[number, string]>, epoch = 'E1'): Frame {
  return {
    type: 'history-result', id, status: 0, epoch: enc.encode(epoch), first, last,
    messages: msgs.map(([offset, s]) => ({ offset, text: !s.startsWith('bin:'), payload: enc.encode(s) })),
  };
}

test('history pages through a room', async () => {
  const h = await inLobby();
  const ws = h.ws;
  const p1 = h.client.history('lobby', { limit: 2 });
  await settle();
  assert.deepEqual(historyRequests(ws), [[1, 'lobby', 0, 2]]);
  ws.deliver(page(1, 2, 5, [[2, 'r2'], [3, 'bin:r3']]));
  const r1 = await p1;
  assert.deepEqual({ ...r1, messages: r1.messages.map((m) => [m.type, m.offset, m.room]) }, {
    room: 'lobby', epoch: 'E1', first: 2, last: 5, messages: [['text', 2, 'lobby'], ['binary', 3, 'lobby']],
  });
  assert.equal(r1.messages[0].data, 'r2');
  assert.deepEqual([...(r1.messages[1].data as Uint8Array)], [...enc.encode('bin:r3')]);
  const p2 = h.client.history('lobby', { since: 3, limit: 5000 });
  await settle();
  assert.deepEqual(historyRequests(ws)[1], [2, 'lobby', 3, 1000], 'the limit is capped at 1000');
  ws.deliver(page(2, 2, 5, [[4, 'r4'], [5, 'r5']]));
  assert.deepEqual((await p2).messages.map((m) => m.data), ['r4', 'r5']);
  assert.deepEqual(h.messages, ['r1', 'r2', 'r3'], 'history is not delivered as messages');
  assert.equal(h.of('error').length, 0);
});

test('a history call waits for the WELCOME, goes after the frame that confirms it, and is asked again after a reconnect', async () => {
  const h = new Harness();
  const p = h.client.history('', { since: 4 });
  await settle();
  h.ws.accept();
  let ws = h.ws;
  ws.deliver(welcome({ features: ROOMS }));
  await settle();
  assert.deepEqual(ws.sent.map((f) => f.type), ['hello', 'ack', 'history']);
  assert.deepEqual(historyRequests(ws), [[1, '', 4, 0]]);
  ws.serverClose(1006);
  await h.clock.advance(125);
  ws = h.ws;
  ws.accept();
  ws.deliver(welcome({ flags: RESUMED, features: ROOMS }));
  await settle();
  assert.deepEqual(historyRequests(ws), [[1, '', 4, 0]], 'unanswered: asked again on the new connection');
  ws.deliver(page(1, 5, 5, [[5, 'u5']], 'U'));
  ws.deliver(page(1, 5, 5, [[5, 'a late second answer']], 'U'));
  assert.deepEqual((await p).messages.map((m) => m.data), ['u5']);
  await settle();
  assert.equal(h.of('error').length, 0, 'an answer nobody waits for is ignored');
  assert.equal(h.client.status, 'connected');
});

test('history rejects: forbidden, unavailable, a server without room streams, too many calls, closed, aborted', async () => {
  const h = await inLobby();
  const ws = h.ws;
  const forbidden = h.client.history('elsewhere');
  const unavailable = h.client.history('lobby');
  await settle();
  ws.deliver({ type: 'history-result', id: 1, status: 1, epoch: new Uint8Array(0), first: 0, last: 0, messages: [] });
  ws.deliver({ type: 'history-result', id: 2, status: 2, epoch: new Uint8Array(0), first: 0, last: 0, messages: [] });
  await assert.rejects(forbidden, (e: TetherError) => e instanceof TetherError && e.code === 'forbidden');
  await assert.rejects(unavailable, (e: TetherError) => e.code === 'unavailable');

  const calls = Array.from({ length: 64 }, () => h.client.history('lobby'));
  await assert.rejects(h.client.history('lobby'), (e: TetherError) => e.code === 'busy');
  const ac = new AbortController();
  ws.deliver(page(3, 1, 1, []));
  await calls[0];
  const aborted = h.client.history('lobby', { signal: ac.signal });
  ac.abort(new Error('no longer needed'));
  await assert.rejects(aborted, /no longer needed/);
  await assert.rejects(h.client.history('lobby', { signal: ac.signal }), /no longer needed/);
  await assert.rejects(h.client.history('lobby', { since: -1 }), RangeError);
  await assert.rejects(h.client.history('r'.repeat(129)), RangeError);

  const closed = calls.slice(1).map((c) => assert.rejects(c, (e: TetherError) => e.code === 'closed'));
  const closing = h.client.close();
  await settle();
  ws.echoClose();
  await closing;
  await Promise.all(closed);
  await assert.rejects(h.client.history('lobby'), (e: TetherError) => e.code === 'closed');

  // A server without the feature: at once when connected, and on the WELCOME for calls waiting for it.
  const old = new Harness();
  const waiting = assert.rejects(old.client.history('lobby'), (e: TetherError) => e.code === 'no_rooms');
  const ows = await old.connect(welcome());
  await waiting;
  await assert.rejects(old.client.history('lobby'), (e: TetherError) => e.code === 'no_rooms');
  assert.deepEqual(ows.sentOf('history'), [], 'never sends HISTORY to a server without the feature');
});

test('a history answer with invalid UTF-8 text rejects that call only', async () => {
  const h = await inLobby();
  const p = h.client.history('lobby');
  await settle();
  h.ws.deliver({ type: 'history-result', id: 1, status: 0, epoch: new Uint8Array(0), first: 1, last: 1, messages: [{ offset: 1, text: true, payload: Uint8Array.from([0xff]) }] });
  await assert.rejects(p, (e: TetherError) => e.code === 'protocol_violation');
  assert.equal(h.client.status, 'connected');
});

// ---- persistence ---------------------------------------------------------------

test('persistence round trip: a reload that lands on a new session recovers the rooms, each message once', async () => {
  const storage = new FakeStorage();
  const a = await inLobby({ persist: 'session', storage });
  a.ws.deliver(joined(5, '', 'U1', 2));
  await settle();
  const stored = JSON.parse(storage.getItem(KEY)!);
  assert.deepEqual(stored.rooms, [['lobby', btoa('E1'), 3], ['', btoa('U1'), 2]]);
  a.env.dispatchEvent(Object.assign(new Event('pagehide'), { persisted: false }));
  await settle();

  // The page comes back after the grace window.
  const b = new Harness({ persist: 'session', storage });
  assert.deepEqual(b.client.rooms(), { lobby: { epoch: 'E1', offset: 3 }, '': { epoch: 'U1', offset: 2 } }, 'restored before connecting');
  await settle();
  const ws = b.ws;
  ws.accept();
  assert.deepEqual(positions(ws.sent[0]), [['', 'U1', 2], ['lobby', 'E1', 3]]);
  ws.deliver(welcome({ flags: PREV_KNOWN, sessionId: 'new', reason: 1, prevIn: 0, prevOut: 7, features: ROOMS }));
  ws.deliver(joined(1, 'lobby', 'E1', 3, { recovered: 2 }));
  ws.deliver(roomText(2, 'lobby', 3, 'r3 again'));
  ws.deliver(roomText(3, 'lobby', 4, 'r4'));
  ws.deliver(roomText(4, 'lobby', 5, 'r5'));
  ws.deliver(joined(5, '', 'U1', 2));
  await settle();
  assert.deepEqual(b.messages, ['r4', 'r5']);
  assert.equal(b.of('roomJoined')[0].previous?.offset, 3);
  assert.deepEqual(JSON.parse(storage.getItem(KEY)!).rooms, [['lobby', btoa('E1'), 5], ['', btoa('U1'), 2]]);
});

test('persisted positions are those of handled frames, as processed is: a reload asks again for the rest and delivers it', async () => {
  const storage = new FakeStorage();
  const h = await inLobby({ persist: 'session', storage });
  const seen: Array<[number, unknown]> = [];
  h.client.on('message', () => {
    const s = JSON.parse(storage.getItem(KEY)!);
    seen.push([s.processed, s.rooms]);
  });
  h.ws.deliver(roomText(5, 'lobby', 4, 'r4'));
  await settle();
  assert.deepEqual(seen, [[4, [['lobby', btoa('E1'), 3]]]], 'while r4 is being handled, storage has neither it nor its offset');
  const s = JSON.parse(storage.getItem(KEY)!);
  assert.deepEqual([s.processed, s.rooms], [5, [['lobby', btoa('E1'), 4]]]);
});

test('stored state without positions (an earlier version) still loads; bad positions discard it', async () => {
  const base = { v: 1, sessionId: btoa('s'), token: btoa('t'), epoch: btoa('e'), recv: 1, processed: 1, acked: 0, written: 0, last: 0, maxSize: 65536, finalOut: null, outbox: [] };
  const storage = new FakeStorage();
  storage.setItem(KEY, JSON.stringify(base));
  const h = new Harness({ persist: 'session', storage, rooms: { seeded: { epoch: 'E', offset: 1 } } });
  assert.equal(h.client.sessionId, 's');
  assert.deepEqual(h.client.rooms(), {}, 'a stored session wins over the rooms option');
  storage.setItem(KEY, JSON.stringify({ ...base, rooms: [['lobby', btoa('E'), -4]] }));
  const bad = new Harness({ persist: 'session', storage });
  await settle();
  assert.equal(bad.client.sessionId, '');
  assert.deepEqual(bad.of('error').map((e) => e.error.code), ['storage']);
});
