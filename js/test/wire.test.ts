import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { MalformedFrameError } from '../src/errors.js';
import { pushVarint, readVarint, varintLength } from '../src/varint.js';
import {
  decodeFrame, encodeFrame, lossReasonName, MAX_HISTORY, MAX_ROOM_LEN, MAX_ROOMS, MAX_USER_LEN, roomLossReasonName,
  type Frame, type HelloFrame, type RoomEventFrame,
} from '../src/wire.js';

interface Golden {
  version: string;
  frames: Array<{ name: string; hex: string; frame: Record<string, unknown> }>;
  invalid: Array<{ name: string; hex: string; why: string }>;
}

const golden: Golden = JSON.parse(readFileSync(new URL('../../../testdata/golden-frames.json', import.meta.url), 'utf8'));

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const unhex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const str = (b: Uint8Array) => new TextDecoder().decode(b);

/** A decoded frame in the golden file's JSON shape. */
function asGolden(f: Frame): Record<string, unknown> {
  switch (f.type) {
    case 'hello': {
      const { features, rooms, ...rest } = f;
      const g: Record<string, unknown> = { ...rest, sessionId: str(f.sessionId), token: hex(f.token), epoch: str(f.epoch) };
      // As the Go test: the optional fields are shown when they say something.
      if ((features ?? 0) !== 0 || (rooms ?? []).length > 0) {
        g.features = features;
        g.rooms = (rooms ?? []).map((p) => ({ room: p.room, epoch: str(p.epoch), offset: p.offset }));
      }
      return g;
    }
    case 'welcome': {
      const { features, prevRooms, ...rest } = f;
      const g: Record<string, unknown> = { ...rest, sessionId: str(f.sessionId), token: hex(f.token), epoch: str(f.epoch) };
      // As the Go test: features when either optional field says something.
      if ((features ?? 0) !== 0 || (prevRooms ?? 0) !== 0) g.features = features ?? 0;
      if ((prevRooms ?? 0) !== 0) g.prevRooms = prevRooms;
      return g;
    }
    case 'binary':
      return { type: f.type, seq: f.seq, payload: hex(f.payload) };
    case 'text':
      return { type: f.type, seq: f.seq, payload: hex(f.payload), text: str(f.payload) };
    case 'room-binary':
      return { type: f.type, seq: f.seq, room: f.room, offset: f.offset, payload: hex(f.payload) };
    case 'room-text':
      return { type: f.type, seq: f.seq, room: f.room, offset: f.offset, payload: hex(f.payload), text: str(f.payload) };
    case 'room-event':
      return { ...f, epoch: str(f.epoch) };
    case 'history-result':
      return { ...f, epoch: str(f.epoch), messages: f.messages.map((m) => ({ offset: m.offset, text: m.text, payload: hex(m.payload) })) };
    default:
      return { ...f };
  }
}

test('golden file is tether.v1', () => {
  assert.equal(golden.version, 'tether.v1');
  assert.ok(golden.frames.length >= 13);
  assert.ok(golden.invalid.length >= 13);
});

for (const g of golden.frames) {
  test(`golden frame ${g.name} decodes and re-encodes byte-exactly`, () => {
    const f = decodeFrame(unhex(g.hex));
    assert.deepEqual(asGolden(f), g.frame);
    assert.equal(hex(encodeFrame(f)), g.hex);
  });
}

for (const g of golden.invalid) {
  test(`golden invalid frame ${g.name} is rejected (${g.why})`, () => {
    assert.throws(() => decodeFrame(unhex(g.hex)), MalformedFrameError);
  });
}

test('varint table of PROTOCOL.md §3.2', () => {
  const table: Array<[number, string]> = [
    [0, '00'], [127, '7f'], [128, '8001'], [300, 'ac02'], [1000, 'e807'],
    [16384, '808001'], [2 ** 32, '8080808010'], [2 ** 53 - 1, 'ffffffffffffff0f'],
  ];
  for (const [v, h] of table) {
    const out: number[] = [];
    pushVarint(out, v);
    assert.equal(hex(Uint8Array.from(out)), h, `encode ${v}`);
    assert.equal(varintLength(v), h.length / 2, `length of ${v}`);
    assert.deepEqual(readVarint(unhex(h), 0, 'x'), [v, h.length / 2], `decode ${h}`);
  }
});

