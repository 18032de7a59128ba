// Client options and their defaults.

import type { Clock } from './clock.js';
import type { WebSocketConstructor } from './connection.js';
import type { RoomPosition } from './events.js';
import type { StorageLike } from './persistence.js';

/** Options for a TetherClient. Every field is optional. Times are in milliseconds. */
export interface TetherClientOptions {
  /** More subprotocols to offer after tether.v1. */
  protocols?: string[];
  /**
   * Called before every connection attempt; the result is appended to the
   * URL as `?token=…`, so a refreshed token (a JWT) is used on reconnect.
   */
  token?: () => string | Promise<string>;
  /** The query parameter `token` goes in. Default 'token'. */
  tokenParam?: string;

  /** Backoff: attempt n waits a random time in [0, min(maxDelay, initialDelay·multiplier^(n−1))). Defaults 250, 15000, 2. */
  initialDelay?: number;
  maxDelay?: number;
  multiplier?: number;
  /** Give up (status 'failed') after this long without a connection. 0 (default) means never. */
  maxElapsed?: number;
  /** Give up after this many failed attempts in a row. 0 (default) means never. */
  maxAttempts?: number;
  /** Bounds one connection attempt, up to the WELCOME. Default 10000. */
  connectTimeout?: number;

  /**
   * Bounds on messages sent but not yet acknowledged, including those
   * queued while offline. Defaults 1024 and 1 MiB. When full, send()
   * waits while connected and rejects with 'outbox_full' while not.
   */
  maxOutbox?: number;
  maxOutboxBytes?: number;
  /** How long close() waits for the outbox to be acknowledged. Default 5000. */
  closeTimeout?: number;
  /**
   * How long the acknowledgement of received messages may wait for an
   * outgoing frame to ride on. It goes at once when half the server's
   * replay window or 64 KiB is unacknowledged, or when the server asks
   * (drain, heartbeat). Delaying spares the server a read per delivery.
   * Default 250, as the Go client's Options.AckDelay.
   */
  ackDelay?: number;

  /**
   * Keep the session in sessionStorage ('session') or localStorage
   * ('local') so a page reload resumes it. Off by default. With 'local',
   * only one tab may use the session at a time (a second tab resuming it
   * makes the server close the first with 4409).
   */
  persist?: 'session' | 'local' | false;
  /** The storage key. Default 'tether:' + the URL. */
  persistKey?: string;

  /**
   * Room positions to start from, by room name (what rooms() returned,
   * say, in an earlier life of the page): presented whenever the client
   * starts a new session, so that the server readmits it to those rooms
   * and replays what it missed. A session restored by `persist` brings
   * its own positions, which win.
   */
  rooms?: Record<string, RoomPosition>;

  /** The WebSocket constructor. Default globalThis.WebSocket. */
  WebSocket?: WebSocketConstructor;

  /** @internal Timers and clock (tests). */
  clock?: Clock;
  /** @internal Random source for the backoff jitter (tests). */
  random?: () => number;
  /** @internal Storage to persist in, instead of the one `persist` names (tests). */
  storage?: StorageLike;
  /** @internal Where online/offline/pagehide/pageshow events come from; null for none. Default: window, if any. */
  environment?: EventTarget | null;
}

/** Options with defaults applied. */
export interface ResolvedOptions {
  protocols: string[];
  token: (() => string | Promise<string>) | undefined;
  tokenParam: string;
  initialDelay: number;
  maxDelay: number;
  multiplier: number;
  maxElapsed: number;
  maxAttempts: number;
  connectTimeout: number;
  maxOutbox: number;
  maxOutboxBytes: number;
  closeTimeout: number;
  ackDelay: number;
}

function positive(v: number | undefined, def: number): number {
  return typeof v === 'number' && v > 0 && Number.isFinite(v) ? v : def;
}

/** Applies the defaults (the Go client's where it has one). */
export function resolveOptions(o: TetherClientOptions): ResolvedOptions {
  return {
    protocols: (o.protocols ?? []).filter((p) => p !== 'tether.v1'),
    token: o.token,
    tokenParam: o.tokenParam || 'token',
    initialDelay: positive(o.initialDelay, 250),
    maxDelay: positive(o.maxDelay, 15_000),
    multiplier: typeof o.multiplier === 'number' && o.multiplier >= 1 ? o.multiplier : 2,
    maxElapsed: positive(o.maxElapsed, 0),
    maxAttempts: Math.floor(positive(o.maxAttempts, 0)),
    connectTimeout: positive(o.connectTimeout, 10_000),
    maxOutbox: Math.floor(positive(o.maxOutbox, 1024)),
    maxOutboxBytes: Math.floor(positive(o.maxOutboxBytes, 1 << 20)),
    closeTimeout: positive(o.closeTimeout, 5000),
    ackDelay: positive(o.ackDelay, 250),
  };
}
