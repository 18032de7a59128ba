import type { Cause } from './close-codes.js';
import type { TetherError } from './errors.js';
import type { LossReason, RoomLossReason } from './wire.js';
/** Where a client is. */
export type Status = 'connecting' | 'connected' | 'reconnecting' | 'closed' | 'failed';
/**
 * An application message with its sequence number in its direction. A
 * room's message (docs/PROTOCOL.md §14) also has its `room` ('' is the
 * user's own stream) and its `offset` in the room's stream.
 */
export type Message = {
    type: 'text';
    data: string;
    seq: number;
    room?: string;
    offset?: number;
} | {
    type: 'binary';
    data: Uint8Array;
    seq: number;
    room?: string;
    offset?: number;
};
/**
 * Where the client is in a room's stream: it has every message of the room
 * up to `offset` under `epoch` (the name of the room's history, which
 * changes when that history may have been lost).
 */
export interface RoomPosition {
    epoch: string;
    offset: number;
}
/**
 * The session is in a room, at `epoch` and `offset`: the room's next
 * message has a greater offset. When the client returned to the room after
 * losing its session (`previous` is the position it presented), the event
 * says what came back: `recovered` messages of the room follow at once,
 * before any newer one; `skipped` are still in the room's history but were
 * not replayed (read them with history()); `lost` are gone, -1 when nobody
 * can know how many, and `reason` says why.
 */
export interface RoomJoinedEvent {
    room: string;
    epoch: string;
    offset: number;
    /** The client's position in the room before this event, if it had one. */
    previous: RoomPosition | undefined;
    recovered: number;
    skipped: number;
    /** Messages after `previous` that are gone; -1 when the count is unknown. */
    lost: number;
    reason: RoomLossReason;
    /** The reason as a number (docs/PROTOCOL.md §14.3). */
    reasonCode: number;
}
/**
 * The session is no longer in a room, and the client forgot its position
 * there: the application removed it ('left'), or did not let it back in
 * after its session was lost ('not-readmitted').
 */
export interface RoomLeftEvent {
    room: string;
    reason: 'left' | 'not-readmitted';
    /** The position the client had in the room. */
    previous: RoomPosition | undefined;
}
/** A user entered (`joined`) or left a room whose presence events are on. */
export interface PresenceEvent {
    room: string;
    user: string;
    /** The session that entered, or the last one of the user to leave. */
    session: string;
    joined: boolean;
}
/** A message read from a room's history. */
export type HistoryMessage = {
    type: 'text';
    data: string;
    room: string;
    offset: number;
} | {
    type: 'binary';
    data: Uint8Array;
    room: string;
    offset: number;
};
/**
 * A page of a room's history (history()): the kept messages after the
 * page's start, in offset order. `first` is the oldest offset kept
 * (`last` + 1 when none is), `last` the room's last offset. Offsets of
 * another epoch are not comparable.
 */
export interface RoomHistory {
    room: string;
    epoch: string;
    first: number;
    last: number;
    messages: HistoryMessage[];
}
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
    /**
     * Server messages sent to the session alone (not to its rooms) that
     * this client never received, or -1 if unknown.
     */
    toClient: number;
    /**
     * Server messages this client never received that were its rooms'
     * (room messages and room events): not in `toClient`, because each room
     * recovers them, or says how many it could not, in its `roomJoined`
     * event. 0 when not known (`toClient` is then -1) or not in rooms.
     */
    inRooms: number;
    /** Messages sent to the old session whose fate is unknown (= unsent.length). */
    fromClient: number;
    /** Messages the old session certainly never processed, resent in the new one. */
    carried: number;
    /** The unknown-fate messages, with their old sequence numbers. */
    unsent: Message[];
}
/**
 * The client stopped for good. `error.code` says why: 'gave_up'
 * (maxAttempts or maxElapsed reached), 'unauthorized' (4401), 'forbidden'
 * (4403), 'kicked' (4410), 'refused' (another terminal close code, in
 * `error.closeCode`), 'unsupported' (the server does not speak tether.v1),
 * 'connect_failed' (the URL cannot be opened).
 */
export interface FailedEvent {
    error: TetherError;
    /**
     * Every message the server did not acknowledge, in order: those never
     * sent and those whose fate is unknown (the server may have processed
     * them). The client keeps none of them; their receipts reject with
     * `error`.
     */
    unsent: Message[];
}
/**
 * close() finished (or the page went away without persistence). `unsent`
 * hands back the messages the server had not acknowledged when close()
 * stopped waiting, in order (empty if it did not have to).
 */
export interface ClosedEvent {
    unsent: Message[];
}
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
    roomJoined: RoomJoinedEvent;
    roomLeft: RoomLeftEvent;
    presence: PresenceEvent;
    failed: FailedEvent;
    closed: ClosedEvent;
    error: ErrorEvent;
}
/** An event name. */
export type TetherEventName = keyof TetherEventMap;
/** A handler for event K. */
export type Handler<K extends TetherEventName> = (event: TetherEventMap[K]) => void;
