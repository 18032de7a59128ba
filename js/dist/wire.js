// Tether's wire format (docs/PROTOCOL.md §3–4), mirroring internal/wire:
// the frames carried one per WebSocket binary message.
import { MalformedFrameError } from './errors.js';
import { pushVarint, readVarint } from './varint.js';
/** The only WebSocket subprotocol this version speaks. */
export const SUBPROTOCOL = 'tether.v1';
/** Session IDs, tokens and epochs are at most this many bytes. */
export const MAX_STRING_LEN = 64;
/** Frame type bytes. */
export const FrameType = {
    hello: 0x01,
    welcome: 0x02,
    binary: 0x03,
    text: 0x04,
    ack: 0x05,
    ping: 0x06,
    pong: 0x07,
    goaway: 0x08,
};
/** WELCOME flag bits. */
export const WELCOME_RESUMED = 1 << 0;
export const WELCOME_PREV_KNOWN = 1 << 1;
/** GOAWAY flag bit: the last frame before close 4001. */
export const GOAWAY_FINAL = 1 << 0;
/** Encodes a frame as the payload of one WebSocket binary message. */
export function encodeFrame(f) {
    const out = [FrameType[f.type]];
    switch (f.type) {
        case 'hello':
            pushBytes(out, f.sessionId);
            pushBytes(out, f.token);
            pushBytes(out, f.epoch);
            for (const v of [f.recv, f.acked, f.written, f.last, f.window, f.attempt])
                pushVarint(out, v);
            break;
        case 'welcome':
            out.push(f.flags & 0xff);
            pushBytes(out, f.sessionId);
            pushBytes(out, f.token);
            pushBytes(out, f.epoch);
            pushVarint(out, f.recv);
            pushVarint(out, f.replay);
            out.push(f.reason & 0xff);
            for (const v of [f.prevIn, f.prevOut, f.heartbeat, f.timeout, f.maxSize, f.window, f.grace])
                pushVarint(out, v);
            break;
        case 'binary':
        case 'text': {
            pushVarint(out, f.seq);
            const b = new Uint8Array(out.length + f.payload.length);
            b.set(out);
            b.set(f.payload, out.length);
            return b;
        }
        case 'ack':
        case 'ping':
        case 'pong':
            pushVarint(out, f.seq);
            break;
        case 'goaway':
            pushVarint(out, f.retryAfter);
            out.push(f.flags & 0xff);
            pushVarint(out, f.lastSeq);
            break;
    }
    return Uint8Array.from(out);
}
function pushBytes(out, v) {
    if (v.length > MAX_STRING_LEN)
        throw new RangeError(`string longer than ${MAX_STRING_LEN} bytes`);
    pushVarint(out, v.length);
    for (const b of v)
        out.push(b);
}
/**
 * Decodes one frame. Throws MalformedFrameError when it cannot (empty,
 * unknown type, truncated field, string too long, bad varint, broken
 * invariant). Bytes after the last known field of a control frame are
 * ignored; a message payload is a copy, not a view of `buf`.
 */
export function decodeFrame(buf) {
    if (buf.length === 0)
        throw new MalformedFrameError('empty frame');
    const r = new Reader(buf);
    const t = buf[0];
    switch (t) {
        case FrameType.binary:
        case FrameType.text: {
            const seq = r.varint('seq');
            return { type: t === FrameType.text ? 'text' : 'binary', seq, payload: buf.slice(r.pos) };
        }
        case FrameType.ack:
        case FrameType.ping:
        case FrameType.pong:
            return { type: t === FrameType.ack ? 'ack' : t === FrameType.ping ? 'ping' : 'pong', seq: r.varint('ack') };
        case FrameType.hello: {
            const h = {
                type: 'hello',
                sessionId: r.bytes('session id'),
                token: r.bytes('token'),
                epoch: r.bytes('epoch'),
                recv: r.varint('recv'),
                acked: r.varint('acked'),
                written: r.varint('written'),
                last: r.varint('last'),
                window: r.varint('window'),
                attempt: r.more() ? r.varint('attempt') : 0,
            };
            if (!(h.acked <= h.written && h.written <= h.last)) {
                throw new MalformedFrameError(`hello: want acked <= written <= last, got ${h.acked}, ${h.written}, ${h.last}`);
            }
            return h;
        }
        case FrameType.welcome: {
            const w = {
                type: 'welcome',
                flags: r.byte('flags'),
                sessionId: r.bytes('session id'),
                token: r.bytes('token'),
                epoch: r.bytes('epoch'),
                recv: r.varint('recv'),
                replay: r.varint('replay'),
                reason: r.byte('reason'),
                prevIn: r.varint('prev in'),
                prevOut: r.varint('prev out'),
                heartbeat: r.varint('heartbeat'),
                timeout: r.varint('timeout'),
                maxSize: r.varint('max size'),
                window: r.varint('window'),
                grace: r.varint('grace'),
            };
            if (w.sessionId.length === 0)
                throw new MalformedFrameError('welcome: empty session id');
            return w;
        }
        case FrameType.goaway:
            return { type: 'goaway', retryAfter: r.varint('retry after'), flags: r.byte('flags'), lastSeq: r.varint('last seq') };
    }
    throw new MalformedFrameError(`unknown frame type 0x${t.toString(16).padStart(2, '0')}`);
}
/** Sequential field reader over one frame; starts after the type byte. */
class Reader {
    constructor(buf) {
        this.buf = buf;
        this.pos = 1;
    }
    varint(field) {
        const [v, next] = readVarint(this.buf, this.pos, field);
        this.pos = next;
        return v;
    }
    /** Whether bytes remain (an optional trailing field may follow). */
    more() {
        return this.pos < this.buf.length;
    }
    byte(field) {
        if (this.pos >= this.buf.length)
            throw new MalformedFrameError(`missing ${field}`);
        return this.buf[this.pos++];
    }
    bytes(field) {
        const n = this.varint(`${field} length`);
        if (n > MAX_STRING_LEN)
            throw new MalformedFrameError(`${field} longer than ${MAX_STRING_LEN} bytes`);
        if (this.buf.length - this.pos < n)
            throw new MalformedFrameError(`truncated ${field}`);
        const v = this.buf.slice(this.pos, this.pos + n);
        this.pos += n;
        return v;
    }
}
const reasonNames = [
    'none', 'expired', 'overflow', 'unknown-session', 'server-restarted', 'server-shutdown', 'server-error', 'closed', 'diverged',
];
/** The name of a WELCOME.reason; unknown values read as 'closed' (§8). */
export function lossReasonName(reason) {
    return reasonNames[reason] ?? 'closed';
}
