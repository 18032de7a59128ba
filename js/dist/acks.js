// When the client acknowledges what it processed: the rules of the Go
// side (internal/link/acks.go), checked against the same table of cases
// (testdata/ack-cases.json). Pure: the client arms the timer and writes.
/** The acknowledgement state of one connection. */
export class Acks {
    constructor() {
        this.want = 0;
        this.sentSeq = 0;
        this.bytes = 0;
        this.urgent = false;
        this.armed = false;
    }
    /** Both ends at seq: a connection taking over a session the server knows is processed up to seq. */
    start(seq) {
        this.want = this.sentSeq = seq;
        this.bytes = 0;
        this.urgent = this.armed = false;
    }
    /** The messages up to seq were processed, n payload bytes of them since the last call. */
    processed(p, seq, n) {
        if (seq <= this.want)
            return 'none';
        this.want = seq;
        this.bytes += n;
        if (this.urgent)
            return 'none';
        if (seq - this.sentSeq >= Math.max(1, Math.floor(p.window / 2)) || (p.bytes > 0 && this.bytes >= p.bytes)) {
            this.urgent = true;
            return 'write';
        }
        if (this.armed)
            return 'none';
        this.armed = true;
        return 'arm';
    }
    /** The timer asked for by 'arm' fired: whether to wake the writer. */
    due() {
        if (!this.armed)
            return false;
        this.armed = false;
        this.urgent = true;
        return true;
    }
    /**
     * The writer deciding on a write: `carrier` says something else goes out
     * in it. Returns the ack the write carries (a PONG carries it too) and
     * whether an ACK frame is due for it.
     */
    take(carrier) {
        if (this.want > this.sentSeq && (this.urgent || carrier)) {
            this.sentSeq = this.want;
            this.bytes = 0;
            this.urgent = this.armed = false;
            return { ack: this.sentSeq, due: true };
        }
        return { ack: this.sentSeq, due: false };
    }
    /** The highest seq acknowledged in a frame taken for writing. */
    get sent() {
        return this.sentSeq;
    }
}
