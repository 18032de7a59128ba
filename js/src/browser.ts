// The browser signals the client listens to: the network coming and going,
// and the page going away or coming back from the back/forward cache.

/** What the client does on each signal. */
export interface PageSignals {
  online(): void;
  offline(): void;
  /** The page is being hidden for good (persisted = false) or into the bfcache. */
  pageHide(persisted: boolean): void;
  /** The page came back from the bfcache. */
  pageShow(): void;
  /** Last chance to save state before unload. */
  beforeUnload(): void;
}

/** The default environment: the window, when there is one. */
export function defaultEnvironment(): EventTarget | null {
  const g = globalThis as { window?: EventTarget; addEventListener?: unknown };
  return typeof g.window === 'object' && g.window !== null && typeof g.addEventListener === 'function' ? g.window : null;
}

/** Subscribes to the signals on env; returns the unsubscribe function. */
export function watchPage(env: EventTarget | null, s: PageSignals): () => void {
  if (!env) return () => {};
  const handlers: Array<[string, (ev: Event) => void]> = [
    ['online', () => s.online()],
    ['offline', () => s.offline()],
    ['pagehide', (ev) => s.pageHide(Boolean((ev as { persisted?: boolean }).persisted))],
    ['pageshow', (ev) => {
      if ((ev as { persisted?: boolean }).persisted) s.pageShow();
    }],
    ['beforeunload', () => s.beforeUnload()],
  ];
  for (const [name, h] of handlers) env.addEventListener(name, h);
  return () => {
    for (const [name, h] of handlers) env.removeEventListener(name, h);
  };
}
