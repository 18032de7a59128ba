// @tether-ws/client: the browser (and Node) client of Tether.

export { TetherClient } from './client.js';
export type { TetherClientOptions } from './options.js';
export { Receipt } from './outbox.js';
export { TetherError, MalformedFrameError, type TetherErrorCode } from './errors.js';
export type {
  Status,
  Message,
  StatusEvent,
  ConnectedEvent,
  DisconnectedEvent,
  ReconnectingEvent,
  ResumedEvent,
  SessionLostEvent,
  RoomPosition,
  RoomJoinedEvent,
  RoomLeftEvent,
  PresenceEvent,
  RoomHistory,
  HistoryMessage,
  FailedEvent,
  ClosedEvent,
  ErrorEvent,
  TetherEventMap,
  TetherEventName,
  Handler,
} from './events.js';
export type { Cause } from './close-codes.js';
export { CAUSES, CloseCode, closeCodeName } from './close-codes.js';
export type { WebSocketLike, WebSocketConstructor } from './connection.js';
export type { StorageLike } from './persistence.js';
export type { LossReason, RoomLossReason } from './wire.js';
export { SUBPROTOCOL } from './wire.js';
