import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { Acks, type AckEffect } from '../src/acks.js';

// The same table the Go side runs (internal/link/acks_test.go).
interface Step {
  do: 'processed' | 'due' | 'take' | 'start';
  seq?: number;
  n?: number;
  carrier?: boolean;
  effect?: AckEffect;
  woke?: boolean;
  ack?: number;
  due?: boolean;
}
interface Case {
  name: string;
  policy: { window: number; bytes: number };
  steps: Step[];
}
const table: { cases: Case[] } = JSON.parse(readFileSync(new URL('../../../testdata/ack-cases.json', import.meta.url), 'utf8'));

test('the ack table has cases', () => {
  assert.ok(table.cases.length > 0);
});

for (const c of table.cases) {
  test(`acks: ${c.name}`, () => {
    const p = { delay: 10, window: c.policy.window, bytes: c.policy.bytes };
    const a = new Acks();
    c.steps.forEach((st, i) => {
      const where = `step ${i} (${JSON.stringify(st)})`;
      switch (st.do) {
        case 'processed':
          assert.equal(a.processed(p, st.seq ?? 0, st.n ?? 0), st.effect, where);
          break;
        case 'due':
          assert.equal(a.due(), st.woke, where);
          break;
        case 'take':
          assert.deepEqual(a.take(st.carrier ?? false), { ack: st.ack, due: st.due }, where);
          break;
        case 'start':
          a.start(st.seq ?? 0);
          break;
        default:
          assert.fail(`${where}: unknown step`);
      }
    });
  });
}
