// The client's side of a session: identity, counters and outbox
// (docs/PROTOCOL.md §7.1), and what a WELCOME does to them (§7.4, §8).
import { fromUtf8Loose } from './bytes.js';
import { TetherError } from './errors.js';
import { computeLoss } from './loss.js';
import { entryMessage, Outbox, settle } from './outbox.js';
import { RoomPositions } from './rooms.js';
import { FEATURE_ROOMS, lossReasonName, WELCOME_RESUMED } from './wire.js';
/** The default size limit until a WELCOME announces the server's. */
export const DEFAULT_MAX_SIZE = 64 * 1024;
const empty = new Uint8Array(0);
/** Session state that outlives connections. */
export class SessionState {
    constructor() {
        /** Opaque, kept byte for byte; empty before the first WELCOME. */
        this.sessionId = empty;
        this.token = empty;
        this.epoch = empty;
        /** Highest server seq accepted. */
        this.recv = 0;
        /** Highest server seq whose handlers returned: the value the client acks. */
        this.processed = 0;
        /** Highest client seq the server acknowledged. */
        this.acked = 0;
        /** Highest client seq ever written to a connection of this session. */
        this.written = 0;
        /** Highest client seq assigned. */
        this.last = 0;
        /** Largest payload the server accepts. */
        this.maxSize = DEFAULT_MAX_SIZE;
        /** Bumped for every new session, so late handler returns of an old one are ignored. */
        this.gen = 0;
        /** Messages with acked < seq ≤ last. */
        this.outbox = new Outbox();
        /** Features the server uses on this session (WELCOME.features); 0 before the first WELCOME. */
        this.features = 0;
        /** ms the server keeps the session after its connection drops (WELCOME.grace); 0 before the first WELCOME. */
        this.grace = 0;
        /** The client's position in each room: kept across connections and sessions. */
        this.rooms = new RoomPositions();
        /** Stamp of the last connection attempt. */
        this.attempt = 0;
    }
    /** The session ID as text ('' before the first WELCOME). */
    get id() {
        return fromUtf8Loose(this.sessionId);
    }
    /** The HELLO for the next connection; each is stamped later than the
     * last, so that a server refuses an abandoned attempt arriving late. */
    hello(window) {
        this.attempt = Math.max(this.attempt + 1, Date.now());
        return {
            type: 'hello',
            sessionId: this.sessionId,
            token: this.token,
            epoch: this.epoch,
            recv: this.recv,
            acked: this.acked,
            written: this.written,
            last: this.last,
            window,
            attempt: this.attempt,
            // Always offered; the positions matter when the HELLO starts a new session.
            features: FEATURE_ROOMS,
            rooms: this.rooms.hello(),
        };
    }
    /** Queues a message, assigning the next seq. */
    enqueue(e) {
        e.seq = ++this.last;
        this.outbox.push(e);
    }
    /** Processes a cumulative ack; returns whether it advanced. */
    ackUpTo(seq) {
        if (seq <= this.acked)
            return false;
        this.acked = seq;
        this.outbox.ackUpTo(seq);
        return true;
    }
    /** Applies the limits and token of any WELCOME. */
    adoptCommon(w) {
        if (w.maxSize > 0)
            this.maxSize = w.maxSize;
        this.token = w.token;
        this.epoch = w.epoch;
        this.finalOut = undefined;
        this.features = w.features ?? 0;
        this.grace = w.grace;
    }
    /** Applies a WELCOME that resumed the session (§7.4). */
    resume(w) {
        this.adoptCommon(w);
        this.ackUpTo(w.recv);
        return { sessionId: this.id, toClient: w.replay, fromClient: this.last - w.recv };
    }
    /**
     * Applies a WELCOME that started a new session (§8): computes what the
     * old one lost, keeps the carried messages renumbered from 1, and resets
     * the counters. Returns the loss report when a session was lost.
     */
    startNew(w) {
        let lost;
        if (this.sessionId.length > 0) {
            const r = computeLoss(w, { recv: this.recv, acked: this.acked, written: this.written, finalOut: this.finalOut, outbox: this.outbox.all });
            const error = new TetherError('lost', `session ${this.id} was lost (${lossReasonName(w.reason)}): the message's fate is unknown`);
            lost = {
                sessionId: this.id,
                reason: lossReasonName(w.reason),
                reasonCode: w.reason,
                toClient: r.toClient,
                inRooms: r.inRooms,
                fromClient: r.unsent.length,
                carried: r.carried.length,
                unsent: r.unsent.map(entryMessage),
            };
            for (const e of r.done)
                settle(e, 'acked');
            for (const e of r.unsent)
                settle(e, error);
            this.outbox.replace(r.carried);
        }
        this.adoptCommon(w);
        this.gen++;
        this.sessionId = w.sessionId;
        this.recv = this.processed = this.acked = this.written = 0;
        this.outbox.all.forEach((e, i) => (e.seq = i + 1));
        this.last = this.outbox.length;
        return lost;
    }
    /** Whether a WELCOME resumed the session. */
    static resumed(w) {
        return (w.flags & WELCOME_RESUMED) !== 0;
    }
    /** What persistence keeps. */
    snapshot() {
        return {
            sessionId: this.sessionId,
            token: this.token,
            epoch: this.epoch,
            recv: this.recv,
            processed: this.processed,
            acked: this.acked,
            written: this.written,
            last: this.last,
            maxSize: this.maxSize,
            finalOut: this.finalOut,
            outbox: this.outbox.all,
            rooms: this.rooms.snapshot(),
        };
    }
    /** What persistence keeps once the client gave up: no session, only the room positions. */
    roomsOnly() {
        return {
            sessionId: empty, token: empty, epoch: empty,
            recv: 0, processed: 0, acked: 0, written: 0, last: 0,
            maxSize: this.maxSize, finalOut: undefined, outbox: [],
            rooms: this.rooms.snapshot(),
        };
    }
    /**
     * Restores a persisted session. Messages accepted but not processed
     * before the page went away are asked for again (recv = processed).
     */
    restore(s) {
        this.sessionId = s.sessionId;
        this.token = s.token;
        this.epoch = s.epoch;
        this.recv = this.processed = s.processed;
        this.acked = s.acked;
        this.written = s.written;
        this.last = s.last;
        this.maxSize = s.maxSize || DEFAULT_MAX_SIZE;
        this.finalOut = s.finalOut;
        this.outbox.replace(s.outbox);
        this.rooms.reset(s.rooms);
    }
}
