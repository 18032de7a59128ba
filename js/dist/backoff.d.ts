/** Backoff settings, in milliseconds. */
export interface BackoffOptions {
    initialDelay: number;
    maxDelay: number;
    multiplier: number;
}
/** The ceiling for attempt n (1-based): min(maxDelay, initialDelay·multiplier^(n−1)). */
export declare function backoffCeiling(o: BackoffOptions, attempt: number): number;
/** The delay before attempt n: uniformly random in [0, ceiling). */
export declare function backoffDelay(o: BackoffOptions, attempt: number, random?: () => number): number;
