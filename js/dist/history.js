// history(): HISTORY requests waiting for their HISTORY_RESULT
// (docs/PROTOCOL.md §14.6). A request is a query, not a message: it is
// written on the current connection and written again on the next one if
// the answer did not come.
import { fromUtf8, fromUtf8Loose } from './bytes.js';
import { TetherError } from './errors.js';
import { HistoryStatus, MAX_HISTORY } from './wire.js';
/** At most this many history() calls wait for their answer at once (as the Go client). */
export const MAX_HISTORY_CALLS = 64;
/** The history() calls in flight. */
export class HistoryCalls {
    constructor() {
        this.nextId = 0;
        this.calls = new Map();
    }
    get size() {
        return this.calls.size;
    }
    /** Starts a call; the client writes it with due(). */
    add(room, since, limit, signal) {
        const id = ++this.nextId;
        return new Promise((resolve, reject) => {
            const call = { frame: { type: 'history', id, room, since, limit }, sentOn: undefined, resolve, reject };
            if (signal) {
                const abort = () => this.settle(id, (c) => c.reject(signal.reason));
                signal.addEventListener('abort', abort, { once: true });
                call.unlisten = () => signal.removeEventListener('abort', abort);
            }
            this.calls.set(id, call);
        });
    }
    /** The requests not yet written on `conn`, oldest first; marks them written there. */
    due(conn) {
        const out = [];
        for (const c of this.calls.values()) {
            if (c.sentOn === conn)
                continue;
            c.sentOn = conn;
            out.push(c.frame);
        }
        return out; // a Map iterates in insertion order: by id
    }
    /** Hands an answer to its call; an answer nobody waits for (asked twice, or aborted) is ignored. */
    answer(f) {
        this.settle(f.id, (c) => {
            const room = c.frame.room;
            switch (f.status) {
                case HistoryStatus.ok:
                    break;
                case HistoryStatus.forbidden:
                    c.reject(new TetherError('forbidden', `history of ${describeRoom(room)}: the session is not in that room`));
                    return;
                default:
                    c.reject(new TetherError('unavailable', `history of ${describeRoom(room)}: the server cannot read it now; ask again later`));
                    return;
            }
            const messages = [];
            for (const m of f.messages) {
                if (!m.text) {
                    messages.push({ type: 'binary', data: m.payload, room, offset: m.offset });
                    continue;
                }
                const data = fromUtf8(m.payload);
                if (data === undefined) {
                    c.reject(new TetherError('protocol_violation', `history of ${describeRoom(room)}: text message at offset ${m.offset} is not UTF-8`));
                    return;
                }
                messages.push({ type: 'text', data, room, offset: m.offset });
            }
            c.resolve({ room, epoch: fromUtf8Loose(f.epoch), first: f.first, last: f.last, messages });
        });
    }
    /** Ends every call with err. */
    failAll(err) {
        for (const id of [...this.calls.keys()])
            this.settle(id, (c) => c.reject(err));
    }
    settle(id, fn) {
        const c = this.calls.get(id);
        if (!c)
            return;
        this.calls.delete(id);
        c.unlisten?.();
        fn(c);
    }
}
/** history()'s limit as the wire takes it: 0 asks for the server's default (100), at most 1000. */
export function historyLimit(limit) {
    if (limit === undefined)
        return 0;
    if (!Number.isSafeInteger(limit) || limit < 0)
        throw new RangeError(`history: limit must be a non-negative integer, not ${limit}`);
    return Math.min(limit, MAX_HISTORY);
}
function describeRoom(room) {
    return room === '' ? "the user's stream" : JSON.stringify(room);
}
