import { TetherError } from './errors.js';
import type { RoomHistory } from './events.js';
import { type HistoryFrame, type HistoryResultFrame } from './wire.js';
/** At most this many history() calls wait for their answer at once (as the Go client). */
export declare const MAX_HISTORY_CALLS = 64;
/** The history() calls in flight. */
export declare class HistoryCalls {
    private nextId;
    private readonly calls;
    get size(): number;
    /** Starts a call; the client writes it with due(). */
    add(room: string, since: number, limit: number, signal?: AbortSignal): Promise<RoomHistory>;
    /** The requests not yet written on `conn`, oldest first; marks them written there. */
    due(conn: unknown): HistoryFrame[];
    /** Hands an answer to its call; an answer nobody waits for (asked twice, or aborted) is ignored. */
    answer(f: HistoryResultFrame): void;
    /** Ends every call with err. */
    failAll(err: TetherError): void;
    private settle;
}
/** history()'s limit as the wire takes it: 0 asks for the server's default (100), at most 1000. */
export declare function historyLimit(limit: number | undefined): number;
