import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { canonicalJson } from '../../src/lib/canonical-json.js';
import { parseSize, formatSize, sectors, parseAbsoluteSize } from '../../src/lib/units.js';
import { isValidName, dmName, splitDmName } from '../../src/lib/names.js';
import { parseDocument } from '../../src/lib/io.js';
import { ToolError } from '../../src/lib/errors.js';

test('canonicalJson sorts keys and ends with a newline', () => {
  assert.is(canonicalJson({ b: 1, a: [true, null, 'x'] }), '{"a":[true,null,"x"],"b":1}\n');
});

test('canonicalJson refuses NaN, undefined, BigInt, Infinity and class instances', () => {
  for (const bad of [{ a: NaN }, { a: undefined }, { a: 1n }, { a: Infinity }, { a: new Date(0) }, { a: 2 ** 60 }]) {
    assert.throws(() => canonicalJson(bad), (e: unknown) => e instanceof ToolError && e.exitCode === 70);
  }
});

test('parseSize reads LVM-style sizes', () => {
  assert.equal(parseSize('10M'), { sign: '', kind: 'sectors', value: 20480, rounded: false });
  assert.equal(parseSize('+1G'), { sign: '+', kind: 'sectors', value: 2097152, rounded: false });
  assert.equal(parseSize('512'), { sign: '', kind: 'sectors', value: 1048576, rounded: false });
  assert.equal(parseSize('100e'), { sign: '', kind: 'extents', value: 100 });
  assert.equal(parseSize('100%FREE'), { sign: '', kind: 'percent', value: 100, of: 'FREE' });
  assert.equal(parseSize('8s'), { sign: '', kind: 'sectors', value: 8, rounded: false });
  assert.equal(parseSize('1000b'), { sign: '', kind: 'sectors', value: 2, rounded: true });
  assert.equal(parseSize('-1.5k'), { sign: '-', kind: 'sectors', value: 3, rounded: false });
  for (const bad of ['', 'x', '10Q', '1e5', '--1', '0%FREE', '101%VG', '1.5e']) {
    assert.throws(() => parseSize(bad), (e: unknown) => e instanceof ToolError && e.exitCode === 2, bad);
  }
  assert.throws(() => parseAbsoluteSize('+4M'), (e: unknown) => e instanceof ToolError && e.exitCode === 2);
});

test('formatSize prints like lvs', () => {
  assert.is(formatSize(sectors(2097152)), '1.00g');
  assert.is(formatSize(sectors(8192)), '4.00m');
  assert.is(formatSize(sectors(2097151)), '<1024.00m');
  assert.is(formatSize(sectors(2048), 'k'), '1024.00k');
  assert.is(formatSize(sectors(16), 's'), '16s');
  assert.is(formatSize(sectors(16), 'b'), '8192B');
  assert.is(formatSize(sectors(16384), 'e', sectors(8192)), '2e');
});

test('names: the /dev/mapper rules', () => {
  for (const ok of ['vg0', 'a', 'data_1', 'x.y', '+p', '_', 'a-b', 'x'.repeat(127)]) assert.ok(isValidName(ok), ok);
  for (const bad of ['', '.', '..', '-a', 'a/b', 'a b', 'x'.repeat(128), 'é', 'a\n']) assert.not.ok(isValidName(bad), bad);
  assert.is(dmName('my-vg', 'lv-1'), 'my--vg-lv--1');
  assert.equal(splitDmName('my--vg-lv--1'), { vg: 'my-vg', lv: 'lv-1' });
  assert.is(splitDmName('novgname'), null);
});

const vg = {
  format: 'dvm.vg/1',
  name: 'vg0',
  id: 'abcdefgh12345678',
  seqno: 1,
  extent_size: 8192,
  pvs: [{ id: 'pv000000000001', size: 204800, pe_start: 2048, pe_count: 24, flags: ['allocatable'] }],
  lvs: [{ id: 'lv000000000001', name: 'data', flags: [], segments: [{ start_extent: 0, extent_count: 2, type: 'linear', areas: [{ pv: 'pv000000000001', pe: 0 }] }] }],
};

test('schema: a valid vg and envelope pass', () => {
  parseDocument(JSON.stringify(vg), ['dvm.vg/1']);
  parseDocument(JSON.stringify({ format: 'dvm.envelope/1', vg, devices: { pv000000000001: '/dev/loop0' }, missing: [] }), ['dvm.envelope/1']);
});

test('schema: bad names, negative sizes and fractions exit 3 and name the field', () => {
  const cases: [unknown, RegExp][] = [
    [{ ...vg, name: 'a/b' }, /\/name/],
    [{ ...vg, name: '..' }, /\/name/],
    [{ ...vg, name: 'x'.repeat(128) }, /\/name/],
    [{ ...vg, seqno: -1 }, /\/seqno/],
    [{ ...vg, extent_size: 1.5 }, /\/extent_size/],
    [{ ...vg, lvs: [{ ...vg.lvs[0], name: 'bad name' }] }, /\/lvs\/0\/name/],
    [{ ...vg, surprise: 1 }, /surprise/],
  ];
  for (const [doc, re] of cases) {
    assert.throws(
      () => parseDocument(JSON.stringify(doc), ['dvm.vg/1']),
      (e: unknown) => e instanceof ToolError && e.exitCode === 3 && re.test(e.message),
      JSON.stringify(doc).slice(0, 80),
    );
  }
  for (const text of ['', 'nope', '[]', '{"format":"dvm.other/1"}', '{}']) {
    assert.throws(() => parseDocument(text, ['dvm.vg/1']), (e: unknown) => e instanceof ToolError && e.exitCode === 3, text);
  }
});

test.run();
