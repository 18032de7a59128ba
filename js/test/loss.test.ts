// The loss computation of PROTOCOL.md §8.1, on its own example.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { computeLoss } from '../src/loss.js';
import type { OutboxEntry } from '../src/outbox.js';
import { welcome } from './fakes.js';

/** The §8.1 example: recv 17, acked 40, written 45, last 47 (outbox 41–47). */
function state(finalOut?: number) {
  const outbox: OutboxEntry[] = [];
  for (let seq = 41; seq <= 47; seq++) outbox.push({ type: 'text', data: new Uint8Array([seq]), seq });
  return { recv: 17, acked: 40, written: 45, finalOut, outbox };
}

const seqs = (l: OutboxEntry[]) => l.map((e) => e.seq);

test('prevKnown (prevIn 43, prevOut 20): 3 server messages lost, 41–43 dropped, 44–47 carried', () => {
  const r = computeLoss(welcome({ flags: 2, reason: 1, prevIn: 43, prevOut: 20 }), state());
  assert.equal(r.toClient, 3);
  assert.deepEqual(seqs(r.done), [41, 42, 43]);
  assert.deepEqual(seqs(r.carried), [44, 45, 46, 47]);
  assert.deepEqual(r.unsent, []);
});

test('not prevKnown, no final GOAWAY: server loss unknown, 41–45 unknown fate, 46–47 carried', () => {
  const r = computeLoss(welcome({ reason: 4 }), state());
  assert.equal(r.toClient, -1);
  assert.deepEqual(seqs(r.unsent), [41, 42, 43, 44, 45]);
  assert.deepEqual(seqs(r.carried), [46, 47]);
  assert.deepEqual(r.done, []);
});

test('not prevKnown, after a final GOAWAY: toClient = lastSeq − recv', () => {
  assert.equal(computeLoss(welcome({ reason: 4 }), state(17)).toClient, 0);
  assert.equal(computeLoss(welcome({ reason: 4 }), state(20)).toClient, 3);
  assert.equal(computeLoss(welcome({ reason: 4 }), state(10)).toClient, -1, 'lastSeq below recv says nothing');
});

test('prevKnown with prevOut below recv leaves toClient unknown', () => {
  assert.equal(computeLoss(welcome({ flags: 2, prevIn: 40, prevOut: 5 }), state()).toClient, -1);
});

test('prevRooms: the rooms\' share of what the client missed is not the session\'s loss', () => {
  // prevOut 20, recv 17: 3 missed, of which prevRooms are the rooms'.
  const lost = (prevRooms: number | undefined, prevOut = 20) =>
    computeLoss(welcome({ flags: 2, reason: 1, prevIn: 43, prevOut, features: 1, prevRooms }), state());
  assert.deepEqual([lost(undefined), lost(0), lost(1), lost(3)].map((r) => [r.toClient, r.inRooms]), [[3, 0], [3, 0], [2, 1], [0, 3]]);
  assert.deepEqual([lost(4).toClient, lost(4).inRooms], [0, 4], 'never below 0');
  assert.deepEqual([lost(2, 5).toClient, lost(2, 5).inRooms], [-1, 0], 'prevOut below recv: unknown, as without prevRooms');
  // Without prevKnown a server sends no prevRooms; if one did, it says nothing.
  const r = computeLoss(welcome({ reason: 4, features: 1, prevRooms: 2 }), state(20));
  assert.deepEqual([r.toClient, r.inRooms], [3, 0]);
  assert.deepEqual(seqs(lost(3).carried), [44, 45, 46, 47], 'the outbox is split as before');
});

test('not prevKnown, after a final GOAWAY: the messages above the final ack were never processed, so 41–47 are carried, none of unknown fate', () => {
  // The server takes nothing after its final ack (§10): acked is that ack.
  const r = computeLoss(welcome({ reason: 4 }), state(17));
  assert.deepEqual(seqs(r.carried), [41, 42, 43, 44, 45, 46, 47]);
  assert.deepEqual(r.unsent, []);
  assert.deepEqual(r.done, []);
});
