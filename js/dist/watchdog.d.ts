import type { Clock } from './clock.js';
/** A timer that fired this much later than asked was throttled or frozen. */
export declare const LATE_TOLERANCE = 1000;
/** After a late tick, look again this soon instead of judging at once. */
export declare const RECHECK_DELAY = 1000;
/**
 * Watchdog measures real elapsed time since the last frame on every tick,
 * so a tick that fires early or late never judges on stale numbers. A tick
 * that fired more than LATE_TOLERANCE ms late (a throttled or frozen
 * background tab) does not declare the link dead: it re-arms a short check,
 * by which time frames that were waiting in the event queue (the server's
 * pings are events, not timers) have been seen. The next tick judges.
 */
export declare class Watchdog {
    private readonly clock;
    private readonly limit;
    private readonly onDead;
    private last;
    private timer;
    private due;
    private graceUsed;
    private stopped;
    constructor(clock: Clock, limit: number, onDead: (silentFor: number) => void);
    /** Starts watching; counts as a frame received now. */
    start(): void;
    /** Records that a frame arrived. */
    touch(): void;
    /** Stops watching. */
    stop(): void;
    private arm;
    private tick;
}
