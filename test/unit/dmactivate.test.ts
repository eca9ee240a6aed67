import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { planProgram } from '../../src/dmactivate/program.js';
import { stageFromPhase } from '../../src/dmactivate/phase.js';
import { ToolError } from '../../src/lib/errors.js';
import { validate } from '../../src/lib/schema.js';
import type { DmDoc } from '../../src/lib/dm-doc.js';
import type { DmProgram, DmStep } from '../../src/lib/dm-program.js';
import { tableLine, type TableLine } from '../../src/lib/dm-table.js';
import { SimKernel } from '../helpers/sim-kernel.js';

const S = 'DVM-vg';
const lin = (length: number, params: string, start = 0): TableLine => (tableLine(start, length, 'linear', params));
const doc = (...devices: [string, string, TableLine[]][]): DmDoc => ({ format: 'dvm.dm/1', scope: S, devices: devices.map(([name, id, table]) => ({ name, uuid: `${S}-${id}`, table })) });
const ops = (p: DmProgram) => p.steps.map((s) => `${s.op} ${s.name}${s.op === 'rename' ? ' ' + s.new_name : ''}`);
/** The table of a step the test knows is a load. */
const tbl = (s: DmStep) => (s as { table?: TableLine[] }).table;
const plan = (k: SimKernel, want: DmDoc, stage = false) => {
  const p = planProgram(k.query(S), want, { stage });
  validate('dvm.dmexec/1', p);
  return p;
};
/** a kernel converged to `want` */
function kernelAt(want: DmDoc): SimKernel {
  const k = new SimKernel();
  assert.ok(k.run(plan(k, want)).ok);
  return k;
}

const raid = (len: number, img: TableLine[][]) =>
  doc(
    ['vg-m_rmeta_0', 'm-m0', [lin(8, '7:0 0')]],
    ['vg-m_rimage_0', 'm-i0', img[0]],
    ['vg-m_rmeta_1', 'm-m1', [lin(8, '7:1 0')]],
    ['vg-m_rimage_1', 'm-i1', img[1]],
    ['vg-m', 'm', [tableLine(0, len, 'raid', 'raid1 3 0 region_size 1024 2 dm:vg-m_rmeta_0 dm:vg-m_rimage_0 dm:vg-m_rmeta_1 dm:vg-m_rimage_1')]],
  );
const raid0 = raid(64, [[lin(64, '7:0 8')], [lin(64, '7:1 8')]]);
const raid1 = raid(96, [[lin(64, '7:0 8'), lin(32, '7:2 0', 64)], [lin(96, '7:1 8')]]);

test('activation from nothing: create, load, resume, children first', () => {
  const k = new SimKernel();
  const p = plan(k, raid0);
  assert.equal(ops(p).slice(0, 3), ['create vg-m_rmeta_0', 'load vg-m_rmeta_0', 'resume vg-m_rmeta_0']);
  assert.equal(ops(p).slice(-3), ['create vg-m', 'load vg-m', 'resume vg-m']);
  // a device created by this program is referenced by name, for dmexec to resolve
  assert.match(tbl(p.steps.find((s) => s.op === 'load' && s.name === 'vg-m')!)![0].params, /dm:vg-m_rmeta_0 dm:vg-m_rimage_0/);
  assert.ok(k.run(p).ok);
  assert.equal(plan(k, raid0).steps, [], 'second plan is empty');
});

test('growing a mirror: grown images go live first (as libdm preload), then the top swaps', () => {
  const k = kernelAt(raid0);
  const p = plan(k, raid1);
  assert.equal(ops(p), ['load vg-m_rimage_0', 'resume vg-m_rimage_0', 'load vg-m_rimage_1', 'resume vg-m_rimage_1', 'load vg-m', 'suspend vg-m', 'resume vg-m']);
  // existing devices are referenced by number
  assert.match(tbl(p.steps[4])![0].params, /^raid1 3 0 region_size 1024 2 253:0 253:1 253:2 253:3$/);
  assert.ok(k.run(p).ok);
  assert.equal(k.violations, []);
  assert.equal(plan(k, raid1).steps, []);
});

test('--stage stops at the commit point; commit resumes; abort clears and resumes', () => {
  const k = kernelAt(raid0);
  const staged = plan(k, raid1, true);
  assert.equal(ops(staged), ['load vg-m_rimage_0', 'resume vg-m_rimage_0', 'load vg-m_rimage_1', 'resume vg-m_rimage_1', 'load vg-m', 'suspend vg-m']);
  assert.ok(k.run(staged).ok);
  assert.equal(plan(k, raid1, true).steps, [], 'prepare again: nothing');
  const aborted = k.clone();
  assert.equal(ops(plan(k, raid1)), ['resume vg-m']);
  // abort: the old tables come back; the grown images shrink again, after the top is back on its old table
  const back = plan(aborted, raid0);
  assert.equal(ops(back), ['clear vg-m', 'resume vg-m', 'load vg-m_rimage_0', 'load vg-m_rimage_1', 'suspend vg-m_rimage_1', 'suspend vg-m_rimage_0', 'resume vg-m_rimage_0', 'resume vg-m_rimage_1']);
  assert.ok(aborted.run(back).ok);
  assert.equal(aborted.violations, []);
  assert.equal(plan(aborted, raid0).steps, []);
});

