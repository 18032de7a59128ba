// The client's public event types.

import type { Cause } from './close-codes.js';
import type { TetherError } from './errors.js';
import type { LossReason } from './wire.js';

/** Where a client is. */
export type Status = 'connecting' | 'connected' | 'reconnecting' | 'closed' | 'failed';

/** An application message with its sequence number in its direction. */
export type Message =
  | { type: 'text'; data: string; seq: number }
  | { type: 'binary'; data: Uint8Array; seq: number };

/** A status change. */
export interface StatusEvent {
  status: Status;
  previous: Status;
}

/** A new session started: the first one, or one replacing a lost session. */
export interface ConnectedEvent {
  sessionId: string;
}

/** The connection was lost; the session may still resume. */
export interface DisconnectedEvent {
  cause: Cause;
  /** The close code received from the server, or 0 if none (or the client closed). */
  code: number;
  /** The close reason received, or a description of what happened. */
  reason: string;
}

/** The next connection attempt starts after `delay` ms. */
export interface ReconnectingEvent {
  attempt: number;
  delay: number;
  /** Why the previous connection or attempt failed. */
  error: TetherError | undefined;
}

/** The session was resumed on a new connection. */
export interface ResumedEvent {
  sessionId: string;
  /** Server messages replayed after the resume. */
  toClient: number;
  /** Queued or unacknowledged messages sent (again) after the resume. */
  fromClient: number;
}

/**
 * The session could not be resumed and a new one started (a `connected`
 * event follows). Messages in `unsent` have an unknown fate: they are not
 * resent, the application decides.
 */
export interface SessionLostEvent {
  /** The session that is gone. */
  sessionId: string;
  /** Why it is gone. */
  reason: LossReason;
  /** WELCOME.reason as a number. */
  reasonCode: number;
  /** Server messages this client never received, or -1 if unknown. */
  toClient: number;
  /** Messages sent to the old session whose fate is unknown (= unsent.length). */
  fromClient: number;
  /** Messages the old session certainly never processed, resent in the new one. */
  carried: number;
  /** The unknown-fate messages, with their old sequence numbers. */
  unsent: Message[];
}

/** The client stopped for good. */
export interface FailedEvent {
  error: TetherError;
}

/** close() finished. */
export type ClosedEvent = Record<string, never>;

/** Something went wrong that the client handled: a handler threw, the server misbehaved, storage failed. */
export interface ErrorEvent {
  error: TetherError;
}

/** Every event name with its payload type. */
export interface TetherEventMap {
  message: Message;
  status: StatusEvent;
  connected: ConnectedEvent;
  disconnected: DisconnectedEvent;
  reconnecting: ReconnectingEvent;
  resumed: ResumedEvent;
  sessionLost: SessionLostEvent;
  failed: FailedEvent;
  closed: ClosedEvent;
  error: ErrorEvent;
}

/** An event name. */
export type TetherEventName = keyof TetherEventMap;

/** A handler for event K. */
export type Handler<K extends TetherEventName> = (event: TetherEventMap[K]) => void;
