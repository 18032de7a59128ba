import type { ResumedEvent, SessionLostEvent } from './events.js';
import { Outbox, type OutboxEntry } from './outbox.js';
import type { SessionSnapshot } from './persistence.js';
import { RoomPositions } from './rooms.js';
import { type HelloFrame, type WelcomeFrame } from './wire.js';
/** The default size limit until a WELCOME announces the server's. */
export declare const DEFAULT_MAX_SIZE: number;
/** Session state that outlives connections. */
export declare class SessionState {
    /** Opaque, kept byte for byte; empty before the first WELCOME. */
    sessionId: Uint8Array;
    token: Uint8Array;
    epoch: Uint8Array;
    /** Highest server seq accepted. */
    recv: number;
    /** Highest server seq whose handlers returned: the value the client acks. */
    processed: number;
    /** Highest client seq the server acknowledged. */
    acked: number;
    /** Highest client seq ever written to a connection of this session. */
    written: number;
    /** Highest client seq assigned. */
    last: number;
    /** Largest payload the server accepts. */
    maxSize: number;
    /** Bumped for every new session, so late handler returns of an old one are ignored. */
    gen: number;
    /** lastSeq of a final GOAWAY on this session, if one arrived. */
    finalOut: number | undefined;
    /** Messages with acked < seq ≤ last. */
    readonly outbox: Outbox;
    /** Features the server uses on this session (WELCOME.features); 0 before the first WELCOME. */
    features: number;
    /** ms the server keeps the session after its connection drops (WELCOME.grace); 0 before the first WELCOME. */
    grace: number;
    /** The client's position in each room: kept across connections and sessions. */
    readonly rooms: RoomPositions;
    /** The session ID as text ('' before the first WELCOME). */
    get id(): string;
    /** Stamp of the last connection attempt. */
    attempt: number;
    /** The HELLO for the next connection; each is stamped later than the
     * last, so that a server refuses an abandoned attempt arriving late. */
    hello(window: number): HelloFrame;
    /** Queues a message, assigning the next seq. */
    enqueue(e: OutboxEntry): void;
    /** Processes a cumulative ack; returns whether it advanced. */
    ackUpTo(seq: number): boolean;
    /** Applies the limits and token of any WELCOME. */
    private adoptCommon;
    /** Applies a WELCOME that resumed the session (§7.4). */
    resume(w: WelcomeFrame): ResumedEvent;
    /**
     * Applies a WELCOME that started a new session (§8): computes what the
     * old one lost, keeps the carried messages renumbered from 1, and resets
     * the counters. Returns the loss report when a session was lost.
     */
    startNew(w: WelcomeFrame): SessionLostEvent | undefined;
    /** Whether a WELCOME resumed the session. */
    static resumed(w: WelcomeFrame): boolean;
    /** What persistence keeps. */
    snapshot(): SessionSnapshot;
    /** What persistence keeps once the client gave up: no session, only the room positions. */
    roomsOnly(): SessionSnapshot;
    /**
     * Restores a persisted session. Messages accepted but not processed
     * before the page went away are asked for again (recv = processed).
     */
    restore(s: SessionSnapshot): void;
}
