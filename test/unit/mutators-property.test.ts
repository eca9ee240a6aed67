// Property tests: thousands of random requests on random VGs. Whatever the
// allocator does, the invariants of vg-invariants.ts hold after every step,
// sizes are what was asked for, failures change nothing, and the same input
// always gives the same bytes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { canonicalJson } from '../../src/lib/canonical-json.js';
import { ToolError } from '../../src/lib/errors.js';
import { lvCreate } from '../../src/metadata-manip/lv-create.js';
import { lvExtend, lvReduce } from '../../src/metadata-manip/lv-resize.js';
import { lvRemove, lvRename } from '../../src/metadata-manip/lv-admin.js';
import { pvChange } from '../../src/metadata-manip/pv-change.js';
import { lvChange } from '../../src/metadata-manip/lv-change.js';
import { lvMerge, lvSnapshot } from '../../src/metadata-manip/lv-snapshot.js';
import { findLv, lvExtents, type Vg } from '../../src/metadata-manip/model.js';
import type { MutatorResult } from '../../src/metadata-manip/common.js';
import { vgProblems } from '../helpers/vg-invariants.js';
import { int, pick, rng } from '../helpers/random-ops.js';

function randomVg(r: () => number, seed: number): Vg {
  const extentSize = pick(r, [8, 2048, 8192]);
  const pvs = Array.from({ length: int(r, 1, 8) }, (_, i) => {
    const pe = int(r, 1, r() < 0.3 ? 20 : 3000);
    return { id: `pv${seed}x${i}aaaaaaaa`, size: pe * extentSize + 2048, pe_start: 2048, pe_count: pe, flags: (r() < 0.85 ? ['allocatable'] : []) as Vg['pvs'][0]['flags'] };
  });
  return { format: 'dvm.vg/1', name: `vg${seed}`, id: `vgid${seed}bbbbbbbbbbbbbbbb`, seqno: seed + 1, extent_size: extentSize, pvs, lvs: [] };
}

type Step = { what: string; run: (vg: Vg) => MutatorResult; expect?: (before: Vg, after: Vg) => void };

