import { failed, usageError } from '../lib/errors.js';
import { formatSize, isPowerOfTwo, parseAbsoluteSize, sectors } from '../lib/units.js';
import { allocateOrFail, checkNewName, extentsText, needSpace, sizeBases, type MutatorResult } from './common.js';
import { freeMap, usedRanges, type FreeMap } from './free-space.js';
import { shallowCopy, DEFAULT_REGION_SIZE, DEFAULT_STRIPE_SIZE, imageName, metaName, newLvId, type Lv, type Segment, type Vg } from './model.js';
import { parsePvArgs } from './pv-args.js';
import { chunksToSegments, mergeSegments } from './segments.js';
import { checkSign, requirePositive, toExtents } from './sizes.js';

export interface CreateOptions {
  name: string;
  size: string;
  stripes?: number;
  stripeSize?: string;
  mirrors?: number;
  pvs?: string[];
}

export const MAX_STRIPES = 128;
/** LVM's DEFAULT_RAID_MAX_IMAGES. */
export const MAX_LEGS = 64;
const WHAT = 'cannot create logical volume';

/** lv-create: a new linear, striped or raid1 LV, placed as LVM2 would place it. */
export function lvCreate(input: Vg, o: CreateOptions): MutatorResult {
  const vg = shallowCopy(input);
  const notes: string[] = [];
  const stripes = o.stripes ?? 1;
  const legs = (o.mirrors ?? 0) + 1;
  if (!Number.isInteger(stripes) || stripes < 1 || stripes > MAX_STRIPES) throw usageError(WHAT, o.name, `--stripes must be a whole number from 1 to ${MAX_STRIPES}`);
  if (!Number.isInteger(legs) || legs < 1 || legs > MAX_LEGS) throw usageError(WHAT, o.name, `--mirrors must be a whole number from 0 to ${MAX_LEGS - 1}`);
  if (stripes > 1 && legs > 1) throw usageError(WHAT, o.name, '--stripes with --mirrors (raid10) is not supported');
  if (o.stripeSize !== undefined && stripes === 1) throw usageError(WHAT, o.name, '--stripe-size needs --stripes 2 or more');
  checkSign(o.size, ['']);
  const subs = legs > 1 ? Array.from({ length: legs }, (_, i) => [imageName(o.name, i), metaName(o.name, i)]).flat() : [];
  checkNewName(vg, o.name, WHAT, subs);

  const pvArgs = parsePvArgs(vg, o.pvs, WHAT);
  const used = usedRanges(vg);
  const fm = freeMap(vg, pvArgs, used);
  const size = toExtents(o.size, vg.extent_size, sizeBases(vg, pvArgs, used), notes, ['']);
  const taken = new Set(vg.lvs.map((l) => l.id));
  const lv: Lv = { id: newLvId(vg, o.name, taken), name: o.name, flags: [], segments: [] };

  if (legs > 1) {
    const perLeg = size.approx ? Math.floor(size.extents / legs) - 1 : size.extents;
    requirePositive(WHAT, o.name, perLeg);
    if (legs > fm.order.length) throw failed(WHAT, o.name, `${legs} mirror legs need ${legs} physical volumes, but only ${fm.order.length} are allocatable`);
    vg.lvs.push(lv, ...createRaid1(vg, fm, lv, legs, perLeg, size.approx, taken));
    return { vg, notes };
  }

  let extents = size.extents;
  if (stripes > 1 && extents % stripes !== 0) {
    const rounded = size.approx ? extents - (extents % stripes) : extents + stripes - (extents % stripes);
    notes.push(`Rounding size ${extentsText(vg, extents)} ${size.approx ? 'down' : 'up'} to stripe boundary size ${extentsText(vg, rounded)}`);
    extents = rounded;
  }
  requirePositive(WHAT, o.name, extents);
  let stripeSize: number | undefined;
  if (stripes > 1) {
    stripeSize = o.stripeSize === undefined ? DEFAULT_STRIPE_SIZE : parseAbsoluteSize(o.stripeSize, 'k');
    if (stripeSize < 8 || !isPowerOfTwo(stripeSize)) throw usageError(WHAT, o.name, `stripe size ${formatSize(sectors(stripeSize))} is not a power of two of at least 4 KiB`);
    if (stripeSize > vg.extent_size) {
      notes.push(`Reducing stripe size ${formatSize(sectors(stripeSize))} to maximum, physical extent size ${formatSize(sectors(vg.extent_size))}`);
      stripeSize = vg.extent_size;
    }
    if (stripes > fm.order.length) throw failed(WHAT, o.name, `number of stripes (${stripes}) must not exceed the number of allocatable physical volumes (${fm.order.length})`);
  }
  if (!size.approx) needSpace(vg, fm, extents, WHAT, o.name);
  const chunks = allocateOrFail(vg, fm, { areas: stripes, perArea: extents / stripes, approx: size.approx }, WHAT, o.name);
  lv.segments = mergeSegments(chunksToSegments(chunks, 0, stripeSize));
  vg.lvs.push(lv);
  return { vg, notes };
}

/**
 * raid1 as LVM's `--type raid1 -m N`: each leg is a hidden linear image with a
 * one-extent metadata LV in front of it on the same PV, every leg on its own PV.
 */
function createRaid1(vg: Vg, fm: FreeMap, lv: Lv, legs: number, perLeg: number, approx: boolean, taken: Set<string>): Lv[] {
  if (!approx) needSpace(vg, fm, (perLeg + 1) * legs, WHAT, lv.name);
  const chunks = allocateOrFail(vg, fm, { areas: legs, perArea: perLeg + 1, legPvs: Array.from({ length: legs }, () => new Set()), approx }, WHAT, lv.name);
  const got = chunks.reduce((n, c) => n + c.len, 0) - 1;
  if (got < 1) throw failed(WHAT, lv.name, 'not enough free space for one extent per leg');
  const images: Lv[] = [];
  const metas: Lv[] = [];
  for (let s = 0; s < legs; s++) {
    const first = chunks[0].areas[s];
    metas.push({ id: newLvId(vg, metaName(lv.name, s), taken), name: metaName(lv.name, s), flags: ['hidden'], segments: [{ start_extent: 0, extent_count: 1, type: 'linear', areas: [{ ...first }] }] });
    // The image starts right after its metadata extent.
    const parts = chunks.map((c, i) => ({ len: i === 0 ? c.len - 1 : c.len, areas: [i === 0 ? { pv: c.areas[s].pv, pe: c.areas[s].pe + 1 } : { ...c.areas[s] }] })).filter((c) => c.len > 0);
    images.push({ id: newLvId(vg, imageName(lv.name, s), taken), name: imageName(lv.name, s), flags: ['hidden'], segments: mergeSegments(chunksToSegments(parts, 0)) });
  }
  const seg: Segment = {
    start_extent: 0,
    extent_count: got,
    type: 'raid1',
    region_size: DEFAULT_REGION_SIZE,
    areas: images.map((i) => ({ lv: i.id, le: 0 })),
    meta_areas: metas.map((m) => ({ lv: m.id, le: 0 })),
  };
  lv.segments = [seg];
  return [...images, ...metas];
}
