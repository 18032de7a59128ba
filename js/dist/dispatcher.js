// Ordered, never re-entrant delivery of messages and events to the
// application's handlers, with handler exceptions contained.
import { TetherError } from './errors.js';
/**
 * Dispatcher calls handlers one at a time in the order items were pushed,
 * from a microtask. An item pushed while a handler runs (say, the handler
 * calls close()) waits for the handler to return. After a run of numbered
 * items (messages, room events) it calls `handled(gen, seq, bytes)` with the
 * last one and the payload bytes of the run, so the client acks per batch,
 * after the handlers returned.
 */
export class Dispatcher {
    constructor(handled) {
        this.handled = handled;
        this.handlers = new Map();
        this.queue = [];
        this.running = false;
        this.scheduled = false;
    }
    /** Adds a handler; returns a function that removes it. */
    on(name, h) {
        let set = this.handlers.get(name);
        if (!set)
            this.handlers.set(name, (set = new Set()));
        set.add(h);
        return () => this.off(name, h);
    }
    /** Removes a handler. */
    off(name, h) {
        this.handlers.get(name)?.delete(h);
    }
    /** Queues a message of session generation `gen`, `size` payload bytes on the wire; `after` runs once its handlers returned. */
    message(msg, gen, size, after) {
        this.push({ kind: 'numbered', seq: msg.seq, gen, msg, size, after });
    }
    /**
     * Queues a numbered frame that is not a message: a room event (its
     * handlers are called) or a frame to count as processed only.
     */
    numbered(seq, gen, event, after) {
        this.push({ kind: 'numbered', seq, gen, event, after });
    }
    /** Queues an event. */
    emit(name, payload) {
        this.push({ kind: 'event', name, payload });
    }
    push(item) {
        this.queue.push(item);
        if (this.running || this.scheduled)
            return;
        // Handlers run from a microtask, never from inside the client's own
        // code: whatever a handler calls finds the client in a settled state.
        this.scheduled = true;
        queueMicrotask(() => {
            this.scheduled = false;
            this.run();
        });
    }
    run() {
        this.running = true;
        let last = 0;
        let gen = 0;
        let bytes = 0;
        try {
            for (let item = this.queue.shift(); item; item = this.queue.shift()) {
                if (item.kind === 'numbered') {
                    if (last !== 0 && item.gen !== gen) {
                        this.handled(gen, last, bytes);
                        bytes = 0;
                    }
                    if (item.msg)
                        this.call('message', item.msg);
                    else if (item.event)
                        this.call(item.event.name, item.event.payload);
                    item.after?.();
                    last = item.seq;
                    gen = item.gen;
                    bytes += item.size ?? 0;
                    continue;
                }
                if (last !== 0) {
                    this.handled(gen, last, bytes);
                    last = bytes = 0;
                }
                this.call(item.name, item.payload);
            }
            if (last !== 0)
                this.handled(gen, last, bytes);
        }
        finally {
            this.running = false;
        }
    }
    call(name, payload) {
        const set = this.handlers.get(name);
        if (!set || set.size === 0) {
            // Nobody listens for errors: do not let them vanish.
            if (name === 'error')
                console.error('tether:', payload.error);
            return;
        }
        const errors = [];
        for (const h of [...set]) {
            try {
                h(payload);
            }
            catch (err) {
                if (name === 'error') {
                    // Reporting a failing error handler through itself would loop.
                    console.error('tether: an error handler threw', err);
                    continue;
                }
                const error = new TetherError('handler', `a ${name} handler threw: ${describe(err)}`, { cause: err });
                errors.push({ kind: 'event', name: 'error', payload: { error } });
            }
        }
        this.queue.unshift(...errors);
    }
}
function describe(err) {
    return err instanceof Error ? err.message : String(err);
}
