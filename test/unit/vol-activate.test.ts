import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { desiredState, type ActivateOptions } from '../../src/vol-activate/activate.js';
import { validate } from '../../src/lib/schema.js';
import { ToolError } from '../../src/lib/errors.js';
import type { DmDoc } from '../../src/lib/dm-doc.js';
import { envelope, DEVS, LV, PV, VG_ID } from '../helpers/activation-fixtures.js';

const SCOPE = `DVM-${VG_ID}`;
const opts = (o: Partial<ActivateOptions> = {}): ActivateOptions => ({ all: false, lvs: [], deactivate: [], partial: false, ...o });
const noKernel = () => {
  throw new Error('the kernel must not be asked with --all');
};
const fx = (current: () => DmDoc = noKernel) => ({ devOf: (p: string) => DEVS[p], current });
const kernelWith = (...lvIds: string[]) => (): DmDoc => ({ format: 'dvm.dm/1', scope: SCOPE, devices: lvIds.map((id, i) => ({ name: `x${i}`, uuid: `${SCOPE}-${id}`, table: [] })) });
const table = (doc: DmDoc, name: string) => doc.devices.find((d) => d.name === name)?.table.map((l) => `${l.start} ${l.length} ${l.target} ${l.params}`.trim());
const errs = (fn: () => unknown, code: number, re: RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof ToolError && e.exitCode === code && re.test(e.message));

test('--all maps linear, striped and raid1 LVs to the tables LVM uses', () => {
  const doc = desiredState(envelope(), opts({ all: true }), fx());
  validate('dvm.dm/1', doc);
  assert.is(doc.scope, SCOPE);
  // pe_start 2048 + pe * 8192
  assert.equal(table(doc, 'vg--0-lin'), ['0 16384 linear 7:0 2048', '16384 8192 linear 7:1 43008']);
  assert.equal(table(doc, 'vg--0-str'), ['0 32768 striped 2 128 7:0 18432 7:1 2048']);
  assert.equal(table(doc, 'vg--0-mir_rmeta_0'), ['0 8192 linear 7:1 83968']);
  assert.equal(table(doc, 'vg--0-mir_rimage_1'), ['0 24576 linear 7:2 10240']);
  assert.equal(table(doc, 'vg--0-mir'), ['0 24576 raid raid1 3 0 region_size 4096 2 dm:vg--0-mir_rmeta_0 dm:vg--0-mir_rimage_0 dm:vg--0-mir_rmeta_1 dm:vg--0-mir_rimage_1']);
  const mir = doc.devices.find((d) => d.name === 'vg--0-mir')!;
  assert.is(mir.uuid, `${SCOPE}-${LV.mir}`);
  assert.is(mir.lv, 'mir');
  // sub-LVs come before the device that uses them
  const order = doc.devices.map((d) => d.name);
  for (const sub of ['vg--0-mir_rmeta_0', 'vg--0-mir_rimage_0', 'vg--0-mir_rmeta_1', 'vg--0-mir_rimage_1']) assert.ok(order.indexOf(sub) < order.indexOf('vg--0-mir'), sub);
  assert.is(doc.devices.length, 7);
});

test('--active keeps what the kernel has; a half-built stack counts as active', () => {
  assert.equal(desiredState(envelope(), opts(), fx(kernelWith())).devices, []);
  assert.equal(
    desiredState(envelope(), opts(), fx(kernelWith(LV.lin))).devices.map((d) => d.name),
    ['vg--0-lin'],
  );
  // only a raid image is there: the mirror was being activated
  const doc = desiredState(envelope(), opts(), fx(kernelWith(LV.img1)));
  assert.ok(doc.devices.some((d) => d.name === 'vg--0-mir'));
  // a device of another VG whose id starts with ours is not ours
  const trap = (): DmDoc => ({ format: 'dvm.dm/1', scope: SCOPE, devices: [{ name: 'x', uuid: `${SCOPE}X-${LV.lin}`, table: [] }] });
  assert.equal(desiredState(envelope(), opts(), fx(trap)).devices, []);
});

