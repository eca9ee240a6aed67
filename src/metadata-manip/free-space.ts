import { invalidInput } from '../lib/errors.js';
import { areaLength, isPvArea, type Vg } from './model.js';

/** A run of free physical extents on one PV: [start, start + count). */
export interface Range {
  start: number;
  count: number;
}

/** Free extents per PV, in PE order, for the PVs allocation may use, in allocation order. */
export interface FreeMap {
  order: string[];
  free: Map<string, Range[]>;
}

/** `--pv` arguments: a PV id, optionally with PE ranges (`PV:0-99:200-`). */
export interface PvRestriction {
  pv: string;
  ranges?: Range[];
}

/**
 * Which extents every PV has in use, checked: an input that maps one extent
 * twice or points past the end of a PV is damaged, and allocating on top of it
 * would only spread the damage (exit 3). Callers that need it twice (free
 * map and size bases) compute it once and pass it: at 10,000 LVs it is a
 * walk and a sort of every area.
 */
export function usedRanges(vg: Vg): Map<string, Range[]> {
  const used = new Map<string, Range[]>(vg.pvs.map((p) => [p.id, []]));
  for (const lv of vg.lvs) {
    for (const seg of lv.segments) {
      const len = areaLength(seg);
      for (const a of seg.areas) {
        if (!isPvArea(a)) continue;
        const list = used.get(a.pv);
        if (!list) throw invalidInput('invalid input', 'stdin', `LV '${lv.name}' maps extents of unknown PV '${a.pv}'`);
        list.push({ start: a.pe, count: len });
      }
    }
  }
  const pe = new Map(vg.pvs.map((p) => [p.id, p.pe_count]));
  for (const [pv, list] of used) {
    list.sort((a, b) => a.start - b.start);
    for (let i = 0; i < list.length; i++) {
      const r = list[i];
      if (!Number.isInteger(r.count) || r.start + r.count > pe.get(pv)!) throw invalidInput('invalid input', 'stdin', `extents ${r.start}-${r.start + r.count - 1} lie outside PV '${pv}'`);
      if (i > 0 && list[i - 1].start + list[i - 1].count > r.start) throw invalidInput('invalid input', 'stdin', `PV '${pv}' extent ${r.start} is mapped twice`);
    }
  }
  return used;
}

function complement(used: Range[], peCount: number): Range[] {
  const free: Range[] = [];
  let at = 0;
  for (const r of used) {
    if (r.start > at) free.push({ start: at, count: r.start - at });
    at = r.start + r.count;
  }
  if (peCount > at) free.push({ start: at, count: peCount - at });
  return free;
}

function intersect(free: Range[], allowed: Range[]): Range[] {
  const out: Range[] = [];
  for (const f of free) {
    for (const a of allowed) {
      const s = Math.max(f.start, a.start);
      const e = Math.min(f.start + f.count, a.start + a.count);
      if (e > s) out.push({ start: s, count: e - s });
    }
  }
  out.sort((x, y) => x.start - y.start);
  // Overlapping ranges given twice on the command line must not count twice.
  const merged: Range[] = [];
  for (const r of out) {
    const last = merged[merged.length - 1];
    if (last && last.start + last.count >= r.start) last.count = Math.max(last.count, r.start + r.count - last.start);
    else merged.push({ ...r });
  }
  return merged;
}

export const isAllocatable = (flags: readonly string[]) => flags.includes('allocatable') && !flags.includes('missing');

/**
 * The free space allocation may draw from: allocatable, present PVs in VG order,
 * or, with `--pv`, only the PVs (and PE ranges) named, in the order named.
 */
export function freeMap(vg: Vg, restrict?: PvRestriction[], used = usedRanges(vg)): FreeMap {
  const byId = new Map(vg.pvs.map((p) => [p.id, p]));
  const order: string[] = [];
  const free = new Map<string, Range[]>();
  const allowed = new Map<string, Range[] | undefined>();
  if (restrict && restrict.length > 0) {
    for (const r of restrict) {
      if (allowed.has(r.pv)) {
        const prev = allowed.get(r.pv);
        allowed.set(r.pv, prev && r.ranges ? [...prev, ...r.ranges] : undefined);
      } else allowed.set(r.pv, r.ranges);
    }
  }
  const ids = allowed.size > 0 ? [...allowed.keys()] : vg.pvs.map((p) => p.id);
  for (const id of ids) {
    const pv = byId.get(id)!;
    if (!isAllocatable(pv.flags)) continue;
    let ranges = complement(used.get(id)!, pv.pe_count);
    const lim = allowed.get(id);
    if (lim) ranges = intersect(ranges, lim);
    order.push(id);
    free.set(id, ranges);
  }
  return { order, free };
}

export const totalFree = (fm: FreeMap): number => {
  let n = 0;
  for (const id of fm.order) for (const r of fm.free.get(id)!) n += r.count;
  return n;
};

/** Free extents of the whole VG (allocatable or not): what `vgs` calls VFree. */
export function vgFreeExtents(vg: Vg, used = usedRanges(vg)): number {
  let n = 0;
  for (const pv of vg.pvs) n += pv.pe_count - used.get(pv.id)!.reduce((a, r) => a + r.count, 0);
  return n;
}
