import type { RoomPosition } from './events.js';
import { type WireRoomPosition } from './wire.js';
/** A position as the client keeps it: the epoch byte for byte. */
export interface Position {
    readonly epoch: Uint8Array;
    readonly offset: number;
}
/**
 * Positions in two versions: `live`, as of the last frame received (it
 * drops duplicates and goes in every HELLO), and `committed`, as of the
 * last frame whose handlers returned (what persistence keeps, as it keeps
 * `processed` and not `recv`: a reload asks again for what it had not
 * handled, and must not then drop it as a duplicate).
 */
export declare class RoomPositions {
    private readonly live;
    private readonly committed;
    /** The live position in a room. */
    get(room: string): Position | undefined;
    /** How many rooms the client has a position in. */
    get size(): number;
    /**
     * A room message at `offset` arrived (§14.4 rule 2). Returns undefined
     * if it is a duplicate (at or below the position); otherwise the new
     * position, to commit once its handlers returned. A message of a room
     * without a position starts one with an empty epoch, as the Go client.
     */
    accept(room: string, offset: number): Position | undefined;
    /** Sets a room's live position (joined, rule 1); returns the previous one. */
    set(room: string, p: Position): Position | undefined;
    /** Forgets a room's live position (left, rule 3); returns it. */
    delete(room: string): Position | undefined;
    /** Commits a change to a room, once the frame that made it was handled. */
    commit(room: string, p: Position | undefined): void;
    /** Replaces both versions (a seed or a restored snapshot). */
    reset(entries: Iterable<[string, Position]>): void;
    /** The positions for a HELLO: by room name, at most MAX_ROOMS (as the Go client). */
    hello(): WireRoomPosition[];
    /** The committed positions, for persistence. */
    snapshot(): Array<[string, Position]>;
    /** The live positions, for the application. */
    public(): Record<string, RoomPosition>;
}
/** The application's view of a position. */
export declare function publicPosition(p: Position): RoomPosition;
/**
 * Checks positions given by the application (the `rooms` option) and
 * converts them; throws a TypeError naming the first bad one.
 */
export declare function seedPositions(rooms: Record<string, RoomPosition>): Array<[string, Position]>;
