// WebSocket close codes and what they mean to a client
// (docs/PROTOCOL.md §11, internal/wire/close.go).
/** Close codes the client sends or interprets. */
export const CloseCode = {
    normal: 1000,
    goingAway: 1001,
    protocolError: 1002,
    noStatus: 1005,
    abnormal: 1006,
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
    unsupported: 4426,
    policy: 4429,
};
/** Whether a client should reconnect after receiving this close code. */
export function shouldReconnect(code) {
    if (code >= 4000 && code < 4400)
        return true;
    if (code >= 4400 && code < 5000)
        return false;
    switch (code) {
        case 1000:
        case 1002:
        case 1003:
        case 1007:
        case 1008:
        case 1009:
        case 1010:
            return false;
    }
    return true;
}
/** Why a client that received this terminal close code stops: 4401, 4403 and 4410 have their own codes. */
export function refusalCode(code) {
    switch (code) {
        case CloseCode.unauthorized: return 'unauthorized';
        case CloseCode.forbidden: return 'forbidden';
        case CloseCode.kicked: return 'kicked';
    }
    return 'refused';
}
/** The cause a received close code stands for (as the Go client's causeOf). */
export function causeOf(code) {
    switch (code) {
        case CloseCode.serverRestart: return 'server-restart';
        case CloseCode.heartbeatTimeout: return 'heartbeat-timeout';
        case CloseCode.overflow: return 'overflow';
        case CloseCode.serverError: return 'server-error';
        case CloseCode.protocolViolation:
        case CloseCode.unsupported: return 'protocol-violation';
        case CloseCode.unauthorized:
        case CloseCode.forbidden: return 'unauthorized';
        case CloseCode.replaced:
        case CloseCode.superseded: return 'replaced';
        case CloseCode.kicked: return 'kicked';
        case CloseCode.rateLimited: return 'rate-limited';
        case CloseCode.tooBig:
        case CloseCode.policy: return 'policy-violation';
        case CloseCode.normal: return 'server-shutdown';
    }
    return 'network-lost';
}
/** Close reasons are at most 123 UTF-8 bytes; longer ones make ws.close throw. */
export function truncateReason(reason, max = 123) {
    const enc = new TextEncoder();
    if (enc.encode(reason).length <= max)
        return reason;
    let out = '';
    let n = 0;
    for (const ch of reason) {
        const len = enc.encode(ch).length;
        if (n + len > max)
            break;
        out += ch;
        n += len;
    }
    return out;
}
