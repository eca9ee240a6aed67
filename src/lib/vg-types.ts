// TypeScript view of dvm.vg/1 (schemas/vg.v1.schema.json is the contract).
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
  /** A copy-on-write snapshot of the LV with id `origin`; its segments are the COW space. */
  snapshot?: { origin: string; chunk_size: number; merging?: boolean };
  /** LVM-style tags, sorted, unique; absent when there are none */
  tags?: string[];
  segments: Segment[];
}
export interface Pv {
  id: string;
  size: number;
  pe_start: number;
  pe_count: number;
  flags: ('allocatable' | 'missing')[];
}
export interface Origin {
  /** UTC, to the second: 2026-12-02T03:45:07Z */
  time: string;
  host: string;
  /** tm's argument vector, the mutator's included */
  command: string[];
}
export interface Vg {
  format: 'dvm.vg/1';
  name: string;
  id: string;
  seqno: number;
  extent_size: number;
  description?: string;
  /** when, where and by which command tm committed this generation (absent in older ones) */
  origin?: Origin;
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
