// When the client acknowledges what it processed: the rules of the Go
// side (internal/link/acks.go), checked against the same table of cases
// (testdata/ack-cases.json). Pure: the client arms the timer and writes.

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
export class Acks {
  private want = 0;
  private sentSeq = 0;
  private bytes = 0;
  private urgent = false;
  private armed = false;

  /** Both ends at seq: a connection taking over a session the server knows is processed up to seq. */
  start(seq: number): void {
    this.want = this.sentSeq = seq;
    this.bytes = 0;
    this.urgent = this.armed = false;
  }

  /** The messages up to seq were processed, n payload bytes of them since the last call. */
  processed(p: AckPolicy, seq: number, n: number): AckEffect {
    if (seq <= this.want) return 'none';
    this.want = seq;
    this.bytes += n;
    if (this.urgent) return 'none';
    if (seq - this.sentSeq >= Math.max(1, Math.floor(p.window / 2)) || (p.bytes > 0 && this.bytes >= p.bytes)) {
      this.urgent = true;
      return 'write';
    }
    if (this.armed) return 'none';
    this.armed = true;
    return 'arm';
  }

  /** The timer asked for by 'arm' fired: whether to wake the writer. */
  due(): boolean {
    if (!this.armed) return false;
    this.armed = false;
    this.urgent = true;
    return true;
  }

  /**
   * The writer deciding on a write: `carrier` says something else goes out
   * in it. Returns the ack the write carries (a PONG carries it too) and
   * whether an ACK frame is due for it.
   */
  take(carrier: boolean): { ack: number; due: boolean } {
    if (this.want > this.sentSeq && (this.urgent || carrier)) {
      this.sentSeq = this.want;
      this.bytes = 0;
      this.urgent = this.armed = false;
      return { ack: this.sentSeq, due: true };
    }
    return { ack: this.sentSeq, due: false };
  }

  /** The highest seq acknowledged in a frame taken for writing. */
  get sent(): number {
    return this.sentSeq;
  }
}
