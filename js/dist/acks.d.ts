/** When an acknowledgement goes out on its own rather than riding on the next frame. */
export interface AckPolicy {
    /** Longest an ack may wait for a frame to ride on, in milliseconds. */
    delay: number;
    /** The server's limit on unacknowledged messages: half of it pending makes the ack urgent. 0: every ack is urgent. */
    window: number;
    /** Processed payload bytes that make the ack urgent. 0: no byte rule. */
    bytes: number;
}
/** What a transition asks of its owner: nothing, wake the writer, or arm a timer of `delay` and call due() when it fires. */
export type AckEffect = 'none' | 'write' | 'arm';
/** The acknowledgement state of one connection. */
export declare class Acks {
    private want;
    private sentSeq;
    private bytes;
    private urgent;
    private armed;
    /** Both ends at seq: a connection taking over a session the server knows is processed up to seq. */
    start(seq: number): void;
    /** The messages up to seq were processed, n payload bytes of them since the last call. */
    processed(p: AckPolicy, seq: number, n: number): AckEffect;
    /** The timer asked for by 'arm' fired: whether to wake the writer. */
    due(): boolean;
    /**
     * The writer deciding on a write: `carrier` says something else goes out
     * in it. Returns the ack the write carries (a PONG carries it too) and
     * whether an ACK frame is due for it.
     */
    take(carrier: boolean): {
        ack: number;
        due: boolean;
    };
    /** The highest seq acknowledged in a frame taken for writing. */
    get sent(): number;
}
