/**
 * What to do with a numbered frame of `seq` after taking up to `last`:
 * 'next' takes it, 'repeat' drops it (a replay overlapping what arrived);
 * a string is a protocol violation, saying how.
 */
export declare function acceptSeq(last: number, seq: number): 'next' | 'repeat' | string;
/** An acknowledgement of `ack` after writing up to `written`: undefined if valid, else the violation. */
export declare function checkAck(ack: number, written: number): string | undefined;
