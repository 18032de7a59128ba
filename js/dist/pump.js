// What the client writes on a live connection, and in which order
// (docs/PROTOCOL.md §5.1, §6.4, §9, §10).
import { encodeFrame } from './wire.js';
/**
 * The frames due on `conn` now, in order: a PONG if a PING arrived, else an
 * ACK if one is due by the rules of acks.ts (it rides on anything else
 * written, `carrier` included) or the WELCOME is still unconfirmed (the
 * PONG carries the ack too); then the messages not yet written on this
 * connection, within the window and unless the server said GOAWAY; then
 * the reply to a GOAWAY. Updates what the connection and the session have
 * written. `wrote` says whether messages were written.
 */
export function framesDue(conn, s, window, carrier = false) {
    const msgs = [];
    if (conn.gen === s.gen && !conn.stopSending) {
        const limit = s.acked + window;
        for (const e of s.outbox.all) {
            if (e.seq <= conn.sent)
                continue;
            if (e.seq > limit)
                break;
            msgs.push(encodeFrame({ type: e.type, seq: e.seq, payload: e.data }));
            conn.sent = e.seq;
        }
        if (msgs.length > 0 && conn.sent > s.written)
            s.written = conn.sent;
    }
    const { ack, due } = conn.acks.take(carrier || conn.pongDue || conn.replyDue || msgs.length > 0);
    const frames = [];
    if (conn.pongDue)
        frames.push(encodeFrame({ type: 'pong', seq: ack }));
    else if (due || conn.confirm)
        frames.push(encodeFrame({ type: 'ack', seq: ack }));
    frames.push(...msgs);
    if (conn.replyDue)
        frames.push(encodeFrame({ type: 'goaway', retryAfter: 0, flags: 0, lastSeq: ack }));
    conn.pongDue = conn.replyDue = conn.confirm = false;
    return { frames, wrote: msgs.length > 0 };
}
