// LV segments → dm table lines, written exactly as the kernel prints them back
// (DM_TABLE_STATUS with STATUS_TABLE), so that dmactivate can compare a desired
// table with the live one byte for byte and a converged VG plans nothing.
import { isPowerOfTwo } from '../lib/units.js';
import { failed } from '../lib/errors.js';
import { DM_REF_PREFIX, tableLine, type TableLine } from '../lib/dm-table.js';
import { isPvArea, type Area, type Lv, type Segment, type Vg } from '../lib/vg-types.js';

/** LVM's default raid region: 2 MiB (lvm.conf raid_region_size = 2048 KiB). */
export const DEFAULT_REGION_SIZE = 4096;

export interface TableContext {
  vg: Vg;
  /** "maj:min" of a present PV, or null when it is missing */
  pvDev: (pvId: string) => string | null;
  /** dm name of a sub-LV's device */
  lvDmName: (lv: Lv) => string;
  lvById: (id: string) => Lv | undefined;
  partial: boolean;
}

/** What building an LV's table needs besides the lines: sub-LVs and filler devices. */
export interface TableResult {
  lines: TableLine[];
  /** sub-LVs this table references (raid images and metadata, LV areas) */
  subLvs: Lv[];
  /** error devices standing in for missing stripes: name suffix and length */
  fillers: { suffix: string; length: number }[];
}

const isPow2 = isPowerOfTwo;

export function lvTable(lv: Lv, ctx: TableContext): TableResult {
  const es = ctx.vg.extent_size;
  const out: TableResult = { lines: [], subLvs: [], fillers: [] };
  const segs = [...lv.segments].sort((a, b) => a.start_extent - b.start_extent);
  let next = 0;
  segs.forEach((seg, si) => {
    if (seg.start_extent !== next) throw failed('LV', lv.name, `segments leave a gap or overlap at extent ${next}`);
    next = seg.start_extent + seg.extent_count;
    const start = seg.start_extent * es;
    const length = seg.extent_count * es;
    if (!Number.isSafeInteger(start + length)) throw failed('LV', lv.name, 'size beyond 2^53 sectors');
    out.lines.push(segmentLine(lv, seg, si, start, length, ctx, out));
  });
  return out;
}

function segmentLine(lv: Lv, seg: Segment, si: number, start: number, length: number, ctx: TableContext, out: TableResult): TableLine {
  const es = ctx.vg.extent_size;
  const line = (target: string, params: string): TableLine => tableLine(start, length, target, params);
  switch (seg.type) {
    case 'error':
    case 'zero':
      return line(seg.type, '');
    case 'linear': {
      if (seg.areas.length !== 1) throw failed('LV', lv.name, `linear segment at extent ${seg.start_extent} has ${seg.areas.length} areas`);
      const where = areaRef(lv, seg.areas[0], ctx, out);
      return where === null ? line('error', '') : line('linear', where);
    }
    case 'striped': {
      const n = seg.areas.length;
      const chunk = seg.stripe_size;
      if (n === 0) throw failed('LV', lv.name, `striped segment at extent ${seg.start_extent} has no areas`);
      if (n === 1) {
        // LVM maps a one-stripe segment as linear; so do we, so the tables compare.
        const where = areaRef(lv, seg.areas[0], ctx, out);
        return where === null ? line('error', '') : line('linear', where);
      }
      if (chunk === undefined || !isPow2(chunk) || chunk < 8) throw failed('LV', lv.name, `striped segment at extent ${seg.start_extent} needs a power-of-two stripe_size of at least 8 sectors`);
      if (seg.extent_count % n !== 0 || ((seg.extent_count / n) * es) % chunk !== 0)
        throw failed('LV', lv.name, `striped segment at extent ${seg.start_extent}: ${seg.extent_count} extents do not divide into ${n} stripes of whole ${chunk}-sector chunks`);
      const perStripe = (seg.extent_count / n) * es;
      const parts = seg.areas.map((a, ai) => {
        const where = areaRef(lv, a, ctx, out);
        if (where !== null) return where;
        // As LVM's missing_stripe_filler: an error device in place of the stripe.
        const suffix = `missing_${si}_${ai}`;
        out.fillers.push({ suffix, length: perStripe });
        return `${DM_REF_PREFIX}${ctx.lvDmName(lv)}-${suffix} 0`;
      });
      return line('striped', `${n} ${chunk} ${parts.join(' ')}`);
    }
    case 'raid1':
      return raid1Line(lv, seg, start, length, ctx, out);
  }
}

