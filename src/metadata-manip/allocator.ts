import type { PvArea } from './model.js';
import type { FreeMap } from './free-space.js';

/**
 * One allocation: `areas` parallel areas (stripes, or mirror legs) of
 * `perArea` extents each, placed as LVM2's default "normal" policy with
 * maximise_cling places them (lib/metadata/lv_manip.c, _allocate and
 * _find_some_parallel_space), so that users get the layouts they know:
 *
 *  - contiguous: an extend first continues each area where the last segment ends;
 *  - cling: then takes the largest free run on a PV the LV already uses (its
 *    first segment's, as LVM checks; for a new LV: the PVs this allocation
 *    has started on);
 *  - normal: otherwise each PV offers one free run (its largest, or a smaller
 *    one that still holds everything), the biggest offers win, ties going to
 *    PV order, and later rounds cling to the PVs used so far.
 *
 * The per-PV bookkeeping below reproduces LVM's, including how a partly
 * reserved run moves down the PV's size-ordered list while it is walked; that
 * detail decides which of several fitting runs is chosen. ALLOCATION.md lists
 * where we knowingly differ.
 */
export interface AllocRequest {
  areas: number;
  perArea: number;
  /** An extend: the LV as it is. */
  prev?: {
    /** Where each area of the last segment ends (PV and the next PE). */
    ends: PvArea[];
    /** The (slot, PV) pairs cling clings to (see clingPvs in segments.ts). */
    used: { slot: number; pv: string }[];
  };
  /** Mirror legs: slot s may not use a PV in legPvs[t] for t != s. */
  legPvs?: Set<string>[];
  /** Take what there is, up to perArea (N%FREE and friends). */
  approx?: boolean;
}

/** `len` extents at `areas[s]` for each slot s. */
export interface Chunk {
  len: number;
  areas: PvArea[];
}

export class AllocationError extends Error {}

interface Run {
  pv: string;
  start: number;
  count: number;
  unreserved: number;
}
interface PvMap {
  pv: string;
  runs: Run[];
}
interface Slot {
  run: Run;
  used: number;
}

const enum F {
  CONTIG_TO_LVSEG = 1,
  CLING_TO_LVSEG = 2,
  CLING_TO_ALLOCATED = 4,
  POSITIONAL = 8,
  AREA_COUNT_MATCHES = 16,
}
type Policy = 'contiguous' | 'cling' | 'normal';
type Verdict = 'preferred' | 'use' | 'next-run' | 'next-pv';

/** Runs are kept largest first; a run joins after the runs of its own size. */
function insert(runs: Run[], run: Run, key: number): void {
  let i = 0;
  while (i < runs.length && !(key > runs[i].count)) i++;
  runs.splice(i, 0, run);
}

function reinsert(map: PvMap, run: Run): void {
  map.runs.splice(map.runs.indexOf(run), 1);
  insert(map.runs, run, run.unreserved);
}

