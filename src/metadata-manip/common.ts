import { failed, usageError } from '../lib/errors.js';
import { isValidName } from '../lib/names.js';
import { formatSize, sectors } from '../lib/units.js';
import { AllocationError, allocate, type AllocRequest, type Chunk } from './allocator.js';
import { totalFree, vgFreeExtents, type FreeMap, type Range } from './free-space.js';
import { findLv, isPvArea, isReservedName, type Lv, type Vg } from './model.js';
import type { SizeBases } from './sizes.js';

/** What every mutator returns: the new document and lines for stderr. */
export interface MutatorResult {
  vg: Vg;
  notes: string[];
}

export const extentsText = (vg: Vg, n: number) => `${n} extent${n === 1 ? '' : 's'} (${formatSize(sectors(n * vg.extent_size))})`;

/** LVM: "Insufficient free space: N extents needed, but only M available". */
export function needSpace(vg: Vg, fm: FreeMap, needed: number, what: string, name: string): void {
  const free = totalFree(fm);
  if (needed > free) throw failed(what, name, `insufficient free space: ${extentsText(vg, needed)} needed, but only ${extentsText(vg, free)} free`);
}

/** Allocation that fails although enough extents are free: they are on too few PVs. */
export function allocateOrFail(vg: Vg, fm: FreeMap, req: AllocRequest, what: string, name: string): Chunk[] {
  try {
    return allocate(fm, req);
  } catch (e) {
    if (!(e instanceof AllocationError)) throw e;
    const kind = req.legPvs ? 'mirror legs' : req.areas > 1 ? 'stripes' : 'areas';
    throw failed(what, name, `insufficient suitable allocatable extents: ${req.areas} ${kind} of ${extentsText(vg, req.perArea)} each must lie on ${req.areas} different PVs`);
  }
}

/**
 * What N%FREE, N%VG and N%PVS are of, as LVM counts: the VG's free extents
 * (allocatable or not), all its extents, the extents of the PVs named with
 * --pv (or all). Percentages allocate "up to", so the rest is the allocator's.
 */
export function sizeBases(vg: Vg, pvArgs?: { pv: string }[], used?: Map<string, Range[]>): SizeBases {
  const all = vg.pvs.reduce((n, p) => n + p.pe_count, 0);
  const named = new Set((pvArgs ?? []).map((r) => r.pv));
  return { FREE: vgFreeExtents(vg, used), VG: all, PVS: named.size ? vg.pvs.filter((p) => named.has(p.id)).reduce((n, p) => n + p.pe_count, 0) : all };
}

/** A name a user may give an LV, not taken in this VG. */
export function checkNewName(vg: Vg, name: string, what: string, subNames: string[] = []): void {
  if (!isValidName(name)) throw usageError(what, name, 'invalid name (use A-Z a-z 0-9 + _ . -, not starting with -, at most 127 characters)');
  if (isReservedName(name)) throw usageError(what, name, "names ending in _rimage_N or _rmeta_N are reserved for mirror images");
  for (const n of [name, ...subNames]) {
    if (!isValidName(n)) throw usageError(what, name, `the sub-LV name '${n}' it implies is too long`);
    if (findLv(vg, n)) throw failed(what, name, `logical volume '${n}' already exists in volume group '${vg.name}'`);
  }
}

/** The LV a user named: it must exist and be a top-level (visible) one. */
export function userLv(vg: Vg, name: string, what: string): Lv {
  const lv = findLv(vg, name);
  if (!lv) throw failed(what, name, `no such logical volume in volume group '${vg.name}'`);
  const parent = parentOf(vg, lv);
  if (parent) throw failed(what, name, `is a hidden sub-LV of '${parent.name}'; name '${parent.name}' instead`);
  return lv;
}

export function parentOf(vg: Vg, lv: Lv): Lv | undefined {
  return vg.lvs.find((l) => l.segments.some((s) => [...s.areas, ...(s.meta_areas ?? [])].some((a) => !isPvArea(a) && a.lv === lv.id)));
}

/** The LV and every sub-LV under it, top first. */
export function withSubLvs(vg: Vg, lv: Lv): Lv[] {
  const byId = new Map(vg.lvs.map((l) => [l.id, l]));
  const out: Lv[] = [];
  const visit = (l: Lv) => {
    if (out.includes(l)) return;
    out.push(l);
    for (const s of l.segments)
      for (const a of [...s.areas, ...(s.meta_areas ?? [])]) {
        const sub = isPvArea(a) ? undefined : byId.get(a.lv);
        if (sub) visit(sub);
      }
  };
  visit(lv);
  return out;
}
