// One WebSocket under the client's session, with the per-connection
// protocol state. The client decides everything; this only moves bytes.
import { Acks } from './acks.js';
import { truncateReason } from './close-codes.js';
const CLOSED = 3;
/** A WebSocket connection and what the client tracks per connection. */
export class Connection {
    constructor(listener) {
        this.listener = listener;
        /** Session generation this connection serves. */
        this.gen = 0;
        /** WELCOME arrived. */
        this.established = false;
        /** Highest client seq written on this connection (or considered sent). */
        this.sent = 0;
        /** Acknowledgements of what the client processed (acks.ts). */
        this.acks = new Acks();
        /** The next frame must go out at once: it confirms the WELCOME (and its token). */
        this.confirm = true;
        /** A PING arrived: answer with a PONG. */
        this.pongDue = false;
        /** The server said GOAWAY: send no more messages here. */
        this.stopSending = false;
        /** Reply to the server's GOAWAY with ours. */
        this.replyDue = false;
        /** HELLO.acked and HELLO.last, to check a resumed WELCOME.recv. */
        this.helloAcked = 0;
        this.helloLast = 0;
        this.detached = false;
        this.closedWaiters = [];
        this.isClosed = false;
    }
    /** Opens the WebSocket. Throws what the constructor throws (bad URL). */
    open(ctor, url, protocols) {
        const ws = new ctor(url, protocols);
        this.ws = ws;
        ws.binaryType = 'arraybuffer';
        ws.onopen = () => {
            if (!this.detached)
                this.listener.open(this);
        };
        ws.onmessage = (ev) => {
            if (!this.detached)
                this.listener.data(this, ev.data);
        };
        ws.onerror = () => {
            // A close event always follows; it carries what can be known.
        };
        ws.onclose = (ev) => {
            this.markClosed();
            if (!this.detached)
                this.listener.close(this, ev.code ?? 1006, ev.reason ?? '');
        };
    }
    /** The subprotocol the server selected. */
    get protocol() {
        return this.ws?.protocol ?? '';
    }
    /** Sends one frame; false if the socket refused it. */
    send(frame) {
        if (!this.ws || this.detached)
            return false;
        try {
            this.ws.send(frame);
            return true;
        }
        catch {
            return false;
        }
    }
    /**
     * Stops reporting events and closes the socket with code and reason.
     * Resolves once the socket is closed (the server has acted on the close
     * frame and echoed it), or after `wait` ms, whichever comes first.
     */
    close(code, reason, clock, wait) {
        this.detached = true;
        clock.clearTimeout(this.ackTimer);
        const ws = this.ws;
        if (ws && ws.readyState !== CLOSED) {
            try {
                ws.close(code, truncateReason(reason));
            }
            catch {
                try {
                    ws.close();
                }
                catch {
                    // Nothing more can be done.
                }
            }
        }
        else {
            this.markClosed();
        }
        if (this.isClosed || wait <= 0)
            return Promise.resolve();
        return new Promise((resolve) => {
            const t = clock.setTimeout(resolve, wait);
            this.closedWaiters.push(() => {
                clock.clearTimeout(t);
                resolve();
            });
        });
    }
    markClosed() {
        if (this.isClosed)
            return;
        this.isClosed = true;
        for (const w of this.closedWaiters.splice(0))
            w();
    }
}
