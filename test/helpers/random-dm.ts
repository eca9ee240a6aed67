// Random VG-shaped dm states and LVM-like transitions between them, for the
// planner's property tests. Seeded, so a failing case can be replayed.
import type { DmDevice, DmDoc } from '../../src/lib/dm-doc.js';
import { tableLine, type TableLine } from '../../src/lib/dm-table.js';
import type { SimKernel } from './sim-kernel.js';
import { mulberry32 } from '../../src/lib/prng.js';

export const SCOPE = 'DVM-vg';

export function rng(seed: number) {
  const next = mulberry32(seed);
  return {
    next,
    int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: <T>(xs: T[]): T => xs[Math.floor(next() * xs.length)],
    chance: (p: number) => next() < p,
  };
}
export type Rng = ReturnType<typeof rng>;

interface Seg {
  pv: string;
  off: number;
  len: number;
}
export type LvSpec =
  | { id: string; name: string; kind: 'linear'; segs: Seg[] }
  | { id: string; name: string; kind: 'striped'; n: number; chunk: number; at: { pv: string; off: number }[]; len: number }
  | { id: string; name: string; kind: 'raid1'; legs: { meta: Seg; img: Seg[] }[]; len: number }
  | { id: string; name: string; kind: 'stack'; inner: Seg[] }
  | { id: string; name: string; kind: 'origin'; segs: Seg[]; snaps: Snap[]; next: number };
/** A snapshot of an 'origin' LV: its COW space, chunk, and whether it merges (at most one). */
interface Snap {
  id: string;
  name: string;
  cow: Seg;
  chunk: number;
  merging?: boolean;
}
export type VgSpec = LvSpec[];

const PVS = ['7:0', '7:1', '7:2', '7:3'];
const IDS = ['a1', 'b2', 'c3', 'd4', 'e5', 'f6', 'g7'];
const KINDS: LvSpec['kind'][] = ['linear', 'striped', 'raid1', 'stack', 'linear', 'raid1', 'origin'];

const seg = (r: Rng, len = r.int(1, 4) * 8): Seg => ({ pv: r.pick(PVS), off: r.int(0, 1000) * 8, len });
const total = (s: Seg[]) => s.reduce((n, x) => n + x.len, 0);

function newLv(r: Rng, id: string, name: string): LvSpec {
  switch (KINDS[IDS.indexOf(id)]) {
    case 'linear':
      return { id, name, kind: 'linear', segs: Array.from({ length: r.int(1, 3) }, () => seg(r)) };
    case 'striped': {
      const n = r.int(2, 3);
      return { id, name, kind: 'striped', n, chunk: 8, at: Array.from({ length: n }, () => ({ pv: r.pick(PVS), off: r.int(0, 1000) * 8 })), len: n * 8 * r.int(1, 4) };
    }
    case 'raid1': {
      const len = r.int(1, 4) * 8;
      return { id, name, kind: 'raid1', len, legs: Array.from({ length: r.int(2, 3) }, () => ({ meta: seg(r, 8), img: [seg(r, len)] })) };
    }
    case 'origin': {
      const lv: LvSpec = { id, name, kind: 'origin', segs: Array.from({ length: r.int(1, 2) }, () => seg(r)), snaps: [], next: 0 };
      for (let n = r.int(0, 2); n > 0; n--) addSnap(r, lv);
      return lv;
    }
    default:
      return { id, name, kind: 'stack', inner: [seg(r)] };
  }
}

/** A new snapshot (ids are never reused: `next` counts them). */
function addSnap(r: Rng, lv: Extract<LvSpec, { kind: 'origin' }>) {
  const n = lv.next++;
  lv.snaps.push({ id: `${lv.id}s${n}`, name: `${lv.id}s${n}`, cow: seg(r, 16), chunk: r.pick([8, 16, 64]) });
}

/** lv-snapshot, lv-remove of a snapshot, lv-merge, and a finished merge dropped. */
function snapStep(r: Rng, lv: Extract<LvSpec, { kind: 'origin' }>) {
  const x = r.next();
  const merging = lv.snaps.find((s) => s.merging);
  if (merging && x < 0.5) lv.snaps = lv.snaps.filter((s) => s !== merging); // the merge finished
  else if (x < 0.45 && lv.snaps.length < 3 && !merging) addSnap(r, lv);
  else if (x < 0.75 && lv.snaps.some((s) => !s.merging)) {
    const s = r.pick(lv.snaps.filter((t) => !t.merging));
    lv.snaps = lv.snaps.filter((t) => t !== s);
  } else if (!merging && lv.snaps.length) r.pick(lv.snaps).merging = true;
}

