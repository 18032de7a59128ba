import { TetherError } from './errors.js';
import type { Handler, RoomHistory, RoomPosition, Status, TetherEventName } from './events.js';
import { type TetherClientOptions } from './options.js';
import { Receipt } from './outbox.js';
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
export declare class TetherClient {
    private readonly url;
    private readonly o;
    private readonly ctor;
    private readonly clock;
    private readonly dispatcher;
    private readonly session;
    private readonly persistence;
    private readonly unwatch;
    private state;
    private phase;
    private failure;
    private conn;
    private watchdog;
    private readonly retry;
    private lastError;
    private closing;
    private pumpScheduled;
    /** The server's replay window (WELCOME.window): half of it unacknowledged makes an ack urgent. */
    private serverWindow;
    private readonly spaceWaiters;
    private readonly historyCalls;
    /**
     * What storage keeps: the session; after giving up, only the room
     * positions (the messages were handed back: a reload must not send them
     * again); after closing or a refusal, nothing.
     */
    private stored;
    /**
     * Creates the client and starts connecting (in a microtask, so handlers
     * added right after construction see every event). `url` is ws://,
     * wss://, http(s):// (mapped to ws(s)://) or, in a page, a path.
     */
    constructor(url: string, options?: TetherClientOptions);
    /** Where the client is. */
    get status(): Status;
    /** The current session's ID ('' until the first WELCOME, unless restored). */
    get sessionId(): string;
    /** Why the client failed, if it did. */
    get error(): TetherError | undefined;
    /**
     * How long, in ms, the server keeps this client's session after its
     * connection drops (its grace window, from the last WELCOME): back within
     * it, the session resumes with nothing lost; later, a new session starts
     * (sessionLost). 0 until the first WELCOME of this page's life.
     */
    get graceWindow(): number;
    /** How many sent messages the server has not acknowledged yet. */
    get pending(): number;
    /**
     * The client's position in each room it is in (docs/PROTOCOL.md §14.4):
     * the last message of the room it received, by room name ('' is the
     * user's own stream). The client presents them whenever it has to start
     * a new session, so that the server readmits it and replays what it
     * missed; pass them to the `rooms` option to carry them further.
     */
    rooms(): Record<string, RoomPosition>;
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
    history(room: string, options?: {
        since?: number;
        limit?: number;
        signal?: AbortSignal;
    }): Promise<RoomHistory>;
    /** Adds an event handler; returns a function that removes it. */
    on<K extends TetherEventName>(event: K, handler: Handler<K>): () => void;
    /** Removes an event handler. */
    off<K extends TetherEventName>(event: K, handler: Handler<K>): void;
    /**
     * Queues a message (a string is sent as TEXT, bytes as BINARY) and
     * resolves once it is queued, not when it is delivered: it will be,
     * exactly once and in order, across reconnects. The Receipt's `acked`
     * tells when the server processed it. Rejects with a TetherError:
     * 'outbox_full' (full while not connected; while connected, send waits
     * for room), 'too_big', 'closed' or 'invalid_message'.
     */
    send(data: string | ArrayBuffer | ArrayBufferView): Promise<Receipt>;
    /**
     * Resolves once every message queued before the call was acknowledged
     * by the server. Rejects if one cannot be: 'lost' (see sessionLost) or
     * 'closed'.
     */
    flush(): Promise<void>;
    /**
     * Ends the session: waits (at most `timeout` ms, default the
     * closeTimeout option) until the server acknowledged every queued
     * message, then closes with 1000 so the server sees the client leave.
     * The messages still unacknowledged then are handed back in the
     * `closed` event's `unsent`, and close() rejects with 'unacknowledged';
     * with 'closed' if the client was already closed or failed (or failed
     * while waiting: see the `failed` event).
     */
    close(options?: {
        timeout?: number;
    }): Promise<void>;
    /**
     * Drops the current connection, telling the server to keep the session
     * (close 4000), and reconnects at once. While waiting to reconnect, skips
     * the wait. Like the Go client's ForceReconnect.
     */
    reconnectNow(): void;
    /**
     * Drops the current connection as a network failure would (close 4000:
     * the session is kept) and reconnects with the usual backoff. For demos
     * and tests of the resume path; reconnectNow() is what applications want.
     */
    dropConnection(reason?: string): void;
    private connect;
    private readonly listener;
    private opened;
    /** A connection attempt failed before its WELCOME. */
    private attemptFailed;
    private scheduleRetry;
    private retryNow;
    private welcomed;
    private received;
    private onFrame;
    /**
     * Applies §6.2 to a numbered frame: true if it is the next one (the
     * caller then sets recv); false for a repeat, dropped, or a violation,
     * reported.
     */
    private acceptSeq;
    /** A message's text (undefined for binary), or null after reporting invalid UTF-8. */
    private textOf;
    /**
     * A room's message (§14.4 rule 2): delivered with its room and offset,
     * unless it is at or below the room's position, i.e. it reached the
     * client already, in a session that was lost: then it only counts as
     * processed.
     */
    private onRoomMessage;
    /**
     * A room event (§14.3, §14.4 rules 1 and 3): numbered like a message,
     * reported as an event. Unknown kinds only count as processed.
     */
    private onRoomEvent;
    private numbered;
    /** Whether the server uses room streams on this session. */
    private speaksRooms;
    /** The server broke the protocol: report it, detach (4000 with the reason) and reconnect. */
    private violation;
    private closedByPeer;
    /** A live connection ended: report it, then reconnect or stop. */
    private ended;
    private enqueue;
    private schedulePump;
    /** Writes what is due on the live connection. */
    private pump;
    /**
     * Messages' handlers returned up to seq, `bytes` payload bytes of them:
     * ack them by the rules of acks.ts (a new connection acks at once what
     * was processed while none was up).
     */
    private handled;
    /** The server acknowledged more messages. */
    private acked;
    /** Lets send() calls waiting for outbox room in, in order, or fails them. */
    private wakeSenders;
    private setStatus;
    private isStopped;
    /** Closes the connection with 1000 (the session ends) and finishes. */
    private stop;
    /**
     * Stops for good and hands back every message the server did not
     * acknowledge, in order (never written, or of unknown fate), in the
     * last event: the client keeps none of them, not even in storage.
     */
    private finish;
    private report;
    private onOnline;
    private onOffline;
    /**
     * The page is going away. Without persistence, end the session (1000):
     * the server sees a deliberate leave. With persistence, or into the
     * back/forward cache, detach (4000) so the session survives.
     */
    private onPageHide;
    private onPageShow;
}
