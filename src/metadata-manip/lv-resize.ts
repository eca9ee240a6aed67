import { failed } from '../lib/errors.js';
import { allocateOrFail, extentsText, needSpace, sizeBases, userLv, type MutatorResult } from './common.js';
import { freeMap, usedRanges } from './free-space.js';
import { isPvArea, lastSegment, lvExtents, own, raidLegs, shallowCopy, type Vg } from './model.js';
import { parsePvArgs } from './pv-args.js';
import { chunksToSegments, endsOf, mergeSegments, prevOf, clingPvs, segmentAt, truncate } from './segments.js';
import { checkSign, toExtents } from './sizes.js';

export interface ResizeOptions {
  name: string;
  size: string;
  pvs?: string[];
}

/** lv-extend: grow an LV in its own layout, continuing its last segment where the space is adjacent. */
export function lvExtend(input: Vg, o: ResizeOptions): MutatorResult {
  const WHAT = 'cannot extend logical volume';
  const vg = shallowCopy(input);
  const notes: string[] = [];
  checkSign(o.size, ['', '+']);
  const lv = own(vg, userLv(vg, o.name, WHAT));
  const current = lvExtents(lv);
  const pvArgs = parsePvArgs(vg, o.pvs, WHAT);
  const used = usedRanges(vg);
  const fm = freeMap(vg, pvArgs, used);
  const size = toExtents(o.size, vg.extent_size, sizeBases(vg, pvArgs, used), notes, ['', '+'], true);
  let delta = size.sign === '+' ? size.extents : size.extents - current;
  if (delta < 1)
    throw failed(WHAT, o.name, size.sign === '+' ? 'size must be at least one extent' : `new size ${extentsText(vg, size.extents)} is not larger than the current ${extentsText(vg, current)}`);
  const last = lastSegment(lv);

  if (last.type === 'raid1') {
    const legs0 = raidLegs(vg, lv);
    const images = legs0.images.map((img) => own(vg, img));
    const metas = legs0.metas;
    const legs = images.length;
    if (size.approx) delta = Math.floor(delta / legs);
    if (delta < 1) throw failed(WHAT, o.name, 'not enough free space for one extent per leg');
    if (!size.approx) needSpace(vg, fm, delta * legs, WHAT, o.name);
    const legPvs = images.map((img, s) => new Set([img, metas[s]].flatMap((l) => l.segments.flatMap((g) => g.areas.filter(isPvArea).map((a) => a.pv)))));
    // The legs seen as one LV: image s is slot s (LVM flattens the raid stack the same way).
    const prev = { ends: images.map((img) => endsOf(img)?.[0] ?? { pv: '', pe: -1 }), used: images.flatMap((img, s) => clingPvs(img, s)) };
    const chunks = allocateOrFail(vg, fm, { areas: legs, perArea: delta, prev, legPvs, approx: size.approx }, WHAT, o.name);
    const got = chunks.reduce((n, c) => n + c.len, 0);
    images.forEach((img, s) => {
      const parts = chunks.map((c) => ({ len: c.len, areas: [c.areas[s]] }));
      img.segments = mergeSegments([...img.segments, ...chunksToSegments(parts, lvExtents(img))]);
    });
    last.extent_count += got;
    return { vg, notes };
  }

  if (last.type === 'error' || last.type === 'zero') {
    // Nothing on disk to allocate: the mapping just gets longer.
    last.extent_count += delta;
    return { vg, notes };
  }

  const n = last.areas.length;
  if (delta % n !== 0) {
    const rounded = size.approx ? delta - (delta % n) : delta + n - (delta % n);
    notes.push(`Rounding size ${extentsText(vg, delta)} ${size.approx ? 'down' : 'up'} to stripe boundary size ${extentsText(vg, rounded)}`);
    delta = rounded;
  }
  if (delta < 1) throw failed(WHAT, o.name, `not enough free space for one extent on each of ${n} stripes`);
  if (!size.approx) needSpace(vg, fm, delta, WHAT, o.name);
  if (n > fm.order.length) throw failed(WHAT, o.name, `number of stripes (${n}) exceeds the number of allocatable physical volumes (${fm.order.length})`);
  const chunks = allocateOrFail(vg, fm, { areas: n, perArea: delta / n, prev: prevOf(lv), approx: size.approx }, WHAT, o.name);
  lv.segments = mergeSegments([...lv.segments, ...chunksToSegments(chunks, current, last.stripe_size)]);
  return { vg, notes };
}

/** lv-reduce: cut extents off the end of an LV (of every leg of a mirror). */
export function lvReduce(input: Vg, o: ResizeOptions): MutatorResult {
  const WHAT = 'cannot reduce logical volume';
  const vg = shallowCopy(input);
  const notes: string[] = [];
  checkSign(o.size, ['', '-']);
  const lv = own(vg, userLv(vg, o.name, WHAT));
  // As LVM: "Snapshot origin volumes cannot be reduced in size yet."
  if (vg.lvs.some((l) => l.snapshot?.origin === lv.id)) throw failed(WHAT, o.name, 'is the origin of a snapshot: origins with snapshots cannot be reduced (remove the snapshots first)');
  const current = lvExtents(lv);
  const bases = { FREE: 0, VG: vg.pvs.reduce((a, p) => a + p.pe_count, 0), PVS: vg.pvs.reduce((a, p) => a + p.pe_count, 0) };
  const size = toExtents(o.size, vg.extent_size, bases, notes, ['', '-'], true);
  let target = size.sign === '-' ? current - size.extents : size.extents;
  if (target >= current) throw failed(WHAT, o.name, `new size ${extentsText(vg, Math.max(target, 0))} is not smaller than the current ${extentsText(vg, current)}`);
  if (target < 1) throw failed(WHAT, o.name, 'cannot reduce below one extent');

  // A striped segment can only end on a whole stripe: keep a little more.
  const cut = segmentAt(lv.segments, target);
  if (cut && cut.type === 'striped' && cut.start_extent < target) {
    const n = cut.areas.length;
    const keep = target - cut.start_extent;
    if (keep % n !== 0) {
      const rounded = cut.start_extent + keep + n - (keep % n);
      notes.push(`Rounding size ${extentsText(vg, target)} up to stripe boundary size ${extentsText(vg, rounded)}`);
      target = rounded;
      if (target >= current) throw failed(WHAT, o.name, `nothing to remove: the new size rounds up to whole stripes (${n}), which is the current size`);
    }
  }

  if (lastSegment(lv).type === 'raid1') {
    for (const img of raidLegs(vg, lv).images.map((i) => own(vg, i))) img.segments = truncate(img.segments, target);
  }
  lv.segments = truncate(lv.segments, target);
  return { vg, notes };
}

