// Small helpers for UTF-8 and base64 without Node or DOM-only APIs.
const encoder = new TextEncoder();
const strictDecoder = new TextDecoder('utf-8', { fatal: true });
const looseDecoder = new TextDecoder('utf-8');
/** UTF-8 bytes of a string. */
export function utf8(s) {
    return encoder.encode(s);
}
/** Decodes UTF-8, or returns undefined if the bytes are not valid UTF-8. */
export function fromUtf8(b) {
    try {
        return strictDecoder.decode(b);
    }
    catch {
        return undefined;
    }
}
/** Decodes UTF-8, replacing invalid sequences (for display only). */
export function fromUtf8Loose(b) {
    return looseDecoder.decode(b);
}
/** Base64 of bytes (standard alphabet, padded). */
export function toBase64(b) {
    let s = '';
    for (let i = 0; i < b.length; i += 0x8000) {
        s += String.fromCharCode(...b.subarray(i, i + 0x8000));
    }
    return btoa(s);
}
/** Bytes of a base64 string; throws on invalid input. */
export function fromBase64(s) {
    const bin = atob(s);
    const b = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++)
        b[i] = bin.charCodeAt(i);
    return b;
}
/** Copies bytes out of any binary view or buffer. */
export function copyBytes(data) {
    if (ArrayBuffer.isView(data)) {
        return new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
    }
    return new Uint8Array(data).slice();
}
/** Byte-wise equality. */
export function bytesEqual(a, b) {
    if (a.length !== b.length)
        return false;
    for (let i = 0; i < a.length; i++)
        if (a[i] !== b[i])
            return false;
    return true;
}
