// WebSocket close codes and what they mean to a client
// (docs/PROTOCOL.md §11, internal/wire/close.go).

/**
 * Close codes the client sends or interprets, by their names in the
 * shared table (testdata/protocol-table.json), camel-cased.
 */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  websocketProtocolError: 1002,
  noStatus: 1005,
  abnormal: 1006,
  internalError: 1011,
  serviceRestart: 1012,
  detach: 4000,
  serverRestart: 4001,
  heartbeatTimeout: 4002,
  overflow: 4003,
  tryAgain: 4004,
  serverError: 4005,
  rateLimited: 4006,
  superseded: 4007,
  protocolViolation: 4400,
  unauthorized: 4401,
  forbidden: 4403,
  replaced: 4409,
  kicked: 4410,
  tooBig: 4413,
  unsupportedProtocol: 4426,
  policy: 4429,
  /** @deprecated The table's name is websocket-protocol-error: use CloseCode.websocketProtocolError. */
  protocolError: 1002,
  /** @deprecated The table's name is unsupported-protocol: use CloseCode.unsupportedProtocol. */
  unsupported: 4426,
} as const;

const closeCodeNames = new Map<number, string>([
  [1000, 'normal'], [1001, 'going-away'], [1002, 'websocket-protocol-error'], [1005, 'no-status'], [1006, 'abnormal'],
  [1011, 'internal-error'], [1012, 'service-restart'], [4000, 'detach'], [4001, 'server-restart'], [4002, 'heartbeat-timeout'],
  [4003, 'overflow'], [4004, 'try-again'], [4005, 'server-error'], [4006, 'rate-limited'], [4007, 'superseded'],
  [4400, 'protocol-violation'], [4401, 'unauthorized'], [4403, 'forbidden'], [4409, 'replaced'], [4410, 'kicked'],
  [4413, 'too-big'], [4426, 'unsupported-protocol'], [4429, 'policy'],
]);

/** A close code's name, as the Go side prints it (for logs): 'kicked', or 'close(4321)' for one without a name. */
export function closeCodeName(code: number): string {
  return closeCodeNames.get(code) ?? `close(${code})`;
}

/** Why a connection (or session) ended, with the Go side's names, in the order of their values (1, 2, …). */
export const CAUSES = [
  'network-lost',
  'heartbeat-timeout',
  'client-detached',
  'server-restart',
  'client-closed',
  'expired',
  'server-shutdown',
  'kicked',
  'protocol-violation',
  'policy-violation',
  'overflow',
  'server-error',
  'replaced',
  'unauthorized',
  'rate-limited',
] as const;

/** Why a connection (or session) ended, with the Go side's names. */
export type Cause = (typeof CAUSES)[number];

/** Whether a client should reconnect after receiving this close code. */
export function shouldReconnect(code: number): boolean {
  if (code >= 4000 && code < 4400) return true;
  if (code >= 4400 && code < 5000) return false;
  switch (code) {
    case 1000: case 1002: case 1003: case 1007: case 1008: case 1009: case 1010:
      return false;
  }
  return true;
}

/** The TetherError code of a client that stops on a terminal close code (as the Go client's refusal). */
export type RefusalCode = 'unauthorized' | 'forbidden' | 'kicked' | 'refused';

/** Why a client that received this terminal close code stops: 4401, 4403 and 4410 have their own codes. */
export function refusalCode(code: number): RefusalCode {
  switch (code) {
    case CloseCode.unauthorized: return 'unauthorized';
    case CloseCode.forbidden: return 'forbidden';
    case CloseCode.kicked: return 'kicked';
  }
  return 'refused';
}

/** The cause a received close code stands for (as the Go client's causeOf). */
export function causeOf(code: number): Cause {
  switch (code) {
    case CloseCode.serverRestart: return 'server-restart';
    case CloseCode.heartbeatTimeout: return 'heartbeat-timeout';
    case CloseCode.overflow: return 'overflow';
    case CloseCode.serverError: return 'server-error';
    case CloseCode.protocolViolation:
    case CloseCode.unsupportedProtocol: return 'protocol-violation';
    case CloseCode.unauthorized:
    case CloseCode.forbidden: return 'unauthorized';
    case CloseCode.replaced: case CloseCode.superseded: return 'replaced';
    case CloseCode.kicked: return 'kicked';
    case CloseCode.rateLimited: return 'rate-limited';
    case CloseCode.tooBig:
    case CloseCode.policy: return 'policy-violation';
    case CloseCode.normal: return 'server-shutdown';
  }
  return 'network-lost';
}

/** Close reasons are at most 123 UTF-8 bytes; longer ones make ws.close throw. */
export function truncateReason(reason: string, max = 123): string {
  const enc = new TextEncoder();
  if (enc.encode(reason).length <= max) return reason;
  let out = '';
  let n = 0;
  for (const ch of reason) {
    const len = enc.encode(ch).length;
    if (n + len > max) break;
    out += ch;
    n += len;
  }
  return out;
}
