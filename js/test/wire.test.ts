import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { MalformedFrameError } from '../src/errors.js';
import { pushVarint, readVarint, varintLength } from '../src/varint.js';
import { decodeFrame, encodeFrame, lossReasonName, type Frame } from '../src/wire.js';

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
    case 'hello':
    case 'welcome':
      return { ...f, sessionId: str(f.sessionId), token: hex(f.token), epoch: str(f.epoch) };
    case 'binary':
      return { type: f.type, seq: f.seq, payload: hex(f.payload) };
    case 'text':
      return { type: f.type, seq: f.seq, payload: hex(f.payload), text: str(f.payload) };
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
