// The property tests' own checker of a dvm.vg/1 document: independent of the
// allocator's bookkeeping (a bitmap per PV), so that it can catch it lying.
import { validate } from '../../src/lib/schema.js';
import type { Lv, Segment, Vg } from '../../src/metadata-manip/model.js';

const perArea = (s: Segment) => (s.type === 'striped' ? s.extent_count / s.areas.length : s.extent_count);

/** Every violated invariant, as readable lines; empty when the document is sound. */
export function vgProblems(vg: Vg): string[] {
  const bad: string[] = [];
  try {
    validate('dvm.vg/1', vg);
  } catch (e) {
    bad.push(`schema: ${(e as Error).message}`);
  }
  const maps = new Map(vg.pvs.map((p) => [p.id, new Uint8Array(p.pe_count)]));
  const byId = new Map<string, Lv>();
  const names = new Set<string>();
  let mapped = 0;
  for (const lv of vg.lvs) {
    if (byId.has(lv.id)) bad.push(`LV id ${lv.id} used twice`);
    if (names.has(lv.name)) bad.push(`LV name ${lv.name} used twice`);
    byId.set(lv.id, lv);
    names.add(lv.name);
    if (lv.tags && (lv.tags.length === 0 || lv.tags.some((t, i) => i > 0 && lv.tags![i - 1] >= t))) bad.push(`${lv.name} tags not sorted and unique (or an empty list): ${lv.tags.join(',')}`);
  }
  // Snapshots: of an LV that exists and is no snapshot itself, a visible LV; one merge per origin at most.
  const merging = new Set<string>();
  for (const lv of vg.lvs) {
    if (!lv.snapshot) continue;
    const o = byId.get(lv.snapshot.origin);
    if (!o) bad.push(`snapshot ${lv.name}: origin ${lv.snapshot.origin} is not in the VG`);
    else if (o.snapshot) bad.push(`snapshot ${lv.name}: origin ${o.name} is itself a snapshot`);
    if (lv.flags.includes('hidden')) bad.push(`snapshot ${lv.name} is hidden`);
    if (lv.snapshot.merging) {
      if (merging.has(lv.snapshot.origin)) bad.push(`two snapshots merging into ${o?.name ?? lv.snapshot.origin}`);
      merging.add(lv.snapshot.origin);
    }
  }
  for (const lv of vg.lvs) {
    let next = 0;
    for (const [i, s] of lv.segments.entries()) {
      if (s.start_extent !== next) bad.push(`${lv.name} segment ${i} starts at ${s.start_extent}, expected ${next}`);
      next = s.start_extent + s.extent_count;
      if (s.type === 'linear' && s.areas.length !== 1) bad.push(`${lv.name} segment ${i}: linear with ${s.areas.length} areas`);
      if (s.type === 'striped') {
        if (s.areas.length < 2 || s.extent_count % s.areas.length) bad.push(`${lv.name} segment ${i}: ${s.extent_count} extents over ${s.areas.length} stripes`);
        if (!s.stripe_size || s.stripe_size & (s.stripe_size - 1)) bad.push(`${lv.name} segment ${i}: stripe size ${s.stripe_size}`);
        const pvs = s.areas.map((a) => ('pv' in a ? a.pv : a.lv));
        if (new Set(pvs).size !== pvs.length) bad.push(`${lv.name} segment ${i}: two stripes on one PV`);
      }
      const len = perArea(s);
      for (const a of s.areas) {
        if ('pv' in a) {
          const m = maps.get(a.pv);
          if (!m) {
            bad.push(`${lv.name} maps unknown PV ${a.pv}`);
            continue;
          }
          if (a.pe + len > m.length) bad.push(`${lv.name} maps ${a.pv}:${a.pe}+${len} beyond pe_count ${m.length}`);
          for (let pe = a.pe; pe < Math.min(a.pe + len, m.length); pe++) {
            if (m[pe]) bad.push(`${a.pv}:${pe} mapped twice (${lv.name})`);
            m[pe] = 1;
            mapped++;
          }
        } else {
          const sub = byId.get(a.lv);
          if (!sub) bad.push(`${lv.name} references missing LV ${a.lv}`);
          else if (a.le + len > extents(sub)) bad.push(`${lv.name} uses ${sub.name} ${a.le}+${len} beyond its ${extents(sub)} extents`);
        }
      }
      if (i > 0 && continues(lv.segments[i - 1], s)) bad.push(`${lv.name} segments ${i - 1} and ${i} should have been merged`);
    }
    if (next !== extents(lv)) bad.push(`${lv.name}: segments cover ${next}, LV has ${extents(lv)}`);
    if (lv.segments[0]?.type === 'raid1') bad.push(...raidProblems(vg, lv, byId));
  }
  let free = 0;
  for (const m of maps.values()) for (const b of m) if (!b) free++;
  const total = vg.pvs.reduce((a, p) => a + p.pe_count, 0);
  if (free + mapped !== total) bad.push(`free ${free} + allocated ${mapped} != total ${total}`);
  return bad;
}

function extents(lv: Lv): number {
  return lv.segments.reduce((a, s) => a + s.extent_count, 0);
}

function continues(a: Segment, b: Segment): boolean {
  if (a.type !== b.type || a.areas.length !== b.areas.length || a.stripe_size !== b.stripe_size || (a.type !== 'linear' && a.type !== 'striped')) return false;
  return a.areas.every((x, i) => {
    const y = b.areas[i];
    return 'pv' in x && 'pv' in y && x.pv === y.pv && x.pe + perArea(a) === y.pe;
  });
}

function pvsOf(lv: Lv): Set<string> {
  return new Set(lv.segments.flatMap((s) => s.areas.flatMap((a) => ('pv' in a ? [a.pv] : []))));
}

/** raid1: one segment, images the LV's size, one-extent metadata on the leg's PV, legs on distinct PVs. */
function raidProblems(vg: Vg, lv: Lv, byId: Map<string, Lv>): string[] {
  const bad: string[] = [];
  const seg = lv.segments[0];
  if (lv.segments.length !== 1) bad.push(`${lv.name}: raid1 with ${lv.segments.length} segments`);
  const images = seg.areas.map((a) => ('lv' in a ? byId.get(a.lv) : undefined));
  const metas = (seg.meta_areas ?? []).map((a) => byId.get(a.lv));
  if (images.length !== metas.length) bad.push(`${lv.name}: ${images.length} images, ${metas.length} metadata LVs`);
  const legPvs: Set<string>[] = [];
  images.forEach((img, i) => {
    const meta = metas[i];
    if (!img || !meta) return;
    if (extents(img) !== seg.extent_count) bad.push(`${img.name} has ${extents(img)} extents, ${lv.name} ${seg.extent_count}`);
    if (extents(meta) !== 1) bad.push(`${meta.name} has ${extents(meta)} extents`);
    if (img.name !== `${lv.name}_rimage_${i}` || meta.name !== `${lv.name}_rmeta_${i}`) bad.push(`${lv.name} leg ${i} named ${img.name}/${meta.name}`);
    if (!img.flags.includes('hidden') || !meta.flags.includes('hidden')) bad.push(`${lv.name} leg ${i} not hidden`);
    legPvs.push(new Set([...pvsOf(img), ...pvsOf(meta)]));
  });
  for (let i = 0; i < legPvs.length; i++)
    for (let j = i + 1; j < legPvs.length; j++) for (const pv of legPvs[i]) if (legPvs[j].has(pv)) bad.push(`${lv.name} legs ${i} and ${j} share PV ${pv}`);
  void vg;
  return bad;
}
