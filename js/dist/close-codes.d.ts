/**
 * Close codes the client sends or interprets, by their names in the
 * shared table (testdata/protocol-table.json), camel-cased.
 */
export declare const CloseCode: {
    readonly normal: 1000;
    readonly goingAway: 1001;
    readonly websocketProtocolError: 1002;
    readonly noStatus: 1005;
    readonly abnormal: 1006;
    readonly internalError: 1011;
    readonly serviceRestart: 1012;
    readonly detach: 4000;
    readonly serverRestart: 4001;
    readonly heartbeatTimeout: 4002;
    readonly overflow: 4003;
    readonly tryAgain: 4004;
    readonly serverError: 4005;
    readonly rateLimited: 4006;
    readonly superseded: 4007;
    readonly protocolViolation: 4400;
    readonly unauthorized: 4401;
    readonly forbidden: 4403;
    readonly replaced: 4409;
    readonly kicked: 4410;
    readonly tooBig: 4413;
    readonly unsupportedProtocol: 4426;
    readonly policy: 4429;
    /** @deprecated The table's name is websocket-protocol-error: use CloseCode.websocketProtocolError. */
    readonly protocolError: 1002;
    /** @deprecated The table's name is unsupported-protocol: use CloseCode.unsupportedProtocol. */
    readonly unsupported: 4426;
};
/** A close code's name, as the Go side prints it (for logs): 'kicked', or 'close(4321)' for one without a name. */
export declare function closeCodeName(code: number): string;
/** Why a connection (or session) ended, with the Go side's names, in the order of their values (1, 2, …). */
export declare const CAUSES: readonly ["network-lost", "heartbeat-timeout", "client-detached", "server-restart", "client-closed", "expired", "server-shutdown", "kicked", "protocol-violation", "policy-violation", "overflow", "server-error", "replaced", "unauthorized", "rate-limited"];
/** Why a connection (or session) ended, with the Go side's names. */
export type Cause = (typeof CAUSES)[number];
/** Whether a client should reconnect after receiving this close code. */
export declare function shouldReconnect(code: number): boolean;
/** The TetherError code of a client that stops on a terminal close code (as the Go client's refusal). */
export type RefusalCode = 'unauthorized' | 'forbidden' | 'kicked' | 'refused';
/** Why a client that received this terminal close code stops: 4401, 4403 and 4410 have their own codes. */
export declare function refusalCode(code: number): RefusalCode;
/** The cause a received close code stands for (as the Go client's causeOf). */
export declare function causeOf(code: number): Cause;
/** Close reasons are at most 123 UTF-8 bytes; longer ones make ws.close throw. */
export declare function truncateReason(reason: string, max?: number): string;