test('shrinking a stack: load all, suspend top-down, resume bottom-up', () => {
  const a = doc(['vg-in', 'in', [lin(64, '7:0 0')]], ['vg-top', 'top', [lin(64, 'dm:vg-in 0')]]);
  const b = doc(['vg-in', 'in', [lin(32, '7:0 0')]], ['vg-top', 'top', [lin(32, 'dm:vg-in 0')]]);
  const k = kernelAt(a);
  assert.equal(ops(plan(k, b)), ['load vg-in', 'load vg-top', 'suspend vg-top', 'suspend vg-in', 'resume vg-in', 'resume vg-top']);
});

test('deactivation removes top-down and only the scope; a rename is a rename', () => {
  const a = doc(['vg-in', 'in', [lin(64, '7:0 0')]], ['vg-top', 'top', [lin(64, 'dm:vg-in 0')]], ['vg-x', 'x', [lin(8, '7:1 0')]]);
  const k = kernelAt(a);
  k.add('vg-foreign', 'LVM-other', [lin(8, '7:3 0')]);
  k.add('vg-trap', 'DVM-vgX-1', [lin(8, '7:3 8')]);
  const p = plan(k, doc(['vg-y', 'x', [lin(8, '7:1 0')]]));
  assert.equal(ops(p), ['rename vg-x vg-y', 'remove vg-top', 'remove vg-in']);
  assert.ok(k.run(p).ok);
  assert.equal(k.devs.map((d) => d.name).sort(), ['vg-foreign', 'vg-trap', 'vg-y']);
});

test('a name held by a stale device, or a swap of names, goes through a temporary name', () => {
  const k = kernelAt(doc(['vg-a', 'a', [lin(8, '7:0 0')]], ['vg-b', 'b', [lin(8, '7:1 0')]]));
  const p = plan(k, doc(['vg-b', 'a', [lin(8, '7:0 0')]], ['vg-a', 'b', [lin(8, '7:1 0')]]));
  assert.is(p.steps.length, 4);
  assert.match(ops(p)[0], /^rename vg-a dvm-tmp-/);
  assert.ok(k.run(p).ok);
  assert.equal(plan(k, doc(['vg-b', 'a', [lin(8, '7:0 0')]], ['vg-a', 'b', [lin(8, '7:1 0')]])).steps, []);
  // a new LV takes the name of a removed one whose device is still there
  const k2 = kernelAt(doc(['vg-a', 'old', [lin(8, '7:0 0')]]));
  const p2 = plan(k2, doc(['vg-a', 'new', [lin(16, '7:2 0')]]));
  assert.ok(k2.run(p2).ok, ops(p2).join(', '));
  assert.equal(k2.devs.map((d) => d.uuid), [`${S}-new`]);
});

test('leftovers: a stray inactive table is cleared, a suspended device resumed, an empty device filled', () => {
  const want = doc(['vg-a', 'a', [lin(8, '7:0 0')]], ['vg-b', 'b', [lin(8, '7:1 0')]]);
  const k = kernelAt(want);
  k.byName('vg-a')!.inactive = [lin(8, '7:3 0')];
  k.byName('vg-b')!.suspended = true;
  k.add('vg-c', `${S}-c`);
  const p = plan(k, doc(['vg-a', 'a', [lin(8, '7:0 0')]], ['vg-b', 'b', [lin(8, '7:1 0')]], ['vg-c', 'c', [lin(8, '7:2 0')]]));
  // vg-b is resumed first: nothing may load while a device with a table is suspended
  assert.equal(ops(p), ['resume vg-b', 'clear vg-a', 'load vg-c', 'resume vg-c']);
  assert.ok(k.run(p).ok);
});

test('a staged table that matches is not loaded again; one that does not is replaced', () => {
  const k = kernelAt(doc(['vg-a', 'a', [lin(8, '7:0 0')]]));
  k.byName('vg-a')!.inactive = [lin(16, '7:0 0')];
  assert.equal(ops(plan(k, doc(['vg-a', 'a', [lin(16, '7:0 0')]]))), ['suspend vg-a', 'resume vg-a']);
  assert.equal(ops(plan(k, doc(['vg-a', 'a', [lin(24, '7:0 0')]]))), ['load vg-a', 'suspend vg-a', 'resume vg-a']);
});

