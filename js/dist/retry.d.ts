import { type BackoffOptions } from './backoff.js';
import type { Clock } from './clock.js';
/** Retry settings. */
export interface RetryOptions extends BackoffOptions {
    /** Give up after this long without a connection; 0 means never. */
    maxElapsed: number;
    /** Give up after this many failed attempts in a row; 0 means never. */
    maxAttempts: number;
}
/** The next attempt, or why there is none. */
export type RetryPlan = {
    attempt: number;
    delay: number;
} | {
    gaveUp: string;
};
/** Retry counts failed attempts since the last connection and runs the timer. */
export declare class Retry {
    private readonly o;
    private readonly clock;
    private readonly random;
    private attempt;
    private lostSince;
    private timer;
    /** The server's reconnect delay from a GOAWAY, for the next attempt only. */
    hint: number | undefined;
    constructor(o: RetryOptions, clock: Clock, random: () => number);
    /** A session is attached: start counting afresh. */
    connected(): void;
    /** The connection was lost now (restart the give-up clock). */
    lost(): void;
    /** An attempt failed (start the give-up clock if it was not running). */
    failed(): void;
    /** Plans the next attempt and arms the timer to run `fn`, or says why not. */
    schedule(fn: () => void): RetryPlan;
    /** Whether a timer is armed. */
    get pending(): boolean;
    /** Disarms the timer. */
    cancel(): void;
}