test('varint boundaries of each length round-trip', () => {
  for (let k = 1; k <= 7; k++) {
    for (const v of [2 ** (7 * k) - 1, 2 ** (7 * k)]) {
      if (v > Number.MAX_SAFE_INTEGER) continue;
      const out: number[] = [];
      pushVarint(out, v);
      assert.equal(out.length, varintLength(v));
      assert.deepEqual(readVarint(Uint8Array.from(out), 0, 'x'), [v, out.length]);
    }
  }
});

test('varint decoder accepts non-minimal encodings', () => {
  assert.deepEqual(readVarint(unhex('8000'), 0, 'x'), [0, 2]);
  assert.deepEqual(readVarint(unhex('ff80808000'), 0, 'x'), [127, 5]);
});

test('varint decoder rejects values JavaScript cannot hold and malformed ones', () => {
  const bad = [
    '80808080808080808001', // 2^63: valid uint64, not a safe integer
    '8080808080808010', // 2^53 exactly
    'ffffffffffffffffff01', // 2^64−1
    'ffffffffffffffffff02', // 10th byte > 1: above 2^64
    'ffffffffffffffffffff01', // 11 bytes
    '80', // truncated
    '', // nothing
  ];
  for (const h of bad) {
    assert.throws(() => readVarint(unhex(h), 0, 'x'), MalformedFrameError, h);
  }
  assert.throws(() => decodeFrame(unhex('058080808080808010')), MalformedFrameError);
});

test('varint encoder refuses what the wire cannot carry exactly', () => {
  for (const v of [-1, 1.5, 2 ** 53, Infinity, NaN]) {
    assert.throws(() => pushVarint([], v), RangeError, String(v));
  }
});

test('control frames ignore trailing bytes; messages keep them as payload', () => {
  assert.deepEqual(decodeFrame(unhex('05ac02ffff')), { type: 'ack', seq: 300 });
  assert.deepEqual(decodeFrame(unhex('08882700ac0299')), { type: 'goaway', retryAfter: 5000, flags: 0, lastSeq: 300 });
  const w = golden.frames.find((g) => g.name === 'welcome-new')!;
  assert.equal(decodeFrame(unhex(w.hex + '0102')).type, 'welcome');
  assert.deepEqual(asGolden(decodeFrame(unhex('0301aabb'))), { type: 'binary', seq: 1, payload: 'aabb' });
});

test('strings of exactly 64 bytes are fine, 65 are not', () => {
  const id = new Uint8Array(64).fill(0x61);
  const f: Frame = { type: 'hello', sessionId: id, token: id, epoch: id, recv: 0, acked: 0, written: 0, last: 0, window: 0, attempt: 0 };
  const b = encodeFrame(f);
  assert.deepEqual(decodeFrame(b), f);
  assert.throws(() => encodeFrame({ ...f, token: new Uint8Array(65) }), RangeError);
});

test('message payloads are copies, not views of the input', () => {
  const buf = unhex('0301aabb');
  const f = decodeFrame(buf);
  buf[2] = 0;
  assert.equal(f.type === 'binary' && hex(f.payload), 'aabb');
});

test('the annotated example of PROTOCOL.md §13 decodes', () => {
  const resume = decodeFrame(unhex('0106735f374871321000112233445566778899aabbccddeeff0465702d3102020304ac02'));
  assert.deepEqual({ ...asGolden(resume) }, {
    type: 'hello', sessionId: 's_7Hq2', token: '00112233445566778899aabbccddeeff', epoch: 'ep-1',
    recv: 2, acked: 2, written: 3, last: 4, window: 300, attempt: 0,
  });
  assert.deepEqual(decodeFrame(unhex('08dc0b0004')), { type: 'goaway', retryAfter: 1500, flags: 0, lastSeq: 4 });
});

