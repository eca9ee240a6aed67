// lv-snapshot and lv-merge on the metadata: the COW space is a new LV carrying
// its origin's id, sizes in extents or %ORIGIN, the rules LVM keeps (no
// snapshot of a snapshot, an origin with snapshots is not reduced and not
// removed unless they are named too, one merge per origin, a merging snapshot
// is not removed), report's s/S/o/O, Origin and Data%, and vol-activate
// mapping an origin and its snapshots as one stack.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ToolError } from '../../src/lib/errors.js';
import { lvCreate } from '../../src/metadata-manip/lv-create.js';
import { lvExtend, lvReduce } from '../../src/metadata-manip/lv-resize.js';
import { lvRemove, lvRename } from '../../src/metadata-manip/lv-admin.js';
import { dropFinishedMerges, lvMerge, lvSnapshot } from '../../src/metadata-manip/lv-snapshot.js';
import { finishedMerges } from '../../src/lib/snapshot-merge.js';
import { findLv, lvExtents, type Vg } from '../../src/metadata-manip/model.js';
import { checkVg } from '../../src/lib/vg-check.js';
import { lvRows, snapshotPercent } from '../../src/report/rows.js';
import { parseSnapshotStatus, tableLine } from '../../src/lib/dm-table.js';
import type { DmDoc } from '../../src/lib/dm-doc.js';
import { desiredState } from '../../src/vol-activate/activate.js';
import { vgProblems } from '../helpers/vg-invariants.js';
import { emptyVg } from '../helpers/vg-fixtures.js';

const fails = (fn: () => unknown, code: number, re: RegExp) => {
  try {
    fn();
  } catch (e) {
    assert.instance(e, ToolError);
    assert.is((e as ToolError).exitCode, code, (e as Error).message);
    assert.match((e as Error).message, re);
    return;
  }
  assert.unreachable(`expected exit ${code} ${re}`);
};

const base = (): Vg => lvCreate(emptyVg([20, 20]), { name: 'data', size: '10e' }).vg;

test('lv-snapshot: a new LV with the COW space, its origin by id, 4 KiB chunks by default; %ORIGIN rounds up', () => {
  let vg = lvSnapshot(base(), { origin: 'data', name: 'snap', size: '2e' }).vg;
  assert.equal(vgProblems(vg), []);
  const origin = findLv(vg, 'data')!;
  const snap = findLv(vg, 'snap')!;
  assert.equal(snap.snapshot, { origin: origin.id, chunk_size: 8 });
  assert.is(lvExtents(snap), 2);
  assert.is(lvExtents(origin), 10, 'the origin is unchanged');
  vg = lvSnapshot(vg, { origin: 'data', name: 'quarter', size: '25%ORIGIN', chunkSize: '64k' }).vg;
  assert.is(lvExtents(findLv(vg, 'quarter')!), 3, '25% of 10 extents is 2.5: rounded up to 3');
  assert.is(findLv(vg, 'quarter')!.snapshot!.chunk_size, 128);
  assert.equal(checkVg(vg), []);
});

test('lv-snapshot refuses a snapshot of a snapshot, a bad chunk size, a taken name, no space', () => {
  const vg = lvSnapshot(base(), { origin: 'data', name: 'snap', size: '2e' }).vg;
  fails(() => lvSnapshot(vg, { origin: 'snap', name: 's2', size: '1e' }), 1, /itself a snapshot/);
  fails(() => lvSnapshot(vg, { origin: 'data', name: 's2', size: '1e', chunkSize: '3k' }), 2, /chunksize/);
  fails(() => lvSnapshot(vg, { origin: 'data', name: 'snap', size: '1e' }), 1, /already exists/);
  fails(() => lvSnapshot(vg, { origin: 'data', name: 's3', size: '100e' }), 1, /insufficient free space/);
  fails(() => lvSnapshot(vg, { origin: 'nope', name: 's4', size: '1e' }), 1, /no such logical volume/);
});

