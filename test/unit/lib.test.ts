import { test } from 'uvu';
import * as assert from 'uvu/assert';
import stringify from 'fast-json-stable-stringify';
import { canonicalJson, canonicalJsonReusing, canonicalJsonWithLast, checkEncodable, isCanonicalText } from '../../src/lib/canonical-json.js';
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

test('canonicalJson names the offending path in its refusal (same message as before the fast check)', () => {
  const cases: [unknown, string][] = [
    [{ a: [1, { b: NaN }] }, "refusing to write JSON '$.a[1].b': non-finite number NaN"],
    [{ x: { y: [0, 2 ** 60] } }, "refusing to write JSON '$.x.y[1]': integer beyond 2^53 1152921504606847000"],
    [{ d: new Date(0) }, "refusing to write JSON '$.d': not a plain object"],
    [[undefined], "refusing to write JSON '$[0]': cannot encode undefined"],
  ];
  for (const [bad, msg] of cases) {
    assert.throws(() => canonicalJson(bad), (e: unknown) => e instanceof ToolError && e.message === msg, msg);
    assert.throws(() => checkEncodable(bad), (e: unknown) => e instanceof ToolError && e.message === msg, msg);
  }
});

// Documents in several shapes, to compare the reusing paths with the library itself.
function samples(): unknown[] {
  const out: unknown[] = [
    { format: 'dvm.vg/1', name: 'v', lvs: [{ id: 'a', segments: [{ areas: [{ pe: 0, pv: 'p' }], extent_count: 1 }] }], seqno: 3 },
    { b: 1, a: 2 },
    { '10': 1, '9': 2, a: 3 },
    { a: -0, b: 1e-7, c: 0.1, d: 'é\u2028"\\', e: [null, true, false, []], f: {} },
    [],
    'x',
  ];
  let seed = 7;
  const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  const gen = (depth: number): unknown => {
    const k = rnd(depth > 3 ? 4 : 7);
    if (k === 0) return rnd(1000) - 500;
    if (k === 1) return ['', 'a', 'Z', '"q"', 'ü', '0'][rnd(6)];
    if (k === 2) return [null, true, false, 1.5][rnd(4)];
    if (k === 3) return rnd(2) ? 2 ** 53 - 1 : -(2 ** 40);
    if (k === 4) return Array.from({ length: rnd(4) }, () => gen(depth + 1));
    const o: Record<string, unknown> = {};
    for (let i = rnd(5); i > 0; i--) o[['a', 'b', 'B', 'ab', '1', '20', 'vg', 'é', 'a b'][rnd(9)]] = gen(depth + 1);
    return o;
  };
  for (let i = 0; i < 300; i++) out.push(gen(0));
  return out;
}

test('canonicalJsonReusing gives the library bytes, reusing the text only when it is exactly them', () => {
  let reused = 0;
  for (const doc of samples()) {
    const canonical = stringify(doc) + '\n';
    for (const text of [canonical, JSON.stringify(doc) + '\n', JSON.stringify(doc, null, 1) + '\n', canonical.trimEnd()]) {
      const parsed = JSON.parse(text);
      const expect = stringify(parsed) + '\n';
      assert.is(canonicalJsonReusing(parsed, text), expect, text);
      // it may decline a canonical text (integer-like keys, which V8 orders apart), never accept another
      if (isCanonicalText(parsed, text)) {
        assert.is(text, expect, text);
        reused++;
      }
    }
  }
  assert.ok(reused > 300, `the canonical text itself is reused (${reused})`);
  // text that parses to the same value but is spelled differently is never reused
  for (const text of ['{"a":1.0}\n', '{"a":1e0}\n', '{"a":"\\u0041"}\n', '{"a":-0}\n', '{"b":1,"a":2}\n', '{"10":1,"9":2}\n', '{ "a":1}\n']) {
    const parsed = JSON.parse(text);
    assert.is(isCanonicalText(parsed, text), false, text);
    assert.is(canonicalJsonReusing(parsed, text), stringify(parsed) + '\n', text);
  }
});

test('canonicalJson gives the library bytes, sorted or not, parsed or built', () => {
  const built: unknown[] = [
    Object.assign(Object.create(null), { a: 1, b: [2] }),
    { a: [1, , 3] }, // a hole: null in both
    { a: { toJSON: 'not a function' }, b: 0 },
    { a: 'x', b: { c: -0, d: 1.25e-7, e: 5e-324, f: 0.1 + 0.2 }, z: '\ud800' },
    { z: 1, a: { y: [{ b: 1, a: [0, , { d: 1, c: 2 }] }] } }, // unsorted at several depths
    JSON.parse('{"z":1,"__proto__":{"b":1,"a":2}}'),
    { b: { '10': 1, '9': 2 }, a: 1 }, // integer-like keys: V8 would reorder them
  ];
  let sorted = 0;
  for (const doc of [...samples(), ...samples().map((d) => JSON.parse(JSON.stringify(d))), ...built]) {
    assert.is(canonicalJson(doc), stringify(doc) + '\n');
    if (JSON.stringify(doc) === stringify(doc)) sorted++;
  }
  assert.ok(sorted > 100, `many samples take the JSON.stringify path (${sorted})`);
});

test('canonicalJsonWithLast equals canonicalJson of the whole object', () => {
  for (const doc of samples()) {
    const rest = { devices: { p1: '/dev/a', Z9: '/dev/"b"' }, format: 'dvm.envelope/1', missing: ['x'] };
    const whole = canonicalJson({ ...rest, vg: doc });
    assert.is(canonicalJsonWithLast(rest, 'vg', canonicalJson(doc)).toString(), whole);
    assert.is(canonicalJsonWithLast(rest, 'vg', Buffer.from(canonicalJson(doc))).toString(), whole);
  }
  assert.is(canonicalJsonWithLast({}, 'a', '[]\n').toString(), '{"a":[]}\n');
  assert.throws(() => canonicalJsonWithLast({ z: 1 }, 'vg', '1\n'), /does not sort before/);
  assert.throws(() => canonicalJsonWithLast({ a: 1 }, 'vg', '1'), /newline/);
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
