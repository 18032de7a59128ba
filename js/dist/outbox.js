// The outbox: client messages with acked < seq ≤ last, kept until the
// server acknowledges them (docs/PROTOCOL.md §7.1).
import { copyBytes, fromUtf8Loose, utf8 } from './bytes.js';
import { TetherError } from './errors.js';
/** The outbox in seq order, with its byte count. */
export class Outbox {
    constructor() {
        this.entries = [];
        this.byteCount = 0;
    }
    get length() {
        return this.entries.length;
    }
    get bytes() {
        return this.byteCount;
    }
    /** The entries, in seq order. Do not modify. */
    get all() {
        return this.entries;
    }
    /** Whether a message of `size` bytes fits, as the Go client decides: a lone message always fits. */
    fits(size, maxMessages, maxBytes) {
        return this.entries.length < maxMessages && (this.byteCount + size <= maxBytes || this.entries.length === 0);
    }
    push(e) {
        this.entries.push(e);
        this.byteCount += e.data.length;
    }
    /** Drops entries with seq ≤ ack, resolving their receipts. Returns how many. */
    ackUpTo(ack) {
        let n = 0;
        while (n < this.entries.length && this.entries[n].seq <= ack) {
            const e = this.entries[n];
            this.byteCount -= e.data.length;
            settle(e, 'acked');
            n++;
        }
        if (n > 0)
            this.entries = this.entries.slice(n);
        return n;
    }
    /** Replaces the entries (after a lost session), recounting bytes. */
    replace(entries) {
        this.entries = entries;
        this.byteCount = entries.reduce((sum, e) => sum + e.data.length, 0);
    }
    /** Empties the outbox, failing every receipt with err. */
    failAll(err) {
        for (const e of this.entries)
            settle(e, err);
        this.replace([]);
    }
}
/** Settles an entry's outcome once. */
export function settle(e, outcome) {
    if (e.outcome)
        return;
    e.outcome = outcome;
    if (!e.waiter)
        return;
    if (outcome === 'acked')
        e.waiter.resolve();
    else
        e.waiter.reject(outcome);
}
/** A promise of the entry's outcome: resolves when acked, rejects with the error otherwise. */
export function outcomeOf(e) {
    if (!e.waiter) {
        let resolve;
        let reject;
        const promise = new Promise((res, rej) => {
            resolve = res;
            reject = rej;
        });
        // Nobody has to await it: never an unhandled rejection.
        promise.catch(() => { });
        e.waiter = { promise, resolve, reject };
        if (e.outcome === 'acked')
            resolve();
        else if (e.outcome)
            reject(e.outcome);
    }
    return e.waiter.promise;
}
/** The application's view of an outbox entry. */
export function entryMessage(e) {
    return e.type === 'text'
        ? { type: 'text', data: e.text ?? fromUtf8Loose(e.data), seq: e.seq }
        : { type: 'binary', data: e.data.slice(), seq: e.seq };
}
/**
 * What send() resolves to: a handle on the queued message. `acked`
 * resolves once the server acknowledged it (its handler returned), and
 * rejects with a TetherError if that can no longer happen: 'lost' when its
 * session was lost and its fate is unknown (it is in the sessionLost
 * event's `unsent`), 'closed' when the client closed or failed first.
 */
export class Receipt {
    constructor(entry) {
        this.entry = entry;
    }
    /** The message's current sequence number (it changes if the message is carried into a new session). */
    get seq() {
        return this.entry.seq;
    }
    /** Settles when the server acknowledged the message, or it cannot be any more. */
    get acked() {
        return outcomeOf(this.entry);
    }
}
/** A new entry for send()'s argument: a string is TEXT, bytes are BINARY. */
export function makeEntry(data) {
    if (typeof data === 'string')
        return { type: 'text', data: utf8(data), text: data, seq: 0 };
    if (data instanceof ArrayBuffer || ArrayBuffer.isView(data))
        return { type: 'binary', data: copyBytes(data), seq: 0 };
    throw new TetherError('invalid_message', `send() takes a string or bytes, not ${data === null ? 'null' : typeof data}`);
}
