// The parts of dvm.dm/1 the report reads; dvm.vg/1 types are shared (src/lib/vg-types.ts).
import type { Envelope, Lv, Vg } from '../lib/vg-types.js';
export type { Area, Envelope, Lv, LvArea, Pv, PvArea, Segment, Vg } from '../lib/vg-types.js';
export { isPvArea } from '../lib/vg-types.js';

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


/** dm uuid of an LV, as vol-activate assigns it. */
export const lvUuid = (vg: Vg, lv: Lv) => `DVM-${vg.id}-${lv.id}`;
export const vgScope = (vg: Vg) => `DVM-${vg.id}`;