test('every step carries its own inverse (undo) and what its own failure may leave (on_error)', () => {
  const k = kernelAt(doc(['vg-a', 'a', [lin(8, '7:0 0')]], ['vg-x', 'x', [lin(8, '7:1 0')]], ['vg-t', 't', [lin(8, 'dm:vg-x 0')]]));
  const p = plan(k, doc(['vg-a', 'a', [lin(16, '7:0 0')]], ['vg-n', 'n', [lin(8, '7:1 0')]]));
  const list = (l: DmProgram['steps'] | undefined) => (l ?? []).map((s) => `${s.op} ${s.name}`);
  const undo = (i: number) => list(p.steps[i].undo);
  const onError = (i: number) => list(p.steps[i].on_error);
  assert.equal(ops(p), ['load vg-a', 'create vg-n', 'load vg-n', 'resume vg-n', 'suspend vg-a', 'resume vg-a', 'remove vg-t', 'remove vg-x']);
  assert.equal(undo(0), ['clear vg-a']);
  assert.equal(undo(1), ['remove vg-n']);
  assert.equal(undo(2), ['clear vg-n']);
  assert.equal(undo(3), [], 'the create\'s undo removes it');
  // the suspend/resume window is undone as a whole, by its last step
  assert.equal(undo(4), []);
  assert.equal(undo(5), ['load vg-a', 'suspend vg-a', 'resume vg-a']);
  assert.equal(tbl(p.steps[5].undo![0])!, [lin(8, '7:0 0')]);
  assert.equal(onError(0), ['clear vg-a']);
  assert.equal(onError(1), []);
  assert.equal(onError(4), ['clear vg-a', 'resume vg-a']);
  // a failed resume may have swapped: the old table is loaded back
  assert.equal(onError(5), ['clear vg-a', 'resume vg-a', 'load vg-a', 'suspend vg-a', 'resume vg-a']);
  // a removed device is re-created; one it used, too, and referred to by name (its number changes)
  assert.equal(undo(6), ['create vg-t', 'load vg-t', 'resume vg-t']);
  assert.equal(tbl(p.steps[6].undo![1]), [lin(8, 'dm:vg-x 0')]);
  assert.equal(undo(7), ['create vg-x', 'load vg-x', 'resume vg-x']);
  // a failure at the last step: its rollback, as dmexec runs it, restores everything
  const res = k.clone().run(p, { failAt: 7 });
  assert.equal(list(res.recoverySteps), ['create vg-t', 'load vg-t', 'resume vg-t', 'load vg-a', 'suspend vg-a', 'resume vg-a', 'clear vg-n', 'remove vg-n', 'clear vg-a']);
  assert.ok(res.recoveryOk);
});

test('program size is linear in the number of devices: activating 60 LVs carries one inverse per step', () => {
  const lvs = Array.from({ length: 60 }, (_, i): [string, string, TableLine[]] => [`vg-lv${i}`, `lv${i}`, [lin(8, `7:${i % 4} ${i * 8}`)]]);
  const p = plan(new SimKernel(), doc(...lvs));
  assert.is(p.steps.length, 180);
  const recovery = p.steps.reduce((n, s) => n + (s.undo?.length ?? 0) + (s.on_error?.length ?? 0), 0);
  assert.ok(recovery <= 2 * p.steps.length, `${recovery} recovery steps for ${p.steps.length} steps`);
  // and a failure at the last step still undoes all of it
  const k = new SimKernel();
  const res = k.run(p, { failAt: p.steps.length - 1 });
  assert.ok(res.recoveryOk);
  assert.equal(k.devs, []);
});

test('input the planner refuses: devices outside the scope, unknown references, duplicate names', () => {
  const k = new SimKernel();
  const bad = (d: DmDoc, re: RegExp) => assert.throws(() => plan(k, d), (e: unknown) => e instanceof ToolError && e.exitCode === 3 && re.test(e.message));
  bad({ format: 'dvm.dm/1', scope: S, devices: [{ name: 'x', uuid: 'LVM-x', table: [lin(8, '7:0 0')] }] }, /outside scope/);
  bad({ format: 'dvm.dm/1', scope: S, devices: [{ name: 'x', uuid: 'DVM-vgX-1', table: [lin(8, '7:0 0')] }] }, /outside scope/);
  bad(doc(['vg-a', 'a', [lin(8, 'dm:vg-zz 0')]]), /unresolved device reference/);
  bad(doc(['vg-a', 'a', [lin(8, '7:0 0')]], ['vg-a', 'b', [lin(8, '7:0 0')]]), /duplicate device name/);
  bad(doc(['vg-a', 'a', [lin(8, '7:0 0', 8)]]), /gap/);
  bad({ format: 'dvm.dm/1', scope: '', devices: [] }, /scope/);
});

test('DVM_TM_PHASE: prepare stages, commit and abort converge, anything else is a usage error', () => {
  assert.is(stageFromPhase(undefined, false), false);
  assert.is(stageFromPhase(undefined, true), true);
  assert.is(stageFromPhase('prepare', false), true);
  assert.is(stageFromPhase('commit', false), false);
  assert.is(stageFromPhase('abort', false), false);
  assert.throws(() => stageFromPhase('commit', true), (e: unknown) => e instanceof ToolError && e.exitCode === 2);
  assert.throws(() => stageFromPhase('later', false), (e: unknown) => e instanceof ToolError && e.exitCode === 2);
});

test.run();
