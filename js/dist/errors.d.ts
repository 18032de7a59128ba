/** What went wrong, as a stable string to switch on. */
export type TetherErrorCode = 
/** The outbox is full and the client is not connected, so it cannot drain. */
'outbox_full'
/** The client was closed or has failed. */
 | 'closed'
/** The message exceeds the server's size limit. */
 | 'too_big'
/** send() was given something that is neither a string nor bytes. */
 | 'invalid_message'
/** The server broke the protocol (malformed frame, sequence gap, …). */
 | 'protocol_violation'
/** The server said stop (close codes 4400–4999, 1000, …). */
 | 'refused'
/** The server did not select the tether.v1 subprotocol. */
 | 'unsupported'
/** A connection attempt failed (network, handshake timeout, token function). */
 | 'connect_failed'
/** maxAttempts or maxElapsed was reached. */
 | 'gave_up'
/** close() finished with messages the server never acknowledged. */
 | 'unacknowledged'
/** A message's fate is unknown: its session was lost (see the sessionLost event). */
 | 'lost'
/** An application event handler threw. */
 | 'handler'
/** Persisted state could not be read or written. */
 | 'storage'
/** history(): the server does not speak room streams (WELCOME.features lacks rooms). */
 | 'no_rooms'
/** history(): the session is not in that room (or '' without a user stream). */
 | 'forbidden'
/** history(): the server could not read the history now; ask again later. */
 | 'unavailable'
/** history(): too many calls are waiting for their answer already. */
 | 'busy';
/** An error from the Tether client. */
export declare class TetherError extends Error {
    readonly name = "TetherError";
    /** What went wrong. */
    readonly code: TetherErrorCode;
    /** The WebSocket close code involved, if any. */
    readonly closeCode?: number;
    /** The underlying error (for example what an event handler threw). */
    readonly cause?: unknown;
    constructor(code: TetherErrorCode, message: string, extra?: {
        closeCode?: number;
        cause?: unknown;
    });
}
/** A frame that cannot be decoded (docs/PROTOCOL.md §3.4). */
export declare class MalformedFrameError extends Error {
    readonly name = "MalformedFrameError";
}