test('an origin with snapshots: extended yes, reduced no, removed only with its snapshots named; renames keep the link', () => {
  let vg = lvSnapshot(base(), { origin: 'data', name: 'snap', size: '2e' }).vg;
  vg = lvExtend(vg, { name: 'data', size: '+2e' }).vg;
  fails(() => lvReduce(vg, { name: 'data', size: '-1e' }), 1, /origin of a snapshot/);
  fails(() => lvRemove(vg, { name: 'data' }), 1, /origin of snapshot 'snap': name it too/);
  vg = lvRename(vg, { name: 'data', newName: 'db' }).vg;
  assert.is(findLv(vg, 'snap')!.snapshot!.origin, findLv(vg, 'db')!.id);
  const gone = lvRemove(vg, { name: 'db', more: ['snap'] }).vg;
  assert.equal(gone.lvs, []);
  const snapGone = lvRemove(vg, { name: 'snap' }).vg;
  assert.equal(snapGone.lvs.map((l) => l.name), ['db'], 'a snapshot alone may go');
  assert.equal(vgProblems(snapGone), []);
});

test('lv-merge marks the snapshot merging; one merge per origin; a merging snapshot is not removed', () => {
  let vg = lvSnapshot(base(), { origin: 'data', name: 'a', size: '2e' }).vg;
  vg = lvSnapshot(vg, { origin: 'data', name: 'b', size: '2e' }).vg;
  vg = lvMerge(vg, { name: 'a' }).vg;
  assert.is(findLv(vg, 'a')!.snapshot!.merging, true);
  assert.equal(lvMerge(vg, { name: 'a' }).notes, ['Snapshot a is already merging']);
  fails(() => lvMerge(vg, { name: 'b' }), 1, /already merging/);
  fails(() => lvMerge(vg, { name: 'data' }), 1, /not a snapshot/);
  fails(() => lvRemove(vg, { name: 'a' }), 1, /merging/);
  fails(() => lvSnapshot(vg, { origin: 'data', name: 'c', size: '1e' }), 1, /merging/);
  assert.equal(vgProblems(vg), []);
  // Damage a merge check would not let through: two merging into one origin.
  const bad = structuredClone(vg);
  bad.lvs.find((l) => l.name === 'b')!.snapshot!.merging = true;
  assert.ok(checkVg(bad).some((p) => /second snapshot merging/.test(p)));
});

test("report: lv_attr s/S and o/O, the Origin column", () => {
  let vg = lvSnapshot(base(), { origin: 'data', name: 'snap', size: '2e' }).vg;
  const env = (v: Vg) => ({ format: 'dvm.envelope/1' as const, vg: v, devices: {}, missing: [] });
  const rows = (v: Vg) => Object.fromEntries(lvRows(env(v), null, { all: false }).map((r) => [r.lv_name, [r.lv_attr, r.origin]]));
  assert.equal(rows(vg), { data: ['owi---s---', ''], snap: ['swi---s---', 'data'] });
  vg = lvMerge(vg, { name: 'snap' }).vg;
  assert.equal(rows(vg), { data: ['Owi---s---', ''], snap: ['Swi---s---', 'data'] });
});

test('vol-activate maps an origin with its snapshots as one stack, and the other LVs as before', () => {
  let vg = lvSnapshot(base(), { origin: 'data', name: 'snap', size: '2e' }).vg;
  vg = lvCreate(vg, { name: 'plain', size: '1e' }).vg;
  const env = { format: 'dvm.envelope/1' as const, vg, devices: Object.fromEntries(vg.pvs.map((p, i) => [p.id, `/dev/loop${i}`])), missing: [] };
  const fx = { devOf: () => ({ major: 7, minor: 0 }), current: (scope: string) => ({ format: 'dvm.dm/1' as const, scope, devices: [] }) };
  const targets = (lv: string) => Object.fromEntries(desiredState(env, { all: false, lvs: [lv], deactivate: [], partial: false }, fx).devices.map((d) => [d.name, d.table[0].target]));
  const stack = { [`${vg.name}-data-real`]: 'linear', [`${vg.name}-snap-cow`]: 'linear', [`${vg.name}-snap`]: 'snapshot', [`${vg.name}-data`]: 'snapshot-origin' };
  assert.equal(targets('data'), stack);
  assert.equal(targets('snap'), stack);
  assert.equal(targets('plain'), { [`${vg.name}-plain`]: 'linear' });
});

