import { TetherError } from './errors.js';
import type { Message } from './events.js';
/** One queued message. Its seq changes if it is carried into a new session. */
export interface OutboxEntry {
    type: 'text' | 'binary';
    data: Uint8Array;
    seq: number;
    /** The original string of a text message, when known. */
    text?: string;
    /** The promise behind Receipt.acked, made when first asked for. */
    waiter?: {
        promise: Promise<void>;
        resolve(): void;
        reject(err: TetherError): void;
    };
    /** The final outcome, once known. */
    outcome?: 'acked' | TetherError;
}
/** The outbox in seq order, with its byte count. */
export declare class Outbox {
    private entries;
    private byteCount;
    get length(): number;
    get bytes(): number;
    /** The entries, in seq order. Do not modify. */
    get all(): readonly OutboxEntry[];
    /** Whether a message of `size` bytes fits, as the Go client decides: a lone message always fits. */
    fits(size: number, maxMessages: number, maxBytes: number): boolean;
    push(e: OutboxEntry): void;
    /** Drops entries with seq ≤ ack, resolving their receipts. Returns how many. */
    ackUpTo(ack: number): number;
    /** Replaces the entries (after a lost session), recounting bytes. */
    replace(entries: OutboxEntry[]): void;
    /** Empties the outbox, failing every receipt with err. */
    failAll(err: TetherError): void;
}
/** Settles an entry's outcome once. */
export declare function settle(e: OutboxEntry, outcome: 'acked' | TetherError): void;
/** A promise of the entry's outcome: resolves when acked, rejects with the error otherwise. */
export declare function outcomeOf(e: OutboxEntry): Promise<void>;
/** The application's view of an outbox entry. */
export declare function entryMessage(e: OutboxEntry): Message;
/**
 * What send() resolves to: a handle on the queued message. `acked`
 * resolves once the server acknowledged it (its handler returned), and
 * rejects with a TetherError if that can no longer happen: 'lost' when its
 * session was lost and its fate is unknown (it is in the sessionLost
 * event's `unsent`), 'closed' when the client closed or failed first.
 */
export declare class Receipt {
    private readonly entry;
    constructor(entry: OutboxEntry);
    /** The message's current sequence number (it changes if the message is carried into a new session). */
    get seq(): number;
    /** Settles when the server acknowledged the message, or it cannot be any more. */
    get acked(): Promise<void>;
}
/** A new entry for send()'s argument: a string is TEXT, bytes are BINARY. */
export declare function makeEntry(data: unknown): OutboxEntry;
