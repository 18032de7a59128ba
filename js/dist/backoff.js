// Exponential backoff with full jitter, as the Go client's.
/** The ceiling for attempt n (1-based): min(maxDelay, initialDelay·multiplier^(n−1)). */
export function backoffCeiling(o, attempt) {
    const ceil = o.initialDelay * Math.pow(o.multiplier, attempt - 1);
    return Number.isFinite(ceil) && ceil < o.maxDelay ? ceil : o.maxDelay;
}
/** The delay before attempt n: uniformly random in [0, ceiling). */
export function backoffDelay(o, attempt, random = Math.random) {
    return Math.floor(random() * backoffCeiling(o, attempt));
}
