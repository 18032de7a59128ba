// The client's only timer of its own (docs/PROTOCOL.md §9): declare the
// link dead when nothing arrived for heartbeat + timeout ms. The server
// drives heartbeats, so a live link always has recent frames.

import type { Clock } from './clock.js';

/** A timer that fired this much later than asked was throttled or frozen. */
export const LATE_TOLERANCE = 1000;
/** After a late tick, look again this soon instead of judging at once. */
export const RECHECK_DELAY = 1000;

/**
 * Watchdog measures real elapsed time since the last frame on every tick,
 * so a tick that fires early or late never judges on stale numbers. A tick
 * that fired more than LATE_TOLERANCE ms late (a throttled or frozen
 * background tab) does not declare the link dead: it re-arms a short check,
 * by which time frames that were waiting in the event queue (the server's
 * pings are events, not timers) have been seen. The next tick judges.
 */
export class Watchdog {
  private last = 0;
  private timer: unknown;
  private due = 0;
  private graceUsed = false;
  private stopped = true;

  constructor(
    private readonly clock: Clock,
    private readonly limit: number,
    private readonly onDead: (silentFor: number) => void,
  ) {}

  /** Starts watching; counts as a frame received now. */
  start(): void {
    this.stopped = false;
    this.last = this.clock.now();
    this.arm(this.limit);
  }

  /** Records that a frame arrived. */
  touch(): void {
    this.last = this.clock.now();
    this.graceUsed = false;
  }

  /** Stops watching. */
  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(ms: number): void {
    this.due = this.clock.now() + ms;
    this.timer = this.clock.setTimeout(() => this.tick(), ms);
  }

  private tick(): void {
    this.timer = undefined;
    if (this.stopped) return;
    const now = this.clock.now();
    const late = now - this.due;
    const silent = now - this.last;
    if (silent < this.limit) {
      this.graceUsed = false;
      this.arm(this.limit - silent);
      return;
    }
    if (late > LATE_TOLERANCE && !this.graceUsed) {
      this.graceUsed = true;
      this.arm(RECHECK_DELAY);
      return;
    }
    this.stopped = true;
    this.onDead(silent);
  }
}
