// What tm records about a commit, and the history table, as pure functions.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { commitTime, historyTable, originNow } from '../../src/transaction-manager/origin.js';
import { validate } from '../../src/lib/schema.js';

test('originNow: UTC to the second, the host, tm and its arguments', () => {
  const o = originNow(['update', 'vg0', '--', 'lv-create', 'a b', '1G'], new Date('2026-12-02T03:45:07.891Z'), 'node1');
  assert.equal(o, { time: '2026-12-02T03:45:07Z', host: 'node1', command: ['tm', 'update', 'vg0', '--', 'lv-create', 'a b', '1G'] });
  // it fits the schema's bounds whatever it is given
  const big = originNow(Array.from({ length: 400 }, () => 'x'.repeat(5000)), new Date(0), 'h'.repeat(300));
  assert.is(big.command.length, 256);
  assert.is(big.host.length, 255);
  validate('dvm.vg/1', { format: 'dvm.vg/1', name: 'v', id: 'abcdefgh', seqno: 1, extent_size: 8, origin: big, pvs: [], lvs: [] });
});

test('historyTable: aligned columns, sizes right-aligned, unknown as -, control characters flattened', () => {
  const t = historyTable([
    { seqno: 12, time: '2026-12-02T03:45:07Z', host: 'node1', description: 'lv-create data\n1G', size: 1234 },
    { seqno: 9, time: null, host: null, description: null, size: 56 },
  ]);
  assert.is(
    t,
    [
      'Seqno  Time (UTC)            Host   Description        Size',
      '   12  2026-12-02T03:45:07Z  node1  lv-create data 1G  1234',
      '    9  -                     -      -                    56',
      '',
    ].join('\n'),
  );
});

test('commitTime: SOURCE_DATE_EPOCH when it is a number of seconds, else now', () => {
  assert.is(commitTime({ SOURCE_DATE_EPOCH: '1764648000' }).toISOString(), '2025-12-02T04:00:00.000Z');
  const t = Date.now();
  for (const e of [{}, { SOURCE_DATE_EPOCH: 'yesterday' }, { SOURCE_DATE_EPOCH: '-5' }]) assert.ok(Math.abs(commitTime(e).getTime() - t) < 5000);
});

test.run();