/** `<dev> <offset>` for an area, or null when it lies on a missing PV (with --partial). */
function areaRef(lv: Lv, a: Area, ctx: TableContext, out: TableResult): string | null {
  const es = ctx.vg.extent_size;
  if (isPvArea(a)) {
    const pv = ctx.vg.pvs.find((p) => p.id === a.pv);
    if (!pv) throw failed('LV', lv.name, `area on unknown PV '${a.pv}'`);
    const dev = ctx.pvDev(a.pv);
    if (dev === null) {
      if (ctx.partial) return null;
      throw failed('LV', lv.name, `PV '${a.pv}' is missing (use --partial to map its areas to the error target)`);
    }
    return `${dev} ${pv.pe_start + a.pe * es}`;
  }
  const sub = ctx.lvById(a.lv);
  if (!sub) throw failed('LV', lv.name, `area on unknown LV '${a.lv}'`);
  if (!out.subLvs.includes(sub)) out.subLvs.push(sub);
  return `${DM_REF_PREFIX}${ctx.lvDmName(sub)} ${a.le * es}`;
}

/** Whether a (linear) sub-LV lies wholly on present PVs. */
function lvPresent(lv: Lv, ctx: TableContext): boolean {
  return lv.segments.every((s) => s.areas.every((a) => (isPvArea(a) ? ctx.pvDev(a.pv) !== null : lvPresentById(a.lv, ctx))));
}
const lvPresentById = (id: string, ctx: TableContext): boolean => {
  const l = ctx.lvById(id);
  return l !== undefined && lvPresent(l, ctx);
};

/**
 * dm-raid raid1: `raid1 <#params> <chunk> region_size <R> <#legs> (<meta> <data>)+`.
 * The kernel prints #params = 3 (chunk, and the region_size pair) and chunk 0 for
 * raid1, as LVM passes it. A leg on a missing PV becomes `- -` (the array runs
 * degraded, as LVM's default activation_mode=degraded does); with no leg left the
 * LV maps to error under --partial and fails otherwise.
 */
function raid1Line(lv: Lv, seg: Segment, start: number, length: number, ctx: TableContext, out: TableResult): TableLine {
  const metas = seg.meta_areas ?? [];
  if (seg.start_extent !== 0 || lv.segments.length !== 1) throw failed('LV', lv.name, 'a raid1 LV must have exactly one segment');
  if (seg.areas.length < 1 || metas.length !== seg.areas.length) throw failed('LV', lv.name, 'raid1 needs one metadata area per image');
  const region = seg.region_size ?? DEFAULT_REGION_SIZE;
  if (!isPow2(region) || region < 8) throw failed('LV', lv.name, `raid1 region_size ${region} is not a power of two of at least 8 sectors`);
  const legs: string[] = [];
  let present = 0;
  seg.areas.forEach((a, i) => {
    const m = metas[i];
    if (isPvArea(a)) throw failed('LV', lv.name, 'raid1 images must be sub-LVs');
    const image = ctx.lvById(a.lv);
    const meta = ctx.lvById(m.lv);
    if (!image || !meta) throw failed('LV', lv.name, `raid1 leg ${i} references an unknown sub-LV`);
    if (a.le !== 0 || m.le !== 0) throw failed('LV', lv.name, `raid1 leg ${i} must start at extent 0 of its sub-LVs`);
    const imageLen = image.segments.reduce((n, s) => n + s.extent_count, 0);
    if (imageLen < seg.extent_count) throw failed('LV', lv.name, `raid1 image '${image.name}' is shorter than the LV`);
    if (!lvPresent(image, ctx) || !lvPresent(meta, ctx)) {
      legs.push('- -');
      return;
    }
    present++;
    for (const sub of [meta, image]) if (!out.subLvs.includes(sub)) out.subLvs.push(sub);
    legs.push(`${DM_REF_PREFIX}${ctx.lvDmName(meta)} ${DM_REF_PREFIX}${ctx.lvDmName(image)}`);
  });
  if (present === 0) {
    if (!ctx.partial) throw failed('LV', lv.name, 'every raid1 leg is on a missing PV (use --partial to map it to the error target)');
    out.subLvs.length = 0;
    return tableLine(start, length, 'error');
  }
  return tableLine(start, length, 'raid', `raid1 3 0 region_size ${region} ${seg.areas.length} ${legs.join(' ')}`);
}
