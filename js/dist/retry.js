// When to try connecting again: backoff with full jitter, the server's
// GOAWAY hint, and giving up (maxAttempts, maxElapsed), as the Go client.
import { backoffDelay } from './backoff.js';
/** Retry counts failed attempts since the last connection and runs the timer. */
export class Retry {
    constructor(o, clock, random) {
        this.o = o;
        this.clock = clock;
        this.random = random;
        this.attempt = 0;
    }
    /** A session is attached: start counting afresh. */
    connected() {
        this.attempt = 0;
        this.lostSince = undefined;
        this.hint = undefined;
    }
    /** The connection was lost now (restart the give-up clock). */
    lost() {
        this.lostSince = this.clock.now();
    }
    /** An attempt failed (start the give-up clock if it was not running). */
    failed() {
        this.lostSince ?? (this.lostSince = this.clock.now());
    }
    /** Plans the next attempt and arms the timer to run `fn`, or says why not. */
    schedule(fn) {
        this.attempt++;
        const now = this.clock.now();
        const elapsed = now - (this.lostSince ?? now);
        const o = this.o;
        if ((o.maxAttempts > 0 && this.attempt > o.maxAttempts) || (o.maxElapsed > 0 && elapsed > o.maxElapsed)) {
            return { gaveUp: `gave up reconnecting after ${this.attempt - 1} attempts over ${Math.round(elapsed)} ms` };
        }
        let delay = backoffDelay(o, this.attempt, this.random);
        if (this.hint !== undefined) {
            delay = this.hint;
            this.hint = undefined;
        }
        this.cancel();
        this.timer = this.clock.setTimeout(() => {
            this.timer = undefined;
            fn();
        }, delay);
        return { attempt: this.attempt, delay };
    }
    /** Whether a timer is armed. */
    get pending() {
        return this.timer !== undefined;
    }
    /** Disarms the timer. */
    cancel() {
        if (this.timer !== undefined)
            this.clock.clearTimeout(this.timer);
        this.timer = undefined;
    }
}
