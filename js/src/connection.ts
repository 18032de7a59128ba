// One WebSocket under the client's session, with the per-connection
// protocol state. The client decides everything; this only moves bytes.

import type { Clock } from './clock.js';
import { Acks } from './acks.js';
import { truncateReason } from './close-codes.js';

/** The part of the WebSocket API the client uses (browsers' WebSocket, or a fake). */
export interface WebSocketLike {
  binaryType: string;
  readonly protocol: string;
  readonly readyState: number;
  // Handler parameters are `any` so the DOM's WebSocket (and Node's 'ws')
  // are assignable without casts.
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: any) => void) | null;
  onclose: ((ev: any) => void) | null;
  onerror: ((ev: any) => void) | null;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
}

/** A WebSocket constructor. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** What a connection reports to the client. */
export interface ConnectionListener {
  open(conn: Connection): void;
  data(conn: Connection, data: unknown): void;
  close(conn: Connection, code: number, reason: string): void;
}

const CLOSED = 3;

/** A WebSocket connection and what the client tracks per connection. */
export class Connection {
  /** Session generation this connection serves. */
  gen = 0;
  /** WELCOME arrived. */
  established = false;
  /** Highest client seq written on this connection (or considered sent). */
  sent = 0;
  /** Acknowledgements of what the client processed (acks.ts). */
  readonly acks = new Acks();
  /** Runs when acks asks for it ('arm'). */
  ackTimer: unknown;
  /** The next frame must go out at once: it confirms the WELCOME (and its token). */
  confirm = true;
  /** A PING arrived: answer with a PONG. */
  pongDue = false;
  /** The server said GOAWAY: send no more messages here. */
  stopSending = false;
  /** Reply to the server's GOAWAY with ours. */
  replyDue = false;
  /** HELLO.acked and HELLO.last, to check a resumed WELCOME.recv. */
  helloAcked = 0;
  helloLast = 0;
  /** Handshake timer. */
  timer: unknown;

  private ws: WebSocketLike | undefined;
  private detached = false;
  private closedWaiters: Array<() => void> = [];
  private isClosed = false;

  constructor(private readonly listener: ConnectionListener) {}

  /** Opens the WebSocket. Throws what the constructor throws (bad URL). */
  open(ctor: WebSocketConstructor, url: string, protocols: string[]): void {
    const ws = new ctor(url, protocols);
    this.ws = ws;
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => {
      if (!this.detached) this.listener.open(this);
    };
    ws.onmessage = (ev: { data: unknown }) => {
      if (!this.detached) this.listener.data(this, ev.data);
    };
    ws.onerror = () => {
      // A close event always follows; it carries what can be known.
    };
    ws.onclose = (ev: { code?: number; reason?: string }) => {
      this.markClosed();
      if (!this.detached) this.listener.close(this, ev.code ?? 1006, ev.reason ?? '');
    };
  }

  /** The subprotocol the server selected. */
  get protocol(): string {
    return this.ws?.protocol ?? '';
  }

  /** Sends one frame; false if the socket refused it. */
  send(frame: Uint8Array): boolean {
    if (!this.ws || this.detached) return false;
    try {
      this.ws.send(frame);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Stops reporting events and closes the socket with code and reason.
   * Resolves once the socket is closed (the server has acted on the close
   * frame and echoed it), or after `wait` ms, whichever comes first.
   */
  close(code: number, reason: string, clock: Clock, wait: number): Promise<void> {
    this.detached = true;
    clock.clearTimeout(this.ackTimer);
    const ws = this.ws;
    if (ws && ws.readyState !== CLOSED) {
      try {
        ws.close(code, truncateReason(reason));
      } catch {
        try {
          ws.close();
        } catch {
          // Nothing more can be done.
        }
      }
    } else {
      this.markClosed();
    }
    if (this.isClosed || wait <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const t = clock.setTimeout(resolve, wait);
      this.closedWaiters.push(() => {
        clock.clearTimeout(t);
        resolve();
      });
    });
  }

  private markClosed(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    for (const w of this.closedWaiters.splice(0)) w();
  }
}
