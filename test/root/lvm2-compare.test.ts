// The layouts LVM2 itself gives, for the same requests on the same PV sizes.
// LVM2 runs with --driverloaded n (metadata only) on loop devices over sparse
// files in a private sandbox (test/helpers/lvm2.ts): root tier, lvm2 installed
// when missing. raid1 is not compared here: LVM refuses to create raid1
// without device-mapper (see src/metadata-manip/ALLOCATION.md).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compareSequence } from '../helpers/compare-run.js';
import { requireLvm2, type Op } from '../helpers/lvm2.js';
import { int, randomOp, rng } from '../helpers/random-ops.js';

const c = (name: string, extents: number | string, more: Partial<Extract<Op, { op: 'create' }>> = {}): Op => ({ op: 'create', name, extents, ...more });
const x = (name: string, extents: number | string, pvs?: number[]): Op => ({ op: 'extend', name, extents, pvs });
const red = (name: string, extents: number): Op => ({ op: 'reduce', name, extents });
const rm = (name: string): Op => ({ op: 'remove', name });

const scenarios: Record<string, [number[], Op[]]> = {
  'linear: fill the first PV, spill to the next, extend in place': [[20, 20], [c('a', 5), c('b', 10), c('c', 8), x('a', 3), c('d', 10), x('b', 2)]],
  'linear: holes, best fit within a PV, a blocked extend clings': [[24, 24], [c('a', 4), c('b', 6), c('c', 3), c('d', 5), rm('b'), rm('d'), c('e', 5), c('f', 2), x('c', 9), red('a', 2), x('e', 30)]],
  'striped: whole stripes on distinct PVs, extend and reduce': [[24, 24, 24], [c('s1', 6, { stripes: 3 }), c('l', 5), x('s1', 6), c('s2', 4, { stripes: 2 }), red('s1', 3), x('s2', 10), x('l', 20)]],
  'percentages: N%FREE rounds down on create, up on extend; --pv': [[20, 20, 30], [c('a', 5), c('b', '50%FREE'), x('a', '10%FREE'), c('s', '100%FREE', { stripes: 2 }), rm('b'), c('c', '100%FREE', { pvs: [0] }), x('s', '100%FREE')]],
  '--pv: allocation only from the PVs named, in the order named': [[20, 20, 30], [c('a', 4, { pvs: [1] }), c('b', 6, { pvs: [2, 0] }), x('a', 30, [2, 0]), c('c', '50%FREE', { pvs: [1] })]],
  'errors: no space, more stripes than PVs, reduce to nothing': [[12, 12], [c('a', 30), c('s', 3, { stripes: 3 }), c('b', 4), red('b', 4), x('b', 40)]],
};

function randomSequence(seed: number, length: number): [number[], Op[]] {
  const r = rng(seed);
  const pvCount = int(r, 2, 4);
  const sizes = Array.from({ length: pvCount }, () => int(r, 12, 40));
  const ops: Op[] = [];
  const live: string[] = [];
  for (let i = 0; i < length; i++) {
    const o = randomOp(r, live, { pvCount, maxExtents: 12, stripes: true, pvArgs: true }, i);
    ops.push(o);
    if (o.op === 'create') live.push(o.name);
    if (o.op === 'remove') live.splice(live.indexOf(o.name), 1);
  }
  return [sizes, ops];
}
for (const seed of [101, 102, 103]) scenarios[`random linear/striped/--pv sequence, seed ${seed}`] = randomSequence(seed, 18);

requireLvm2();
for (const [name, [sizes, ops]] of Object.entries(scenarios)) {
  test(`same layout as LVM2: ${name}`, () => {
    const r = compareSequence(sizes, ops);
    assert.ok(r.ok, JSON.stringify(r, null, 1));
  });
}

test.run();
