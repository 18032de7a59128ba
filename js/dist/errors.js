// Errors the client reports, each with a stable machine-readable code.
/** An error from the Tether client. */
export class TetherError extends Error {
    constructor(code, message, extra = {}) {
        super(message);
        this.name = 'TetherError';
        this.code = code;
        if (extra.closeCode !== undefined)
            this.closeCode = extra.closeCode;
        if (extra.cause !== undefined)
            this.cause = extra.cause;
    }
}
/** A frame that cannot be decoded (docs/PROTOCOL.md §3.4). */
export class MalformedFrameError extends Error {
    constructor() {
        super(...arguments);
        this.name = 'MalformedFrameError';
    }
}
