// The parts of dvm.vg/1 and dvm.envelope/1 that activation reads
// (schemas/vg.v1.schema.json, schemas/envelope.v1.schema.json).

export interface PvArea {
  pv: string;
  pe: number;
}
export interface LvArea {
  lv: string;
  le: number;
}
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

export interface Lv {
  id: string;
  name: string;
  flags: ('hidden' | 'read_only')[];
  segments: Segment[];
}

export interface Pv {
  id: string;
  size: number;
  pe_start: number;
  pe_count: number;
  flags: ('allocatable' | 'missing')[];
}

export interface Vg {
  format: 'dvm.vg/1';
  name: string;
  id: string;
  seqno: number;
  extent_size: number;
  pvs: Pv[];
  lvs: Lv[];
}

export interface Envelope {
  format: 'dvm.envelope/1';
  vg: Vg;
  devices: Record<string, string>;
  missing: string[];
}

export const isPvArea = (a: Area): a is PvArea => 'pv' in a;