export function allocate(fm: FreeMap, req: AllocRequest): Chunk[] {
  const n = req.areas;
  const maps: PvMap[] = fm.order.map((pv) => {
    const map: PvMap = { pv, runs: [] };
    for (const r of fm.free.get(pv)!) insert(map.runs, { pv, start: r.start, count: r.count, unreserved: r.count }, r.count);
    return map;
  });
  const mapOf = new Map(maps.map((m) => [m.pv, m]));
  const prev = req.prev && req.prev.ends.length === n ? req.prev : undefined;
  const allocatedPvs: string[][] = Array.from({ length: n }, () => []);
  const chunks: Chunk[] = [];
  let done = 0; // extents per area
  const freeLeft = () => maps.reduce((a, m) => a + m.runs.reduce((b, r) => b + r.count, 0), 0);
  const legClash = (s: number, pv: string) => !!req.legPvs && req.legPvs.some((set, t) => t !== s && (set.has(pv) || allocatedPvs[t].includes(pv)));

  /** One pass over the PVs: reserve runs for the slots, then take what they share. */
  function findSome(flags: number, policy: Policy): void {
    const need = req.perArea - done;
    const numPositionalInit = !(flags & F.POSITIONAL) ? 0 : flags & (F.CONTIG_TO_LVSEG | F.CLING_TO_LVSEG) ? n : flags & F.CLING_TO_ALLOCATED ? n : 0;
    let numPositional = numPositionalInit;
    const slots: (Slot | undefined)[] = [];
    for (const m of maps)
      for (const r of [...m.runs])
        if (r.unreserved !== r.count) {
          r.unreserved = r.count;
          reinsert(m, r);
        }
    let ix = 0;
    let preferred = 0;
    let iteration = 0;
    const positional = !!(flags & F.POSITIONAL);

    // Try to place `run` positionally in the first free slot whose PV list matches.
    const matchSlot = (run: Run, pairs: { slot: number; pv: string }[]): boolean => {
      for (const p of pairs) {
        if (positional && slots[p.slot]) continue;
        if (p.pv !== run.pv) continue;
        if (positional && p.slot >= numPositional) continue;
        if (positional) slots[p.slot] = { run, used: run.count };
        return true;
      }
      return false;
    };
    const contiguous = (run: Run) => !!prev && matchSlot(run, prev.ends.filter((e) => e.pe === run.start).map((e) => ({ slot: prev.ends.indexOf(e), pv: e.pv })));
    const clingLv = (run: Run) => !!prev && matchSlot(run, prev.used);
    const clingAllocated = (run: Run) => {
      for (let s = 0; s < n; s++) {
        if (positional && slots[s]) continue;
        if (allocatedPvs[s].includes(run.pv)) {
          if (positional) slots[s] = { run, used: run.count };
          return true;
        }
      }
      return false;
    };

    const check = (run: Run, alreadyFound: boolean): Verdict => {
      if (!run.unreserved) return 'next-run';
      if (iteration && slots.some((x) => x?.run === run)) return 'next-run';
      let found = false;
      if (!iteration && flags & (F.CONTIG_TO_LVSEG | F.CLING_TO_LVSEG | F.CLING_TO_ALLOCATED)) {
        const matches = !!(flags & F.AREA_COUNT_MATCHES);
        if ((flags & F.CONTIG_TO_LVSEG || matches) && contiguous(run)) found = true;
        else if (flags & F.CONTIG_TO_LVSEG) return 'next-run';
        else if ((flags & F.CLING_TO_LVSEG || matches) && clingLv(run)) found = true;
        else if (flags & F.CLING_TO_ALLOCATED && clingAllocated(run)) found = true;
        else return 'next-pv';
      }
      if (!found && run.unreserved < need && alreadyFound) return 'next-pv';
      return positional ? 'preferred' : 'use';
    };

    do {
      for (const map of maps) {
        if (map.runs.length === 0) continue;
        if (iteration && slots.slice(0, n).some((x) => x?.run.pv === map.pv)) continue;
        let alreadyFound = false;
        // Walk the PV's runs as a linked list: a run moved by reinsert continues the walk from its new place.
        for (let i = 0; i < map.runs.length; ) {
          const run = map.runs[i];
          const v = check(run, alreadyFound);
          if (v === 'preferred') preferred++;
          if (v === 'preferred' || v === 'next-pv') break;
          if (v === 'use') {
            if (!alreadyFound) {
              ix++;
              alreadyFound = true;
            }
            let required = need;
            if (required >= run.unreserved) {
              required = run.unreserved;
              run.unreserved = 0;
            } else {
              run.unreserved -= required;
              reinsert(map, run);
            }
            slots[ix + numPositional - 1] = { run, used: required };
          }
          i = map.runs.indexOf(run) + 1;
        }
        if (preferred === numPositional && numPositional === n) break;
      }
    } while (policy === 'normal' && preferred && preferred < numPositional && flags & F.CLING_TO_ALLOCATED && !iteration++);

    if (preferred < numPositional && !(flags & F.CLING_TO_ALLOCATED) && !ix) return;
    if (ix + preferred < n) return;
    // Biggest offers first; Array.prototype.sort is stable, as glibc's merge-sorting qsort is.
    const sorted = (slots.slice(numPositional, numPositional + ix) as Slot[]).sort((a, b) => b.used - a.used);
    slots.splice(numPositional, ix, ...sorted);
    if (preferred && preferred !== numPositional)
      for (let s = 0; s < n; s++)
        if (!slots[s]) {
          slots[s] = slots[numPositional];
          slots[numPositional++] = undefined;
        }
    if (ix + numPositional < n) return;

    let chosen = slots.slice(0, n) as Slot[];
    if (chosen.some((x) => !x)) return;
    if (req.legPvs) {
      // Mirror legs never share a PV: give each leg the biggest offer it may take.
      const pool = slots.filter((x): x is Slot => !!x);
      const pickd: Slot[] = [];
      for (let s = 0; s < n; s++) {
        const o = pool.find((x) => !pickd.includes(x) && !legClash(s, x.run.pv));
        if (!o) return;
        pickd.push(o);
      }
      chosen = pickd;
    }
    const len = Math.min(need, ...chosen.map((x) => x.used));
    const areas = chosen.map((x, s) => {
      const area = { pv: x.run.pv, pe: x.run.start };
      consume(mapOf.get(x.run.pv)!, x.run, len);
      allocatedPvs[s].push(x.run.pv);
      return area;
    });
    done += len;
    chunks.push({ len, areas });
  }

  for (const policy of ['contiguous', 'cling', 'normal'] as Policy[]) {
    let flags = 0;
    if (prev) {
      flags |= F.AREA_COUNT_MATCHES;
      if (policy === 'contiguous') flags |= F.CONTIG_TO_LVSEG | F.POSITIONAL;
      if (policy === 'cling') flags |= F.CLING_TO_LVSEG | F.POSITIONAL;
    } else if (policy === 'cling') flags |= F.CLING_TO_ALLOCATED | F.POSITIONAL;
    // LVM compares the LV's whole new size with what it has so far: never equal here.
    if (policy === 'normal') flags |= F.CLING_TO_ALLOCATED;
    do {
      const before = done;
      findSome(flags, policy);
      if (done === before) {
        if (policy === 'cling' && flags & F.CLING_TO_LVSEG && flags & F.POSITIONAL) flags &= ~F.POSITIONAL;
        else if (policy === 'normal' && flags & F.CLING_TO_ALLOCATED) flags &= ~F.CLING_TO_ALLOCATED;
        else break;
      } else if (policy === 'normal' && !(flags & F.CLING_TO_ALLOCATED)) flags |= F.CLING_TO_ALLOCATED;
    } while (policy !== 'contiguous' && done < req.perArea && (!req.approx || freeLeft() > 0));
    if (done === req.perArea) break;
  }

  if (done < req.perArea && !(req.approx && done > 0)) throw new AllocationError(`${n} parallel areas of ${req.perArea} extents`);
  // Hand the free map back in the state the allocation left it.
  for (const m of maps) fm.free.set(m.pv, m.runs.map((r) => ({ start: r.start, count: r.count })).sort((a, b) => a.start - b.start));
  return chunks;
}

/** Take `len` extents from the front of a run (LVM's consume_pv_area). */
function consume(map: PvMap, run: Run, len: number): void {
  map.runs.splice(map.runs.indexOf(run), 1);
  if (len < run.count) {
    run.start += len;
    run.count -= len;
    run.unreserved = run.count;
    insert(map.runs, run, run.count);
  }
}
