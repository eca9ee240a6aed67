// The VG semantic checks (issue 17 items 3 and 6): cycles and self-reference
// among sub-LVs, powers of two beyond 32 bits, LV sizes beyond 2^53 sectors.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkEnvelope, checkVg, subLvCycle } from '../../src/lib/vg-check.js';
import { isPowerOfTwo } from '../../src/lib/units.js';
import { envelope, LV } from '../helpers/activation-fixtures.js';

test('the fixture VG is clean', () => {
  assert.equal(checkEnvelope(envelope()), []);
});

test('a two-LV cycle (lv1 -> lv2 -> lv1) is refused, naming the path', () => {
  const vg = envelope().vg;
  const a = vg.lvs.find((l) => l.id === LV.img0)!;
  const b = vg.lvs.find((l) => l.id === LV.img1)!;
  a.segments = [{ start_extent: 0, extent_count: 3, type: 'linear', areas: [{ lv: b.id, le: 0 }] }];
  b.segments = [{ start_extent: 0, extent_count: 3, type: 'linear', areas: [{ lv: a.id, le: 0 }] }];
  assert.ok(checkVg(vg).some((p) => /cycle/.test(p)), checkVg(vg).join('; '));
});

test('a raid1 image that reaches its own raid LV is a cycle', () => {
  const vg = envelope().vg;
  vg.lvs.find((l) => l.id === LV.meta1)!.segments = [{ start_extent: 0, extent_count: 1, type: 'linear', areas: [{ lv: LV.mir, le: 0 }] }];
  assert.equal(subLvCycle(vg), ['mir', 'mir_rmeta_1', 'mir']);
});

test('a self-reference is refused', () => {
  const vg = envelope().vg;
  vg.lvs[0].segments = [{ start_extent: 0, extent_count: 3, type: 'linear', areas: [{ lv: vg.lvs[0].id, le: 0 }] }];
  assert.ok(checkVg(vg).length > 0);
  assert.equal(subLvCycle(vg), ['lin', 'lin']);
});

test('a chain 20,000 LVs long is walked without overflowing the stack', () => {
  const vg = envelope().vg;
  const id = (i: number) => `LVchain${String(i).padStart(25, '0')}`;
  for (let i = 0; i < 20000; i++) vg.lvs.push({ id: id(i), name: `c${i}`, flags: [], segments: [{ start_extent: 0, extent_count: 1, type: i === 19999 ? 'zero' : 'linear', areas: i === 19999 ? [] : [{ lv: id(i + 1), le: 0 }] }] });
  assert.is(subLvCycle(vg), null);
  vg.lvs[vg.lvs.length - 1].segments = [{ start_extent: 0, extent_count: 1, type: 'linear', areas: [{ lv: id(0), le: 0 }] }];
  assert.is(subLvCycle(vg)!.length, 20001);
});

test('isPowerOfTwo is exact beyond 32 bits', () => {
  for (const n of [1, 2, 8, 4096, 2 ** 31, 2 ** 32, 2 ** 52]) assert.ok(isPowerOfTwo(n), String(n));
  for (const n of [0, -8, 3, 12884901888, 2 ** 32 + 2 ** 31, 1e308, Infinity, NaN, 0.5]) assert.not.ok(isPowerOfTwo(n), String(n));
});

test('a region size that is not a power of two is a VG problem', () => {
  const vg = envelope().vg;
  vg.lvs.find((l) => l.id === LV.mir)!.segments[0].region_size = 12884901888;
  assert.ok(checkVg(vg).some((p) => /region size/.test(p)));
});

test('an envelope naming a PV twice (missing and present) is refused', () => {
  const env = envelope();
  env.missing = [Object.keys(env.devices)[0]];
  assert.ok(checkEnvelope(env).some((p) => /both missing/.test(p)));
});

test.run();
