import type { Connection } from './connection.js';
import type { SessionState } from './session.js';
/**
 * The frames due on `conn` now, in order: a PONG if a PING arrived, else an
 * ACK if one is due by the rules of acks.ts (it rides on anything else
 * written, `carrier` included) or the WELCOME is still unconfirmed (the
 * PONG carries the ack too); then the messages not yet written on this
 * connection, within the window and unless the server said GOAWAY; then
 * the reply to a GOAWAY. Updates what the connection and the session have
 * written. `wrote` says whether messages were written.
 */
export declare function framesDue(conn: Connection, s: SessionState, window: number, carrier?: boolean): {
    frames: Uint8Array[];
    wrote: boolean;
};
