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
export declare function defaultEnvironment(): EventTarget | null;
/** Subscribes to the signals on env; returns the unsubscribe function. */
export declare function watchPage(env: EventTarget | null, s: PageSignals): () => void;
