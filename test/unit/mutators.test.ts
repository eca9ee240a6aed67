import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ToolError } from '../../src/lib/errors.js';
import { lvCreate } from '../../src/metadata-manip/lv-create.js';
import { lvExtend, lvReduce } from '../../src/metadata-manip/lv-resize.js';
import { lvRemove, lvRename } from '../../src/metadata-manip/lv-admin.js';
import { pvChange } from '../../src/metadata-manip/pv-change.js';
import { findLv, lvExtents, type Vg } from '../../src/metadata-manip/model.js';
import { vgProblems } from '../helpers/vg-invariants.js';
import { emptyVg, PV } from '../helpers/vg-fixtures.js';

const seg = (vg: Vg, name: string) => findLv(vg, name)!.segments;
const fails = (fn: () => unknown, code: number, re: RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof ToolError && e.exitCode === code && re.test(e.message));
const sound = (vg: Vg) => assert.equal(vgProblems(vg), []);

test('linear: first fit in PV order, best fit within a PV, sizes round up to extents', () => {
  let r = lvCreate(emptyVg([100, 100]), { name: 'a', size: '10M' });
  assert.equal(seg(r.vg, 'a'), [{ start_extent: 0, extent_count: 3, type: 'linear', areas: [{ pv: PV(0), pe: 0 }] }]);
  assert.equal(r.notes, ['Rounding up size to full physical extent 12.00m']);
  r = lvCreate(r.vg, { name: 'b', size: '5e' });
  assert.equal(seg(r.vg, 'b')[0].areas, [{ pv: PV(0), pe: 3 }]);
  sound(r.vg);
});

test('linear: an extend continues the last segment when the space is adjacent (one segment)', () => {
  let vg = lvCreate(emptyVg([100]), { name: 'a', size: '4e' }).vg;
  vg = lvExtend(vg, { name: 'a', size: '+6e' }).vg;
  assert.equal(seg(vg, 'a'), [{ start_extent: 0, extent_count: 10, type: 'linear', areas: [{ pv: PV(0), pe: 0 }] }]);
  vg = lvExtend(vg, { name: 'a', size: '12e' }).vg;
  assert.is(seg(vg, 'a').length, 1);
  assert.is(lvExtents(findLv(vg, 'a')!), 12);
});

test('linear: a blocked extend clings to the PV, then spills to the next one', () => {
  let vg = lvCreate(emptyVg([10, 10]), { name: 'a', size: '2e' }).vg;
  vg = lvCreate(vg, { name: 'b', size: '2e' }).vg;
  vg = lvExtend(vg, { name: 'a', size: '+10e' }).vg;
  assert.equal(
    seg(vg, 'a').map((s) => [s.start_extent, s.extent_count, s.areas[0]]),
    [
      [0, 2, { pv: PV(0), pe: 0 }],
      [2, 6, { pv: PV(0), pe: 4 }],
      [8, 4, { pv: PV(1), pe: 0 }],
    ],
  );
  sound(vg);
});

test('striped: N distinct PVs, whole stripes, 64 KiB default stripe size; extend in whole stripes', () => {
  let r = lvCreate(emptyVg([50, 50, 50]), { name: 's', size: '5e', stripes: 3 });
  assert.equal(seg(r.vg, 's'), [{ start_extent: 0, extent_count: 6, type: 'striped', stripe_size: 128, areas: [0, 1, 2].map((i) => ({ pv: PV(i), pe: 0 })) }]);
  assert.match(r.notes[0], /stripe boundary/);
  r = lvExtend(r.vg, { name: 's', size: '+1e' });
  assert.is(seg(r.vg, 's').length, 1, 'merged');
  assert.is(seg(r.vg, 's')[0].extent_count, 9);
  // A reduce never cuts a stripe in half.
  fails(() => lvReduce(r.vg, { name: 's', size: '-1e' }), 1, /stripe/);
  r = lvReduce(r.vg, { name: 's', size: '-3e' });
  assert.is(lvExtents(findLv(r.vg, 's')!), 6);
  sound(r.vg);
});

test('striped: stripe size must be a power of two; more stripes than PVs fails', () => {
  fails(() => lvCreate(emptyVg([50, 50]), { name: 's', size: '4e', stripes: 2, stripeSize: '48k' }), 2, /power of two/);
  fails(() => lvCreate(emptyVg([50, 50]), { name: 's', size: '4e', stripes: 3 }), 1, /stripes \(3\).*\(2\)/);
  const vg = lvCreate(emptyVg([50, 50]), { name: 's', size: '4e', stripes: 2, stripeSize: '256k' }).vg;
  assert.is(seg(vg, 's')[0].stripe_size, 512);
});

