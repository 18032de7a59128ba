// TetherClient: one session kept across any number of WebSocket connections.
import { defaultEnvironment, watchPage } from './browser.js';
import { fromUtf8, utf8 } from './bytes.js';
import { systemClock } from './clock.js';
import { causeOf, CloseCode, refusalCode, shouldReconnect, truncateReason } from './close-codes.js';
import { Connection } from './connection.js';
import { Dispatcher } from './dispatcher.js';
import { MalformedFrameError, TetherError } from './errors.js';
import { HistoryCalls, historyLimit, MAX_HISTORY_CALLS } from './history.js';
import { resolveOptions } from './options.js';
import { entryMessage, makeEntry, outcomeOf, Receipt, settle } from './outbox.js';
import { Persistence, pickStorage } from './persistence.js';
import { framesDue } from './pump.js';
import { acceptSeq, checkAck } from './seq.js';
import { Retry } from './retry.js';
import { publicPosition, seedPositions } from './rooms.js';
import { SessionState } from './session.js';
import { resolveUrl, withParam } from './url.js';
import { Watchdog } from './watchdog.js';
import { decodeFrame, encodeFrame, FEATURE_ROOMS, GOAWAY_FINAL, MAX_ROOM_LEN, ROOM_LOST_UNKNOWN, RoomEventKind, RoomReason, roomLossReasonName, SUBPROTOCOL, } from './wire.js';
/** The server caps HELLO.window at this (docs/PROTOCOL.md §4.1). */
const MAX_WINDOW = 65536;
/** Processed payload bytes that make an ack urgent: the server bounds its replay buffer in bytes too. */
const ACK_BYTES = 64 << 10;
/** How long to wait for the server to echo a close frame we sent. */
const CLOSE_WAIT = 1000;
/** Heartbeat + timeout to assume if a WELCOME announces none. */
const DEFAULT_LINK_LIMIT = 25000;
/**
 * A Tether client: a session that survives dropped connections.
 *
 * It connects at once and reconnects by itself with exponential backoff
 * and full jitter, resumes the session, and delivers messages exactly once
 * and in order both ways. Messages sent while offline wait in a bounded
 * outbox. When a session cannot be resumed, a `sessionLost` event says
 * exactly what was lost.
 *
 * ```ts
 * const c = new TetherClient('wss://example.com/ws');
 * c.on('message', (m) => console.log(m.seq, m.data));
 * await c.send('hello');
 * ```
 */
