import type { PvArea } from './model.js';
import type { FreeMap, Range } from './free-space.js';

/**
 * One allocation: `areas` parallel areas (stripes, or mirror legs) of
 * `perArea` extents each. Placement follows LVM2's "normal" policy with
 * maximise_cling (lib/metadata/lv_manip.c), restated:
 *
 *  1. contiguous: an extend first continues each area right where the last
 *     segment ends, if all of them can;
 *  2. cling: then keeps taking the largest free run on the PVs already used
 *     (by the last segment, or by this allocation);
 *  3. normal: otherwise each PV offers its smallest free run that holds the
 *     whole remainder, or else its largest; the biggest offers win (ties go
 *     to PV order) and later rounds cling to the PVs just used.
 *
 * Every area of one chunk is on a different PV. ALLOCATION.md lists where we
 * knowingly differ from LVM2.
 */
export interface AllocRequest {
  areas: number;
  perArea: number;
  /** Where each area of the LV's last segment ends (an extend): PV and the next PE. */
  prev?: PvArea[];
  /**
   * Mirror legs: PVs each slot must never use because another leg is on
   * them. Chunks of one slot may share PVs; different slots never do.
   */
  legPvs?: Set<string>[];
  /** Take as much as there is, up to perArea (for N%FREE and friends). */
  approx?: boolean;
}

/** `len` extents at `areas[s]` for each slot s. */
export interface Chunk {
  len: number;
  areas: PvArea[];
}

export class AllocationError extends Error {}

interface Offer {
  pv: string;
  range: Range;
  used: number;
}

export function allocate(fm: FreeMap, req: AllocRequest): Chunk[] {
  const n = req.areas;
  let remaining = req.perArea;
  const chunks: Chunk[] = [];
  // PVs each slot has used in this allocation and, for legs, before it.
  const slotPvs: Set<string>[] = Array.from({ length: n }, (_, s) => new Set(req.legPvs?.[s] ?? []));
  const prevPvs = new Set((req.prev ?? []).map((a) => a.pv));
  const usedHere = new Set<string>();

  const forbidden = (s: number, pv: string): boolean => {
    if (!req.legPvs) return false;
    for (let t = 0; t < n; t++) if (t !== s && slotPvs[t].has(pv)) return true;
    return false;
  };

  const take = (offers: Offer[]) => {
    const len = Math.min(remaining, ...offers.map((o) => o.range.count));
    const areas = offers.map((o, s) => {
      const area = { pv: o.pv, pe: o.range.start };
      cut(fm, o.pv, o.range, len);
      slotPvs[s].add(o.pv);
      usedHere.add(o.pv);
      return area;
    });
    remaining -= len;
    chunks.push({ len, areas });
  };

  const largest = (pv: string): Range | undefined => {
    let best: Range | undefined;
    for (const r of fm.free.get(pv) ?? []) if (!best || r.count > best.count) best = r;
    return best;
  };

  /** Each PV's offer: the smallest run that holds the rest, else `fallback`. */
  const offers = (eligible: (pv: string) => boolean, fallback: 'largest' | 'smallest'): Offer[] => {
    const out: Offer[] = [];
    for (const pv of fm.order) {
      if (!eligible(pv)) continue;
      let fit: Range | undefined;
      let other: Range | undefined;
      for (const r of fm.free.get(pv)!) {
        if (r.count >= remaining) {
          if (!fit || r.count < fit.count) fit = r;
        } else if (!other || (fallback === 'largest' ? r.count > other.count : r.count < other.count)) other = r;
      }
      const range = fit ?? other;
      if (range) out.push({ pv, range, used: Math.min(range.count, remaining) });
    }
    // Biggest offers first; a stable sort keeps PV order among equals, as LVM's does.
    return out.sort((a, b) => b.used - a.used);
  };

  /** Give every slot its own offer, biggest first, honouring leg separation. */
  const assign = (list: Offer[]): Offer[] | undefined => {
    const chosen: Offer[] = [];
    const taken = new Set<string>();
    for (let s = 0; s < n; s++) {
      const o = list.find((x) => !taken.has(x.pv) && !forbidden(s, x.pv));
      if (!o) return undefined;
      taken.add(o.pv);
      chosen.push(o);
    }
    return chosen;
  };

  // 1. contiguous (an extend), or a first normal pick (a new LV).
  if (req.prev && req.prev.length === n) {
    const runs = req.prev.map((p) => (fm.free.get(p.pv) ?? []).find((r) => r.start === p.pe));
    if (runs.every((r) => r)) take(runs.map((r, s) => ({ pv: req.prev![s].pv, range: r!, used: r!.count })));
  } else {
    const chosen = assign(offers(() => true, 'largest'));
    if (chosen) take(chosen);
  }

  // 2. cling: each slot keeps to the PV it is on (the last segment's, or its first pick).
  while (remaining > 0) {
    const runs: Offer[] = [];
    for (let s = 0; s < n; s++) {
      const home = req.prev && req.prev.length === n ? [req.prev[s].pv] : fm.order.filter((pv) => slotPvs[s].has(pv) && usedHere.has(pv));
      const pv = home.find((p) => largest(p) && !runs.some((o) => o.pv === p));
      if (!pv) break;
      runs.push({ pv, range: largest(pv)!, used: 0 });
    }
    if (runs.length < n) break;
    take(runs);
  }

  // 3. normal, clinging to the PVs in use whenever that still yields enough areas.
  let cling = true;
  while (remaining > 0) {
    let chosen: Offer[] | undefined;
    if (cling) {
      chosen = assign(offers((pv) => usedHere.has(pv) || prevPvs.has(pv), 'smallest'));
      if (!chosen) {
        cling = false;
        continue;
      }
    } else {
      chosen = assign(offers(() => true, 'largest'));
      if (!chosen) break;
    }
    take(chosen);
    cling = true;
  }

  if (remaining > 0 && !(req.approx && chunks.length > 0)) throw new AllocationError(`${n} parallel areas of ${req.perArea} extents`);
  return chunks;
}

/** Remove `len` extents from the front of a free run. */
function cut(fm: FreeMap, pv: string, range: Range, len: number): void {
  const list = fm.free.get(pv)!;
  const i = list.indexOf(range);
  if (len >= range.count) list.splice(i, 1);
  else list[i] = { start: range.start + len, count: range.count - len };
}
