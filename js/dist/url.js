// The WebSocket URL: resolved against the page, http(s) mapped to ws(s).
/** An absolute ws:// or wss:// URL for `url` (a path is resolved against the page). */
export function resolveUrl(url) {
    const base = globalThis.location?.href;
    const u = base ? new URL(url, base) : new URL(url);
    if (u.protocol === 'http:')
        u.protocol = 'ws:';
    else if (u.protocol === 'https:')
        u.protocol = 'wss:';
    return u.toString();
}
/** `url` with the query parameter `name` set to `value`. */
export function withParam(url, name, value) {
    const u = new URL(url);
    u.searchParams.set(name, value);
    return u.toString();
}
