// The shared table of close codes, causes, loss reasons and room reasons
// (testdata/protocol-table.json), which the Go server's, the Go client's
// and these tests all read: the browser client's constants and mappings
// must say what it says.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { CAUSES, causeOf, CloseCode, closeCodeName, shouldReconnect } from '../src/close-codes.js';
import { lossReasonName, ROOM_LOST_UNKNOWN, RoomReason, roomLossReasonName, roomReasonName } from '../src/wire.js';
import { Harness, settle, welcome } from './fakes.js';

interface Table {
  closeCodes: Array<{ code: number; name: string; reconnect: boolean; clientCause: string }>;
  causes: Array<{ value: number; name: string; ends: string; meaning: string }>;
  lossReasons: Array<{ code: number; name: string }>;
  roomReasons: Array<{ code: number; name: string }>;
  unknownCount: string;
}

const table: Table = JSON.parse(readFileSync(new URL('../../../testdata/protocol-table.json', import.meta.url), 'utf8'));

/** 'websocket-protocol-error' → 'websocketProtocolError'. */
const camel = (name: string) => name.replace(/-(.)/g, (_, c: string) => c.toUpperCase());

test('the table is there and not empty', () => {
  assert.ok(table.closeCodes.length >= 20 && table.causes.length >= 15 && table.lossReasons.length >= 9 && table.roomReasons.length >= 5);
});

test('close codes: CloseCode names every code of the table by its name, and no other', () => {
  const codes = new Set(table.closeCodes.map((c) => c.code));
  for (const c of table.closeCodes) {
    assert.equal((CloseCode as Record<string, number>)[camel(c.name)], c.code, `CloseCode.${camel(c.name)}`);
    assert.equal(closeCodeName(c.code), c.name, `closeCodeName(${c.code})`);
  }
  for (const [key, code] of Object.entries(CloseCode)) assert.ok(codes.has(code), `CloseCode.${key} = ${code} is not in the table`);
  assert.equal(closeCodeName(4321), 'close(4321)');
});

test('close codes: whether to reconnect, and the cause reported, are the table\'s', () => {
  for (const c of table.closeCodes) {
    assert.equal(shouldReconnect(c.code), c.reconnect, `reconnect after ${c.code} (${c.name})`);
    assert.equal(causeOf(c.code), c.clientCause, `cause of ${c.code} (${c.name})`);
  }
  // Codes the table does not list follow the general rule of PROTOCOL.md §11.
  const listed = new Set(table.closeCodes.map((c) => c.code));
  for (const code of [4008, 4100, 4399, 4402, 4500, 4999, 1003, 1007, 1008, 1009, 1010, 1013, 3000]) {
    assert.ok(!listed.has(code));
    const want = code >= 4000 && code < 4400 ? true : code >= 4400 && code < 5000 ? false : ![1003, 1007, 1008, 1009, 1010].includes(code);
    assert.equal(shouldReconnect(code), want, `reconnect after ${code}`);
  }
});

for (const c of table.closeCodes) {
  test(`a close ${c.code} (${c.name}) from the server: disconnected with cause ${c.clientCause}, then ${c.reconnect ? 'reconnect' : 'stop'}`, async () => {
    const h = new Harness();
    const ws = await h.connect();
    ws.serverClose(c.code, c.name);
    await settle();
    assert.deepEqual(h.of('disconnected'), [{ cause: c.clientCause, code: c.code, reason: c.name }]);
    assert.equal(h.client.status, c.reconnect ? 'reconnecting' : 'failed');
    if (!c.reconnect) assert.equal(h.client.error?.closeCode, c.code);
  });
}

test('causes: the client\'s names are the table\'s, in the order of their values', () => {
  assert.deepEqual(table.causes.map((c) => c.value), table.causes.map((_, i) => i + 1));
  assert.deepEqual([...CAUSES], table.causes.map((c) => c.name));
  for (const c of table.closeCodes) assert.ok((CAUSES as readonly string[]).includes(c.clientCause), `${c.code}: ${c.clientCause} is a cause`);
});

test('loss reasons: WELCOME.reason names are the table\'s; a value it lacks reads as closed', () => {
  assert.deepEqual(table.lossReasons.map((r) => r.code), table.lossReasons.map((_, i) => i));
  for (const r of table.lossReasons) assert.equal(lossReasonName(r.code), r.name, `loss reason ${r.code}`);
  assert.equal(lossReasonName(table.lossReasons.length), 'closed');
});

test('room reasons: ROOM_EVENT reason names and RoomReason are the table\'s; a joined event reads others as other', () => {
  assert.deepEqual(table.roomReasons.map((r) => r.code), table.roomReasons.map((_, i) => i));
  for (const r of table.roomReasons) {
    assert.equal(roomReasonName(r.code), r.name, `room reason ${r.code}`);
    assert.equal((RoomReason as Record<string, number>)[camel(r.name)], r.code, `RoomReason.${camel(r.name)}`);
    assert.equal(roomLossReasonName(r.code), r.name === 'not-readmitted' ? 'other' : r.name, 'joined reason');
  }
  assert.equal(Object.keys(RoomReason).length, table.roomReasons.length);
  assert.equal(roomReasonName(table.roomReasons.length), undefined);
  assert.equal(roomLossReasonName(table.roomReasons.length), 'other');
});

test('an unknown count is -1 in the browser client: a session lost without prevKnown, a room with lostUnknown', async () => {
  assert.match(table.unknownCount, /-1 in the browser client/);
  const h = new Harness();
  const ws = await h.connect(welcome({ sessionId: 'old', features: 1 }));
  ws.serverClose(1006);
  await h.clock.advance(125);
  const ws2 = await h.connect(welcome({ sessionId: 'new', reason: 4, features: 1 }));
  ws2.deliver({
    type: 'room-event', seq: 1, kind: 1, room: 'lobby', epoch: new TextEncoder().encode('E2'), offset: 0, reason: RoomReason.epochChanged,
    flags: ROOM_LOST_UNKNOWN, lost: 0, skipped: 0, recovered: 0, user: '', session: '',
  });
  await settle();
  assert.equal(h.of('sessionLost')[0].toClient, -1);
  assert.equal(h.of('roomJoined')[0].lost, -1);
});
