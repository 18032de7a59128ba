// What a lost session took with it (docs/PROTOCOL.md §8.1), as the Go
// client's lose().

import type { OutboxEntry } from './outbox.js';
import { WELCOME_PREV_KNOWN, type WelcomeFrame } from './wire.js';

/** The client's counters for the old session. */
export interface LossInput {
  recv: number;
  acked: number;
  written: number;
  /** The final GOAWAY's lastSeq, if one arrived on the old session. */
  finalOut: number | undefined;
  outbox: readonly OutboxEntry[];
}

/** The outcome for the old session's outbox and the report to the application. */
export interface LossResult {
  /** Server messages to the session alone never received, or -1 if unknown. */
  toClient: number;
  /** Server messages never received that the client's rooms recover or report (WELCOME.prevRooms). */
  inRooms: number;
  /** Entries never processed by the old session: resent, renumbered 1, 2, … */
  carried: OutboxEntry[];
  /** Entries of unknown fate: reported, not resent. */
  unsent: OutboxEntry[];
  /** Entries the old session processed: dropped silently. */
  done: OutboxEntry[];
}

/** Splits the outbox after a WELCOME that did not resume the session. */
export function computeLoss(w: WelcomeFrame, s: LossInput): LossResult {
  const prevKnown = (w.flags & WELCOME_PREV_KNOWN) !== 0;
  let toClient = -1;
  let inRooms = 0;
  let keepAfter = s.written;
  if (prevKnown) {
    if (w.prevOut >= s.recv) {
      // The room messages and events among them are the rooms' to recover
      // or report (§14.5), each counted once, by its room.
      inRooms = w.prevRooms ?? 0;
      toClient = Math.max(0, w.prevOut - s.recv - inRooms);
    }
    keepAfter = w.prevIn;
  } else if (s.finalOut !== undefined) {
    // The server drained the old session: its final ack covers every
    // message it processed, and it processed none after (§10).
    if (s.finalOut >= s.recv) toClient = s.finalOut - s.recv;
    keepAfter = s.acked;
  }
  const r: LossResult = { toClient, inRooms, carried: [], unsent: [], done: [] };
  for (const e of s.outbox) {
    if (e.seq > keepAfter) r.carried.push(e);
    else if (!prevKnown && e.seq > s.acked) r.unsent.push(e); // never with a final GOAWAY: keepAfter is acked
    else r.done.push(e);
  }
  return r;
}
