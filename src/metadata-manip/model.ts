import { sha256 } from '../lib/sha256.js';

/** The dvm.vg/1 document (schemas/vg.v1.schema.json): one set of types, shared. */
import { isPvArea, type Area, type Lv, type Segment, type Vg } from '../lib/vg-types.js';
export type { Area, Lv, LvArea, Pv, PvArea, Segment, Vg } from '../lib/vg-types.js';
export { isPvArea } from '../lib/vg-types.js';
export type SegmentType = Segment['type'];

/** LVM's defaults: 64 KiB stripes, 2 MiB raid regions (lib/config/defaults.h). */
export const DEFAULT_STRIPE_SIZE = 128;
export const DEFAULT_REGION_SIZE = 4096;

export const lvExtents = (lv: Lv): number => lv.segments.reduce((n, s) => n + s.extent_count, 0);
export const lastSegment = (lv: Lv): Segment => lv.segments[lv.segments.length - 1];
/** Extents each area of a segment holds: striped spreads the count over its areas. */
export const areaLength = (seg: Segment): number => (seg.type === 'striped' ? seg.extent_count / seg.areas.length : seg.extent_count);

/** Sub-LV names LVM reserves for raid images and their metadata. */
const RESERVED_RE = /_(rimage|rmeta)_\d+$/;
export const isReservedName = (name: string): boolean => RESERVED_RE.test(name);
export const imageName = (lv: string, i: number) => `${lv}_rimage_${i}`;
export const metaName = (lv: string, i: number) => `${lv}_rmeta_${i}`;

export const findLv = (vg: Vg, name: string): Lv | undefined => vg.lvs.find((l) => l.name === name);
export const lvById = (vg: Vg, id: string): Lv | undefined => vg.lvs.find((l) => l.id === id);

/** The hidden sub-LVs a raid1 LV is built from, images then metadata, in leg order. */
export function raidLegs(vg: Vg, lv: Lv): { images: Lv[]; metas: Lv[] } {
  const seg = lv.segments[0];
  const byId = new Map(vg.lvs.map((l) => [l.id, l]));
  const get = (a: Area) => {
    const sub = isPvArea(a) ? undefined : byId.get(a.lv);
    if (!sub) throw new Error(`raid1 LV ${lv.name} references a missing sub-LV`);
    return sub;
  };
  return { images: seg.areas.map(get), metas: (seg.meta_areas ?? []).map(get) };
}

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/**
 * A new LV id that depends only on the input (same input, same bytes out):
 * sha256 over the VG id, seqno, LV name and a counter, mapped to 32 characters
 * of [0-9A-Za-z]. The counter steps past the (astronomically unlikely) clash.
 */
export function newLvId(vg: Vg, name: string, taken: Set<string>): string {
  for (let counter = 0; ; counter++) {
    const h = sha256(`${vg.id}\0${vg.seqno}\0${name}\0${counter}`);
    let id = '';
    for (let i = 0; i < 32; i++) id += ALPHABET[h[i] % 62];
    if (!taken.has(id)) {
      taken.add(id);
      return id;
    }
  }
}

/**
 * A copy of the VG that shares its LVs with the input, so that a change to a
 * 10,000-LV VG does not copy 10,000 LVs. Whatever a mutator changes it first
 * takes with own(); the input is never written to.
 */
export function shallowCopy(vg: Vg): Vg {
  return { ...vg, pvs: vg.pvs.map((p) => ({ ...p, flags: [...p.flags] })), lvs: [...vg.lvs] };
}

/** Swap an LV of a shallowCopy for a deep copy of it, to be changed freely. */
export function own(vg: Vg, lv: Lv): Lv {
  const copy = structuredClone(lv);
  vg.lvs[vg.lvs.indexOf(lv)] = copy;
  return copy;
}
