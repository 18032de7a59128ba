// Opt-in persistence of the session in Web Storage, so a page reload
// inside the grace window resumes the same session and delivers what was
// queued before it exactly once.
import { fromBase64, toBase64, utf8 } from './bytes.js';
import { MAX_ROOM_LEN, MAX_ROOMS, MAX_STRING_LEN } from './wire.js';
const VERSION = 1;
/**
 * Persistence writes the session to storage under one key, at most once
 * per microtask however many changes happened, and re-serializes the
 * outbox only when it changed.
 */
export class Persistence {
    constructor(storage, key, snapshot, onError) {
        this.storage = storage;
        this.key = key;
        this.snapshot = snapshot;
        this.onError = onError;
        this.pending = false;
        this.outboxJson = '[]';
    }
    /** Reads the stored session, or undefined (a corrupt entry is removed). */
    load() {
        let raw;
        try {
            raw = this.storage.getItem(this.key);
        }
        catch (err) {
            this.onError(err);
            return undefined;
        }
        if (raw === null)
            return undefined;
        try {
            const o = JSON.parse(raw);
            if (o.v !== VERSION)
                throw new Error(`unknown version ${o.v}`);
            const outbox = o.outbox.map((e) => ({
                type: e.t === 'text' ? 'text' : 'binary',
                data: fromBase64(e.d),
                seq: num(e.s),
            }));
            this.outboxJson = JSON.stringify(o.outbox);
            const snap = {
                sessionId: fromBase64(o.sessionId),
                token: fromBase64(o.token),
                epoch: fromBase64(o.epoch),
                recv: num(o.recv),
                processed: num(o.processed),
                acked: num(o.acked),
                written: num(o.written),
                last: num(o.last),
                maxSize: num(o.maxSize),
                finalOut: o.finalOut === null || o.finalOut === undefined ? undefined : num(o.finalOut),
                outbox,
                // Absent in what an earlier version stored.
                rooms: (o.rooms ?? []).map(([room, epoch, offset]) => [str(room), { epoch: fromBase64(epoch), offset: num(offset) }]),
            };
            checkConsistent(snap);
            return snap;
        }
        catch (err) {
            this.onError(new Error(`discarding unreadable session state: ${err instanceof Error ? err.message : err}`));
            this.clear();
            return undefined;
        }
    }
    /** Schedules a write; `outboxChanged` when the outbox's entries or seqs changed. */
    save(outboxChanged) {
        if (outboxChanged)
            this.outboxJson = '';
        if (this.pending)
            return;
        this.pending = true;
        // Not if flushed or cleared meanwhile: a clear() must not be undone.
        queueMicrotask(() => {
            if (this.pending)
                this.flush();
        });
    }
    /** Writes now (page unload cannot wait for a microtask). */
    flush() {
        this.pending = false;
        const s = this.snapshot();
        if (!s)
            return;
        if (this.outboxJson === '') {
            this.outboxJson = JSON.stringify(s.outbox.map((e) => ({ t: e.type, d: toBase64(e.data), s: e.seq })));
        }
        const head = JSON.stringify({
            v: VERSION,
            sessionId: toBase64(s.sessionId),
            token: toBase64(s.token),
            epoch: toBase64(s.epoch),
            recv: s.recv,
            processed: s.processed,
            acked: s.acked,
            written: s.written,
            last: s.last,
            maxSize: s.maxSize,
            finalOut: s.finalOut ?? null,
            rooms: s.rooms.map(([room, p]) => [room, toBase64(p.epoch), p.offset]),
        });
        try {
            this.storage.setItem(this.key, `${head.slice(0, -1)},"outbox":${this.outboxJson}}`);
        }
        catch (err) {
            this.onError(err);
        }
    }
    /** Forgets the stored session. */
    clear() {
        this.pending = false;
        this.outboxJson = '[]';
        try {
            this.storage.removeItem(this.key);
        }
        catch (err) {
            this.onError(err);
        }
    }
}
function num(v) {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
        throw new Error(`bad counter ${String(v)}`);
    return v;
}
function str(v) {
    if (typeof v !== 'string')
        throw new Error(`bad room ${String(v)}`);
    return v;
}
function checkConsistent(s) {
    if (s.rooms.length > MAX_ROOMS)
        throw new Error('too many rooms');
    for (const [room, p] of s.rooms) {
        if (utf8(room).length > MAX_ROOM_LEN || p.epoch.length > MAX_STRING_LEN)
            throw new Error('bad room position');
    }
    if (!(s.acked <= s.written && s.written <= s.last && s.processed <= s.recv))
        throw new Error('inconsistent counters');
    let want = s.acked + 1;
    for (const e of s.outbox) {
        if (e.seq !== want++)
            throw new Error('outbox out of sequence');
    }
    if (s.outbox.length > 0 && s.outbox[s.outbox.length - 1].seq !== s.last)
        throw new Error('outbox does not end at last');
    if (s.outbox.length === 0 && s.last !== s.acked)
        throw new Error('empty outbox but last > acked');
}
/** The Web Storage that `persist` names, if the platform has it and allows it. */
export function pickStorage(persist) {
    if (!persist)
        return undefined;
    try {
        const g = globalThis;
        return persist === 'local' ? g.localStorage : g.sessionStorage;
    }
    catch {
        return undefined; // storage disabled by the browser
    }
}
