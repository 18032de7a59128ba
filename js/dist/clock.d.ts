/** Timers and a clock, in milliseconds. */
export interface Clock {
    now(): number;
    setTimeout(fn: () => void, ms: number): unknown;
    clearTimeout(handle: unknown): void;
}
/** The platform's timers, with realTime() as the clock. */
export declare const systemClock: Clock;
