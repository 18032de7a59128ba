// @tether-ws/client: the browser (and Node) client of Tether.
export { TetherClient } from './client.js';
export { Receipt } from './outbox.js';
export { TetherError, MalformedFrameError } from './errors.js';
export { CAUSES, CloseCode, closeCodeName } from './close-codes.js';
export { SUBPROTOCOL } from './wire.js';
