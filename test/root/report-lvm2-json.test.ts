// report --reportformat json against lvs/pvs/vgs --reportformat json for an
// equivalent LVM2 VG on the same loop devices (LVM2 with --driverloaded n):
// the same bytes for the same fields, units, selection and sort. Deliberate
// differences (docs/contracts.md): lv_attr's activation letters (LVM2 without
// device-mapper prints X, "unknown"; report without --dm knows nothing either
// and prints -) and pv_fmt (dvm, not lvm2) are not compared.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Lvm2Sandbox, requireLvm2, lvmArgs, type Op } from '../helpers/lvm2.js';
import { applyDvm } from '../helpers/dvm-ops.js';
import { runBin } from '../helpers/cli.js';
import type { Envelope } from '../../src/lib/vg-types.js';
import { lvChange } from '../../src/metadata-manip/lv-change.js';

const ops: Op[] = [
  { op: 'create', name: 'lin', extents: 5 },
  { op: 'create', name: 'str', extents: 6, stripes: 2 },
  { op: 'create', name: 'big', extents: 9 },
  { op: 'extend', name: 'lin', extents: 4 },
  { op: 'remove', name: 'big' },
  { op: 'create', name: 'three', extents: 9, stripes: 3 },
  { op: 'extend', name: 'lin', extents: 12 },
];

requireLvm2();

test('report --reportformat json gives the bytes lvs, lvs --segments, pvs and vgs give', async () => {
  const sb = Lvm2Sandbox.create([24, 24, 32], 1);
  try {
    let vg = sb.emptyVgDoc();
    const ids = [0, 1, 2].map((i) => sb.pvId(i));
    for (const o of ops) {
      sb.lvm(lvmArgs(sb, o));
      vg = applyDvm(vg, o, ids);
    }
    // Tags, given to both: several per LV (LVM lists them sorted), one both added and deleted, an LV without any.
    const tagOps: [string, string[], string[]][] = [
      ['lin', ['zeta', 'dvm:dataset=ab12', 'a/b=c!d:e&f#g', 'q'], ['q']],
      ['str', ['+p', '@at-stripped', '_u.v'], []],
    ];
    for (const [lv, add, del] of tagOps) {
      sb.lvm(['lvchange', '-q', ...add.flatMap((t) => ['--addtag', t]), ...del.flatMap((t) => ['--deltag', t]), `${sb.vg}/${lv}`]);
      vg = lvChange(vg, { name: lv, addTags: add, delTags: del }).vg;
    }
    const env: Envelope = { format: 'dvm.envelope/1', vg, devices: Object.fromEntries([0, 1, 2].map((i) => [sb.pvId(i), sb.loop(i)])), missing: [] };
    const input = JSON.stringify(env);
    const pvs = [0, 1, 2].map((i) => sb.loop(i));
    const cases: [string, string[], string[]][] = [
      // [what, lvm args, report args]
      ['lvs, human sizes', ['lvs', '-o', 'lv_name,vg_name,lv_size,seg_count,devices', sb.vg], ['-o', 'lv_name,vg_name,lv_size,seg_count,devices']],
      ['lvs, sectors', ['lvs', '-o', 'lv_name,lv_size,seg_count', '--units', 's', sb.vg], ['-o', 'lv_name,lv_size,seg_count', '--units', 's']],
      ['lvs, megabytes without suffix', ['lvs', '-o', 'name,size', '--units', 'm', '--nosuffix', sb.vg], ['-o', 'name,size', '--units', 'm', '--nosuffix']],
      ['lvs -S and -O', ['lvs', '-o', 'lv_name,lv_size', '-S', 'lv_size>=20m', '-O', '-lv_size', sb.vg], ['-o', 'lv_name,lv_size', '-S', 'lv_size>=20m', '-O', '-lv_size']],
      ['lvs --segments -S by name and stripes', ['lvs', '--segments', '-o', 'lv_name,stripes', '-S', 'lv_name=~^t || stripes=2', sb.vg], ['--segments', '-o', 'lv_name,stripes', '-S', 'lv_name=~^t || stripes=2']],
      ['lvs --segments', ['lvs', '--segments', '-o', 'lv_name,seg_start,seg_size,stripes,segtype,devices', '--units', 's', sb.vg], ['--segments', '-o', 'lv_name,seg_start,seg_size,stripes,segtype,devices', '--units', 's']],
      ['lvs, tags', ['lvs', '-o', 'lv_name,lv_tags', sb.vg], ['-o', 'lv_name,lv_tags']],
      ['lvs, tags by their short name', ['lvs', '-o', 'lv_name,lv_size,tags', sb.vg], ['-o', 'lv_name,lv_size,tags']],
      ['lvs, selected by tag', ['lvs', '-o', 'lv_name,lv_tags', '-S', 'lv_tags=zeta', sb.vg], ['-o', 'lv_name,lv_tags', '-S', 'lv_tags=zeta']],
      ['pvs', ['pvs', '-o', 'pv_name,vg_name,pv_attr,pv_size,pv_free', ...pvs], ['--pvs', '-o', 'pv_name,vg_name,pv_attr,pv_size,pv_free']],
      ['vgs, the default fields', ['vgs', sb.vg], ['--vgs']],
    ];
    for (const [what, lvmA, ours] of cases) {
      const theirs = sb.lvm([...lvmA, '--reportformat', 'json']);
      const r = await runBin('report', [...ours, '--reportformat', 'json'], { input });
      assert.is(r.exitCode, 0, `${what}: ${r.stderr}`);
      assert.is(r.stdout, theirs, what);
    }
  } finally {
    sb.destroy();
  }
});

test.run();
