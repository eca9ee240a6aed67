// PV membership changes on a dvm.vg/1 document (the metadata half of
// `tm add` / `tm remove` and of recording a PV as missing). Pure: each
// function returns a new document and throws a ToolError when refused.
import { failed } from '../lib/errors.js';
import { isPvArea, type Pv, type Vg } from '../lib/vg-types.js';

/** Extents of PV `id` that some LV maps (0 when it is free to go). */
export function extentsUsedOn(vg: Vg, id: string): number {
  let n = 0;
  for (const lv of vg.lvs)
    for (const seg of lv.segments) {
      const len = seg.type === 'striped' ? seg.extent_count / seg.areas.length : seg.extent_count;
      for (const a of seg.areas) if (isPvArea(a) && a.pv === id) n += len;
    }
  return n;
}

export function addPvs(vg: Vg, pvs: Pv[]): Vg {
  for (const pv of pvs) if (vg.pvs.some((p) => p.id === pv.id)) throw failed('PV', pv.id, `already in VG '${vg.name}'`);
  return { ...vg, pvs: [...vg.pvs, ...pvs] };
}

/** Remove PVs that hold no extents; refuse (naming the first) otherwise. */
export function removePvs(vg: Vg, ids: string[]): Vg {
  for (const id of ids) {
    if (!vg.pvs.some((p) => p.id === id)) throw failed('PV', id, `not in VG '${vg.name}'`);
    const used = extentsUsedOn(vg, id);
    if (used) throw failed('PV', id, `still holds ${used} extents of VG '${vg.name}'; move or remove those LVs first`);
  }
  if (ids.length >= vg.pvs.length) throw failed('VG', vg.name, 'cannot remove its last PV');
  return { ...vg, pvs: vg.pvs.filter((p) => !ids.includes(p.id)) };
}

function setMissing(vg: Vg, ids: string[], missing: boolean): Vg {
  return {
    ...vg,
    pvs: vg.pvs.map((p) => {
      if (!ids.includes(p.id)) return p;
      const flags = p.flags.filter((f) => f !== 'missing');
      return { ...p, flags: missing ? [...flags, 'missing'] : flags };
    }),
  };
}
export const markMissing = (vg: Vg, ids: string[]) => setMissing(vg, ids, true);
export const unmarkMissing = (vg: Vg, ids: string[]) => setMissing(vg, ids, false);

/**
 * What to do with PVs that are absent (LVM's vgreduce --removemissing without
 * --force): drop those that hold nothing, record the rest as missing.
 */
export function dropOrMarkMissing(vg: Vg, absent: string[]): Vg {
  const empty = absent.filter((id) => extentsUsedOn(vg, id) === 0);
  const used = absent.filter((id) => !empty.includes(id));
  const marked = markMissing(vg, used);
  return empty.length && empty.length < marked.pvs.length ? { ...marked, pvs: marked.pvs.filter((p) => !empty.includes(p.id)) } : marked;
}

/**
 * Move the data start of the PVs in `by` (PV id -> extents) past their first
 * extents, which must be free: every LV keeps its sectors (its pe numbers go
 * down as pe_start goes up), so no table changes. The metadata half of
 * `tm grow-metadata`.
 */
export function moveDataStart(vg: Vg, by: Map<string, number>): Vg {
  for (const lv of vg.lvs)
    for (const seg of lv.segments) {
      const len = seg.type === 'striped' ? seg.extent_count / seg.areas.length : seg.extent_count;
      for (const a of seg.areas) {
        const k = isPvArea(a) ? (by.get(a.pv) ?? 0) : 0;
        if (isPvArea(a) && a.pe < k) throw failed('PV', a.pv, `extents ${a.pe}..${Math.min(a.pe + len, k) - 1} are used by LV '${lv.name}'; the first ${k} extents must be free to move the data start (nothing written)`);
      }
    }
  const shift = (pv: string, pe: number) => pe - (by.get(pv) ?? 0);
  return {
    ...vg,
    pvs: vg.pvs.map((p) => {
      const k = by.get(p.id) ?? 0;
      if (k && k >= p.pe_count) throw failed('PV', p.id, `has ${p.pe_count} extents; moving its data start by ${k} would leave none (nothing written)`);
      return k ? { ...p, pe_start: p.pe_start + k * vg.extent_size, pe_count: p.pe_count - k } : p;
    }),
    lvs: vg.lvs.map((lv) => ({ ...lv, segments: lv.segments.map((s) => ({ ...s, areas: s.areas.map((a) => (isPvArea(a) ? { ...a, pe: shift(a.pv, a.pe) } : a)) })) })),
  } as Vg;
}
