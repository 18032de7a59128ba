// The sequence rules of docs/PROTOCOL.md §6.2 and §6.3, as the Go side has
// them (internal/link/seq.go), checked against the same table of cases
// (testdata/seq-cases.json).

/**
 * What to do with a numbered frame of `seq` after taking up to `last`:
 * 'next' takes it, 'repeat' drops it (a replay overlapping what arrived);
 * a string is a protocol violation, saying how.
 */
export function acceptSeq(last: number, seq: number): 'next' | 'repeat' | string {
  if (seq === 0) return 'message seq 0; sequences start at 1';
  if (seq <= last) return 'repeat';
  if (seq !== last + 1) return `message seq ${seq}, expected ${last + 1}`;
  return 'next';
}

/** An acknowledgement of `ack` after writing up to `written`: undefined if valid, else the violation. */
export function checkAck(ack: number, written: number): string | undefined {
  return ack > written ? `ack ${ack} beyond last sent ${written}` : undefined;
}