export function randomVg(r: Rng): VgSpec {
  const out: VgSpec = [];
  for (const [i, id] of IDS.entries()) if (r.chance(0.5)) out.push(newLv(r, id, `lv${i}`));
  return out;
}

/** One generation later: LVs kept, extended, reduced, renamed, removed, created — as the mutators do. */
export function nextVg(r: Rng, vg: VgSpec): VgSpec {
  const out: VgSpec = [];
  const names = new Set(vg.map((l) => l.name));
  for (const lv0 of vg) {
    const lv = structuredClone(lv0);
    const x = r.next();
    if (x < 0.1) continue; // removed
    if (lv.kind === 'origin' && r.chance(0.6)) snapStep(r, lv);
    if (x < 0.3) extend(r, lv);
    else if (x < 0.4) reduce(r, lv);
    else if (x < 0.47) {
      let n = 0;
      while (names.has(`${lv.name}r${n}`)) n++;
      names.add((lv.name = `${lv.name}r${n}`));
    }
    out.push(lv);
  }
  for (const [i, id] of IDS.entries())
    // LV ids are never reused: a new LV gets an id no generation had
    if (!vg.some((l) => l.id === id) && r.chance(0.4)) {
      let name = `lv${i}`;
      while (names.has(name) || out.some((l) => l.name === name)) name += 'n';
      names.add(name);
      out.push(newLv(r, id, name));
    }
  return out;
}

function extend(r: Rng, lv: LvSpec) {
  const grow = (s: Seg[], by: number) => (r.chance(0.5) ? (s[s.length - 1].len += by) : s.push(seg(r, by)));
  if (lv.kind === 'linear' || lv.kind === 'origin') grow(lv.segs, r.int(1, 3) * 8);
  if (lv.kind === 'stack') grow(lv.inner, r.int(1, 3) * 8);
  if (lv.kind === 'striped') lv.len += lv.n * 8 * r.int(1, 2);
  if (lv.kind === 'raid1') {
    const by = r.int(1, 2) * 8;
    lv.legs.forEach((l) => grow(l.img, by));
    lv.len += by;
  }
}

function reduce(r: Rng, lv: LvSpec) {
  const shrink = (s: Seg[], by: number) => {
    let left = by;
    while (left > 0) {
      const last = s[s.length - 1];
      const cut = Math.min(left, last.len);
      last.len -= cut;
      left -= cut;
      if (last.len === 0) s.pop();
    }
  };
  // as lv-reduce: an origin with snapshots is not reduced
  if ((lv.kind === 'linear' || (lv.kind === 'origin' && lv.snaps.length === 0)) && total(lv.segs) > 8) shrink(lv.segs, 8);
  if (lv.kind === 'stack' && total(lv.inner) > 8) shrink(lv.inner, 8);
  if (lv.kind === 'striped' && lv.len > lv.n * 8) lv.len -= lv.n * 8;
  if (lv.kind === 'raid1' && lv.len > 8) {
    lv.len -= 8;
    lv.legs.forEach((l) => shrink(l.img, 8));
  }
}

const linesOf = (segs: Seg[]): TableLine[] => {
  let start = 0;
  return segs.map((s) => {
    const l = tableLine(start, s.len, 'linear', `${s.pv} ${s.off}`);
    start += s.len;
    return l;
  });
};