function randomStep(r: () => number, vg: Vg, n: number): Step {
  const top = vg.lvs.filter((l) => !l.flags.includes('hidden'));
  const pvArg = () => (r() < 0.2 ? vg.pvs.filter(() => r() < 0.5).map((p) => p.id) : undefined);
  const size = (sign: string) => {
    const k = r();
    if (k < 0.6) return `${sign}${int(r, 1, 300)}e`;
    if (k < 0.85) return `${sign}${int(r, 1, 5000)}k`;
    return `${sign}${int(r, 1, 100)}%FREE`;
  };
  const roll = r();
  if (top.length === 0 || roll < 0.3) {
    const name = `lv${n}`;
    const kind = r();
    const o = kind < 0.2 ? { stripes: int(r, 2, 4) } : kind < 0.3 ? { mirrors: int(r, 1, 2) } : {};
    const s = size('');
    const pvs = pvArg();
    return {
      what: `create ${name} ${s} ${JSON.stringify(o)}`,
      run: (v) => lvCreate(v, { name, size: s, pvs, ...o }),
      expect: (_b, a) => {
        const lv = findLv(a, name)!;
        const want = s.endsWith('e') ? Number(s.slice(0, -1)) : undefined;
        if (want !== undefined && !('stripes' in o)) assert.is(lvExtents(lv), want, 'created size');
        if ('stripes' in o) assert.is(lvExtents(lv) % o.stripes!, 0);
      },
    };
  }
  const lv = pick(r, top);
  if (roll < 0.55) {
    const s = size('+');
    const pvs = pvArg();
    return {
      what: `extend ${lv.name} ${s}`,
      run: (v) => lvExtend(v, { name: lv.name, size: s, pvs }),
      expect: (b, a) => assert.ok(lvExtents(findLv(a, lv.name)!) > lvExtents(findLv(b, lv.name)!), 'grew'),
    };
  }
  if (roll < 0.75) {
    const k = int(r, 1, 50);
    return {
      what: `reduce ${lv.name} -${k}e`,
      run: (v) => lvReduce(v, { name: lv.name, size: `-${k}e` }),
      expect: (b, a) => {
        const before = lvExtents(findLv(b, lv.name)!);
        const after = lvExtents(findLv(a, lv.name)!);
        assert.ok(after < before && after >= before - k && after >= 1, `reduced ${before} by ${k} to ${after}`);
      },
    };
  }
  if (roll < 0.85) {
    // an origin goes only with its snapshots named too: mostly they are
    const snaps = r() < 0.7 ? vg.lvs.filter((l) => l.snapshot?.origin === lv.id).map((l) => l.name) : [];
    return {
      what: `remove ${lv.name} ${snaps.join(' ')}`,
      run: (v) => lvRemove(v, { name: lv.name, more: snaps }),
      expect: (_b, a) => assert.ok(![lv.name, ...snaps].some((x) => findLv(a, x)), 'removed, with the snapshots named'),
    };
  }
  if (roll < 0.9) {
    // tags from a small alphabet, so that adds and deletes meet the same tags often
    const tag = () => pick(r, ['a', 'b=1', 'x/y', 'dvm:ds#1', '@c', '-d']);
    const add = Array.from({ length: int(r, 0, 3) }, tag);
    const del = Array.from({ length: add.length ? int(r, 0, 2) : int(r, 1, 2) }, tag);
    const plain = (t: string) => t.replace(/^@/, '');
    return {
      what: `lv-change ${lv.name} +${add} -${del}`,
      run: (v) => lvChange(v, { name: lv.name, addTags: add, delTags: del }),
      expect: (b, a) => {
        const want = new Set(findLv(b, lv.name)!.tags ?? []);
        for (const t of add) want.add(plain(t));
        for (const t of del) want.delete(plain(t));
        assert.equal(findLv(a, lv.name)!.tags ?? [], [...want].sort(), 'tags');
        assert.equal(findLv(a, lv.name)!.segments, findLv(b, lv.name)!.segments, 'tags change no segment');
      },
    };
  }
  if (roll < 0.925) {
    // a snapshot of any LV (a snapshot's own is refused, exit 1), sized absolutely or as a share of the origin
    const name = `s${n}`;
    const s = r() < 0.5 ? `${int(r, 1, 120)}%ORIGIN` : size('');
    return {
      what: `lv-snapshot ${lv.name} ${name} ${s}`,
      run: (v) => lvSnapshot(v, { origin: lv.name, name, size: s, pvs: pvArg() }),
      expect: (b, a) => {
        const snap = findLv(a, name)!;
        assert.is(snap.snapshot?.origin, findLv(b, lv.name)!.id, 'a snapshot of the origin');
        assert.not.ok(snap.snapshot?.merging);
        assert.equal(findLv(a, lv.name)!.segments, findLv(b, lv.name)!.segments, 'the origin is unchanged');
      },
    };
  }
  if (roll < 0.94) {
    const snaps = top.filter((l) => l.snapshot);
    const target = snaps.length && r() < 0.9 ? pick(r, snaps) : lv;
    return {
      what: `lv-merge ${target.name}`,
      run: (v) => lvMerge(v, { name: target.name }),
      expect: (_b, a) => assert.ok(findLv(a, target.name)!.snapshot?.merging, 'marked merging'),
    };
  }
  if (roll < 0.95) {
    const to = `r${n}`;
    return { what: `rename ${lv.name} ${to}`, run: (v) => lvRename(v, { name: lv.name, newName: to }), expect: (_b, a) => assert.ok(findLv(a, to) && !findLv(a, lv.name)) };
  }
  const pv = pick(r, vg.pvs);
  const y = r() < 0.6;
  return { what: `pv-change ${pv.id} ${y}`, run: (v) => pvChange(v, { pv: pv.id, allocatable: y }) };
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

/** Successful requests per kind (the first word of `what`), over every sequence run. */
const succeeded = new Map<string, number>();

function runSequence(seed: number, steps: number): { ok: number; failed: number } {
  const r = rng(seed);
  let vg = randomVg(r, seed);
  let ok = 0;
  let failed = 0;
  for (let i = 0; i < steps; i++) {
    const step = randomStep(r, vg, i);
    // A frozen input: any write to it throws (ESM is strict), so purity is checked for free.
    deepFreeze(vg);
    let res: MutatorResult | undefined;
    try {
      res = step.run(vg);
    } catch (e) {
      if (!(e instanceof ToolError) || e.exitCode !== 1) throw new Error(`seed ${seed} step ${i} ${step.what}: unexpected ${(e as Error).stack}`);
      failed++;
    }
    if (!res) continue;
    const problems = vgProblems(res.vg);
    if (problems.length) assert.unreachable(`seed ${seed} step ${i} ${step.what}: ${problems.slice(0, 5).join('; ')}`);
    // Same input, same bytes (every few steps: serialising a big VG is the costly part).
    if (i % 4 === 0 && canonicalJson(step.run(vg).vg) !== canonicalJson(res.vg)) assert.unreachable(`seed ${seed} step ${i} ${step.what}: not deterministic`);
    step.expect?.(vg, res.vg);
    vg = res.vg;
    ok++;
    const kind = step.what.split(' ')[0];
    succeeded.set(kind, (succeeded.get(kind) ?? 0) + 1);
  }
  return { ok, failed };
}

test('random sequences on random VGs keep every invariant (10 VGs x 300 requests)', () => {
  let ok = 0;
  let failed = 0;
  for (let seed = 1; seed <= 10; seed++) {
    const t = runSequence(seed, 300);
    ok += t.ok;
    failed += t.failed;
  }
  // Both outcomes must be exercised, or the generator has drifted.
  assert.ok(ok > 1000, `${ok} requests succeeded`);
  assert.ok(failed > 100, `${failed} requests were refused`);
  for (const kind of ['create', 'extend', 'reduce', 'remove', 'lv-change', 'lv-snapshot', 'lv-merge', 'rename']) assert.ok((succeeded.get(kind) ?? 0) > 5, `${kind}: ${succeeded.get(kind) ?? 0} succeeded`);
});

test('a long sequence on one VG (1500 requests)', () => {
  const t = runSequence(4242, 1500);
  assert.ok(t.ok > 600 && t.failed > 0, JSON.stringify(t));
});

test.run();
