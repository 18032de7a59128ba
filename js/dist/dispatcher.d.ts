import type { Handler, Message, TetherEventMap, TetherEventName } from './events.js';
type EventName = Exclude<TetherEventName, 'message'>;
/**
 * Dispatcher calls handlers one at a time in the order items were pushed,
 * from a microtask. An item pushed while a handler runs (say, the handler
 * calls close()) waits for the handler to return. After a run of numbered
 * items (messages, room events) it calls `handled(gen, seq, bytes)` with the
 * last one and the payload bytes of the run, so the client acks per batch,
 * after the handlers returned.
 */
export declare class Dispatcher {
    private readonly handled;
    private readonly handlers;
    private readonly queue;
    private running;
    private scheduled;
    constructor(handled: (gen: number, seq: number, bytes: number) => void);
    /** Adds a handler; returns a function that removes it. */
    on<K extends TetherEventName>(name: K, h: Handler<K>): () => void;
    /** Removes a handler. */
    off<K extends TetherEventName>(name: K, h: Handler<K>): void;
    /** Queues a message of session generation `gen`, `size` payload bytes on the wire; `after` runs once its handlers returned. */
    message(msg: Message, gen: number, size: number, after?: () => void): void;
    /**
     * Queues a numbered frame that is not a message: a room event (its
     * handlers are called) or a frame to count as processed only.
     */
    numbered<K extends EventName>(seq: number, gen: number, event?: {
        name: K;
        payload: TetherEventMap[K];
    }, after?: () => void): void;
    /** Queues an event. */
    emit<K extends EventName>(name: K, payload: TetherEventMap[K]): void;
    private push;
    private run;
    private call;
}
export {};
