// What a lost session took with it (docs/PROTOCOL.md §8.1), as the Go
// client's lose().
import { WELCOME_PREV_KNOWN } from './wire.js';
/** Splits the outbox after a WELCOME that did not resume the session. */
export function computeLoss(w, s) {
    const prevKnown = (w.flags & WELCOME_PREV_KNOWN) !== 0;
    let toClient = -1;
    let inRooms = 0;
    let keepAfter = s.written;
    if (prevKnown) {
        if (w.prevOut >= s.recv) {
            // The room messages and events among them are the rooms' to recover
            // or report (§14.5), each counted once, by its room.
            inRooms = w.prevRooms ?? 0;
            toClient = Math.max(0, w.prevOut - s.recv - inRooms);
        }
        keepAfter = w.prevIn;
    }
    else if (s.finalOut !== undefined) {
        // The server drained the old session: its final ack covers every
        // message it processed, and it processed none after (§10).
        if (s.finalOut >= s.recv)
            toClient = s.finalOut - s.recv;
        keepAfter = s.acked;
    }
    const r = { toClient, inRooms, carried: [], unsent: [], done: [] };
    for (const e of s.outbox) {
        if (e.seq > keepAfter)
            r.carried.push(e);
        else if (!prevKnown && e.seq > s.acked)
            r.unsent.push(e); // never with a final GOAWAY: keepAfter is acked
        else
            r.done.push(e);
    }
    return r;
}
