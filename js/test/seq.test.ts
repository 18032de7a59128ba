import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { acceptSeq, checkAck } from '../src/seq.js';

// The same table the Go side runs (internal/link/seq_test.go).
const table: {
  accept: Array<{ last: number; seq: number; want: string; error?: string }>;
  ack: Array<{ ack: number; written: number; error: string }>;
} = JSON.parse(readFileSync(new URL('../../../testdata/seq-cases.json', import.meta.url), 'utf8'));

test('sequence rules: numbered frames', () => {
  assert.ok(table.accept.length > 0);
  for (const c of table.accept) {
    assert.equal(acceptSeq(c.last, c.seq), c.want === 'error' ? c.error : c.want, JSON.stringify(c));
  }
});

test('sequence rules: acknowledgements', () => {
  assert.ok(table.ack.length > 0);
  for (const c of table.ack) {
    assert.equal(checkAck(c.ack, c.written) ?? '', c.error, JSON.stringify(c));
  }
});