test('loss reason names match the Go side; unknown values read as closed', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7, 9].map(lossReasonName), [
    'none', 'expired', 'overflow', 'unknown-session', 'server-restarted', 'server-shutdown', 'server-error', 'closed', 'closed',
  ]);
});

// ---- room streams (PROTOCOL.md §14) -----------------------------------------

test('the golden file has every room-stream frame the Go side has', () => {
  const names = new Set([...golden.frames.map((g) => g.name), ...golden.invalid.map((g) => `invalid/${g.name}`)]);
  for (const n of [
    'hello-rooms', 'welcome-rooms', 'welcome-lost-in-rooms', 'room-text', 'room-binary-user', 'room-joined-new', 'room-joined-recovered',
    'room-joined-epoch-changed', 'room-left-not-readmitted', 'room-presence-join', 'history', 'history-result',
    'history-result-forbidden', 'invalid/room-text-missing-offset', 'invalid/room-name-too-long',
    'invalid/hello-rooms-truncated', 'invalid/hello-too-many-rooms', 'invalid/room-event-truncated',
    'invalid/history-result-bad-type', 'invalid/history-result-short',
  ]) {
    assert.ok(names.has(n), `golden file lacks ${n}`);
  }
  const types = new Set(golden.frames.map((g) => g.frame.type));
  for (const t of ['room-binary', 'room-text', 'room-event', 'history', 'history-result']) assert.ok(types.has(t), t);
});

/** Length of a message frame's header (type, seq, and for room messages room and offset). */
function headerLen(f: Frame): number {
  const out: number[] = [];
  if (f.type === 'binary' || f.type === 'text') pushVarint(out, f.seq);
  else if (f.type === 'room-binary' || f.type === 'room-text') {
    pushVarint(out, f.seq);
    const room = new TextEncoder().encode(f.room);
    pushVarint(out, room.length);
    out.push(...room);
    pushVarint(out, f.offset);
  } else return -1;
  return 1 + out.length;
}

test('every prefix of a golden frame is malformed, except where optional fields or a payload may end it', () => {
  for (const g of golden.frames) {
    const b = unhex(g.hex);
    const full = decodeFrame(b);
    const optional = new Set<number>();
    if (full.type === 'hello') {
      const n = encodeFrame({ ...full, features: undefined, rooms: undefined }).length;
      const attempt: number[] = [];
      pushVarint(attempt, full.attempt);
      optional.add(n - attempt.length);
      if ((full.features ?? 0) !== 0 || (full.rooms ?? []).length > 0) optional.add(n);
    }
    if (full.type === 'welcome') {
      const n = encodeFrame({ ...full, features: undefined, prevRooms: undefined }).length;
      if ((full.features ?? 0) !== 0 || (full.prevRooms ?? 0) !== 0) optional.add(n);
      if ((full.prevRooms ?? 0) !== 0) optional.add(n + varintLength(full.features ?? 0));
    }
    const hdr = headerLen(full);
    for (let i = 0; i < b.length; i++) {
      const prefix = b.subarray(0, i);
      if (optional.has(i)) {
        assert.doesNotThrow(() => decodeFrame(prefix), `${g.name}[:${i}] lacks only optional fields`);
        continue;
      }
      if (hdr >= 0 && i >= hdr) {
        const f = decodeFrame(prefix);
        assert.ok('payload' in f && hex(f.payload) === hex(b.subarray(hdr, i)), `${g.name}[:${i}]: a shorter payload`);
        continue;
      }
      assert.throws(() => decodeFrame(prefix), MalformedFrameError, `${g.name}[:${i}] (${hex(prefix)})`);
    }
  }
});

