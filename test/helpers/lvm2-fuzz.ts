// Manual: compare many seeded random sequences with LVM2 (root).
//   node dist/test/helpers/lvm2-fuzz.js FIRST_SEED END_SEED LENGTH [s][p]   (s: stripes, p: --pv)
import { compareSequence } from './compare-run.js';
import { int, randomOp, rng } from './random-ops.js';
import type { Op } from './lvm2.js';
const [from, to, len, flags] = [Number(process.argv[2]), Number(process.argv[3]), Number(process.argv[4]), process.argv[5] ?? ''];
let fails = 0;
for (let seed = from; seed < to; seed++) {
  const r = rng(seed);
  const pvCount = int(r, 2, 4);
  const sizes = Array.from({ length: pvCount }, () => int(r, 12, 40));
  const ops: Op[] = [];
  const live: string[] = [];
  for (let i = 0; i < len; i++) {
    const o = randomOp(r, live, { pvCount, maxExtents: 12, stripes: flags.includes('s'), mirrors: flags.includes('m'), pvArgs: flags.includes('p') }, i);
    ops.push(o);
    if (o.op === 'create') live.push(o.name);
    if (o.op === 'remove') live.splice(live.indexOf(o.name), 1);
  }
  // Names of failed creates stay in `live`; both sides then fail the same way.
  const res = compareSequence(sizes, ops);
  if (!res.ok) {
    fails++;
    console.log(`seed ${seed} sizes ${sizes}:`, JSON.stringify({ ...res, prior: ops.slice(0, res.step) }));
  }
}
console.log(`${to - from - fails}/${to - from} sequences matched`);
