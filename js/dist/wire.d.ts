/** The only WebSocket subprotocol this version speaks. */
export declare const SUBPROTOCOL = "tether.v1";
/** Session IDs, tokens and epochs are at most this many bytes. */
export declare const MAX_STRING_LEN = 64;
/** Room names are at most this many bytes ('' is the user's own stream). */
export declare const MAX_ROOM_LEN = 128;
/** At most this many room positions in a HELLO. */
export declare const MAX_ROOMS = 1024;
/** User IDs in presence events are at most this many bytes. */
export declare const MAX_USER_LEN = 256;
/** At most this many messages in one HISTORY_RESULT. */
export declare const MAX_HISTORY = 1000;
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
    readonly 'room-binary': 9;
    readonly 'room-text': 10;
    readonly 'room-event': 11;
    readonly history: 12;
    readonly 'history-result': 13;
};
/** Feature bits of HELLO.features and WELCOME.features (§3.4). */
export declare const FEATURE_ROOMS: number;
/** ROOM_EVENT kinds (§14.3). */
export declare const RoomEventKind: {
    readonly joined: 1;
    readonly left: 2;
    readonly presenceJoin: 3;
    readonly presenceLeave: 4;
};
/** ROOM_EVENT reasons (§14.3). */
export declare const RoomReason: {
    readonly none: 0;
    readonly historyTrimmed: 1;
    readonly epochChanged: 2;
    readonly diverged: 3;
    readonly notReadmitted: 4;
};
/** ROOM_EVENT flag bit: the number of messages lost is unknown. */
export declare const ROOM_LOST_UNKNOWN: number;
/** HISTORY_RESULT statuses (§14.6). */
export declare const HistoryStatus: {
    readonly ok: 0;
    readonly forbidden: 1;
    readonly unavailable: 2;
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
    /** Features the client speaks (FEATURE_ROOMS); absent on the wire means 0. */
    features?: number;
    /** The client's room positions; present on the wire iff features is. */
    rooms?: WireRoomPosition[];
}
/** A room position in a HELLO (§4.1 field 11). */
export interface WireRoomPosition {
    room: string;
    epoch: Uint8Array;
    offset: number;
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
    /** Features the server uses on this session; absent on the wire means 0. */
    features?: number;
    /**
     * Not resumed, prevKnown, with feature rooms: how many of the server's
     * messages after HELLO.recv, up to prevOut, the client's rooms recover
     * or report (§14.5); the session alone lost the others. Absent on the
     * wire means 0; present requires features.
     */
    prevRooms?: number;
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
/** ROOM_BINARY or ROOM_TEXT: a room's message (S→C, §14.2). */
export interface RoomMessageFrame {
    type: 'room-binary' | 'room-text';
    seq: number;
    /** The room; '' is the user's own stream. */
    room: string;
    /** The message's offset in the room's stream, ≥ 1. */
    offset: number;
    payload: Uint8Array;
}
/** ROOM_EVENT: joined, left, presence; numbered like a message (S→C, §14.3). */
export interface RoomEventFrame {
    type: 'room-event';
    seq: number;
    kind: number;
    room: string;
    epoch: Uint8Array;
    offset: number;
    reason: number;
    flags: number;
    lost: number;
    skipped: number;
    recovered: number;
    user: string;
    session: string;
}
/** HISTORY: read a room's history (C→S, §14.6). */
export interface HistoryFrame {
    type: 'history';
    id: number;
    room: string;
    since: number;
    limit: number;
}
/** One message of a HISTORY_RESULT. */
export interface HistoryMessageFrame {
    offset: number;
    text: boolean;
    payload: Uint8Array;
}
/** HISTORY_RESULT: the answer to HISTORY (S→C, §14.6). */
export interface HistoryResultFrame {
    type: 'history-result';
    id: number;
    status: number;
    epoch: Uint8Array;
    first: number;
    last: number;
    messages: HistoryMessageFrame[];
}
/** Any decoded frame. */
export type Frame = HelloFrame | WelcomeFrame | MessageFrame | SeqFrame | GoAwayFrame | RoomMessageFrame | RoomEventFrame | HistoryFrame | HistoryResultFrame;
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
/** Names of ROOM_EVENT reasons (§14.3), as the Go side prints them. */
export type RoomReasonName = 'none' | 'history-trimmed' | 'epoch-changed' | 'diverged' | 'not-readmitted';
/** The name of a ROOM_EVENT reason, or undefined for a value this version does not know. */
export declare function roomReasonName(reason: number): RoomReasonName | undefined;
/**
 * Why a room's messages after the client's position were not recovered
 * (ROOM_EVENT joined, §14.3), as the Go side prints them. 'other' is a
 * reason this version does not know (or one that a joined event cannot
 * have: not-readmitted is a left event's).
 */
export type RoomLossReason = 'none' | 'history-trimmed' | 'epoch-changed' | 'diverged' | 'other';
/** The name of a joined event's reason. */
export declare function roomLossReasonName(reason: number): RoomLossReason;
