// Test doubles: a scriptable WebSocket that plays the server, a manual
// clock, and an in-memory Storage.

import { TetherClient } from '../src/client.js';
import type { Clock } from '../src/clock.js';
import type { WebSocketLike } from '../src/connection.js';
import type { TetherEventMap, TetherEventName } from '../src/events.js';
import type { TetherClientOptions } from '../src/options.js';
import type { StorageLike } from '../src/persistence.js';
import { decodeFrame, encodeFrame, type Frame, type WelcomeFrame } from '../src/wire.js';

/** A manual clock: timers fire only when the test advances time. */
export class FakeClock implements Clock {
  private t = 1_000_000;
  private seq = 0;
  private timers = new Map<number, { at: number; fn: () => void; order: number }>();

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn, order: id });
    return id;
  }

  clearTimeout(h: unknown): void {
    this.timers.delete(h as number);
  }

  /** Pending timers' delays from now, sorted. */
  pending(): number[] {
    return [...this.timers.values()].map((x) => x.at - this.t).sort((a, b) => a - b);
  }

  /** Moves time forward, running due timers in order (with microtasks between). */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void; order: number }] | undefined;
      for (const e of this.timers) {
        if (e[1].at <= end && (!next || e[1].at < next[1].at || (e[1].at === next[1].at && e[1].order < next[1].order))) next = e;
      }
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = Math.max(this.t, next[1].at);
      next[1].fn();
      await settle();
    }
    this.t = end;
    await settle();
  }

  /**
   * Moves time forward running due timers at once, without letting
   * microtasks run in between: for events that happen while a handler
   * runs (the handler calls it).
   */
  advanceSync(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void; order: number }] | undefined;
      for (const e of this.timers) {
        if (e[1].at <= end && (!next || e[1].at < next[1].at || (e[1].at === next[1].at && e[1].order < next[1].order))) next = e;
      }
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = Math.max(this.t, next[1].at);
      next[1].fn();
    }
    this.t = end;
  }

  /** Jumps time forward without running timers (a frozen tab). */
  jump(ms: number): void {
    this.t += ms;
  }

  /** Runs timers due now or earlier (a tab that wakes up). */
  async runDue(): Promise<void> {
    await this.advance(0);
  }
}

/** Lets pending microtasks and promise chains run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
}

/** A WebSocket the test drives from the server's side. */
export class FakeSocket implements WebSocketLike {
  static instances: FakeSocket[] = [];

  binaryType = 'blob';
  protocol = '';
  readyState = 0;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: unknown) => void) | null = null;
  onclose: ((ev: unknown) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  /** Frames the client sent, decoded. */
  readonly sent: Frame[] = [];
  /** The client's close call, if any. */
  closedWith: { code?: number; reason?: string } | undefined;

  constructor(readonly url: string, readonly protocols?: string | string[]) {
    FakeSocket.instances.push(this);
  }

  send(data: Uint8Array): void {
    if (this.readyState !== 1) throw new Error('not open');
    this.sent.push(decodeFrame(data));
  }

  close(code?: number, reason?: string): void {
    if (this.closedWith) return;
    this.closedWith = { code, reason };
    if (this.readyState === 3) return;
    this.readyState = 2;
  }

  // ---- the server's side ----

  /** Completes the handshake with the given subprotocol. */
  accept(protocol = 'tether.v1'): void {
    this.protocol = protocol;
    this.readyState = 1;
    this.onopen?.({});
  }

  /** Delivers a frame (or raw data) to the client. */
  deliver(f: Frame | Uint8Array | string): void {
    const data = typeof f === 'string' ? f : f instanceof Uint8Array ? f : encodeFrame(f);
    const buf = typeof data === 'string' ? data : data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
    this.onmessage?.({ data: buf });
  }

  /** The server closes the connection (or the network drops it, with 1006). */
  serverClose(code = 1006, reason = ''): void {
    this.readyState = 3;
    this.onclose?.({ code, reason, wasClean: code !== 1006 });
  }

  /** Completes a close the client started, as a server echoing it would. */
  echoClose(): void {
    if (!this.closedWith) throw new Error('client did not close');
    this.serverClose(this.closedWith.code ?? 1005, this.closedWith.reason ?? '');
  }

  /** Frames of one type the client sent. */
  sentOf<T extends Frame['type']>(type: T): Array<Frame & { type: T }> {
    return this.sent.filter((f) => f.type === type) as Array<Frame & { type: T }>;
  }

  /** Message frames the client sent, as [seq, text]. */
  messages(): Array<[number, string]> {
    return this.sent.flatMap((f) => (f.type === 'text' || f.type === 'binary' ? [[f.seq, new TextDecoder().decode(f.payload)] as [number, string]] : []));
  }
}

