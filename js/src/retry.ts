// When to try connecting again: backoff with full jitter, the server's
// GOAWAY hint, and giving up (maxAttempts, maxElapsed), as the Go client.

import { backoffDelay, type BackoffOptions } from './backoff.js';
import type { Clock } from './clock.js';

/** Retry settings. */
export interface RetryOptions extends BackoffOptions {
  /** Give up after this long without a connection; 0 means never. */
  maxElapsed: number;
  /** Give up after this many failed attempts in a row; 0 means never. */
  maxAttempts: number;
}

/** The next attempt, or why there is none. */
export type RetryPlan = { attempt: number; delay: number } | { gaveUp: string };

/** Retry counts failed attempts since the last connection and runs the timer. */
export class Retry {
  private attempt = 0;
  private lostSince: number | undefined;
  private timer: unknown;
  /** The server's reconnect delay from a GOAWAY, for the next attempt only. */
  hint: number | undefined;

  constructor(
    private readonly o: RetryOptions,
    private readonly clock: Clock,
    private readonly random: () => number,
  ) {}

  /** A session is attached: start counting afresh. */
  connected(): void {
    this.attempt = 0;
    this.lostSince = undefined;
    this.hint = undefined;
  }

  /** The connection was lost now (restart the give-up clock). */
  lost(): void {
    this.lostSince = this.clock.now();
  }

  /** An attempt failed (start the give-up clock if it was not running). */
  failed(): void {
    this.lostSince ??= this.clock.now();
  }

  /** Plans the next attempt and arms the timer to run `fn`, or says why not. */
  schedule(fn: () => void): RetryPlan {
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
  get pending(): boolean {
    return this.timer !== undefined;
  }

  /** Disarms the timer. */
  cancel(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }
}