export class TetherClient {
    /**
     * Creates the client and starts connecting (in a microtask, so handlers
     * added right after construction see every event). `url` is ws://,
     * wss://, http(s):// (mapped to ws(s)://) or, in a page, a path.
     */
    constructor(url, options = {}) {
        this.session = new SessionState();
        this.state = 'connecting';
        this.phase = 'idle';
        this.closing = false;
        this.pumpScheduled = false;
        /** The server's replay window (WELCOME.window): half of it unacknowledged makes an ack urgent. */
        this.serverWindow = 0;
        this.spaceWaiters = [];
        this.historyCalls = new HistoryCalls();
        /**
         * What storage keeps: the session; after giving up, only the room
         * positions (the messages were handed back: a reload must not send them
         * again); after closing or a refusal, nothing.
         */
        this.stored = 'session';
        this.listener = {
            open: (conn) => this.opened(conn),
            data: (conn, data) => this.received(conn, data),
            close: (conn, code, reason) => this.closedByPeer(conn, code, reason),
        };
        this.url = resolveUrl(url);
        this.o = resolveOptions(options);
        const ctor = options.WebSocket ?? globalThis.WebSocket;
        if (!ctor)
            throw new TypeError('tether: no WebSocket implementation; pass options.WebSocket');
        this.ctor = ctor;
        this.clock = options.clock ?? systemClock;
        this.dispatcher = new Dispatcher((gen, seq, bytes) => this.handled(gen, seq, bytes));
        this.retry = new Retry(this.o, this.clock, options.random ?? Math.random);
        if (options.rooms)
            this.session.rooms.reset(seedPositions(options.rooms));
        const storage = options.storage ?? pickStorage(options.persist);
        if (options.persist && !storage) {
            this.report(new TetherError('storage', `persist: '${options.persist}' asked for, but that storage is not available: the session will not survive a reload`));
        }
        if (options.persist && storage) {
            this.persistence = new Persistence(storage, options.persistKey ?? `tether:${this.url}`, () => (this.stored === 'session' ? this.session.snapshot() : this.stored === 'rooms' ? this.session.roomsOnly() : undefined), (err) => this.report(new TetherError('storage', `session storage: ${describe(err)}`, { cause: err })));
            // A stored session, positions included, is newer than the `rooms` option.
            const snap = this.persistence.load();
            if (snap)
                this.session.restore(snap);
        }
        this.unwatch = watchPage(options.environment === undefined ? defaultEnvironment() : options.environment, {
            online: () => this.onOnline(),
            offline: () => this.onOffline(),
            pageHide: (persisted) => this.onPageHide(persisted),
            pageShow: () => this.onPageShow(),
            beforeUnload: () => this.persistence?.flush(),
        });
        queueMicrotask(() => {
            if (this.phase === 'idle')
                void this.connect();
        });
    }
    /** Where the client is. */
    get status() {
        return this.state;
    }
    /** The current session's ID ('' until the first WELCOME, unless restored). */
    get sessionId() {
        return this.session.id;
    }
    /** Why the client failed, if it did. */
    get error() {
        return this.failure;
    }
    /**
     * How long, in ms, the server keeps this client's session after its
     * connection drops (its grace window, from the last WELCOME): back within
     * it, the session resumes with nothing lost; later, a new session starts
     * (sessionLost). 0 until the first WELCOME of this page's life.
     */
    get graceWindow() {
        return this.session.grace;
    }
    /** How many sent messages the server has not acknowledged yet. */
    get pending() {
        return this.session.outbox.length;
    }
    /**
     * The client's position in each room it is in (docs/PROTOCOL.md §14.4):
     * the last message of the room it received, by room name ('' is the
     * user's own stream). The client presents them whenever it has to start
     * a new session, so that the server readmits it and replays what it
     * missed; pass them to the `rooms` option to carry them further.
     */
    rooms() {
        return this.session.rooms.public();
    }
    /**
     * Reads a room's history from the server: the kept messages with an
     * offset above `since` (default 0), at most `limit` (default 0: the
     * server's, 100; at most 1000). Page on with `since` set to the last
     * offset returned; `first` says where the history starts. The session
     * must be in the room ('' is the user's own stream). A call waits for a
     * connection, and is asked again on the next one if the connection
     * drops first. Rejects with a TetherError: 'no_rooms' (the server does
     * not speak room streams), 'forbidden' (not in the room), 'unavailable'
     * (ask again later), 'busy' (64 calls wait already), 'closed'; or with
     * `signal.reason` when `signal` aborts.
     */
    async history(room, options = {}) {
        if (typeof room !== 'string' || utf8(room).length > MAX_ROOM_LEN) {
            throw new RangeError(`history: a room is a string of at most ${MAX_ROOM_LEN} bytes`);
        }
        const since = options.since ?? 0;
        if (!Number.isSafeInteger(since) || since < 0)
            throw new RangeError(`history: since must be a non-negative integer, not ${since}`);
        const limit = historyLimit(options.limit);
        options.signal?.throwIfAborted();
        if (this.closing || this.isStopped())
            throw closedError();
        if (this.phase === 'connected' && !this.speaksRooms())
            throw noRooms();
        if (this.historyCalls.size >= MAX_HISTORY_CALLS) {
            throw new TetherError('busy', `${MAX_HISTORY_CALLS} history() calls are waiting for their answer already`);
        }
        const answer = this.historyCalls.add(room, since, limit, options.signal);
        this.schedulePump();
        return answer;
    }
    /** Adds an event handler; returns a function that removes it. */
    on(event, handler) {
        return this.dispatcher.on(event, handler);
    }
    /** Removes an event handler. */
    off(event, handler) {
        this.dispatcher.off(event, handler);
    }
    /**
     * Queues a message (a string is sent as TEXT, bytes as BINARY) and
     * resolves once it is queued, not when it is delivered: it will be,
     * exactly once and in order, across reconnects. The Receipt's `acked`
     * tells when the server processed it. Rejects with a TetherError:
     * 'outbox_full' (full while not connected; while connected, send waits
     * for room), 'too_big', 'closed' or 'invalid_message'.
     */
    async send(data) {
        const entry = makeEntry(data);
        if (this.closing || this.isStopped())
            throw closedError();
        if (entry.data.length > this.session.maxSize) {
            throw new TetherError('too_big', `message of ${entry.data.length} bytes exceeds the server's limit of ${this.session.maxSize}`);
        }
        const o = this.session.outbox;
        if (this.spaceWaiters.length === 0 && o.fits(entry.data.length, this.o.maxOutbox, this.o.maxOutboxBytes)) {
            this.enqueue(entry);
            return new Receipt(entry);
        }
        if (this.state !== 'connected')
            throw outboxFull(this.state);
        await new Promise((resolve, reject) => this.spaceWaiters.push({ entry, resolve, reject }));
        return new Receipt(entry);
    }
    /**
     * Resolves once every message queued before the call was acknowledged
     * by the server. Rejects if one cannot be: 'lost' (see sessionLost) or
     * 'closed'.
     */
    async flush() {
        const entries = [...this.session.outbox.all, ...this.spaceWaiters.map((w) => w.entry)];
        for (const e of entries)
            await outcomeOf(e);
    }
    /**
     * Ends the session: waits (at most `timeout` ms, default the
     * closeTimeout option) until the server acknowledged every queued
     * message, then closes with 1000 so the server sees the client leave.
     * The messages still unacknowledged then are handed back in the
     * `closed` event's `unsent`, and close() rejects with 'unacknowledged';
     * with 'closed' if the client was already closed or failed (or failed
     * while waiting: see the `failed` event).
     */
    async close(options = {}) {
        if (this.closing || this.isStopped())
            throw closedError();
        this.closing = true;
        this.wakeSenders();
        const timeout = options.timeout ?? this.o.closeTimeout;
        if (this.session.outbox.length > 0) {
            let timer;
            await Promise.race([
                this.flush().catch(() => { }),
                new Promise((resolve) => (timer = this.clock.setTimeout(resolve, timeout))),
            ]);
            this.clock.clearTimeout(timer);
        }
        const left = this.session.outbox.length;
        if (this.state === 'failed') {
            throw new TetherError('closed', `the client had failed: ${this.failure?.message}`, { cause: this.failure });
        }
        await this.stop();
        if (left > 0)
            throw new TetherError('unacknowledged', `closed with ${left} message(s) unacknowledged`);
    }
    /**
     * Drops the current connection, telling the server to keep the session
     * (close 4000), and reconnects at once. While waiting to reconnect, skips
     * the wait. Like the Go client's ForceReconnect.
     */
    reconnectNow() {
        if (this.closing || this.isStopped())
            return;
        if (this.phase === 'connected' && this.conn) {
            const conn = this.conn;
            const settled = conn.close(CloseCode.detach, 'reconnecting', this.clock, CLOSE_WAIT);
            this.ended(conn, {
                cause: 'client-detached', code: 0, reason: 'reconnectNow', reconnect: true, immediate: true, settled,
                error: new TetherError('connect_failed', 'reconnectNow'),
            });
        }
        else if (this.phase === 'waiting' || this.phase === 'suspended') {
            this.retryNow();
        }
    }
    /**
     * Drops the current connection as a network failure would (close 4000:
     * the session is kept) and reconnects with the usual backoff. For demos
     * and tests of the resume path; reconnectNow() is what applications want.
     */
    dropConnection(reason = 'connection dropped by the application') {
        if (this.phase !== 'connected' || !this.conn)
            return;
        const conn = this.conn;
        conn.close(CloseCode.detach, reason, this.clock, 0);
        this.ended(conn, { cause: 'network-lost', code: 0, reason, reconnect: true, error: new TetherError('connect_failed', reason) });
    }
    // ---- connecting -------------------------------------------------------
    async connect() {
        if (this.isStopped())
            return;
        this.phase = 'connecting';
        const conn = new Connection(this.listener);
        this.conn = conn;
        conn.timer = this.clock.setTimeout(() => this.attemptFailed(conn, new TetherError('connect_failed', `no WELCOME within ${this.o.connectTimeout} ms`)), this.o.connectTimeout);
        let url = this.url;
        if (this.o.token) {
            try {
                const token = await this.o.token();
                url = withParam(url, this.o.tokenParam, token);
            }
            catch (err) {
                this.attemptFailed(conn, new TetherError('connect_failed', `the token function failed: ${describe(err)}`, { cause: err }));
                return;
            }
            if (this.conn !== conn)
                return;
        }
        try {
            conn.open(this.ctor, url, [SUBPROTOCOL, ...this.o.protocols]);
        }
        catch (err) {
            this.attemptFailed(conn, new TetherError('connect_failed', `cannot open a WebSocket to ${this.url}: ${describe(err)}`, { cause: err }), true);
        }
    }
    opened(conn) {
        if (this.conn !== conn)
            return;
        if (conn.protocol !== SUBPROTOCOL) {
            this.attemptFailed(conn, new TetherError('unsupported', `the server did not select the ${SUBPROTOCOL} subprotocol (got ${conn.protocol ? `'${conn.protocol}'` : 'none'})`), true);
            return;
        }
        const hello = this.session.hello(Math.min(this.o.maxOutbox, MAX_WINDOW));
        conn.helloAcked = hello.acked;
        conn.helloLast = hello.last;
        conn.send(encodeFrame(hello));
    }
    /** A connection attempt failed before its WELCOME. */
    attemptFailed(conn, error, terminal = false) {
        if (this.conn !== conn)
            return;
        this.clock.clearTimeout(conn.timer);
        conn.close(CloseCode.detach, error.message, this.clock, 0);
        this.conn = undefined;
        if (this.isStopped())
            return;
        this.lastError = error;
        if (terminal) {
            this.finish('failed', error);
            return;
        }
        this.retry.failed();
        this.scheduleRetry();
    }
    scheduleRetry() {
        const plan = this.retry.schedule(() => void this.connect());
        if ('gaveUp' in plan) {
            this.finish('failed', new TetherError('gave_up', `${plan.gaveUp}: ${this.lastError?.message ?? 'no connection'}`, { cause: this.lastError }));
            return;
        }
        this.phase = 'waiting';
        this.dispatcher.emit('reconnecting', { attempt: plan.attempt, delay: plan.delay, error: this.lastError });
    }
    retryNow() {
        this.retry.cancel();
        void this.connect();
    }
    // ---- a live connection ------------------------------------------------
    welcomed(conn, w) {
        const s = this.session;
        const resumed = SessionState.resumed(w);
        if (resumed && (w.recv < conn.helloAcked || w.recv > conn.helloLast)) {
            this.violation(conn, `resumed WELCOME.recv ${w.recv} outside [${conn.helloAcked}, ${conn.helloLast}]`);
            return;
        }
        this.clock.clearTimeout(conn.timer);
        const lost = resumed ? undefined : s.startNew(w);
        const resumedEv = resumed ? s.resume(w) : undefined;
        conn.sent = resumed ? w.recv : 0;
        conn.gen = s.gen;
        conn.acks.start(s.processed); // the first frame (confirm) acknowledges it
        this.serverWindow = w.window;
        conn.established = true;
        this.phase = 'connected';
        this.retry.connected();
        this.persistence?.save(true);
        if (!this.speaksRooms())
            this.historyCalls.failAll(noRooms());
        this.setStatus('connected');
        if (lost)
            this.dispatcher.emit('sessionLost', lost);
        if (resumedEv)
            this.dispatcher.emit('resumed', resumedEv);
        else
            this.dispatcher.emit('connected', { sessionId: s.id });
        const limit = w.heartbeat + w.timeout > 0 ? w.heartbeat + w.timeout : DEFAULT_LINK_LIMIT;
        this.watchdog?.stop();
        this.watchdog = new Watchdog(this.clock, limit, (silent) => {
            if (this.conn !== conn)
                return;
            const reason = `nothing from the server for ${Math.round(silent)} ms`;
            conn.close(CloseCode.detach, 'heartbeat timeout', this.clock, 0);
            this.ended(conn, { cause: 'heartbeat-timeout', code: 0, reason, reconnect: true, error: new TetherError('connect_failed', reason) });
        });
        this.watchdog.start();
        this.schedulePump();
    }
    received(conn, data) {
        if (this.conn !== conn)
            return;
        if (typeof data === 'string') {
            this.violation(conn, 'text WebSocket frame; Tether frames are binary');
            return;
        }
        if (!(data instanceof ArrayBuffer) && !ArrayBuffer.isView(data)) {
            this.violation(conn, 'unexpected WebSocket message data');
            return;
        }
        const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
        let f;
        try {
            f = decodeFrame(bytes);
        }
        catch (err) {
            this.violation(conn, err instanceof MalformedFrameError ? `malformed frame: ${err.message}` : describe(err));
            return;
        }
        if (!conn.established) {
            if (f.type !== 'welcome') {
                this.violation(conn, `expected welcome, got ${f.type}`);
                return;
            }
            this.welcomed(conn, f);
            return;
        }
        this.watchdog?.touch();
        this.onFrame(conn, f);
    }
    onFrame(conn, f) {
        const s = this.session;
        switch (f.type) {
            case 'binary':
            case 'text': {
                if (!this.acceptSeq(conn, f.seq))
                    return;
                const text = this.textOf(conn, f.type === 'text', f.seq, f.payload);
                if (text === null)
                    return;
                s.recv = f.seq;
                this.persistence?.save(false);
                this.dispatcher.message(text !== undefined
                    ? { type: 'text', data: text, seq: f.seq }
                    : { type: 'binary', data: f.payload, seq: f.seq }, s.gen, f.payload.length);
                return;
            }
            case 'room-binary':
            case 'room-text':
                return this.onRoomMessage(conn, f);
            case 'room-event':
                return this.onRoomEvent(conn, f);
            case 'history-result':
                this.historyCalls.answer(f);
                return;
            case 'ack':
            case 'ping': {
                const bad = checkAck(f.seq, conn.sent);
                if (bad !== undefined)
                    return this.violation(conn, bad);
                if (s.ackUpTo(f.seq))
                    this.acked();
                if (f.type === 'ping') {
                    conn.pongDue = true;
                    this.schedulePump();
                }
                return;
            }
            case 'goaway':
                if (f.flags & GOAWAY_FINAL) {
                    s.finalOut = f.lastSeq;
                    this.persistence?.save(false);
                }
                else {
                    this.retry.hint = f.retryAfter;
                    conn.stopSending = true;
                    conn.replyDue = true;
                    this.schedulePump();
                }
                return;
            default:
                return this.violation(conn, `unexpected ${f.type} frame from the server`);
        }
    }
    /**
     * Applies §6.2 to a numbered frame: true if it is the next one (the
     * caller then sets recv); false for a repeat, dropped, or a violation,
     * reported.
     */
    acceptSeq(conn, seq) {
        const a = acceptSeq(this.session.recv, seq);
        if (a === 'next')
            return true;
        if (a !== 'repeat')
            this.violation(conn, a); // a repeat after a resume is dropped
        return false;
    }
    /** A message's text (undefined for binary), or null after reporting invalid UTF-8. */
    textOf(conn, isText, seq, payload) {
        if (!isText)
            return undefined;
        const text = fromUtf8(payload);
        if (text !== undefined)
            return text;
        this.violation(conn, `text message ${seq} is not UTF-8`);
        return null;
    }
    /**
     * A room's message (§14.4 rule 2): delivered with its room and offset,
     * unless it is at or below the room's position, i.e. it reached the
     * client already, in a session that was lost: then it only counts as
     * processed.
     */
    onRoomMessage(conn, f) {
        const s = this.session;
        if (!this.acceptSeq(conn, f.seq))
            return;
        if (f.offset === 0)
            return this.violation(conn, `room message ${f.seq} at offset 0`);
        const text = this.textOf(conn, f.type === 'room-text', f.seq, f.payload);
        if (text === null)
            return;
        s.recv = f.seq;
        this.persistence?.save(false);
        const pos = s.rooms.accept(f.room, f.offset);
        if (!pos) {
            this.dispatcher.numbered(f.seq, s.gen);
            return;
        }
        const { room, offset } = f;
        this.dispatcher.message(text !== undefined
            ? { type: 'text', data: text, seq: f.seq, room, offset }
            : { type: 'binary', data: f.payload, seq: f.seq, room, offset }, s.gen, f.payload.length, () => s.rooms.commit(room, pos));
    }
    /**
     * A room event (§14.3, §14.4 rules 1 and 3): numbered like a message,
     * reported as an event. Unknown kinds only count as processed.
     */
    onRoomEvent(conn, f) {
        const s = this.session;
        if (!this.acceptSeq(conn, f.seq))
            return;
        s.recv = f.seq;
        this.persistence?.save(false);
        const room = f.room;
        switch (f.kind) {
            case RoomEventKind.joined: {
                const pos = { epoch: f.epoch, offset: f.offset };
                const prev = s.rooms.set(room, pos);
                this.numbered(f.seq, 'roomJoined', {
                    room,
                    epoch: publicPosition(pos).epoch,
                    offset: f.offset,
                    previous: prev && publicPosition(prev),
                    recovered: f.recovered,
                    skipped: f.skipped,
                    lost: f.flags & ROOM_LOST_UNKNOWN ? -1 : f.lost,
                    reason: roomLossReasonName(f.reason),
                    reasonCode: f.reason,
                }, () => s.rooms.commit(room, pos));
                return;
            }
            case RoomEventKind.left: {
                const prev = s.rooms.delete(room);
                this.numbered(f.seq, 'roomLeft', {
                    room,
                    reason: f.reason === RoomReason.notReadmitted ? 'not-readmitted' : 'left',
                    previous: prev && publicPosition(prev),
                }, () => s.rooms.commit(room, undefined));
                return;
            }
            case RoomEventKind.presenceJoin:
            case RoomEventKind.presenceLeave:
                this.numbered(f.seq, 'presence', { room, user: f.user, session: f.session, joined: f.kind === RoomEventKind.presenceJoin });
                return;
            default:
                this.dispatcher.numbered(f.seq, s.gen);
        }
    }
    numbered(seq, name, payload, after) {
        this.dispatcher.numbered(seq, this.session.gen, { name, payload }, after);
    }
    /** Whether the server uses room streams on this session. */
    speaksRooms() {
        return (this.session.features & FEATURE_ROOMS) !== 0;
    }
    /** The server broke the protocol: report it, detach (4000 with the reason) and reconnect. */
    violation(conn, msg) {
        const error = new TetherError('protocol_violation', `server broke the protocol: ${msg}`);
        this.dispatcher.emit('error', { error });
        if (!conn.established) {
            this.attemptFailed(conn, error);
            return;
        }
        conn.close(CloseCode.detach, truncateReason(error.message, 120), this.clock, 0);
        this.ended(conn, { cause: 'protocol-violation', code: 0, reason: error.message, reconnect: true, error });
    }
    closedByPeer(conn, code, reason) {
        if (this.conn !== conn)
            return;
        const closeErr = new TetherError(shouldReconnect(code) ? 'connect_failed' : refusalCode(code), `closed with ${code}${reason ? `: ${reason}` : ''}`, { closeCode: code });
        if (!conn.established) {
            this.attemptFailed(conn, closeErr, !shouldReconnect(code));
            return;
        }
        this.ended(conn, { cause: causeOf(code), code, reason, reconnect: shouldReconnect(code), error: closeErr });
    }
    /** A live connection ended: report it, then reconnect or stop. */
    ended(conn, e) {
        if (this.conn !== conn)
            return;
        this.conn = undefined;
        this.clock.clearTimeout(conn.ackTimer);
        this.watchdog?.stop();
        this.watchdog = undefined;
        this.dispatcher.emit('disconnected', { cause: e.cause, code: e.code, reason: e.reason });
        if (!e.reconnect) {
            this.finish('failed', new TetherError(refusalCode(e.code), `the server ended the session: ${e.error.message}`, { closeCode: e.code, cause: e.error }));
            return;
        }
        this.lastError = e.error;
        this.retry.lost();
        this.setStatus('reconnecting');
        if (e.immediate) {
            this.phase = 'waiting';
            void (e.settled ?? Promise.resolve()).then(() => {
                if (this.phase === 'waiting' && !this.retry.pending)
                    void this.connect();
            });
            return;
        }
        this.scheduleRetry();
    }
    // ---- sending ------------------------------------------------------------
    enqueue(e) {
        this.session.enqueue(e);
        this.persistence?.save(true);
        this.schedulePump();
    }
    schedulePump() {
        if (this.pumpScheduled)
            return;
        this.pumpScheduled = true;
        queueMicrotask(() => {
            this.pumpScheduled = false;
            this.pump();
        });
    }
    /** Writes what is due on the live connection. */
    pump() {
        const conn = this.conn;
        if (!conn || !conn.established || this.phase !== 'connected')
            return;
        // History requests go after the frames that confirm the WELCOME;
        // not after a GOAWAY: they go on the next connection. A pending ack
        // rides on them.
        const history = this.speaksRooms() && !conn.stopSending ? this.historyCalls.due(conn) : [];
        const { frames, wrote } = framesDue(conn, this.session, Math.min(this.o.maxOutbox, MAX_WINDOW), history.length > 0);
        for (const f of frames)
            conn.send(f);
        if (wrote)
            this.persistence?.save(false);
        for (const f of history)
            conn.send(encodeFrame(f));
    }
    /**
     * Messages' handlers returned up to seq, `bytes` payload bytes of them:
     * ack them by the rules of acks.ts (a new connection acks at once what
     * was processed while none was up).
     */
    handled(gen, seq, bytes) {
        const s = this.session;
        if (gen !== s.gen || seq <= s.processed)
            return;
        s.processed = seq;
        this.persistence?.save(false);
        const conn = this.conn;
        if (!conn || !conn.established || conn.gen !== gen)
            return;
        const p = { delay: this.o.ackDelay, window: this.serverWindow, bytes: ACK_BYTES };
        switch (conn.acks.processed(p, seq, bytes)) {
            case 'write':
                this.schedulePump();
                break;
            case 'arm':
                this.clock.clearTimeout(conn.ackTimer);
                conn.ackTimer = this.clock.setTimeout(() => {
                    if (conn.acks.due())
                        this.schedulePump();
                }, p.delay);
                break;
        }
    }
    /** The server acknowledged more messages. */
    acked() {
        this.persistence?.save(true);
        this.wakeSenders();
    }
    /** Lets send() calls waiting for outbox room in, in order, or fails them. */
    wakeSenders() {
        const w = this.spaceWaiters;
        const o = this.session.outbox;
        while (w.length > 0) {
            if (this.closing || this.isStopped()) {
                for (const x of w.splice(0))
                    refuse(x, closedError());
                return;
            }
            const next = w[0];
            if (o.fits(next.entry.data.length, this.o.maxOutbox, this.o.maxOutboxBytes)) {
                w.shift();
                this.enqueue(next.entry);
                next.resolve();
                continue;
            }
            if (this.state !== 'connected') {
                for (const x of w.splice(0))
                    refuse(x, outboxFull(this.state));
            }
            return;
        }
    }
    // ---- status and the end -------------------------------------------------
    setStatus(s) {
        if (this.state === s)
            return;
        const previous = this.state;
        this.state = s;
        this.dispatcher.emit('status', { status: s, previous });
        this.wakeSenders();
    }
    isStopped() {
        return this.state === 'closed' || this.state === 'failed';
    }
    /** Closes the connection with 1000 (the session ends) and finishes. */
    async stop() {
        const conn = this.conn;
        this.conn = undefined;
        this.phase = 'stopped';
        if (conn?.established) {
            const settled = conn.close(CloseCode.normal, 'client closed', this.clock, CLOSE_WAIT);
            this.watchdog?.stop();
            this.dispatcher.emit('disconnected', { cause: 'client-closed', code: 0, reason: 'client closed' });
            await settled;
        }
        else if (conn) {
            this.clock.clearTimeout(conn.timer);
            conn.close(CloseCode.normal, 'client closed', this.clock, 0);
        }
        this.finish('closed');
    }
    /**
     * Stops for good and hands back every message the server did not
     * acknowledge, in order (never written, or of unknown fate), in the
     * last event: the client keeps none of them, not even in storage.
     */
    finish(status, error) {
        if (this.isStopped())
            return;
        this.phase = 'stopped';
        this.retry.cancel();
        this.watchdog?.stop();
        if (this.conn) {
            this.clock.clearTimeout(this.conn.timer);
            this.conn.close(CloseCode.detach, error?.message ?? 'client closed', this.clock, 0);
            this.conn = undefined;
        }
        this.failure = error;
        this.unwatch();
        const err = error ?? closedError();
        const unsent = this.session.outbox.all.map(entryMessage);
        this.session.outbox.failAll(err);
        this.historyCalls.failAll(err);
        for (const x of this.spaceWaiters.splice(0))
            refuse(x, err);
        // Giving up keeps the room positions, so that a reload recovers the
        // rooms (as a new session: the messages were handed back); anything
        // else forgets the session.
        if (error?.code === 'gave_up') {
            this.stored = 'rooms';
            this.persistence?.save(true);
            this.persistence?.flush();
        }
        else {
            this.stored = 'nothing';
            this.persistence?.clear();
        }
        this.setStatus(status);
        if (status === 'failed')
            this.dispatcher.emit('failed', { error: error, unsent });
        else
            this.dispatcher.emit('closed', { unsent });
    }
    report(error) {
        this.dispatcher.emit('error', { error });
    }
    // ---- browser signals ----------------------------------------------------
    onOnline() {
        if (this.phase === 'waiting' && !this.closing)
            this.retryNow();
    }
    onOffline() {
        const conn = this.conn;
        if (!conn || this.isStopped())
            return;
        const reason = 'the browser went offline';
        if (!conn.established) {
            this.attemptFailed(conn, new TetherError('connect_failed', reason));
            return;
        }
        conn.close(CloseCode.detach, reason, this.clock, 0);
        this.ended(conn, { cause: 'network-lost', code: 0, reason, reconnect: true, error: new TetherError('connect_failed', reason) });
    }
    /**
     * The page is going away. Without persistence, end the session (1000):
     * the server sees a deliberate leave. With persistence, or into the
     * back/forward cache, detach (4000) so the session survives.
     */
    onPageHide(persisted) {
        if (this.isStopped())
            return;
        this.persistence?.flush();
        const keep = persisted || this.persistence !== undefined;
        const conn = this.conn;
        this.conn = undefined;
        this.watchdog?.stop();
        this.retry.cancel();
        if (conn) {
            this.clock.clearTimeout(conn.timer);
            conn.close(keep ? CloseCode.detach : CloseCode.normal, 'page unload', this.clock, 0);
        }
        if (!keep) {
            this.finish('closed');
            return;
        }
        this.phase = 'suspended';
        if (conn?.established)
            this.dispatcher.emit('disconnected', { cause: 'client-detached', code: 0, reason: 'page hidden' });
        this.setStatus('reconnecting');
    }
    onPageShow() {
        if (this.phase === 'suspended')
            void this.connect();
    }
}
/** Fails a send() that was waiting for room, and its entry's outcome. */
function refuse(w, err) {
    settle(w.entry, err);
    w.reject(err);
}
function noRooms() {
    return new TetherError('no_rooms', 'the server does not speak room streams (WELCOME.features lacks rooms)');
}
function closedError() {
    return new TetherError('closed', 'the client is closed');
}
function outboxFull(status) {
    return new TetherError('outbox_full', `the outbox is full and the client is ${status}`);
}
function describe(err) {
    return err instanceof Error ? err.message : String(err);
}