export function toDoc(vg: VgSpec): DmDoc {
  const devices: DmDevice[] = [];
  const dev = (name: string, uuid: string, table: TableLine[]) => devices.push({ name: `vg-${name}`, uuid: `${SCOPE}-${uuid}`, table });
  for (const lv of vg) {
    if (lv.kind === 'linear') dev(lv.name, lv.id, linesOf(lv.segs));
    if (lv.kind === 'striped') dev(lv.name, lv.id, [tableLine(0, lv.len, 'striped', `${lv.n} ${lv.chunk} ${lv.at.map((a) => `${a.pv} ${a.off}`).join(' ')}`)]);
    if (lv.kind === 'stack') {
      dev(`${lv.name}_inner`, `${lv.id}-inner`, linesOf(lv.inner));
      dev(lv.name, lv.id, [tableLine(0, total(lv.inner), 'linear', `dm:vg-${lv.name}_inner 0`)]);
    }
    if (lv.kind === 'origin' && lv.snaps.length === 0) dev(lv.name, lv.id, linesOf(lv.segs));
    if (lv.kind === 'origin' && lv.snaps.length) {
      // as vol-activate lays the stack out (src/vol-activate/snapshots.ts)
      const len = total(lv.segs);
      const real = `dm:vg-${lv.name}-real`;
      dev(`${lv.name}-real`, `${lv.id}-real`, linesOf(lv.segs));
      for (const sn of lv.snaps) {
        dev(`${sn.name}-cow`, `${sn.id}-cow`, linesOf([sn.cow]));
        if (!sn.merging) dev(sn.name, sn.id, [tableLine(0, len, 'snapshot', `${real} dm:vg-${sn.name}-cow P ${sn.chunk}`)]);
      }
      const m = lv.snaps.find((sn) => sn.merging);
      dev(lv.name, lv.id, [m ? tableLine(0, len, 'snapshot-merge', `${real} dm:vg-${m.name}-cow P ${m.chunk}`) : tableLine(0, len, 'snapshot-origin', real)]);
    }
    if (lv.kind === 'raid1') {
      const refs: string[] = [];
      lv.legs.forEach((leg, i) => {
        dev(`${lv.name}_rmeta_${i}`, `${lv.id}-m${i}`, linesOf([leg.meta]));
        dev(`${lv.name}_rimage_${i}`, `${lv.id}-i${i}`, linesOf(leg.img));
        refs.push(`dm:vg-${lv.name}_rmeta_${i} dm:vg-${lv.name}_rimage_${i}`);
      });
      dev(lv.name, lv.id, [tableLine(0, lv.len, 'raid', `raid1 3 0 region_size 1024 ${lv.legs.length} ${refs.join(' ')}`)]);
    }
  }
  return { format: 'dvm.dm/1', scope: SCOPE, devices };
}

/** Foreign devices every test kernel carries: another tool's, a prefix trap, one open and one suspended. */
export function addForeign(k: SimKernel) {
  k.add('other', 'LVM-abc', [tableLine(0, 64, 'linear', '7:3 0')], { opens: 1 });
  k.add('vgX-trap', 'DVM-vgX-1', [tableLine(0, 64, 'linear', '7:3 64')]);
  k.add('vgY-lv0', 'DVM-vgY-1', [tableLine(0, 64, 'zero', '')], { suspended: true });
}

/** Devices of the kernel outside the scope, for before/after comparison. */
export const foreign = (k: SimKernel) => JSON.stringify(k.devs.filter((d) => !d.uuid.startsWith(SCOPE + '-')));

/** The scope's devices as `uuid → name|ro|table` with device numbers replaced by uuids. */
export function canon(k: SimKernel): Map<string, string> {
  const mine = k.devs.filter((d) => d.uuid.startsWith(SCOPE + '-'));
  const ref = (w: string) => {
    const d = mine.find((x) => `${x.major}:${x.minor}` === w);
    return d ? `@${d.uuid}` : w;
  };
  return new Map(mine.filter((d) => d.live.length > 0).map((d) => [d.uuid, `${d.name}|${d.liveRo}|${d.live.map((l) => `${l.start} ${l.length} ${l.target} ${l.params.split(' ').map(ref).join(' ')}`).join(';')}`]));
}

export function canonDoc(doc: DmDoc): Map<string, string> {
  const ref = (w: string) => {
    if (!w.startsWith('dm:')) return w;
    return `@${doc.devices.find((d) => d.name === w.slice(3))!.uuid}`;
  };
  return new Map(doc.devices.map((d) => [d.uuid, `${d.name}|${d.read_only ?? false}|${d.table.map((l) => `${l.start} ${l.length} ${l.target} ${l.params.split(' ').map(ref).join(' ')}`).join(';')}`]));
}
