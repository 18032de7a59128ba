import type { Handler, Message, TetherEventMap, TetherEventName } from './events.js';
/**
 * Dispatcher calls handlers one at a time in the order items were pushed,
 * from a microtask. An item pushed while a handler runs (say, the handler
 * calls close()) waits for the handler to return. After a run of messages it calls
 * `handled(gen, seq)` with the last one, so the client acks per batch,
 * after the handlers returned.
 */
export declare class Dispatcher {
    private readonly handled;
    private readonly handlers;
    private readonly queue;
    private running;
    private scheduled;
    constructor(handled: (gen: number, seq: number) => void);
    /** Adds a handler; returns a function that removes it. */
    on<K extends TetherEventName>(name: K, h: Handler<K>): () => void;
    /** Removes a handler. */
    off<K extends TetherEventName>(name: K, h: Handler<K>): void;
    /** Queues a message of session generation `gen`. */
    message(msg: Message, gen: number): void;
    /** Queues an event. */
    emit<K extends Exclude<TetherEventName, 'message'>>(name: K, payload: TetherEventMap[K]): void;
    private push;
    private run;
    private call;
}