test('a merge the kernel reports done: finishedMerges finds it, dropFinishedMerges takes the snapshot out', () => {
  let vg = lvSnapshot(base(), { origin: 'data', name: 'snap', size: '2e' }).vg;
  vg = lvSnapshot(vg, { origin: 'data', name: 'other', size: '2e' }).vg;
  vg = lvMerge(vg, { name: 'snap' }).vg;
  const id = (n: string) => findLv(vg, n)!.id;
  const kernel = (status: string, cowOf = 'snap'): DmDoc => ({
    format: 'dvm.dm/1',
    scope: `DVM-${vg.id}`,
    devices: [
      { name: 'v-data-real', uuid: `DVM-${vg.id}-${id('data')}-real`, table: [tableLine(0, 80, 'linear', '7:0 0')], major: 253, minor: 0 },
      { name: 'v-snap-cow', uuid: `DVM-${vg.id}-${id(cowOf)}-cow`, table: [tableLine(0, 16, 'linear', '7:0 80')], major: 253, minor: 1 },
      { name: 'v-data', uuid: `DVM-${vg.id}-${id('data')}`, table: [tableLine(0, 80, 'snapshot-merge', '253:0 253:1 P 8')], status: [tableLine(0, 80, 'snapshot-merge', status)], major: 253, minor: 2 },
    ],
  });
  assert.equal([...finishedMerges(vg, kernel('16/16384 16'))], [id('snap')]);
  assert.equal([...finishedMerges(vg, kernel('48/16384 16'))], [], 'still merging');
  assert.equal([...finishedMerges(vg, kernel('Merge failed'))], []);
  assert.equal([...finishedMerges(vg, kernel('16/16384 16', 'other'))], [], 'a merge over another COW is not this one');
  assert.equal([...finishedMerges(vg, { format: 'dvm.dm/1', scope: '', devices: [] })], [], 'inactive: not started, not done');
  const after = dropFinishedMerges(vg, new Set([id('snap'), id('other')]));
  assert.equal(after.lvs.map((l) => l.name).sort(), ['data', 'other'], 'only a merging snapshot is dropped');
  assert.equal(checkVg(after), []);
  assert.is(dropFinishedMerges(vg, new Set()), vg);
});

test('report: Data% of a snapshot from the kernel status, I when it overflowed, as lvs', () => {
  let vg = lvSnapshot(base(), { origin: 'data', name: 'snap', size: '2e' }).vg;
  const env = { format: 'dvm.envelope/1' as const, vg, devices: {}, missing: [] };
  const dev = (lv: string, target: string, status: string) => {
    const l = findLv(vg, lv)!;
    return { name: `vg-${lv}`, uuid: `DVM-${vg.id}-${l.id}`, table: [tableLine(0, 80, target, 'x')], status: [tableLine(0, 80, target, status)], suspended: false, open_count: 0 };
  };
  const dm = (snapStatus: string): DmDoc => ({ format: 'dvm.dm/1', scope: `DVM-${vg.id}`, devices: [dev('data', 'snapshot-origin', ''), dev('snap', 'snapshot', snapStatus)] });
  const row = (d: DmDoc) => Object.fromEntries(lvRows(env, d, { all: false }).map((r) => [r.lv_name, [r.lv_attr, r.data_percent]]));
  assert.equal(row(dm('16/16384 16')), { data: ['owi-a-s---', null], snap: ['swi-a-s---', 0] });
  assert.equal(row(dm('4112/16384 16')), { data: ['owi-a-s---', null], snap: ['swi-a-s---', 25.1] });
  assert.equal(row(dm('Invalid')), { data: ['owi-a-s---', null], snap: ['swi-I-s---', null] });
  assert.is(snapshotPercent(parseSnapshotStatus('16384/16384 16')), 100);
  assert.is(snapshotPercent(parseSnapshotStatus('17/1000000 16')), 0.01);
  assert.is(snapshotPercent(parseSnapshotStatus('999999/1000000 16')), 99.99);
  // a merging snapshot: the origin's snapshot-merge status
  vg = lvMerge(vg, { name: 'snap' }).vg;
  const env2 = { ...env, vg };
  const merging: DmDoc = { format: 'dvm.dm/1', scope: `DVM-${vg.id}`, devices: [dev('data', 'snapshot-merge', '2064/16384 16')] };
  const r = Object.fromEntries(lvRows(env2, merging, { all: false }).map((x) => [x.lv_name, x.data_percent]));
  assert.equal(r, { data: null, snap: 12.6 });
});

test.run();
