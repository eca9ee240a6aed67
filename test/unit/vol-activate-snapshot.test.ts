// vol-activate's snapshot stacks (src/vol-activate/snapshots.ts), as LVM2 lays
// them out: the origin over a hidden -real device through snapshot-origin,
// each snapshot through `snapshot <real> <cow> P <chunk>` over its hidden -cow
// device, a merging snapshot's COW under the origin through snapshot-merge.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { desiredState, type ActivateOptions } from '../../src/vol-activate/activate.js';
import { validate } from '../../src/lib/schema.js';
import type { DmDoc } from '../../src/lib/dm-doc.js';
import type { Envelope, Lv } from '../../src/lib/vg-types.js';
import { envelope, DEVS, LV, PV, VG_ID } from '../helpers/activation-fixtures.js';

const SCOPE = `DVM-${VG_ID}`;
const SNAP = 'LVsnap0000000000000000000000000A';
const SNAP2 = 'LVsnap0000000000000000000000000B';
const opts = (o: Partial<ActivateOptions> = {}): ActivateOptions => ({ all: false, lvs: [], deactivate: [], partial: false, ...o });
const fx = (uuids: string[] = []) => ({
  devOf: (p: string) => DEVS[p],
  current: (): DmDoc => ({ format: 'dvm.dm/1', scope: SCOPE, devices: uuids.map((u, i) => ({ name: `x${i}`, uuid: u, table: [] })) }),
});
const tables = (doc: DmDoc) => Object.fromEntries(doc.devices.map((d) => [d.name, d.table.map((l) => `${l.start} ${l.length} ${l.target} ${l.params}`.trim())]));
const snapLv = (id: string, name: string, origin: string, pe: number, extra: Partial<Lv['snapshot']> = {}): Lv => ({
  id,
  name,
  flags: [],
  segments: [{ start_extent: 0, extent_count: 1, type: 'linear', areas: [{ pv: PV[2], pe }] }],
  snapshot: { origin, chunk_size: 8, ...extra },
});
function withSnaps(...snaps: Lv[]): Envelope {
  const env = envelope();
  env.vg.lvs.push(...snaps);
  return env;
}

test('an origin with a snapshot: -real, snapshot-origin, -cow, snapshot, as LVM2 names and maps them', () => {
  const doc = desiredState(withSnaps(snapLv(SNAP, 'lin-snap', LV.lin, 20)), opts({ lvs: ['lin'] }), fx());
  validate('dvm.dm/1', doc);
  assert.equal(tables(doc), {
    'vg--0-lin-real': ['0 16384 linear 7:0 2048', '16384 8192 linear 7:1 43008'],
    'vg--0-lin--snap-cow': ['0 8192 linear 7:2 165888'],
    'vg--0-lin--snap': ['0 24576 snapshot dm:vg--0-lin-real dm:vg--0-lin--snap-cow P 8'],
    'vg--0-lin': ['0 24576 snapshot-origin dm:vg--0-lin-real'],
  });
  const by = Object.fromEntries(doc.devices.map((d) => [d.name, d]));
  assert.is(by['vg--0-lin-real'].uuid, `${SCOPE}-${LV.lin}-real`);
  assert.is(by['vg--0-lin'].uuid, `${SCOPE}-${LV.lin}`);
  assert.is(by['vg--0-lin--snap-cow'].uuid, `${SCOPE}-${SNAP}-cow`);
  assert.is(by['vg--0-lin--snap'].uuid, `${SCOPE}-${SNAP}`);
  assert.equal(doc.devices.map((d) => d.lv), ['lin', 'lin-snap', 'lin-snap', 'lin']);
  // every device comes after the devices it maps onto
  const order = doc.devices.map((d) => d.name);
  assert.ok(order.indexOf('vg--0-lin-real') < order.indexOf('vg--0-lin--snap'));
  assert.ok(order.indexOf('vg--0-lin--snap-cow') < order.indexOf('vg--0-lin--snap'));
});

test('origin and snapshots activate and deactivate together, whichever is named', () => {
  const env = withSnaps(snapLv(SNAP, 's1', LV.lin, 20), snapLv(SNAP2, 's2', LV.lin, 21, { chunk_size: 64 }));
  const names = (doc: DmDoc) => doc.devices.map((d) => d.name).sort();
  const all = ['vg--0-lin', 'vg--0-lin-real', 'vg--0-s1', 'vg--0-s1-cow', 'vg--0-s2', 'vg--0-s2-cow'];
  assert.equal(names(desiredState(env, opts({ lvs: ['s2'] }), fx())), all);
  assert.equal(names(desiredState(env, opts({ lvs: ['lin'] }), fx())), all);
  assert.ok(tables(desiredState(env, opts({ lvs: ['s2'] }), fx()))['vg--0-s2'][0].endsWith(' P 64'));
  // --active: any device of the stack makes the whole stack active
  assert.equal(names(desiredState(env, opts(), fx([`${SCOPE}-${SNAP}-cow`]))), all);
  assert.equal(names(desiredState(env, opts({ all: true, deactivate: ['s1'] }), fx())), ['vg--0-mir', 'vg--0-mir_rimage_0', 'vg--0-mir_rimage_1', 'vg--0-mir_rmeta_0', 'vg--0-mir_rmeta_1', 'vg--0-str']);
});

test('a raid1 origin: its dm-raid table moves to -real, over the same sub-LVs', () => {
  const doc = desiredState(withSnaps(snapLv(SNAP, 'msnap', LV.mir, 20)), opts({ lvs: ['msnap'] }), fx());
  const t = tables(doc);
  assert.equal(t['vg--0-mir-real'], ['0 24576 raid raid1 3 0 region_size 4096 2 dm:vg--0-mir_rmeta_0 dm:vg--0-mir_rimage_0 dm:vg--0-mir_rmeta_1 dm:vg--0-mir_rimage_1']);
  assert.equal(t['vg--0-mir'], ['0 24576 snapshot-origin dm:vg--0-mir-real']);
  assert.equal(t['vg--0-msnap'], ['0 24576 snapshot dm:vg--0-mir-real dm:vg--0-msnap-cow P 8']);
  assert.is(doc.devices.length, 8);
});

test('a merging snapshot: the origin is snapshot-merge over its COW; the other snapshots stay', () => {
  const env = withSnaps(snapLv(SNAP, 's1', LV.lin, 20, { merging: true }), snapLv(SNAP2, 's2', LV.lin, 21));
  const t = tables(desiredState(env, opts({ lvs: ['lin'] }), fx()));
  assert.equal(t['vg--0-lin'], ['0 24576 snapshot-merge dm:vg--0-lin-real dm:vg--0-s1-cow P 8']);
  assert.equal(t['vg--0-s2'], ['0 24576 snapshot dm:vg--0-lin-real dm:vg--0-s2-cow P 8']);
  assert.equal(t['vg--0-s1'], undefined);
  assert.equal(t['vg--0-s1-cow'], ['0 8192 linear 7:2 165888']);
});

test('read-only flags: the origin and its -real follow the origin, a snapshot its own, a COW is always writable', () => {
  const snap = snapLv(SNAP, 's1', LV.lin, 20);
  snap.flags = ['read_only'];
  const env = withSnaps(snap);
  env.vg.lvs[0].flags = ['read_only'];
  const ro = Object.fromEntries(desiredState(env, opts({ lvs: ['lin'] }), fx()).devices.map((d) => [d.name, d.read_only]));
  assert.equal(ro, { 'vg--0-lin-real': true, 'vg--0-s1-cow': false, 'vg--0-s1': true, 'vg--0-lin': true });
});

test.run();
