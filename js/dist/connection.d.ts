import type { Clock } from './clock.js';
import { Acks } from './acks.js';
/** The part of the WebSocket API the client uses (browsers' WebSocket, or a fake). */
export interface WebSocketLike {
    binaryType: string;
    readonly protocol: string;
    readonly readyState: number;
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
/** A WebSocket connection and what the client tracks per connection. */
export declare class Connection {
    private readonly listener;
    /** Session generation this connection serves. */
    gen: number;
    /** WELCOME arrived. */
    established: boolean;
    /** Highest client seq written on this connection (or considered sent). */
    sent: number;
    /** Acknowledgements of what the client processed (acks.ts). */
    readonly acks: Acks;
    /** Runs when acks asks for it ('arm'). */
    ackTimer: unknown;
    /** The next frame must go out at once: it confirms the WELCOME (and its token). */
    confirm: boolean;
    /** A PING arrived: answer with a PONG. */
    pongDue: boolean;
    /** The server said GOAWAY: send no more messages here. */
    stopSending: boolean;
    /** Reply to the server's GOAWAY with ours. */
    replyDue: boolean;
    /** HELLO.acked and HELLO.last, to check a resumed WELCOME.recv. */
    helloAcked: number;
    helloLast: number;
    /** Handshake timer. */
    timer: unknown;
    private ws;
    private detached;
    private closedWaiters;
    private isClosed;
    constructor(listener: ConnectionListener);
    /** Opens the WebSocket. Throws what the constructor throws (bad URL). */
    open(ctor: WebSocketConstructor, url: string, protocols: string[]): void;
    /** The subprotocol the server selected. */
    get protocol(): string;
    /** Sends one frame; false if the socket refused it. */
    send(frame: Uint8Array): boolean;
    /**
     * Stops reporting events and closes the socket with code and reason.
     * Resolves once the socket is closed (the server has acted on the close
     * frame and echoed it), or after `wait` ms, whichever comes first.
     */
    close(code: number, reason: string, clock: Clock, wait: number): Promise<void>;
    private markClosed;
}
