// A VG of linear, striped and raid1 LVs (as the mutators lay them out) for activation tests.
import type { Envelope } from '../../src/lib/vg-types.js';

export const VG_ID = 'VGid000000000000000000000000000A';
export const PV = ['PVid0000000000000000000000000001', 'PVid0000000000000000000000000002', 'PVid0000000000000000000000000003'];
export const LV = {
  lin: 'LVlin00000000000000000000000000A',
  str: 'LVstr00000000000000000000000000A',
  mir: 'LVmir00000000000000000000000000A',
  img0: 'LVimg00000000000000000000000000A',
  img1: 'LVimg00000000000000000000000000B',
  meta0: 'LVmeta0000000000000000000000000A',
  meta1: 'LVmeta0000000000000000000000000B',
};
/** "major:minor" of each PV path in devOf below */
export const DEVS: Record<string, { major: number; minor: number }> = {
  '/dev/loop0': { major: 7, minor: 0 },
  '/dev/loop1': { major: 7, minor: 1 },
  '/dev/loop2': { major: 7, minor: 2 },
};

export function envelope(): Envelope {
  const es = 8192; // 4 MiB extents
  return {
    format: 'dvm.envelope/1',
    devices: { [PV[0]]: '/dev/loop0', [PV[1]]: '/dev/loop1', [PV[2]]: '/dev/loop2' },
    missing: [],
    vg: {
      format: 'dvm.vg/1',
      name: 'vg-0',
      id: VG_ID,
      seqno: 7,
      extent_size: es,
      pvs: PV.map((id) => ({ id, size: 204800, pe_start: 2048, pe_count: 24, flags: ['allocatable' as const] })),
      lvs: [
        {
          id: LV.lin,
          name: 'lin',
          flags: [],
          segments: [
            { start_extent: 0, extent_count: 2, type: 'linear', areas: [{ pv: PV[0], pe: 0 }] },
            { start_extent: 2, extent_count: 1, type: 'linear', areas: [{ pv: PV[1], pe: 5 }] },
          ],
        },
        { id: LV.str, name: 'str', flags: [], segments: [{ start_extent: 0, extent_count: 4, type: 'striped', stripe_size: 128, areas: [{ pv: PV[0], pe: 2 }, { pv: PV[1], pe: 0 }] }] },
        {
          id: LV.mir,
          name: 'mir',
          flags: [],
          segments: [
            { start_extent: 0, extent_count: 3, type: 'raid1', region_size: 4096, areas: [{ lv: LV.img0, le: 0 }, { lv: LV.img1, le: 0 }], meta_areas: [{ lv: LV.meta0, le: 0 }, { lv: LV.meta1, le: 0 }] },
          ],
        },
        { id: LV.meta0, name: 'mir_rmeta_0', flags: ['hidden'], segments: [{ start_extent: 0, extent_count: 1, type: 'linear', areas: [{ pv: PV[1], pe: 10 }] }] },
        { id: LV.img0, name: 'mir_rimage_0', flags: ['hidden'], segments: [{ start_extent: 0, extent_count: 3, type: 'linear', areas: [{ pv: PV[1], pe: 11 }] }] },
        { id: LV.meta1, name: 'mir_rmeta_1', flags: ['hidden'], segments: [{ start_extent: 0, extent_count: 1, type: 'linear', areas: [{ pv: PV[2], pe: 0 }] }] },
        { id: LV.img1, name: 'mir_rimage_1', flags: ['hidden'], segments: [{ start_extent: 0, extent_count: 3, type: 'linear', areas: [{ pv: PV[2], pe: 1 }] }] },
      ],
    },
  };
}