/** In-memory Storage. */
export class FakeStorage implements StorageLike {
  readonly map = new Map<string, string>();
  getItem(k: string): string | null {
    return this.map.get(k) ?? null;
  }
  setItem(k: string, v: string): void {
    this.map.set(k, v);
  }
  removeItem(k: string): void {
    this.map.delete(k);
  }
}

const enc = new TextEncoder();

/** A WELCOME with defaults; override what the test needs. */
export function welcome(o: Partial<Omit<WelcomeFrame, 'sessionId' | 'token' | 'epoch'>> & { sessionId?: string; token?: string; epoch?: string } = {}): WelcomeFrame {
  return {
    type: 'welcome',
    flags: o.flags ?? 0,
    sessionId: enc.encode(o.sessionId ?? 'sess-1'),
    token: enc.encode(o.token ?? 'tok-1'),
    epoch: enc.encode(o.epoch ?? 'ep-1'),
    recv: o.recv ?? 0,
    replay: o.replay ?? 0,
    reason: o.reason ?? 0,
    prevIn: o.prevIn ?? 0,
    prevOut: o.prevOut ?? 0,
    heartbeat: o.heartbeat ?? 1000,
    timeout: o.timeout ?? 2000,
    maxSize: o.maxSize ?? 65536,
    window: o.window ?? 4096,
    grace: o.grace ?? 120000,
    ...(o.features !== undefined ? { features: o.features } : {}),
    ...(o.prevRooms !== undefined ? { prevRooms: o.prevRooms } : {}),
  };
}

/** A TEXT frame. */
export function text(seq: number, s: string): Frame {
  return { type: 'text', seq, payload: enc.encode(s) };
}

/** A client under test with its fakes and a log of events. */
export class Harness {
  readonly clock = new FakeClock();
  readonly env = new EventTarget();
  readonly events: Array<{ name: TetherEventName; payload: unknown }> = [];
  readonly messages: string[] = [];
  readonly client: TetherClient;
  readonly firstSocket: number;

  constructor(opts: TetherClientOptions = {}, url = 'ws://tether.test/ws') {
    this.firstSocket = FakeSocket.instances.length;
    this.client = new TetherClient(url, {
      WebSocket: FakeSocket,
      clock: this.clock,
      environment: this.env,
      random: () => 0.5,
      ...opts,
    });
    const names: TetherEventName[] = [
      'message', 'status', 'connected', 'disconnected', 'reconnecting', 'resumed', 'sessionLost', 'roomJoined', 'roomLeft', 'presence',
      'failed', 'closed', 'error',
    ];
    for (const n of names) {
      this.client.on(n, (p: unknown) => {
        this.events.push({ name: n, payload: p });
        if (n === 'message') {
          const m = p as TetherEventMap['message'];
          this.messages.push(typeof m.data === 'string' ? m.data : `bin:${[...m.data].join(',')}`);
        }
      });
    }
  }

  /** Lets the client's delayed acks go: TetherClientOptions.ackDelay (default 250) passes. */
  async acks(): Promise<void> {
    await this.clock.advance(250);
  }

  /** Sockets this client opened. */
  get sockets(): FakeSocket[] {
    return FakeSocket.instances.slice(this.firstSocket);
  }

  /** The latest socket. */
  get ws(): FakeSocket {
    const s = this.sockets;
    if (s.length === 0) throw new Error('no socket yet');
    return s[s.length - 1];
  }

  /** Event names, in order. */
  names(filter?: (n: string) => boolean): string[] {
    return this.events.map((e) => e.name).filter((n) => (filter ? filter(n) : n !== 'status' && n !== 'message'));
  }

  /** Payloads of one event type. */
  of<K extends TetherEventName>(name: K): TetherEventMap[K][] {
    return this.events.filter((e) => e.name === name).map((e) => e.payload as TetherEventMap[K]);
  }

  /** Opens the next socket and answers its HELLO with `w`. */
  async connect(w: WelcomeFrame = welcome()): Promise<FakeSocket> {
    await settle();
    const ws = this.ws;
    ws.accept();
    ws.deliver(w);
    await settle();
    return ws;
  }
}
