// What the report reads: dvm.vg/1 and dvm.dm/1 types are shared (src/lib/vg-types.ts, src/lib/dm-types.ts).
import type { Envelope, Lv, Vg } from '../lib/vg-types.js';
export type { Area, Envelope, Lv, LvArea, Pv, PvArea, Segment, Vg } from '../lib/vg-types.js';
export { isPvArea } from '../lib/vg-types.js';

export type { DmLine, DmDevice, DmDoc as DmState } from '../lib/dm-types.js';

/** dm uuid of an LV, as vol-activate assigns it. */
export const lvUuid = (vg: Vg, lv: Lv) => `DVM-${vg.id}-${lv.id}`;
export const vgScope = (vg: Vg) => `DVM-${vg.id}`;
