// The planner on snapshot stacks (PLANNER.md "Snapshots"): a new stack comes up
// bottom-up with the snapshots before the origin; a snapshot added to a running
// origin (and the -real device of a first snapshot) is loaded in preload but
// goes live only inside the origin's suspend, before the origin resumes; a
// snapshot that goes is removed before the origin's table changes. Run against
// the simulated kernel, which checks those rules, with a failure injected at
// every step to check that the rollback restores the prior state.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { planProgram } from '../../src/dmactivate/program.js';
import { validate } from '../../src/lib/schema.js';
import type { DmDoc } from '../../src/lib/dm-doc.js';
import type { DmProgram } from '../../src/lib/dm-program.js';
import { tableLine, type TableLine } from '../../src/lib/dm-table.js';
import { SimKernel, type ResumeFailure } from '../helpers/sim-kernel.js';
import { canon } from '../helpers/random-dm.js';

const S = 'DVM-vg';
const lin = (length: number, params: string, start = 0): TableLine => tableLine(start, length, 'linear', params);
const doc = (...devices: [string, string, TableLine[]][]): DmDoc => ({ format: 'dvm.dm/1', scope: S, devices: devices.map(([name, id, table]) => ({ name, uuid: `${S}-${id}`, table })) });
const ops = (p: DmProgram) => p.steps.map((s) => `${s.op} ${s.name}`);
const plan = (k: SimKernel, want: DmDoc, stage = false) => {
  const p = planProgram(k.query(S), want, { stage });
  validate('dvm.dmexec/1', p);
  return p;
};
function kernelAt(want: DmDoc): SimKernel {
  const k = new SimKernel();
  assert.ok(k.run(plan(k, want)).ok);
  assert.equal(k.violations, []);
  return k;
}

// the layouts vol-activate makes (test/unit/vol-activate-snapshot.test.ts)
const plain = doc(['vg-o', 'o', [lin(64, '7:0 0')]]);
const snapDev = (n: number, chunk = 8): [string, string, TableLine[]][] => [
  [`vg-s${n}-cow`, `s${n}-cow`, [lin(16, `7:1 ${n * 16}`)]],
  [`vg-s${n}`, `s${n}`, [tableLine(0, 64, 'snapshot', `dm:vg-o-real dm:vg-s${n}-cow P ${chunk}`)]],
];
const origin = (...snaps: number[]): DmDoc =>
  doc(['vg-o-real', 'o-real', [lin(64, '7:0 0')]], ...snaps.flatMap((n) => snapDev(n)), ['vg-o', 'o', [tableLine(0, 64, 'snapshot-origin', 'dm:vg-o-real')]]);
const merging = doc(
  ['vg-o-real', 'o-real', [lin(64, '7:0 0')]],
  ['vg-s1-cow', 's1-cow', [lin(16, '7:1 16')]],
  ['vg-o', 'o', [tableLine(0, 64, 'snapshot-merge', 'dm:vg-o-real dm:vg-s1-cow P 8')]],
);

test('a new stack comes up bottom-up, every snapshot before its origin', () => {
  const k = new SimKernel();
  const p = plan(k, origin(1, 2));
  const resumes = ops(p).filter((o) => o.startsWith('resume'));
  assert.equal(resumes.slice(0, 1), ['resume vg-o-real']);
  assert.equal(resumes[resumes.length - 1], 'resume vg-o');
  assert.ok(resumes.indexOf('resume vg-s1') > resumes.indexOf('resume vg-s1-cow'));
  assert.ok(k.run(p).ok);
  assert.equal(k.violations, []);
  assert.equal(plan(k, origin(1, 2)).steps, []);
});

test('the first snapshot of a running origin: -real and the snapshot go live inside the origin suspend', () => {
  const k = kernelAt(plain);
  const p = plan(k, origin(1));
  assert.equal(ops(p), [
    'create vg-o-real', 'load vg-o-real',
    'create vg-s1-cow', 'load vg-s1-cow', 'resume vg-s1-cow',
    'create vg-s1', 'load vg-s1',
    'load vg-o',
    'suspend vg-o',
    'resume vg-o-real', 'resume vg-s1', 'resume vg-o',
  ]);
  assert.ok(k.run(p).ok);
  assert.equal(k.violations, []);
  assert.equal(plan(k, origin(1)).steps, []);
});

test('a second snapshot: the unchanged origin is suspended around its first resume', () => {
  const k = kernelAt(origin(1));
  const p = plan(k, origin(1, 2));
  assert.equal(ops(p), ['create vg-s2-cow', 'load vg-s2-cow', 'resume vg-s2-cow', 'create vg-s2', 'load vg-s2', 'suspend vg-o', 'resume vg-s2', 'resume vg-o']);
  assert.ok(k.run(p).ok);
  assert.equal(k.violations, []);
});

test('staged (prepare) then commit; or abort back to the old stack', () => {
  const k = kernelAt(origin(1));
  const staged = plan(k, origin(1, 2), true);
  assert.equal(ops(staged), ['create vg-s2-cow', 'load vg-s2-cow', 'resume vg-s2-cow', 'create vg-s2', 'load vg-s2', 'suspend vg-o']);
  assert.ok(k.run(staged).ok);
  assert.equal(plan(k, origin(1, 2), true).steps, [], 'prepare again: nothing');
  const aborted = k.clone();
  assert.equal(ops(plan(k, origin(1, 2))), ['resume vg-s2', 'resume vg-o']);
  assert.ok(k.run(plan(k, origin(1, 2))).ok);
  assert.equal(k.violations, []);
  const back = plan(aborted, origin(1));
  assert.ok(aborted.run(back).ok);
  assert.equal(aborted.violations, []);
  assert.equal([...canon(aborted)].sort(), [...canon(kernelAt(origin(1)))].sort());
});

