import type { OutboxEntry } from './outbox.js';
import { type WelcomeFrame } from './wire.js';
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
export declare function computeLoss(w: WelcomeFrame, s: LossInput): LossResult;
