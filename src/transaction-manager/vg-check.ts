// Semantic checks on a dvm.vg/1 document that JSON Schema cannot express:
// unique ids and names, contiguous segments, every area inside its PV or
// sub-LV, and no extent mapped twice. Pure; tm checks every generation it reads and writes.
import { isPvArea, type Lv, type Segment, type Vg } from '../lib/vg-types.js';

/** Extents each area of a segment covers. */
export function areaLength(seg: Segment): number {
  if (seg.type === 'striped') return seg.areas.length ? seg.extent_count / seg.areas.length : 0;
  return seg.extent_count; // linear: one area; raid1: every image is a full copy
}

export const lvExtents = (lv: Lv) => lv.segments.reduce((n, s) => n + s.extent_count, 0);

/** All problems found, each a short phrase naming the object; empty when valid. */
export function checkVg(vg: Vg): string[] {
  const problems: string[] = [];
  const pvs = new Map<string, Vg['pvs'][number]>();
  for (const pv of vg.pvs) {
    if (pvs.has(pv.id)) problems.push(`PV id ${pv.id} is listed twice`);
    pvs.set(pv.id, pv);
    if (pv.pe_start + pv.pe_count * vg.extent_size > pv.size) problems.push(`PV ${pv.id}: ${pv.pe_count} extents from sector ${pv.pe_start} exceed its size ${pv.size}`);
  }
  if (vg.extent_size & (vg.extent_size - 1)) problems.push(`extent size ${vg.extent_size} is not a power of two`);
  const lvs = new Map<string, Lv>();
  const names = new Set<string>();
  for (const lv of vg.lvs) {
    if (lvs.has(lv.id)) problems.push(`LV id ${lv.id} is listed twice`);
    if (names.has(lv.name)) problems.push(`LV name ${lv.name} is used twice`);
    lvs.set(lv.id, lv);
    names.add(lv.name);
  }
  // [start, end) ranges per PV id / sub-LV id, checked for overlap at the end.
  // Kept as flat number arrays (start, end, owner index) per key: at 10,000
  // LVs this check runs twice per tm update, so it avoids an object and a key
  // string per area and a message string per segment.
  const used = new Map<string, number[]>();
  const pvKey = new Map<string, string>();
  const use = (key: string, start: number, len: number, owner: number) => {
    let l = used.get(key);
    if (!l) used.set(key, (l = []));
    l.push(start, start + len, owner);
  };
  const lvList = vg.lvs;
  for (let li = 0; li < lvList.length; li++) {
    const lv = lvList[li];
    let next = 0;
    for (let i = 0; i < lv.segments.length; i++) {
      const seg = lv.segments[i];
      const where = () => `LV ${lv.name} segment ${i}`;
      if (seg.start_extent !== next) problems.push(`${where()} starts at extent ${seg.start_extent}, expected ${next}`);
      next = seg.start_extent + seg.extent_count;
      const n = seg.areas.length;
      if ((seg.type === 'error' || seg.type === 'zero') && n) problems.push(`${where()}: type ${seg.type} takes no areas`);
      if (seg.type === 'linear' && n !== 1) problems.push(`${where()}: linear needs exactly one area`);
      if ((seg.type === 'striped' || seg.type === 'raid1') && n < 1) problems.push(`${where()}: ${seg.type} needs areas`);
      if (seg.type === 'striped' && n && seg.extent_count % n) problems.push(`${where()}: ${seg.extent_count} extents do not divide into ${n} stripes`);
      const len = areaLength(seg);
      for (const a of seg.areas) {
        if (isPvArea(a)) {
          const pv = pvs.get(a.pv);
          if (!pv) problems.push(`${where()}: unknown PV ${a.pv}`);
          else if (a.pe + len > pv.pe_count) problems.push(`${where()}: extents ${a.pe}..${a.pe + len - 1} are past the end of PV ${a.pv} (${pv.pe_count} extents)`);
          let key = pvKey.get(a.pv);
          if (key === undefined) pvKey.set(a.pv, (key = `pv:${a.pv}`));
          use(key, a.pe, len, li);
        } else {
          const sub = lvs.get(a.lv);
          if (!sub || sub === lv) problems.push(`${where()}: unknown sub-LV ${a.lv}`);
          else if (a.le + len > lvExtents(sub)) problems.push(`${where()}: extents ${a.le}..${a.le + len - 1} are past the end of LV ${sub.name}`);
          use(`lv:${a.lv}`, a.le, len, li);
        }
      }
      for (const m of seg.meta_areas ?? []) {
        const sub = lvs.get(m.lv);
        if (!sub || sub === lv) problems.push(`${where()}: unknown metadata sub-LV ${m.lv}`);
        else if (m.le >= lvExtents(sub)) problems.push(`${where()}: metadata extent ${m.le} is past the end of LV ${sub.name}`);
      }
    }
  }
  for (const [key, flat] of used) {
    // sort range indices by start; a stable sort, as before, so the same pair is named
    const count = flat.length / 3;
    const order = new Uint32Array(count);
    for (let i = 0; i < count; i++) order[i] = i;
    let sortedAlready = true;
    for (let i = 1; i < count && sortedAlready; i++) if (flat[3 * i] < flat[3 * (i - 1)]) sortedAlready = false;
    const idx = sortedAlready ? order : Uint32Array.from([...order].sort((x, y) => flat[3 * x] - flat[3 * y]));
    for (let i = 1; i < count; i++) {
      const cur = 3 * idx[i];
      const prev = 3 * idx[i - 1];
      if (flat[cur] < flat[prev + 1]) {
        const [kind, id] = key.split(':');
        problems.push(`${kind === 'pv' ? 'PV' : 'LV'} ${id} extent ${flat[cur]} is mapped twice (LVs ${lvList[flat[prev + 2]].name} and ${lvList[flat[cur + 2]].name})`);
        break;
      }
    }
  }
  return problems;
}