test('frames that carry all their optional fields ignore trailing bytes; messages take them as payload', () => {
  const trailers = ['00', 'ff', '80', '05616263', 'ff'.repeat(64)];
  for (const g of golden.frames) {
    const want = decodeFrame(unhex(g.hex));
    // An earlier revision's HELLO or WELCOME: what follows is read as the fields added since.
    if (want.type === 'hello' && (want.features ?? 0) === 0) continue;
    if (want.type === 'welcome' && (want.prevRooms ?? 0) === 0) continue;
    for (const tr of trailers) {
      const got = decodeFrame(unhex(g.hex + tr));
      if ('payload' in want) {
        assert.ok('payload' in got && hex(got.payload) === hex(want.payload) + tr, `${g.name} + ${tr}`);
        continue;
      }
      assert.deepEqual(got, want, `${g.name} + ${tr}`);
    }
  }
});

/** Builds a frame by hand, so that it can break the limits the encoder enforces. */
function raw(...parts: Array<number | Uint8Array | string | ['v', number]>): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === 'number') out.push(p);
    else if (Array.isArray(p)) pushVarint(out, p[1]);
    else {
      const b = typeof p === 'string' ? new TextEncoder().encode(p) : p;
      pushVarint(out, b.length);
      out.push(...b);
    }
  }
  return Uint8Array.from(out);
}

test('room-stream limits: 128-byte rooms, 1024 positions, 256-byte users, 1000 history messages', () => {
  const room128 = 'r'.repeat(MAX_ROOM_LEN);
  const epoch64 = new Uint8Array(64).fill(0x65);
  const hello = (n: number, room: string): HelloFrame => ({
    type: 'hello', sessionId: new Uint8Array(0), token: new Uint8Array(0), epoch: new Uint8Array(0),
    recv: 0, acked: 0, written: 0, last: 0, window: 0, attempt: 0, features: 1,
    rooms: Array.from({ length: n }, () => ({ room, epoch: epoch64, offset: 1 })),
  });
  const event = (user: string): RoomEventFrame => ({
    type: 'room-event', seq: 1, kind: 3, room: room128, epoch: new Uint8Array(0), offset: 0, reason: 0, flags: 0,
    lost: 0, skipped: 0, recovered: 0, user, session: 's',
  });
  const result = (n: number): Frame => ({
    type: 'history-result', id: 1, status: 0, epoch: new Uint8Array(0), first: 1, last: n,
    messages: Array.from({ length: n }, (_, i) => ({ offset: i + 1, text: false, payload: new Uint8Array(0) })),
  });

  // At the limits: encoded and decoded back unchanged.
  const atLimit: Frame[] = [
    { type: 'room-binary', seq: 1, room: room128, offset: 1, payload: new Uint8Array([1]) },
    hello(MAX_ROOMS, room128),
    event('u'.repeat(MAX_USER_LEN)),
    { type: 'history', id: 1, room: room128, since: 0, limit: 0 },
    result(MAX_HISTORY),
  ];
  for (const f of atLimit) assert.deepEqual(decodeFrame(encodeFrame(f)), f, f.type);

  // Beyond them: the encoder refuses, and the decoder rejects what a broken peer sends.
  const beyond: Array<[Frame, Uint8Array]> = [
    [{ type: 'room-text', seq: 1, room: room128 + 'r', offset: 1, payload: new Uint8Array(0) }, raw(0x0a, ['v', 1], room128 + 'r', ['v', 1])],
    [hello(MAX_ROOMS + 1, 'r'), raw(0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, ['v', 1], ['v', MAX_ROOMS + 1],
      ...Array.from({ length: MAX_ROOMS + 1 }, () => ['r', '', ['v', 1]] as const).flat() as Array<string | ['v', number]>)],
    [hello(1, room128 + 'r'), raw(0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, ['v', 1], ['v', 1], room128 + 'r', '', ['v', 1])],
    [event('u'.repeat(MAX_USER_LEN + 1)), raw(0x0b, ['v', 1], 3, 'lobby', '', 0, 0, 0, 0, 0, 0, 'u'.repeat(MAX_USER_LEN + 1), 's')],
    [{ type: 'history', id: 1, room: room128 + 'r', since: 0, limit: 0 }, raw(0x0c, ['v', 1], room128 + 'r', 0, 0)],
    [result(MAX_HISTORY + 1), raw(0x0d, 1, 0, '', 1, 1, ['v', MAX_HISTORY + 1],
      ...Array.from({ length: MAX_HISTORY + 1 }, (_, i) => [['v', i + 1], 0, ''] as const).flat() as Array<number | string | ['v', number]>)],
  ];
  for (const [f, bytes] of beyond) {
    assert.throws(() => encodeFrame(f), RangeError, `encode ${f.type}`);
    assert.throws(() => decodeFrame(bytes), MalformedFrameError, `decode ${f.type} ${hex(bytes).slice(0, 40)}`);
  }
  // A room position's epoch is an epoch: at most 64 bytes.
  assert.throws(() => decodeFrame(raw(0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 'lobby', new Uint8Array(65), 1)), MalformedFrameError);
});

