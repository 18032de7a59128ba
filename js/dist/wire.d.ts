/** The only WebSocket subprotocol this version speaks. */
export declare const SUBPROTOCOL = "tether.v1";
/** Session IDs, tokens and epochs are at most this many bytes. */
export declare const MAX_STRING_LEN = 64;
/** Frame type bytes. */
export declare const FrameType: {
    readonly hello: 1;
    readonly welcome: 2;
    readonly binary: 3;
    readonly text: 4;
    readonly ack: 5;
    readonly ping: 6;
    readonly pong: 7;
    readonly goaway: 8;
};
/** WELCOME flag bits. */
export declare const WELCOME_RESUMED: number;
export declare const WELCOME_PREV_KNOWN: number;
/** GOAWAY flag bit: the last frame before close 4001. */
export declare const GOAWAY_FINAL: number;
/** HELLO: first frame of every connection (C→S). */
export interface HelloFrame {
    type: 'hello';
    sessionId: Uint8Array;
    token: Uint8Array;
    epoch: Uint8Array;
    recv: number;
    acked: number;
    written: number;
    last: number;
    window: number;
    /** Stamps the connection attempt: greater than every earlier one (0: not given). */
    attempt: number;
}
/** WELCOME: the server's answer to HELLO (S→C). */
export interface WelcomeFrame {
    type: 'welcome';
    flags: number;
    sessionId: Uint8Array;
    token: Uint8Array;
    epoch: Uint8Array;
    recv: number;
    replay: number;
    reason: number;
    prevIn: number;
    prevOut: number;
    heartbeat: number;
    timeout: number;
    maxSize: number;
    window: number;
    grace: number;
}
/** BINARY or TEXT: an application message (both ways). */
export interface MessageFrame {
    type: 'binary' | 'text';
    seq: number;
    payload: Uint8Array;
}
/** ACK, PING or PONG: carries a cumulative ack. */
export interface SeqFrame {
    type: 'ack' | 'ping' | 'pong';
    seq: number;
}
/** GOAWAY: draining before a server restart (both ways). */
export interface GoAwayFrame {
    type: 'goaway';
    retryAfter: number;
    flags: number;
    lastSeq: number;
}
/** Any decoded frame. */
export type Frame = HelloFrame | WelcomeFrame | MessageFrame | SeqFrame | GoAwayFrame;
/** Encodes a frame as the payload of one WebSocket binary message. */
export declare function encodeFrame(f: Frame): Uint8Array;
/**
 * Decodes one frame. Throws MalformedFrameError when it cannot (empty,
 * unknown type, truncated field, string too long, bad varint, broken
 * invariant). Bytes after the last known field of a control frame are
 * ignored; a message payload is a copy, not a view of `buf`.
 */
export declare function decodeFrame(buf: Uint8Array): Frame;
/** Names of WELCOME.reason values (docs/PROTOCOL.md §8), as the Go side prints them. */
export type LossReason = 'none' | 'expired' | 'overflow' | 'unknown-session' | 'server-restarted' | 'server-shutdown' | 'server-error' | 'closed' | 'diverged';
/** The name of a WELCOME.reason; unknown values read as 'closed' (§8). */
export declare function lossReasonName(reason: number): LossReason;
