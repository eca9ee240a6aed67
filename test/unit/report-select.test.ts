// report's -S/--select and -O/--sort, and the lvs-shaped JSON, as pure functions.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseSelection, parseSort, select, sortRows } from '../../src/report/select.js';
import { lvmJson, lvmValue } from '../../src/report/lvm-json.js';
import type { Row } from '../../src/report/rows.js';

const FIELDS = ['lv_name', 'vg_name', 'lv_size', 'seg_count', 'devices', 'segtype'];
const rows: Row[] = [
  { lv_name: 'a', vg_name: 'vg0', lv_size: 2048 * 10, seg_count: 1, devices: ['/dev/loop0(0)'], segtype: 'linear' },
  { lv_name: 'big', vg_name: 'vg0', lv_size: 2048 * 2048, seg_count: 2, devices: ['/dev/loop0(10)', '/dev/loop1(0)'], segtype: 'striped' },
  { lv_name: 'c', vg_name: 'vg0', lv_size: 2048 * 100, seg_count: 1, devices: ['/dev/loop1(4)'], segtype: 'linear' },
];
const names = (rs: Row[]) => rs.map((r) => r.lv_name);
const sel = (s: string) => names(select(rows, parseSelection('lvs', s, FIELDS)));

test('selection: sizes with units (bare numbers are MiB), counts, strings, regexes, && over ||, !', () => {
  assert.equal(sel('lv_size>=100m'), ['big', 'c']);
  assert.equal(sel('size>1g'), ['big'], 'short names as LVM accepts them');
  assert.equal(sel('lv_size=10'), ['a'], '10 MiB');
  assert.equal(sel('seg_count=2'), ['big']);
  assert.equal(sel('segtype=linear && lv_size<50m'), ['a']);
  assert.equal(sel('lv_name=a || lv_name=c'), ['a', 'c']);
  assert.equal(sel('lv_name=a # segtype=striped, seg_count=2'), ['a', 'big'], '# is ||, a comma is &&');
  assert.equal(sel('devices=~loop1'), ['big', 'c']);
  assert.equal(sel('lv_name!~^b'), ['a', 'c']);
  assert.equal(sel('!segtype=linear'), ['big']);
  assert.equal(sel("lv_name='c'"), ['c']);
  for (const bad of ['nosuch=1', 'lv_size>lots', 'lv_name', 'devices=~(']) assert.throws(() => parseSelection('lvs', bad, FIELDS), undefined, bad);
});

test('sort: numbers as numbers, -field descending, stable', () => {
  assert.equal(names(sortRows(rows, parseSort('lvs', '-lv_size', FIELDS))), ['big', 'c', 'a']);
  assert.equal(names(sortRows(rows, parseSort('lvs', 'segtype,-name', FIELDS))), ['c', 'a', 'big']);
  assert.equal(names(sortRows(rows, parseSort('lvs', 'vg_name', FIELDS))), ['a', 'big', 'c'], 'ties keep their order');
  assert.throws(() => parseSort('lvs', 'nosuch', FIELDS));
});

test('json and json_std values: strings as lvs prints them, or numbers with null for empty', () => {
  const j = { format: 'json' as const, units: 'h', suffix: true, extentSize: 8192 };
  const std = { ...j, format: 'json_std' as const };
  assert.is(lvmValue('lv_size', 2048 * 8, j), '8.00m');
  assert.is(lvmValue('seg_count', 4, j), '4');
  assert.is(lvmValue('lv_size', 16384, { ...j, units: 's' }), '16384S', 'sectors with a capital S');
  assert.is(lvmValue('pv_free', 0, j), '0 ', "LVM's empty human size");
  assert.is(lvmValue('seg_count', 4, std), 4);
  assert.is(lvmValue('lv_size', 2048 * 8, std), '8.00m', 'a size with its unit stays a string');
  assert.is(lvmValue('lv_size', 2048 * 8, { ...std, units: 'm', suffix: false }), 8);
  assert.is(lvmValue('copy_percent', null, std), null);
  assert.is(lvmValue('lv_name', 'x', std), 'x');
  assert.is(
    lvmJson('vgs', [{ vg_name: 'vg0', pv_count: 2 }], ['vg_name', 'pv_count'], std),
    '  {\n      "report": [\n          {\n              "vg": [\n                  {"vg_name":"vg0", "pv_count":2}\n              ]\n          }\n      ]\n  }\n',
  );
});

test.run();
