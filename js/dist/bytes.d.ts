/** UTF-8 bytes of a string. */
export declare function utf8(s: string): Uint8Array;
/** Decodes UTF-8, or returns undefined if the bytes are not valid UTF-8. */
export declare function fromUtf8(b: Uint8Array): string | undefined;
/** Decodes UTF-8, replacing invalid sequences (for display only). */
export declare function fromUtf8Loose(b: Uint8Array): string;
/** Base64 of bytes (standard alphabet, padded). */
export declare function toBase64(b: Uint8Array): string;
/** Bytes of a base64 string; throws on invalid input. */
export declare function fromBase64(s: string): Uint8Array;
/** Copies bytes out of any binary view or buffer. */
export declare function copyBytes(data: ArrayBuffer | ArrayBufferView): Uint8Array;
/** Byte-wise equality. */
export declare function bytesEqual(a: Uint8Array, b: Uint8Array): boolean;