test('room frames round-trip, unknown event kinds and reasons included', () => {
  const frames: Frame[] = [
    { type: 'room-text', seq: 2 ** 40, room: 'salle é', offset: 2 ** 53 - 1, payload: new TextEncoder().encode('ok') },
    { type: 'room-binary', seq: 1, room: '', offset: 1, payload: new Uint8Array(0) },
    {
      type: 'room-event', seq: 7, kind: 200, room: 'x', epoch: new Uint8Array([0, 255]), offset: 9, reason: 99, flags: 0xfe,
      lost: 1, skipped: 2, recovered: 3, user: 'ü', session: 's',
    },
    { type: 'history', id: 2 ** 53 - 1, room: '', since: 0, limit: 1000 },
    { type: 'history-result', id: 3, status: 2, epoch: new Uint8Array(0), first: 0, last: 0, messages: [] },
    {
      type: 'welcome', flags: 0, sessionId: new Uint8Array([1]), token: new Uint8Array(0), epoch: new Uint8Array(0), recv: 0,
      replay: 0, reason: 0, prevIn: 0, prevOut: 0, heartbeat: 1, timeout: 1, maxSize: 1, window: 1, grace: 1, features: 3,
    },
  ];
  for (const f of frames) assert.deepEqual(decodeFrame(encodeFrame(f)), f, f.type);
  // A HELLO without features but with positions still writes them (features 0).
  const h: HelloFrame = {
    type: 'hello', sessionId: new Uint8Array(0), token: new Uint8Array(0), epoch: new Uint8Array(0),
    recv: 0, acked: 0, written: 0, last: 0, window: 0, attempt: 0, features: 0, rooms: [{ room: 'a', epoch: new Uint8Array(0), offset: 1 }],
  };
  assert.deepEqual(decodeFrame(encodeFrame(h)), h);
});

test('room loss reason names match the Go side', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 99].map(roomLossReasonName), ['none', 'history-trimmed', 'epoch-changed', 'diverged', 'other', 'other']);
});

test('WELCOME prevRooms (field 16): written only when not 0, and then after features, even 0', () => {
  const base = decodeFrame(unhex(golden.frames.find((g) => g.name === 'welcome-lost-expired')!.hex));
  assert.equal(base.type, 'welcome');
  const plain = hex(encodeFrame(base));
  // features 0, prevRooms 5: field 15 is written as 0 so that 16 can follow.
  const f = { ...base, prevRooms: 5 } as Frame;
  assert.equal(hex(encodeFrame(f)), `${plain}0005`);
  assert.deepEqual(decodeFrame(encodeFrame(f)), { ...f, features: 0 });
  assert.equal(hex(encodeFrame({ ...base, prevRooms: 0 } as Frame)), plain, 'prevRooms 0 is not written');
  // A WELCOME of an earlier revision (no field 16) reads as prevRooms absent.
  const rooms = decodeFrame(unhex(golden.frames.find((g) => g.name === 'welcome-rooms')!.hex));
  assert.ok(rooms.type === 'welcome' && rooms.features === 1 && rooms.prevRooms === undefined);
  const big = { ...base, features: 1, prevRooms: 2 ** 53 - 1 } as Frame;
  assert.deepEqual(decodeFrame(encodeFrame(big)), big);
});
