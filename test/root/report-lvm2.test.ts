// report against lvs, vgs and pvs for an equivalent LVM2 VG on the same loop
// devices (LVM2 with --driverloaded n; the layouts are the same because the
// allocator matches LVM2's: see lvm2-compare.test.ts): same sizes, same
// segment counts, same free space.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Lvm2Sandbox, requireLvm2, lvmArgs, type Op } from '../helpers/lvm2.js';
import { applyDvm } from '../helpers/dvm-ops.js';
import { jsonReport } from '../../src/report/report.js';
import type { Envelope } from '../../src/lib/vg-types.js';

const ops: Op[] = [
  { op: 'create', name: 'lin', extents: 5 },
  { op: 'create', name: 'str', extents: 6, stripes: 2 },
  { op: 'create', name: 'big', extents: 9 },
  { op: 'extend', name: 'lin', extents: 4 },
  { op: 'remove', name: 'big' },
  { op: 'create', name: 'three', extents: 9, stripes: 3 },
  { op: 'extend', name: 'lin', extents: 12 },
];

function lvmJson(sb: Lvm2Sandbox, args: string[], key: string): Record<string, string>[] {
  return JSON.parse(sb.lvm([...args, '--units', 's', '--nosuffix', '--reportformat', 'json'])).report[0][key];
}

requireLvm2();
test('report agrees with lvs, lvs --segments, pvs and vgs on sizes, segment counts and free space', () => {
  const sb = Lvm2Sandbox.create([24, 24, 32], 1);
  try {
    let vg = sb.emptyVgDoc();
    const ids = [0, 1, 2].map((i) => sb.pvId(i));
    for (const o of ops) {
      sb.lvm(lvmArgs(sb, o));
      vg = applyDvm(vg, o, ids);
    }
    const env: Envelope = { format: 'dvm.envelope/1', vg, devices: Object.fromEntries([0, 1, 2].map((i) => [sb.pvId(i), sb.loop(i)])), missing: [] };
    const rep = (kind: 'lvs' | 'pvs' | 'vgs' | 'segments', fields: string) =>
      jsonReport(env, null, { kind, fields, units: 's', all: false, headings: true }).rows;

    const lvs = lvmJson(sb, ['lvs', '-o', 'lv_name,lv_size,seg_count', sb.vg], 'lv').map((r) => [r.lv_name, Number(r.lv_size), Number(r.seg_count)]);
    const ours = rep('lvs', 'lv_name,lv_size,seg_count').map((r) => [r.lv_name, r.lv_size, r.seg_count]);
    assert.equal(ours.sort(), lvs.sort(), 'lvs: name, size, #seg');

    const segs = lvmJson(sb, ['lvs', '--segments', '-o', 'lv_name,seg_start,seg_size,stripes,segtype', sb.vg], 'seg').map((r) => [r.lv_name, Number(r.seg_start), Number(r.seg_size), Number(r.stripes)]);
    const oursSegs = rep('segments', 'lv_name,seg_start,seg_size,stripes').map((r) => [r.lv_name, r.seg_start, r.seg_size, r.stripes]);
    assert.equal(oursSegs.sort(), segs.sort(), 'lvs --segments: start, size, stripes');

    const pvs = lvmJson(sb, ['pvs', '-o', 'pv_name,pv_size,pv_free,pv_pe_count,pv_pe_alloc_count', ...[0, 1, 2].map((i) => sb.loop(i))], 'pv').map((r) => [r.pv_name, Number(r.pv_size), Number(r.pv_free), Number(r.pv_pe_count), Number(r.pv_pe_alloc_count)]);
    const oursPvs = rep('pvs', 'pv_name,pv_size,pv_free,pv_pe_count,pv_pe_alloc_count').map((r) => [r.pv_name, r.pv_size, r.pv_free, r.pv_pe_count, r.pv_pe_alloc_count]);
    assert.equal(oursPvs.sort(), pvs.sort(), 'pvs: size, free, extents');

    const [v] = lvmJson(sb, ['vgs', '-o', 'vg_name,pv_count,lv_count,vg_size,vg_free,vg_extent_count,vg_free_count', sb.vg], 'vg');
    const [o] = rep('vgs', 'vg_name,pv_count,lv_count,vg_size,vg_free,vg_extent_count,vg_free_count');
    assert.equal(o, Object.fromEntries(Object.entries(v).map(([k, x]) => [k, k === 'vg_name' ? x : Number(x)])), 'vgs');
  } finally {
    sb.destroy();
  }
});

test.run();
