// The client's position in each room's stream (docs/PROTOCOL.md §14.4),
// kept across connections and sessions.
import { fromUtf8Loose, utf8 } from './bytes.js';
import { MAX_ROOM_LEN, MAX_ROOMS, MAX_STRING_LEN } from './wire.js';
/**
 * Positions in two versions: `live`, as of the last frame received (it
 * drops duplicates and goes in every HELLO), and `committed`, as of the
 * last frame whose handlers returned (what persistence keeps, as it keeps
 * `processed` and not `recv`: a reload asks again for what it had not
 * handled, and must not then drop it as a duplicate).
 */
export class RoomPositions {
    constructor() {
        this.live = new Map();
        this.committed = new Map();
    }
    /** The live position in a room. */
    get(room) {
        return this.live.get(room);
    }
    /** How many rooms the client has a position in. */
    get size() {
        return this.live.size;
    }
    /**
     * A room message at `offset` arrived (§14.4 rule 2). Returns undefined
     * if it is a duplicate (at or below the position); otherwise the new
     * position, to commit once its handlers returned. A message of a room
     * without a position starts one with an empty epoch, as the Go client.
     */
    accept(room, offset) {
        const p = this.live.get(room);
        if (p && offset <= p.offset)
            return undefined;
        const next = { epoch: p?.epoch ?? new Uint8Array(0), offset };
        this.live.set(room, next);
        return next;
    }
    /** Sets a room's live position (joined, rule 1); returns the previous one. */
    set(room, p) {
        const prev = this.live.get(room);
        this.live.set(room, p);
        return prev;
    }
    /** Forgets a room's live position (left, rule 3); returns it. */
    delete(room) {
        const prev = this.live.get(room);
        this.live.delete(room);
        return prev;
    }
    /** Commits a change to a room, once the frame that made it was handled. */
    commit(room, p) {
        if (p)
            this.committed.set(room, p);
        else
            this.committed.delete(room);
    }
    /** Replaces both versions (a seed or a restored snapshot). */
    reset(entries) {
        this.live.clear();
        this.committed.clear();
        for (const [room, p] of entries) {
            this.live.set(room, p);
            this.committed.set(room, p);
        }
    }
    /** The positions for a HELLO: by room name, at most MAX_ROOMS (as the Go client). */
    hello() {
        const rooms = [...this.live.keys()].sort().slice(0, MAX_ROOMS);
        return rooms.map((room) => ({ room, epoch: this.live.get(room).epoch, offset: this.live.get(room).offset }));
    }
    /** The committed positions, for persistence. */
    snapshot() {
        return [...this.committed];
    }
    /** The live positions, for the application. */
    public() {
        const out = {};
        for (const [room, p] of this.live)
            out[room] = publicPosition(p);
        return out;
    }
}
/** The application's view of a position. */
export function publicPosition(p) {
    return { epoch: fromUtf8Loose(p.epoch), offset: p.offset };
}
/**
 * Checks positions given by the application (the `rooms` option) and
 * converts them; throws a TypeError naming the first bad one.
 */
export function seedPositions(rooms) {
    const out = [];
    for (const [room, p] of Object.entries(rooms)) {
        const what = `rooms[${JSON.stringify(room)}]`;
        if (utf8(room).length > MAX_ROOM_LEN)
            throw new TypeError(`tether: ${what}: a room name is at most ${MAX_ROOM_LEN} bytes`);
        if (typeof p !== 'object' || p === null || typeof p.epoch !== 'string' || !Number.isSafeInteger(p.offset) || p.offset < 0) {
            throw new TypeError(`tether: ${what} must be {epoch: string, offset: a non-negative integer}`);
        }
        const epoch = utf8(p.epoch);
        if (epoch.length > MAX_STRING_LEN)
            throw new TypeError(`tether: ${what}: an epoch is at most ${MAX_STRING_LEN} bytes`);
        out.push([room, { epoch, offset: p.offset }]);
    }
    if (out.length > MAX_ROOMS)
        throw new TypeError(`tether: at most ${MAX_ROOMS} room positions`);
    return out;
}
