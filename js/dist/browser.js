// The browser signals the client listens to: the network coming and going,
// and the page going away or coming back from the back/forward cache.
/** The default environment: the window, when there is one. */
export function defaultEnvironment() {
    const g = globalThis;
    return typeof g.window === 'object' && g.window !== null && typeof g.addEventListener === 'function' ? g.window : null;
}
/** Subscribes to the signals on env; returns the unsubscribe function. */
export function watchPage(env, s) {
    if (!env)
        return () => { };
    const handlers = [
        ['online', () => s.online()],
        ['offline', () => s.offline()],
        ['pagehide', (ev) => s.pageHide(Boolean(ev.persisted))],
        ['pageshow', (ev) => {
                if (ev.persisted)
                    s.pageShow();
            }],
        ['beforeunload', () => s.beforeUnload()],
    ];
    for (const [name, h] of handlers)
        env.addEventListener(name, h);
    return () => {
        for (const [name, h] of handlers)
            env.removeEventListener(name, h);
    };
}
