// What the report reads: dvm.vg/1 and dvm.dm/1 types are shared (src/lib/vg-types.ts, src/lib/dm-doc.ts).
export type { Area, Envelope, Lv, LvArea, Pv, PvArea, Segment, Vg } from '../lib/vg-types.js';
export { isPvArea } from '../lib/vg-types.js';

export type { DmDevice, DmDoc } from '../lib/dm-doc.js';