test('raid1: hidden images and metadata, each leg on its own PV with its rmeta first', () => {
  let vg = lvCreate(emptyVg([20, 20, 20]), { name: 'm', size: '4e', mirrors: 1 }).vg;
  sound(vg);
  const top = findLv(vg, 'm')!;
  assert.is(top.segments[0].type, 'raid1');
  assert.is(top.segments[0].region_size, 4096);
  assert.equal(seg(vg, 'm_rmeta_0')[0].areas, [{ pv: PV(0), pe: 0 }]);
  assert.equal(seg(vg, 'm_rimage_0')[0].areas, [{ pv: PV(0), pe: 1 }]);
  assert.equal(seg(vg, 'm_rmeta_1')[0].areas, [{ pv: PV(1), pe: 0 }]);
  assert.equal(findLv(vg, 'm_rimage_1')!.flags, ['hidden']);
  vg = lvExtend(vg, { name: 'm', size: '+3e' }).vg;
  assert.is(lvExtents(findLv(vg, 'm')!), 7);
  assert.is(lvExtents(findLv(vg, 'm_rimage_1')!), 7);
  assert.is(seg(vg, 'm_rimage_1').length, 1, 'image extended in place');
  vg = lvReduce(vg, { name: 'm', size: '2e' }).vg;
  assert.is(lvExtents(findLv(vg, 'm_rimage_0')!), 2);
  vg = lvRename(vg, { name: 'm', newName: 'n' }).vg;
  assert.ok(findLv(vg, 'n_rimage_1') && findLv(vg, 'n_rmeta_0') && !findLv(vg, 'm_rimage_0'));
  sound(vg);
  fails(() => lvRemove(vg, { name: 'n_rimage_0' }), 1, /hidden sub-LV of 'n'/);
  vg = lvRemove(vg, { name: 'n' }).vg;
  assert.equal(vg.lvs, []);
  fails(() => lvCreate(emptyVg([20, 20]), { name: 'm', size: '4e', mirrors: 2 }), 1, /3 mirror legs need 3/);
  fails(() => lvCreate(emptyVg([20, 20]), { name: 'x_rimage_0', size: '4e' }), 2, /reserved/);
});

test('--pv restricts allocation to the PVs (and PE ranges) named; non-allocatable PVs are skipped', () => {
  let vg = lvCreate(emptyVg([20, 20, 20]), { name: 'a', size: '2e', pvs: [PV(2)] }).vg;
  assert.equal(seg(vg, 'a')[0].areas, [{ pv: PV(2), pe: 0 }]);
  vg = lvCreate(vg, { name: 'b', size: '2e', pvs: [`${PV(1)}:5-9`] }).vg;
  assert.equal(seg(vg, 'b')[0].areas, [{ pv: PV(1), pe: 5 }]);
  fails(() => lvCreate(vg, { name: 'c', size: '6e', pvs: [`${PV(1)}:5-9`] }), 1, /3 extents .* free/);
  vg = pvChange(vg, { pv: PV(0), allocatable: false }).vg;
  vg = lvCreate(vg, { name: 'd', size: '1e' }).vg;
  assert.equal(seg(vg, 'd')[0].areas, [{ pv: PV(1), pe: 0 }]);
  fails(() => lvCreate(vg, { name: 'e', size: '1e', pvs: ['nosuchpv'] }), 1, /no such physical volume/);
});

test('percentages: 100%FREE takes all allocatable space, +50%FREE half of it', () => {
  let vg = lvCreate(emptyVg([10, 30], [['allocatable'], ['allocatable']]), { name: 'a', size: '100%FREE' }).vg;
  assert.is(lvExtents(findLv(vg, 'a')!), 40);
  vg = lvCreate(emptyVg([10, 30]), { name: 'a', size: '50%FREE' }).vg;
  vg = lvExtend(vg, { name: 'a', size: '+50%FREE' }).vg;
  assert.is(lvExtents(findLv(vg, 'a')!), 30);
  vg = lvCreate(emptyVg([10, 30]), { name: 's', size: '100%FREE', stripes: 2 }).vg;
  assert.is(lvExtents(findLv(vg, 's')!), 20, 'as many whole stripes as fit');
  sound(vg);
});

test('errors: no space (says how much is free), name taken, no such LV, reduce below one extent', () => {
  const vg = lvCreate(emptyVg([10]), { name: 'a', size: '4e' }).vg;
  fails(() => lvCreate(vg, { name: 'b', size: '7e' }), 1, /insufficient free space: 7 extents \(28\.00m\) needed, but only 6 extents \(24\.00m\) free/);
  fails(() => lvCreate(vg, { name: 'a', size: '1e' }), 1, /already exists/);
  fails(() => lvExtend(vg, { name: 'zz', size: '+1e' }), 1, /no such logical volume/);
  fails(() => lvReduce(vg, { name: 'a', size: '-4e' }), 1, /below one extent/);
  fails(() => lvReduce(vg, { name: 'a', size: '5e' }), 1, /not smaller/);
  fails(() => lvExtend(vg, { name: 'a', size: '3e' }), 1, /not larger/);
  fails(() => lvExtend(vg, { name: 'a', size: '-1e' }), 2, /invalid size/);
  fails(() => lvRename(vg, { name: 'a', newName: 'a' }), 2, /differ/);
  fails(() => lvCreate(vg, { name: 'b', size: '1e', stripes: 2, mirrors: 1 }), 2, /raid10/);
  fails(() => lvCreate(vg, { name: '-bad', size: '1e' }), 2, /invalid name/);
  fails(() => lvCreate(vg, { name: 'z', size: '0' }), 2, /greater than zero/);
  fails(() => lvExtend(vg, { name: 'a', size: '+0e' }), 2, /greater than zero/);
});

test('ids are deterministic, 32 characters of [0-9A-Za-z], and differ per LV', () => {
  const a = lvCreate(emptyVg([40, 40]), { name: 'm', size: '2e', mirrors: 1 }).vg;
  const b = lvCreate(emptyVg([40, 40]), { name: 'm', size: '2e', mirrors: 1 }).vg;
  assert.equal(a, b);
  const ids = a.lvs.map((l) => l.id);
  assert.is(new Set(ids).size, 5);
  for (const id of ids) assert.match(id, /^[0-9A-Za-z]{32}$/);
});

test('damaged input (an extent mapped twice) is refused as invalid input', () => {
  const vg = lvCreate(emptyVg([10]), { name: 'a', size: '4e' }).vg;
  vg.lvs.push({ ...structuredClone(vg.lvs[0]), id: 'otheridaaaaaaaaa', name: 'b' });
  fails(() => lvCreate(vg, { name: 'c', size: '1e' }), 3, /mapped twice/);
});

test.run();
