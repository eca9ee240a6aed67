// Table lines (src/lib/dm-table.ts), the one type for a dm table line:
// printing and parsing round-trip, as the kernel's text form requires.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatTable, parseLine, parseTable, tableLine, tableProblem, formatLine } from '../../src/lib/dm-table.js';

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

test.run();
