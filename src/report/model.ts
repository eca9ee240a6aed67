// The parts of dvm.vg/1 and dvm.dm/1 the report reads.
export interface PvArea { pv: string; pe: number }
export interface LvArea { lv: string; le: number }
export type Area = PvArea | LvArea;
export interface Segment {
  start_extent: number;
  extent_count: number;
  type: 'linear' | 'striped' | 'raid1' | 'error' | 'zero';
  stripe_size?: number;
  region_size?: number;
  areas: Area[];
  meta_areas?: LvArea[];
}
export interface Lv { id: string; name: string; flags: string[]; segments: Segment[] }
export interface Pv { id: string; size: number; pe_start: number; pe_count: number; flags: string[] }
export interface Vg {
  format: 'dvm.vg/1';
  name: string;
  id: string;
  seqno: number;
  extent_size: number;
  description?: string;
  pvs: Pv[];
  lvs: Lv[];
}
export interface Envelope { format: 'dvm.envelope/1'; vg: Vg; devices: Record<string, string>; missing: string[] }

export interface DmLine { start: number; length: number; target: string; params: string }
export interface DmDevice {
  name: string;
  uuid: string;
  table: DmLine[];
  inactive_table?: DmLine[] | null;
  status?: DmLine[];
  suspended?: boolean;
  open_count?: number;
  major?: number;
  minor?: number;
}
export interface DmState { format: 'dvm.dm/1'; scope: string; devices: DmDevice[] }

export const isPvArea = (a: Area): a is PvArea => 'pv' in a;

/** dm uuid of an LV, as vol-activate assigns it. */
export const lvUuid = (vg: Vg, lv: Lv) => `DVM-${vg.id}-${lv.id}`;
export const vgScope = (vg: Vg) => `DVM-${vg.id}`;
