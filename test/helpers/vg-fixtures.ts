// Small hand-made dvm.vg/1 documents for mutator tests.
import type { Vg } from '../../src/metadata-manip/model.js';

export const PV = (i: number) => `pv${i}aaaaaaaaaaaaaaaa`;

/** A VG of empty PVs with these PE counts, 4 MiB extents. */
export function emptyVg(peCounts: number[], flags: ('allocatable' | 'missing')[][] = []): Vg {
  return {
    format: 'dvm.vg/1',
    name: 'vg0',
    id: 'vg0idaaaaaaaaaaaaaaaaaaaaaaaaaa',
    seqno: 7,
    extent_size: 8192,
    pvs: peCounts.map((pe, i) => ({ id: PV(i), size: pe * 8192 + 2048, pe_start: 2048, pe_count: pe, flags: flags[i] ?? ['allocatable'] })),
    lvs: [],
  };
}