test('--lv adds to the active set, --deactivate takes away', () => {
  const doc = desiredState(envelope(), opts({ lvs: ['str'] }), fx(kernelWith(LV.lin)));
  assert.equal(doc.devices.map((d) => d.name).sort(), ['vg--0-lin', 'vg--0-str']);
  const less = desiredState(envelope(), opts({ all: true, deactivate: ['mir', 'lin'] }), fx());
  assert.equal(less.devices.map((d) => d.name), ['vg--0-str']);
  errs(() => desiredState(envelope(), opts({ all: true, lvs: ['nope'] }), fx()), 1, /LV 'nope': not in VG 'vg-0'/);
  errs(() => desiredState(envelope(), opts({ all: true, deactivate: ['mir_rimage_0'] }), fx()), 1, /hidden sub-LV/);
});

test('--none deactivates every LV (vgchange -an), keeping only --lv', () => {
  assert.equal(desiredState(envelope(), opts({ none: true }), fx(kernelWith(LV.lin, LV.img1))).devices, []);
  const only = desiredState(envelope(), opts({ none: true, lvs: ['str'] }), fx(kernelWith(LV.lin)));
  assert.equal(only.devices.map((d) => d.name), ['vg--0-str']);
});

test('a missing PV fails activation of its LVs, unless --partial maps it to error', () => {
  const env = envelope();
  env.missing = [PV[0]];
  delete env.devices[PV[0]];
  errs(() => desiredState(env, opts({ all: true }), fx()), 1, /LV 'lin'.*missing.*--partial/);
  // LVs not on it activate fine
  assert.equal(desiredState(env, opts({ lvs: ['mir'] }), fx(kernelWith())).devices.length, 5);
  const doc = desiredState(env, opts({ all: true, partial: true }), fx());
  assert.equal(table(doc, 'vg--0-lin'), ['0 16384 error', '16384 8192 linear 7:1 43008']);
  // a missing stripe is an error device of the stripe's length, as LVM's missing_stripe_filler
  assert.equal(table(doc, 'vg--0-str'), ['0 32768 striped 2 128 dm:vg--0-str-missing_0_0 0 7:1 2048']);
  assert.equal(table(doc, 'vg--0-str-missing_0_0'), ['0 16384 error']);
  assert.is(doc.devices.find((d) => d.name === 'vg--0-str-missing_0_0')!.uuid, `${SCOPE}-${LV.str}-missing_0_0`);
  validate('dvm.dm/1', doc);
});

test('a raid1 leg on a missing PV runs degraded (- -); with no leg left only --partial maps it', () => {
  const env = envelope();
  env.missing = [PV[2]];
  const doc = desiredState(env, opts({ lvs: ['mir'] }), fx(kernelWith()));
  assert.equal(table(doc, 'vg--0-mir'), ['0 24576 raid raid1 3 0 region_size 4096 2 dm:vg--0-mir_rmeta_0 dm:vg--0-mir_rimage_0 - -']);
  assert.not.ok(doc.devices.some((d) => d.name === 'vg--0-mir_rimage_1'));
  env.missing = [PV[1], PV[2]];
  errs(() => desiredState(env, opts({ lvs: ['mir'] }), fx(kernelWith())), 1, /every raid1 leg/);
  const p = desiredState(env, opts({ lvs: ['mir'], partial: true }), fx(kernelWith()));
  assert.equal(p.devices.map((d) => `${d.name} ${d.table[0].target}`), ['vg--0-mir error']);
});

test('layouts the kernel would refuse fail before any table is printed', () => {
  const gap = envelope();
  gap.vg.lvs[0].segments[1].start_extent = 3;
  errs(() => desiredState(gap, opts({ all: true }), fx()), 1, /gap/);
  const odd = envelope();
  odd.vg.lvs[1].segments[0].extent_count = 3;
  errs(() => desiredState(odd, opts({ all: true }), fx()), 1, /do not divide/);
  const one = envelope();
  one.vg.lvs[1].segments[0].areas = [{ pv: PV[0], pe: 2 }];
  assert.equal(table(desiredState(one, opts({ all: true }), fx()), 'vg--0-str'), ['0 32768 linear 7:0 18432']);
});

test('read-only LVs are marked read_only; dm names double dashes', () => {
  const env = envelope();
  env.vg.lvs[0].flags = ['read_only'];
  env.vg.lvs[0].name = 'my-lin';
  const doc = desiredState(env, opts({ all: true }), fx());
  const d = doc.devices.find((x) => x.name === 'vg--0-my--lin')!;
  assert.is(d.read_only, true);
  assert.is(doc.devices.find((x) => x.name === 'vg--0-str')!.read_only, false);
});

test.run();
