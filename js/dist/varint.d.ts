/** The largest varint value this implementation encodes or decodes: 2^53−1. */
export declare const MAX_VARINT: number;
/** Number of bytes `value`'s minimal encoding takes. */
export declare function varintLength(value: number): number;
/** Appends the minimal encoding of `value` to `out`. */
export declare function pushVarint(out: number[], value: number): void;
/**
 * Reads a varint at `buf[pos]`. Returns the value and the position after it.
 * Throws MalformedFrameError for a truncated varint, one longer than 10
 * bytes or above 2^64, and one at or above 2^53.
 */
export declare function readVarint(buf: Uint8Array, pos: number, field: string): [number, number];