test('removing a snapshot: it goes first; the last one takes the origin back to its plain table', () => {
  const k = kernelAt(origin(1, 2));
  assert.equal(ops(plan(k, origin(2))), ['remove vg-s1', 'remove vg-s1-cow']);
  assert.ok(k.run(plan(k, origin(2))).ok);
  assert.equal(ops(plan(k, plain)), ['remove vg-s2', 'load vg-o', 'suspend vg-o', 'resume vg-o', 'remove vg-s2-cow', 'remove vg-o-real']);
  assert.ok(k.run(plan(k, plain)).ok);
  assert.equal(k.violations, []);
  // deactivating a whole stack
  const k2 = kernelAt(origin(1, 2));
  // with the origin going too, it goes first (top-down): nothing writes the -real device after
  const off = plan(k2, doc());
  assert.equal(ops(off)[0], 'remove vg-o');
  assert.ok(ops(off).every((o) => o.startsWith('remove')));
  assert.ok(k2.run(off).ok);
  assert.equal(k2.devs, []);
});

test('a snapshot in use is not removed and the origin is left as it was', () => {
  const k = kernelAt(origin(1));
  k.byName('vg-s1')!.opens = 1;
  const before = [...canon(k)].sort();
  const res = k.run(plan(k, plain));
  assert.is(res.ok, false);
  assert.is(res.failedAt, 0);
  assert.equal([...canon(k)].sort(), before);
});

test('merge: the origin becomes snapshot-merge over the COW, the merging snapshot goes first', () => {
  const k = kernelAt(origin(1));
  const p = plan(k, merging);
  assert.equal(ops(p), ['remove vg-s1', 'load vg-o', 'suspend vg-o', 'resume vg-o']);
  assert.ok(k.run(p).ok);
  assert.equal(k.violations, []);
  // merged: the snapshot leaves the metadata, the origin goes back to plain
  assert.equal(ops(plan(k, plain)), ['load vg-o', 'suspend vg-o', 'resume vg-o', 'remove vg-s1-cow', 'remove vg-o-real']);
});

test('an unfinished merge is not mapped away while the origin stays; deactivating it is fine', () => {
  const k = kernelAt(origin(1));
  assert.ok(k.run(plan(k, merging)).ok);
  k.mergeLeft = 64;
  assert.throws(() => plan(k, plain), /merge into it is not finished \(64 sectors still to merge\)/);
  assert.throws(() => plan(k, origin(1)), /not finished/);
  assert.ok(plan(k, doc()).steps.length > 0, 'deactivation: the merge resumes at the next activation');
  k.mergeLeft = 0;
  assert.ok(k.run(plan(k, plain)).ok);
});

test('a failure at any step of these programs rolls back to the prior state', () => {
  const modes: ResumeFailure[] = ['nothing', 'swap-failed', 'preresume-failed'];
  const moves: [DmDoc, DmDoc][] = [
    [plain, origin(1)], [origin(1), origin(1, 2)], [origin(1, 2), origin(2)], [origin(1), plain], [doc(), origin(1, 2)], [origin(1, 2), doc()], [origin(1), merging], [merging, plain],
  ];
  let cases = 0;
  for (const [from, to] of moves)
    for (const stage of [false, true]) {
      const n = plan(kernelAt(from), to, stage).steps.length;
      for (let at = 0; at < n; at++)
        for (const mode of modes) {
          const k = kernelAt(from);
          const prior = [...canon(k)].sort();
          const p = plan(k, to, stage);
          const what = `${stage ? 'stage' : 'full'} step ${at} ${ops(p)[at]} (${mode}) of ${ops(p).join(', ')}`;
          // a snapshot removed while its origin stays is not brought back (it would be stale)
          const originStays = to.devices.some((d) => d.name === 'vg-o');
          const dropped = p.steps.slice(0, at).filter((s) => s.op === 'remove' && originStays && k.byName(s.name)?.live[0]?.target === 'snapshot').map((s) => k.byName(s.name)!.uuid);
          const expected = prior.filter(([u]) => !dropped.includes(u));
          const res = k.run(p, { failAt: at, resumeFailure: mode });
          assert.is(res.failedAt, at, what);
          assert.ok(res.recoveryOk !== false, `${what}: recovery steps all succeed: ${JSON.stringify(res.recoverySteps?.map((s) => `${s.op} ${s.name}`))}`);
          assert.equal([...canon(k)].sort(), expected, `${what}: as before`);
          for (const d of k.devs) {
            if (d.live.length) assert.not.ok(d.suspended, `${what}: ${d.name} left suspended`);
            assert.is(d.inactive, null, `${what}: ${d.name} left staged`);
          }
          assert.equal(k.violations, [], what);
          assert.ok(k.run(plan(k, to)).ok, `${what}: retry converges`);
          assert.equal(k.violations, [], `${what}: retry`);
          cases++;
        }
    }
  assert.ok(cases > 100);
});

test.run();
