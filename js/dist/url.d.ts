/** An absolute ws:// or wss:// URL for `url` (a path is resolved against the page). */
export declare function resolveUrl(url: string): string;
/** `url` with the query parameter `name` set to `value`. */
export declare function withParam(url: string, name: string, value: string): string;
