import type { OutboxEntry } from './outbox.js';
import type { Position } from './rooms.js';
/** The Web Storage subset used here. */
export interface StorageLike {
    getItem(key: string): string | null;
    setItem(key: string, value: string): void;
    removeItem(key: string): void;
}
/** What is kept of a session. */
export interface SessionSnapshot {
    sessionId: Uint8Array;
    token: Uint8Array;
    epoch: Uint8Array;
    recv: number;
    processed: number;
    acked: number;
    written: number;
    last: number;
    maxSize: number;
    finalOut: number | undefined;
    outbox: OutboxEntry[];
    /** Room positions, as of the last frame handled. */
    rooms: Array<[string, Position]>;
}
/**
 * Persistence writes the session to storage under one key, at most once
 * per microtask however many changes happened, and re-serializes the
 * outbox only when it changed.
 */
export declare class Persistence {
    private readonly storage;
    readonly key: string;
    private readonly snapshot;
    private readonly onError;
    private pending;
    private outboxJson;
    constructor(storage: StorageLike, key: string, snapshot: () => SessionSnapshot | undefined, onError: (err: unknown) => void);
    /** Reads the stored session, or undefined (a corrupt entry is removed). */
    load(): SessionSnapshot | undefined;
    /** Schedules a write; `outboxChanged` when the outbox's entries or seqs changed. */
    save(outboxChanged: boolean): void;
    /** Writes now (page unload cannot wait for a microtask). */
    flush(): void;
    /** Forgets the stored session. */
    clear(): void;
}
/** The Web Storage that `persist` names, if the platform has it and allows it. */
export declare function pickStorage(persist: 'session' | 'local' | false | undefined): StorageLike | undefined;
