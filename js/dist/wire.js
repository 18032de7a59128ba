// Tether's wire format (docs/PROTOCOL.md §3–4), mirroring internal/wire:
// the frames carried one per WebSocket binary message.
import { fromUtf8Loose, utf8 } from './bytes.js';
import { MalformedFrameError } from './errors.js';
import { pushVarint, readVarint } from './varint.js';
/** The only WebSocket subprotocol this version speaks. */
export const SUBPROTOCOL = 'tether.v1';
/** Session IDs, tokens and epochs are at most this many bytes. */
export const MAX_STRING_LEN = 64;
/** Room names are at most this many bytes ('' is the user's own stream). */
export const MAX_ROOM_LEN = 128;
/** At most this many room positions in a HELLO. */
export const MAX_ROOMS = 1024;
/** User IDs in presence events are at most this many bytes. */
export const MAX_USER_LEN = 256;
/** At most this many messages in one HISTORY_RESULT. */
export const MAX_HISTORY = 1000;
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
    'room-binary': 0x09,
    'room-text': 0x0a,
    'room-event': 0x0b,
    history: 0x0c,
    'history-result': 0x0d,
};
/** Feature bits of HELLO.features and WELCOME.features (§3.4). */
export const FEATURE_ROOMS = 1 << 0;
/** ROOM_EVENT kinds (§14.3). */
export const RoomEventKind = {
    joined: 1,
    left: 2,
    presenceJoin: 3,
    presenceLeave: 4,
};
/** ROOM_EVENT reasons (§14.3). */
export const RoomReason = {
    none: 0,
    historyTrimmed: 1,
    epochChanged: 2,
    diverged: 3,
    notReadmitted: 4,
};
/** ROOM_EVENT flag bit: the number of messages lost is unknown. */
export const ROOM_LOST_UNKNOWN = 1 << 0;
/** HISTORY_RESULT statuses (§14.6). */
export const HistoryStatus = {
    ok: 0,
    forbidden: 1,
    unavailable: 2,
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
            if ((f.features ?? 0) === 0 && (f.rooms?.length ?? 0) === 0)
                break;
            pushVarint(out, f.features ?? 0);
            pushVarint(out, f.rooms?.length ?? 0);
            if ((f.rooms?.length ?? 0) > MAX_ROOMS)
                throw new RangeError(`more than ${MAX_ROOMS} room positions`);
            for (const p of f.rooms ?? []) {
                pushString(out, p.room, MAX_ROOM_LEN);
                pushBytes(out, p.epoch);
                pushVarint(out, p.offset);
            }
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
            // Optional trailing fields: each requires the ones before it.
            if ((f.features ?? 0) !== 0 || (f.prevRooms ?? 0) !== 0)
                pushVarint(out, f.features ?? 0);
            if ((f.prevRooms ?? 0) !== 0)
                pushVarint(out, f.prevRooms ?? 0);
            break;
        case 'binary':
        case 'text':
            pushVarint(out, f.seq);
            return withPayload(out, f.payload);
        case 'room-binary':
        case 'room-text':
            pushVarint(out, f.seq);
            pushString(out, f.room, MAX_ROOM_LEN);
            pushVarint(out, f.offset);
            return withPayload(out, f.payload);
        case 'room-event':
            pushVarint(out, f.seq);
            out.push(f.kind & 0xff);
            pushString(out, f.room, MAX_ROOM_LEN);
            pushBytes(out, f.epoch);
            pushVarint(out, f.offset);
            out.push(f.reason & 0xff, f.flags & 0xff);
            pushVarint(out, f.lost);
            pushVarint(out, f.skipped);
            pushVarint(out, f.recovered);
            pushString(out, f.user, MAX_USER_LEN);
            pushString(out, f.session, MAX_STRING_LEN);
            break;
        case 'history':
            pushVarint(out, f.id);
            pushString(out, f.room, MAX_ROOM_LEN);
            pushVarint(out, f.since);
            pushVarint(out, f.limit);
            break;
        case 'history-result':
            pushVarint(out, f.id);
            out.push(f.status & 0xff);
            pushBytes(out, f.epoch);
            pushVarint(out, f.first);
            pushVarint(out, f.last);
            if (f.messages.length > MAX_HISTORY)
                throw new RangeError(`more than ${MAX_HISTORY} history messages`);
            pushVarint(out, f.messages.length);
            for (const m of f.messages) {
                pushVarint(out, m.offset);
                out.push(m.text ? 1 : 0);
                pushBytes(out, m.payload, Infinity);
            }
            break;
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
function pushBytes(out, v, max = MAX_STRING_LEN) {
    if (v.length > max)
        throw new RangeError(`string longer than ${max} bytes`);
    pushVarint(out, v.length);
    for (const b of v)
        out.push(b);
}
function pushString(out, s, max) {
    pushBytes(out, utf8(s), max);
}
/** The header in `out` followed by the payload, as one buffer. */
function withPayload(out, payload) {
    const b = new Uint8Array(out.length + payload.length);
    b.set(out);
    b.set(payload, out.length);
    return b;
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
            if (r.more()) {
                h.features = r.varint('features');
                h.rooms = r.positions();
            }
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
            if (r.more())
                w.features = r.varint('features');
            if (r.more())
                w.prevRooms = r.varint('prev rooms');
            if (w.sessionId.length === 0)
                throw new MalformedFrameError('welcome: empty session id');
            return w;
        }
        case FrameType.goaway:
            return { type: 'goaway', retryAfter: r.varint('retry after'), flags: r.byte('flags'), lastSeq: r.varint('last seq') };
        case FrameType['room-binary']:
        case FrameType['room-text']: {
            const seq = r.varint('seq');
            const room = r.string('room', MAX_ROOM_LEN);
            const offset = r.varint('offset');
            return { type: t === FrameType['room-text'] ? 'room-text' : 'room-binary', seq, room, offset, payload: buf.slice(r.pos) };
        }
        case FrameType['room-event']:
            return {
                type: 'room-event',
                seq: r.varint('seq'),
                kind: r.byte('kind'),
                room: r.string('room', MAX_ROOM_LEN),
                epoch: r.bytes('epoch'),
                offset: r.varint('offset'),
                reason: r.byte('reason'),
                flags: r.byte('flags'),
                lost: r.varint('lost'),
                skipped: r.varint('skipped'),
                recovered: r.varint('recovered'),
                user: r.string('user', MAX_USER_LEN),
                session: r.string('session', MAX_STRING_LEN),
            };
        case FrameType.history:
            return { type: 'history', id: r.varint('id'), room: r.string('room', MAX_ROOM_LEN), since: r.varint('since'), limit: r.varint('limit') };
        case FrameType['history-result']:
            return r.historyResult();
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
    bytes(field, max = MAX_STRING_LEN) {
        const n = this.varint(`${field} length`);
        if (n > max)
            throw new MalformedFrameError(`${field} longer than ${max} bytes`);
        if (this.buf.length - this.pos < n)
            throw new MalformedFrameError(`truncated ${field}`);
        const v = this.buf.slice(this.pos, this.pos + n);
        this.pos += n;
        return v;
    }
    /** A length-prefixed UTF-8 string (room names, users, session IDs in room events). */
    string(field, max) {
        return fromUtf8Loose(this.bytes(field, max));
    }
    /** Bytes left in the frame. */
    left() {
        return this.buf.length - this.pos;
    }
    /** HELLO field 11: the room positions. */
    positions() {
        const n = this.varint('room count');
        // Each position takes at least 3 bytes: check before allocating.
        if (n > MAX_ROOMS || n > Math.floor(this.left() / 3)) {
            throw new MalformedFrameError(`${n} room positions (at most ${MAX_ROOMS})`);
        }
        const ps = [];
        for (let i = 0; i < n; i++) {
            ps.push({ room: this.string('room', MAX_ROOM_LEN), epoch: this.bytes('room epoch'), offset: this.varint('room offset') });
        }
        return ps;
    }
    historyResult() {
        const res = {
            type: 'history-result',
            id: this.varint('id'),
            status: this.byte('status'),
            epoch: this.bytes('epoch'),
            first: this.varint('first'),
            last: this.varint('last'),
            messages: [],
        };
        const n = this.varint('count');
        // Each message takes at least 3 bytes: check before allocating.
        if (n > MAX_HISTORY || n > Math.floor(this.left() / 3)) {
            throw new MalformedFrameError(`${n} history messages (at most ${MAX_HISTORY})`);
        }
        for (let i = 0; i < n; i++) {
            const offset = this.varint('offset');
            const t = this.byte('message type');
            if (t > 1)
                throw new MalformedFrameError(`history message type ${t}`);
            res.messages.push({ offset, text: t === 1, payload: this.bytes('payload', Infinity) });
        }
        return res;
    }
}
const reasonNames = [
    'none', 'expired', 'overflow', 'unknown-session', 'server-restarted', 'server-shutdown', 'server-error', 'closed', 'diverged',
];
/** The name of a WELCOME.reason; unknown values read as 'closed' (§8). */
export function lossReasonName(reason) {
    return reasonNames[reason] ?? 'closed';
}
const roomReasonNames = ['none', 'history-trimmed', 'epoch-changed', 'diverged', 'not-readmitted'];
/** The name of a ROOM_EVENT reason, or undefined for a value this version does not know. */
export function roomReasonName(reason) {
    return roomReasonNames[reason];
}
/** The name of a joined event's reason. */
export function roomLossReasonName(reason) {
    const name = reason === RoomReason.notReadmitted ? undefined : roomReasonName(reason);
    return name ?? 'other';
}
