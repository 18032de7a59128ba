// Time sources, replaceable in tests.
/**
 * Elapsed real time that never goes backwards. Each reading advances by
 * the larger of what performance.now() and Date.now() moved since the last
 * one: performance.now() is immune to wall-clock changes but may stand
 * still while the machine sleeps, Date.now() counts the sleep but may jump.
 * A backward jump is ignored; a forward one at worst makes the watchdog
 * reconnect once, which resuming makes cheap.
 */
function realTime() {
    const perf = typeof performance !== 'undefined' && typeof performance.now === 'function' ? () => performance.now() : Date.now;
    let t = 0;
    let lastPerf = perf();
    let lastDate = Date.now();
    return () => {
        const p = perf();
        const d = Date.now();
        t += Math.max(p - lastPerf, d - lastDate, 0);
        lastPerf = p;
        lastDate = d;
        return t;
    };
}
/** The platform's timers, with realTime() as the clock. */
export const systemClock = {
    now: realTime(),
    setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
    clearTimeout: (h) => globalThis.clearTimeout(h),
};
