// Semantic checks on a dvm.vg/1 document that JSON Schema cannot express:
// unique ids and names, contiguous segments, every area inside its PV or
// sub-LV, no extent mapped twice, no LV reaching itself through its sub-LVs.
// Pure; tm, the mutators and every consumer of dvm.vg/1 or dvm.envelope/1 share it.
import { isPowerOfTwo } from './units.js';
import { isPvArea, type Envelope, type Lv, type Segment, type Vg } from './vg-types.js';

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
  if (!isPowerOfTwo(vg.extent_size)) problems.push(`extent size ${vg.extent_size} is not a power of two`);
  const lvs = new Map<string, Lv>();
  const names = new Set<string>();
  for (const lv of vg.lvs) {
    if (lvs.has(lv.id)) problems.push(`LV id ${lv.id} is listed twice`);
    if (names.has(lv.name)) problems.push(`LV name ${lv.name} is used twice`);
    lvs.set(lv.id, lv);
    names.add(lv.name);
  }
  const merging = new Set<string>();
  for (const lv of vg.lvs) {
    if (!lv.snapshot) continue;
    const o = lvs.get(lv.snapshot.origin);
    if (!o || o === lv) problems.push(`LV ${lv.name}: snapshot of unknown LV ${lv.snapshot.origin}`);
    else if (o.snapshot) problems.push(`LV ${lv.name}: snapshot of snapshot ${o.name}`);
    if (!isPowerOfTwo(lv.snapshot.chunk_size)) problems.push(`LV ${lv.name}: chunk size ${lv.snapshot.chunk_size} is not a power of two`);
    if (lv.snapshot.merging) {
      if (merging.has(lv.snapshot.origin)) problems.push(`LV ${lv.name}: a second snapshot merging into ${o?.name ?? lv.snapshot.origin}`);
      merging.add(lv.snapshot.origin);
    }
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
      if (seg.region_size !== undefined && !isPowerOfTwo(seg.region_size)) problems.push(`${where()}: region size ${seg.region_size} is not a power of two`);
      if (seg.stripe_size !== undefined && !isPowerOfTwo(seg.stripe_size)) problems.push(`${where()}: stripe size ${seg.stripe_size} is not a power of two`);
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
  const cycle = subLvCycle(vg);
  if (cycle) problems.push(`LV ${cycle.join(' -> ')}: sub-LVs reference each other in a cycle`);
  for (const lv of lvList) {
    const n = lvExtents(lv);
    if (!Number.isSafeInteger(n * vg.extent_size)) problems.push(`LV ${lv.name}: ${n} extents of ${vg.extent_size} sectors is beyond 2^53 sectors`);
  }
  return problems;
}

/**
 * The names along the first cycle of sub-LV references (a self-reference is a
 * cycle of one), or null. Iterative, so a long chain cannot overflow the stack:
 * the tools that walk the graph afterwards (activation, removal) rely on this.
 */
export function subLvCycle(vg: Vg): string[] | null {
  // Most VGs have no sub-LVs at all (no raid, no mirror): then there is no
  // graph to walk, and no per-LV map and lists to build (~10 ms at 10,000 LVs).
  if (!vg.lvs.some((l) => l.segments.some((s) => s.meta_areas?.length || s.areas.some((a) => !isPvArea(a))))) return null;
  const byId = new Map(vg.lvs.map((l) => [l.id, l]));
  const subs = (lv: Lv) => {
    const out: Lv[] = [];
    for (const s of lv.segments) {
      for (const a of s.areas) if (!isPvArea(a)) { const c = byId.get(a.lv); if (c) out.push(c); }
      for (const m of s.meta_areas ?? []) { const c = byId.get(m.lv); if (c) out.push(c); }
    }
    return out;
  };
  const state = new Map<Lv, 1 | 2>(); // 1: on the current path, 2: finished
  for (const root of vg.lvs) {
    if (state.has(root)) continue;
    const stack: { lv: Lv; next: Lv[]; i: number }[] = [{ lv: root, next: subs(root), i: 0 }];
    state.set(root, 1);
    while (stack.length) {
      const top = stack[stack.length - 1];
      if (top.i >= top.next.length) {
        state.set(top.lv, 2);
        stack.pop();
        continue;
      }
      const c = top.next[top.i++];
      const st = state.get(c);
      if (st === 1) {
        const from = stack.findIndex((f) => f.lv === c);
        return [...stack.slice(from).map((f) => f.lv.name), c.name];
      }
      if (st === undefined) {
        state.set(c, 1);
        stack.push({ lv: c, next: subs(c), i: 0 });
      }
    }
  }
  return null;
}

/** checkVg for an envelope: the VG, and devices/missing naming PVs of it. */
export function checkEnvelope(env: Envelope): string[] {
  const problems = checkVg(env.vg);
  const ids = new Set(env.vg.pvs.map((p) => p.id));
  for (const id of Object.keys(env.devices)) if (!ids.has(id)) problems.push(`devices names PV ${id}, which is not in the VG`);
  for (const id of env.missing) {
    if (!ids.has(id)) problems.push(`missing names PV ${id}, which is not in the VG`);
    else if (Object.hasOwn(env.devices, id)) problems.push(`PV ${id} is both missing and at ${env.devices[id]}`);
  }
  return problems;
}
