// Property tests of the planner against the simulated kernel, over random
// (current, desired) pairs: current states come from converged VGs, programs
// killed part-way, staged prepares, and debris (suspended devices, stray
// inactive tables, empty devices). Every case is seeded and named by its seed.
import { test } from 'uvu';
import { tableLine } from '../../src/lib/dm-table.js';
import * as assert from 'uvu/assert';
import { planProgram } from '../../src/dmactivate/program.js';
import type { DmDoc } from '../../src/lib/dm-doc.js';
import type { DmProgram } from '../../src/lib/dm-program.js';
import { SimKernel, type ResumeFailure } from '../helpers/sim-kernel.js';
import { SCOPE, addForeign, canon, canonDoc, foreign, nextVg, randomVg, rng, toDoc, type Rng } from '../helpers/random-dm.js';

const CASES = Number(process.env.DVM_CASES ?? 100);
const mine = (k: SimKernel) => k.devs.filter((d) => d.uuid.startsWith(SCOPE + '-'));
const plan = (k: SimKernel, want: DmDoc, stage = false): DmProgram => planProgram(k.query(SCOPE), want, { stage });

function assertReached(k: SimKernel, want: DmDoc, what: string) {
  assert.equal([...canon(k)].sort(), [...canonDoc(want)].sort(), `${what}: live tables`);
  assert.is(mine(k).length, want.devices.length, `${what}: no other device in scope`);
  for (const d of mine(k)) {
    assert.not.ok(d.suspended, `${what}: ${d.name} left suspended`);
    assert.is(d.inactive, null, `${what}: ${d.name} left with an inactive table`);
  }
}

function assertClean(k: SimKernel, foreignBefore: string, what: string) {
  assert.equal(k.violations, [], `${what}: ordering rules`);
  assert.is(foreign(k), foreignBefore, `${what}: devices outside the scope untouched`);
  for (const u of k.touched) assert.ok(u.startsWith(SCOPE + '-'), `${what}: touched ${u} outside the scope`);
}

/** A kernel in some state reachable by crashes and leftovers, and the generations around it. */
function scenario(r: Rng) {
  const k = new SimKernel();
  addForeign(k);
  const v0 = randomVg(r);
  const g0 = toDoc(v0);
  const g1 = toDoc(nextVg(r, v0));
  assert.ok(k.run(plan(k, g0)).ok, 'setup: activate generation N');
  const kind = r.int(0, 4);
  if (kind === 1) k.run(plan(k, g1, r.chance(0.5)), { crashAfter: r.int(0, 40) }); // killed mid-program
  if (kind === 2) k.run(plan(k, g1, true)); // prepared, never committed
  if (kind === 3) {
    // debris: stray inactive tables, suspended devices, an empty device
    for (const d of mine(k)) {
      if (r.chance(0.3)) d.inactive = [tableLine(0, 16, 'zero', '')];
      if (r.chance(0.2)) d.suspended = true;
    }
    if (r.chance(0.7)) k.add('vg-debris', `${SCOPE}-debris`, []);
  }
  if (kind === 4) k.run(plan(k, g1, true), { crashAfter: r.int(0, 30) }); // killed mid-prepare
  return { k, g0, g1 };
}

test('converges from any reachable state; converged plans nothing', () => {
  for (let seed = 1; seed <= CASES; seed++) {
    const r = rng(seed);
    const { k, g1 } = scenario(r);
    const before = foreign(k);
    const p = plan(k, g1);
    const res = k.run(p);
    assert.ok(res.ok, `seed ${seed}: program failed at ${res.failedAt}: ${JSON.stringify(p.steps[res.failedAt ?? 0])}`);
    assertReached(k, g1, `seed ${seed}`);
    assertClean(k, before, `seed ${seed}`);
    assert.equal(plan(k, g1).steps, [], `seed ${seed}: second plan is empty`);
  }
});

