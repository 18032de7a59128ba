// Unsigned LEB128 varints (docs/PROTOCOL.md §3.2), on JavaScript Numbers.
//
// Numbers hold integers exactly only up to 2^53−1, so the decoder rejects
// anything larger as malformed instead of losing precision silently.

import { MalformedFrameError } from './errors.js';

/** The largest varint value this implementation encodes or decodes: 2^53−1. */
export const MAX_VARINT = Number.MAX_SAFE_INTEGER;

/** Most bytes a varint may take (a 64-bit value). */
const MAX_VARINT_LEN = 10;

/** Number of bytes `value`'s minimal encoding takes. */
export function varintLength(value: number): number {
  let n = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    n++;
  }
  return n;
}

/** Appends the minimal encoding of `value` to `out`. */
export function pushVarint(out: number[], value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`varint out of range: ${value}`);
  }
  while (value >= 0x80) {
    out.push((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  out.push(value);
}

/**
 * Reads a varint at `buf[pos]`. Returns the value and the position after it.
 * Throws MalformedFrameError for a truncated varint, one longer than 10
 * bytes or above 2^64, and one at or above 2^53.
 */
export function readVarint(buf: Uint8Array, pos: number, field: string): [number, number] {
  let value = 0;
  for (let i = 0; i < MAX_VARINT_LEN; i++) {
    if (pos + i >= buf.length) {
      throw new MalformedFrameError(`truncated varint in ${field}`);
    }
    const b = buf[pos + i];
    if (i === MAX_VARINT_LEN - 1 && b > 1) {
      throw new MalformedFrameError(`varint in ${field} overflows 64 bits`);
    }
    value += (b & 0x7f) * 2 ** (7 * i);
    if (b < 0x80) {
      if (value > MAX_VARINT) {
        throw new MalformedFrameError(`varint in ${field} is ≥ 2^53: a JavaScript number cannot hold it exactly`);
      }
      return [value, pos + i + 1];
    }
  }
  throw new MalformedFrameError(`varint in ${field} longer than ${MAX_VARINT_LEN} bytes`);
}
