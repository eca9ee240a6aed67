// Property test: random clusters on the memory backend (eventual
// consistency, injected backend failures including creates that succeed but
// report a timeout, late and moved devices, failing reads), random operator
// changes (create, move, detach, grow, shrink, delete) and random faults on
// the nodes (an mkfs killed half way, failed mounts and unmounts, node
// reboots, a node down for a while), planned and applied pass after pass.
// Checked at every destructive call and after every pass: no mkfs of a
// non-blank device (but our own interrupted one) or of a formatted dataset,
// no detach while mounted or held, no destroy of a dataset not deleted, no
// second volume for one dataset, no shrink without a shrink request, never
// mounted on two nodes. Then, faults off, it converges within a bounded
// number of passes, and what cannot converge (unreadable devices) says why.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { World } from '../helpers/agent-world.js';
import type { MemoryOp } from '../../src/agent/backends/memory/index.js';
import { mulberry32 } from '../../src/lib/prng.js';

const MiB = 1024 * 1024;
const SEEDS = Number(process.env.DVM_PROPERTY_SEEDS ?? 30);

function rng(seed: number): () => number {
  return mulberry32(seed);
}

const OPS: MemoryOp[] = ['create', 'attach', 'detach', 'resize', 'destroy', 'find', 'refresh', 'release', 'list', 'snapshot', 'remove-snapshot'];

async function scenario(seed: number): Promise<{ passes: number; summary: string }> {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const w = new World({
    seed,
    lagListings: Math.floor(r() * 3),
    late: r() < 0.5 ? ['~0.3'] : [],
    lateCalls: 2,
    moved: r() < 0.5 ? ['~0.4'] : [],
    badReads: r() < 0.3 ? ['dvm-d0'] : [],
    failures: OPS.map((op) => ({ op, kind: pick(['unavailable', 'unavailable', 'invalid'] as const), probability: 0.08, after: op === 'create' ? r() < 0.5 : r() < 0.2 })),
  });
  const ids: string[] = [];
  const n = 2 + Math.floor(r() * 5);
  for (let i = 0; i < n; i++) {
    ids.push(await w.create(`d${i}`, { node: pick(['n1', 'n2', 'n1', null] as const), filesystem: pick(['ext4', 'xfs'] as const), size: (4 + Math.floor(r() * 28)) * MiB }));
  }
  // A stormy phase: operator changes and node faults while it converges.
  for (let p = 0; p < 40; p++) {
    const id = pick(ids);
    const d = w.store.desired.datasets[id];
    const x = r();
    if (x < 0.06) await w.change(id, { node: pick(['n1', 'n2', null] as const) });
    else if (x < 0.09) await w.change(id, { size: d.size + (1 + Math.floor(r() * 8)) * MiB, shrink_to: undefined });
    else if (x < 0.11 && d.filesystem === 'ext4') await w.change(id, { size: Math.max(4 * MiB, d.size - 2 * MiB), shrink_to: Math.max(4 * MiB, d.size - 2 * MiB) });
    else if (x < 0.12) await w.change(id, { size: Math.max(4 * MiB, d.size - 3 * MiB), shrink_to: undefined }); // smaller, never a shrink
    else if (x < 0.14) await w.change(id, { deleted: true });
    const node = pick(['n1', 'n2'] as const);
    const y = r();
    if (y < 0.05) w.hosts[node].failNext['mkfs-partial'] = 1;
    else if (y < 0.08) w.hosts[node].failNext.mount = 1;
    else if (y < 0.1) w.hosts[node].failNext.unmount = 1;
    else if (y < 0.12) w.reboot(node);
    else if (y < 0.14) w.alive[node] = !w.alive[node];
    await w.pass(r() < 0.5 ? ['c', 'n1', 'n2'] : ['n2', 'n1', 'c']);
    assert.equal(w.violations, [], `seed ${seed}, pass ${p}`);
  }
  // Calm: faults off, every node up; it converges within a bound.
  w.state.clearFailures();
  w.alive.n1 = w.alive.n2 = true;
  for (const h of Object.values(w.hosts)) h.failNext = {};
  let passes = -1;
  for (let i = 1; i <= 40; i++) {
    await w.pass();
    assert.equal(w.violations, [], `seed ${seed}, calm pass ${i}`);
    const pl = await w.planFor('c');
    const done = Object.entries(pl.datasets).every(([k, s]) => s.phase === 'converged' || (s.phase === 'degraded' && /cannot be read/.test(s.reason!) && w.store.desired.datasets[k]?.name === 'd0'));
    if (done) {
      passes = i;
      break;
    }
  }
  const final = await w.planFor('c');
  assert.ok(passes > 0, `seed ${seed}: not converged after 40 calm passes: ${JSON.stringify(final.datasets)}`);
  // What converged is where it should be.
  for (const [id, d] of Object.entries(w.store.desired.datasets)) {
    const vols = w.state.snapshotOfVolumes().filter((v) => v.dataset === id);
    if (d.deleted) {
      assert.is(vols.length, 0, `seed ${seed}: deleted ${d.name} has no volume`);
      continue;
    }
    assert.is(vols.length, 1, `seed ${seed}: ${d.name} has one volume`);
    assert.is(vols[0].attached, d.node, `seed ${seed}: ${d.name} attached where wanted`);
    if (final.datasets[id].phase !== 'converged') continue;
    if (d.node) assert.ok(w.hosts[d.node].mountTable.some((m) => m.path === `/mnt/dvm/${d.name}`), `seed ${seed}: ${d.name} mounted on ${d.node}`);
    assert.ok(vols[0].size >= d.size || d.shrink_to === undefined, `seed ${seed}: ${d.name} size`);
  }
  const steps = w.results.length;
  return { passes, summary: `${n} datasets, ${steps} steps, ${w.results.filter((x) => !x.ok).length} failed, calm passes ${passes}` };
}

test(`random clusters (${SEEDS} seeds): invariants hold throughout; it converges once faults stop`, async () => {
  let worst = 0;
  for (let s = 1; s <= SEEDS; s++) {
    const { passes } = await scenario(s);
    worst = Math.max(worst, passes);
  }
  assert.ok(worst <= 40, String(worst));
});

test.run();