test('stage stops at the commit point; commit finishes, abort returns to generation N', () => {
  for (let seed = 1; seed <= CASES; seed++) {
    const r = rng(1000 + seed);
    const { k, g0, g1 } = scenario(r);
    const before = foreign(k);
    const kernelBefore = k.clone();
    const staged = k.run(plan(k, g1, true));
    assert.ok(staged.ok, `seed ${seed}: prepare failed`);
    const want = canonDoc(g1);
    const now = canon(k);
    for (const d of g1.devices) assert.ok(k.devs.some((x) => x.uuid === d.uuid), `seed ${seed}: prepare created ${d.name}`);
    for (const d of mine(k)) {
      const wanted = want.get(d.uuid);
      // Whatever is not yet live as wanted is staged and suspended; stale devices stay until commit.
      if (wanted !== undefined && now.get(d.uuid) !== wanted) {
        const target = g1.devices.find((x) => x.uuid === d.uuid)!.table[0]?.target;
        // a merge is loaded at the commit, once the snapshot that shares its COW is gone (PLANNER.md)
        if (target === 'snapshot-merge') continue;
        // a new snapshot (or -real) of a running origin is staged, first resumed inside the commit's swap
        if (d.live.length === 0) assert.ok(d.inactive !== null, `seed ${seed}: ${d.name} staged`);
        else assert.ok(d.suspended && d.inactive !== null, `seed ${seed}: ${d.name} staged and suspended`);
      }
    }
    for (const d of kernelBefore.devs) {
      if (!d.uuid.startsWith(SCOPE + '-') || g1.devices.some((x) => x.uuid === d.uuid)) continue;
      assert.ok(k.devs.some((x) => x.uuid === d.uuid), `seed ${seed}: prepare keeps stale ${d.name} for the commit phase`);
    }
    // A prepare run twice plans nothing more.
    assert.equal(plan(k, g1, true).steps, [], `seed ${seed}: second prepare is empty`);
    const k2 = k.clone();
    assert.ok(k.run(plan(k, g1)).ok, `seed ${seed}: commit`);
    assertReached(k, g1, `seed ${seed} commit`);
    assertClean(k, before, `seed ${seed} commit`);
    assert.ok(k2.run(plan(k2, g0)).ok, `seed ${seed}: abort`);
    assertReached(k2, g0, `seed ${seed} abort`);
    assertClean(k2, before, `seed ${seed} abort`);
  }
});

test('a failure at any step runs a recovery branch that restores the prior state', () => {
  const modes: ResumeFailure[] = ['nothing', 'swap-failed', 'preresume-failed'];
  let failures = 0;
  for (let seed = 1; seed <= CASES; seed++) {
    const r = rng(2000 + seed);
    const { k, g1 } = scenario(r);
    const stage = r.chance(0.4);
    const p = plan(k, g1, stage);
    if (p.steps.length === 0) continue;
    const before = foreign(k);
    const failAt = r.int(0, p.steps.length - 1);
    // a snapshot removed while its origin stays is not brought back by a rollback (it would be stale)
    const dropped = new Set(p.steps.slice(0, failAt).filter((s) => s.op === 'remove' && snapshotWhoseOriginStays(k, s.name, g1)).map((s) => k.byName(s.name)!.uuid));
    const prior = new Map([...canon(k)].filter(([u]) => !dropped.has(u)));
    // A program killed mid-shrink can leave a raid live over images already
    // smaller than it: that table cannot be loaded again (dm-raid checks the
    // images' size), so a rollback cannot bring it back. Nothing else may differ.
    const stale = staleRaid(k);
    const res = k.run(p, { failAt, resumeFailure: r.pick(modes) });
    failures++;
    const what = `seed ${seed} (${stage ? 'stage' : 'full'}, step ${failAt} ${p.steps[failAt].op} ${p.steps[failAt].name})`;
    assert.is(res.failedAt, failAt, what);
    if (!stale.size) {
      assert.ok(res.recoveryOk !== false, `${what}: recovery steps all succeed`);
      assert.equal([...canon(k)].sort(), [...prior].sort(), `${what}: live tables and names as before`);
    } else {
      const keep = (m: Map<string, string>) => [...m].filter(([u]) => !stale.has(u)).sort();
      assert.equal(keep(canon(k)), keep(prior), `${what}: live tables and names as before, but for the unloadable raid`);
    }
    for (const d of mine(k)) {
      if (d.live.length) assert.not.ok(d.suspended, `${what}: ${d.name} left suspended`);
      assert.is(d.inactive, null, `${what}: ${d.name} left staged`);
    }
    assertClean(k, before, what);
    // and from there the same plan converges
    assert.ok(k.run(plan(k, g1)).ok, `${what}: retry converges`);
    assertReached(k, g1, `${what} retry`);
  }
  assert.ok(failures > CASES / 2, 'most cases had something to fail');
});

/** Uuids of raid devices whose live table is longer than one of its images now (left by a crash mid-shrink). */
function staleRaid(k: SimKernel): Set<string> {
  const out = new Set<string>();
  for (const d of mine(k))
    for (const l of d.live) {
      if (l.target !== 'raid') continue;
      const w = l.params.split(' ');
      for (let i = 0; i < Number(w[5]); i++) {
        const img = k.byDev(w[7 + 2 * i]);
        if (img && k.size(img) < l.length) out.add(d.uuid);
      }
    }
  return out;
}

/** Whether `name` is a live snapshot whose origin device stays in `want` (the planner removes it first, with no undo). */
function snapshotWhoseOriginStays(k: SimKernel, name: string, want: DmDoc): boolean {
  const d = k.byName(name);
  if (d?.live[0]?.target !== 'snapshot') return false;
  const real = d.live[0].params.split(' ')[0];
  const origin = k.devs.find((o) => ['snapshot-origin', 'snapshot-merge'].includes(o.live[0]?.target) && o.live[0].params.split(' ')[0] === real);
  return origin !== undefined && want.devices.some((w) => w.uuid === origin.uuid);
}

test.run();
