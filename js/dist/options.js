// Client options and their defaults.
function positive(v, def) {
    return typeof v === 'number' && v > 0 && Number.isFinite(v) ? v : def;
}
/** Applies the defaults (the Go client's where it has one). */
export function resolveOptions(o) {
    return {
        protocols: (o.protocols ?? []).filter((p) => p !== 'tether.v1'),
        token: o.token,
        tokenParam: o.tokenParam || 'token',
        initialDelay: positive(o.initialDelay, 250),
        maxDelay: positive(o.maxDelay, 15000),
        multiplier: typeof o.multiplier === 'number' && o.multiplier >= 1 ? o.multiplier : 2,
        maxElapsed: positive(o.maxElapsed, 0),
        maxAttempts: Math.floor(positive(o.maxAttempts, 0)),
        connectTimeout: positive(o.connectTimeout, 10000),
        maxOutbox: Math.floor(positive(o.maxOutbox, 1024)),
        maxOutboxBytes: Math.floor(positive(o.maxOutboxBytes, 1 << 20)),
        closeTimeout: positive(o.closeTimeout, 5000),
        ackDelay: positive(o.ackDelay, 250),
    };
}
