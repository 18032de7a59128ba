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
/**
 * failed: the server refused the client in a way retrying cannot fix, for
 * a reason that has no code of its own: a close code from 4400 to 4999
 * other than 4401, 4403 and 4410 (protocol violation, replaced, too
 * big, policy…), or 1000, 1002, 1003, 1007–1010. `closeCode` says which.
 */
 | 'refused'
/** failed: authentication failed (close 4401). */
 | 'unauthorized'
/** failed: the application ended the session (close 4410). */
 | 'kicked'
/** The server did not select the tether.v1 subprotocol. */
 | 'unsupported'
/** A connection attempt failed (network, handshake timeout, token function). */
 | 'connect_failed'
/** failed: maxAttempts or maxElapsed was reached without a connection. */
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
/**
 * failed: access refused (close 4403): a bad resume token, another
 * user's session, a refused origin. history(): the session is not in
 * that room (or '' without a user stream).
 */
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
