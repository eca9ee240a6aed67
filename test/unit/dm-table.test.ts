// Table lines (src/lib/dm-table.ts), the one type for a dm table line:
// printing and parsing round-trip, as the kernel's text form requires.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  formatTable, parseLine, parseTable, tableLine, tableProblem, formatLine,
  formatSnapshot, parseSnapshot, formatSnapshotOrigin, parseSnapshotOrigin, parseSnapshotStatus, mergeDone,
} from '../../src/lib/dm-table.js';

test('print then parse gives the same lines, parse then print the same text', () => {
  let seed = 7;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  const targets = ['linear', 'striped', 'zero', 'error', 'raid', 'thin-pool'];
  for (let round = 0; round < 200; round++) {
    let start = 0;
    const lines = Array.from({ length: 1 + rnd(5) }, () => {
      const length = 1 + rnd(1 << 20);
      const target = targets[rnd(targets.length)];
      const params = target === 'zero' || target === 'error' ? '' : `${rnd(300)}:${rnd(256)} ${rnd(1e9)}`;
      const l = tableLine(start, length, target, params);
      start += length;
      return l;
    });
    const text = formatTable(lines);
    assert.equal(parseTable(text), lines);
    assert.is(formatTable(parseTable(text)), text);
    assert.is(tableProblem(lines), null);
  }
});

test('a line without params prints without a trailing space and parses back', () => {
  assert.is(formatLine(tableLine(0, 8, 'zero')), '0 8 zero');
  assert.equal(parseLine('0 8 zero'), tableLine(0, 8, 'zero'));
  assert.throws(() => parseLine('0 8'), /not a table line/);
  assert.throws(() => parseLine('x 8 zero'), /not a table line/);
});

test('gaps and overlaps are table problems', () => {
  assert.match(tableProblem([tableLine(0, 8, 'zero'), tableLine(9, 8, 'zero')])!, /gap before line 1/);
  assert.match(tableProblem([tableLine(0, 8, 'zero'), tableLine(4, 8, 'zero')])!, /overlaps/);
  assert.is(tableProblem([]), 'empty table');
});

test('snapshot and snapshot-origin params print as the kernel prints them and parse back', () => {
  // as `dmsetup table` shows an LVM2 snapshot stack
  for (const text of ['253:1 253:2 P 8', '253:1 253:2 PO 16', 'dm:vg-o-real dm:vg-s-cow N 1024', '253:1 253:2 P 8 1 discard_zeroes_cow', '253:1 253:2 P 8 2 discard_zeroes_cow discard_passdown_origin']) {
    const p = parseSnapshot(text);
    assert.is(formatSnapshot(p), text);
    assert.equal(parseSnapshot(formatSnapshot(p)), p);
  }
  assert.equal(parseSnapshot('253:1 253:2 P 8'), { origin: '253:1', cow: '253:2', store: 'P', chunk: 8, features: [] });
  for (const bad of ['253:1 253:2 P', '253:1 253:2 X 8', '253:1 253:2 P 12', '253:1 253:2 P 8 2 discard_zeroes_cow', '253:1 253:2 P 8 1 frobnicate', '253:1  253:2 P 8'])
    assert.throws(() => parseSnapshot(bad), /not snapshot params/, bad);
  assert.is(formatSnapshotOrigin(parseSnapshotOrigin('253:1')), '253:1');
  assert.throws(() => parseSnapshotOrigin('253:1 253:2'), /not snapshot-origin/);
  // a whole line round-trips through the generic line type too
  const line = tableLine(0, 24576, 'snapshot', formatSnapshot({ origin: '253:1', cow: '253:2', store: 'P', chunk: 8, features: [] }));
  assert.equal(parseLine(formatLine(line)), line);
});

test('snapshot status: used/total metadata, Invalid, Overflow, Merge failed; a merge is done at metadata only', () => {
  assert.equal(parseSnapshotStatus('16/8192 16'), { state: 'valid', allocated: 16, total: 8192, metadata: 16 });
  assert.equal(parseSnapshotStatus('Invalid'), { state: 'invalid' });
  assert.equal(parseSnapshotStatus('Overflow'), { state: 'overflow' });
  assert.equal(parseSnapshotStatus('Merge failed'), { state: 'merge_failed' });
  assert.equal(parseSnapshotStatus('what'), { state: 'unknown' });
  assert.ok(mergeDone(parseSnapshotStatus('16/8192 16')));
  assert.not.ok(mergeDone(parseSnapshotStatus('48/8192 16')));
  assert.not.ok(mergeDone(parseSnapshotStatus('Invalid')));
});

test.run();
