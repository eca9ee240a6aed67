import type { Chunk } from './allocator.js';
import { areaLength, isPvArea, type Lv, type PvArea, type Segment } from './model.js';

/** Turn allocated chunks into segments of an LV that currently has `start` extents. */
export function chunksToSegments(chunks: Chunk[], start: number, stripeSize?: number): Segment[] {
  let at = start;
  return chunks.map((c) => {
    const n = c.areas.length;
    const seg: Segment =
      n === 1
        ? { start_extent: at, extent_count: c.len, type: 'linear', areas: [{ ...c.areas[0] }] }
        : { start_extent: at, extent_count: c.len * n, type: 'striped', stripe_size: stripeSize, areas: c.areas.map((a) => ({ ...a })) };
    at += seg.extent_count;
    return seg;
  });
}

/** Does `b` continue `a` on disk, so that the two are one segment? */
function continues(a: Segment, b: Segment): boolean {
  if (a.type !== b.type || (a.type !== 'linear' && a.type !== 'striped' && a.type !== 'error' && a.type !== 'zero')) return false;
  if (a.areas.length !== b.areas.length || a.stripe_size !== b.stripe_size) return false;
  const len = areaLength(a);
  return a.areas.every((x, i) => {
    const y = b.areas[i];
    return isPvArea(x) && isPvArea(y) && x.pv === y.pv && x.pe + len === y.pe;
  });
}

/** Join neighbouring segments that continue each other (as LVM's lv_merge_segments). */
export function mergeSegments(segs: Segment[]): Segment[] {
  const out: Segment[] = [];
  for (const s of segs) {
    const last = out[out.length - 1];
    if (last && continues(last, s)) last.extent_count += s.extent_count;
    else out.push(s);
  }
  return out;
}

/** Where each area of the LV's last segment ends: where an extend would continue it. */
export function endsOf(lv: Lv): PvArea[] | undefined {
  const seg = lv.segments[lv.segments.length - 1];
  if (!seg.areas.every(isPvArea) || seg.areas.length === 0) return undefined;
  const len = areaLength(seg);
  return (seg.areas as PvArea[]).map((a) => ({ pv: a.pv, pe: a.pe + len }));
}

/**
 * What an extend clings to: the PVs of the LV's first segment, by area index.
 * LVM's maximise_cling means to check the entire LV, but its _for_each_pv only
 * walks the segment holding the first extent; we match what it does.
 */
export function clingPvs(lv: Lv, slot?: number): { slot: number; pv: string }[] {
  return lv.segments[0].areas.flatMap((a, i) => (isPvArea(a) ? [{ slot: slot ?? i, pv: a.pv }] : []));
}

/** An extend's view of the LV: where it ends and what it uses. */
export function prevOf(lv: Lv): { ends: PvArea[]; used: { slot: number; pv: string }[] } | undefined {
  const ends = endsOf(lv);
  return ends && { ends, used: clingPvs(lv) };
}

/** Cut an LV's segments to `extents` (which falls on a whole-stripe boundary). */
export function truncate(segs: Segment[], extents: number): Segment[] {
  const out: Segment[] = [];
  for (const s of segs) {
    if (s.start_extent >= extents) break;
    const keep = Math.min(s.extent_count, extents - s.start_extent);
    out.push({ ...s, extent_count: keep });
  }
  return out;
}

/** The segment holding extent `le`, for rounding a reduce to its stripes. */
export function segmentAt(segs: Segment[], le: number): Segment | undefined {
  return segs.find((s) => s.start_extent <= le && le < s.start_extent + s.extent_count);
}
