// Zeroing a new snapshot's COW header, as lvcreate -s does before the snapshot
// is first used (lvm2 wipe_lv on the exception store). dm-snapshot's
// persistent store reads chunk 0 of the COW: zeros mean "new snapshot, start
// empty"; anything else — a header left by an old snapshot on the same extents
// — would be taken as that snapshot's exceptions and give wrong data.
//
// tm does it, on the PVs, in the same fsync barrier as the record of the
// generation that adds the snapshot, before that generation is committed.
// That is what makes it crash safe without any "never activated yet" flag:
// the extents are free in generation N (a new LV's), so zeroing them changes
// nothing that N uses, whether or not N+1 then commits; and once N+1 is
// committed the snapshot is never new again, so a header the kernel has
// written since is never zeroed. It also works for an origin that is not
// active: nothing has to be mapped to prepare the COW.
import { failed } from '../lib/errors.js';
import { isPvArea, type Lv, type Vg } from '../lib/vg-types.js';

/** One write of zeros: `length` bytes at byte `offset` of PV `pv`. */
export interface ZeroWrite {
  pv: string;
  offset: number;
  length: number;
}

const SECTOR = 512;

/** Snapshots of `next` that are not snapshots in the generation before (LV ids in `before`). */
export function newSnapshots(before: Set<string>, next: Vg): Lv[] {
  return next.lvs.filter((l) => l.snapshot && !before.has(l.id));
}

/**
 * Where the first chunk of each new snapshot's COW lies on its PVs (at least
 * 4 KiB, as lvm2 zeroes). The COW is an LV of its own, made by lv-create:
 * linear (or one-stripe) segments on PVs.
 */
export function cowHeaderWrites(vg: Vg, snaps: Lv[]): ZeroWrite[] {
  const es = vg.extent_size;
  const out: ZeroWrite[] = [];
  for (const lv of snaps) {
    let left = Math.max(8, lv.snapshot!.chunk_size); // sectors
    const segs = [...lv.segments].sort((a, b) => a.start_extent - b.start_extent);
    for (const seg of segs) {
      if (left === 0) break;
      const a = seg.areas[0];
      if (seg.areas.length !== 1 || !isPvArea(a) || (seg.type !== 'linear' && seg.type !== 'striped'))
        throw failed('cannot prepare snapshot', lv.name, `its COW starts with a ${seg.type} segment of ${seg.areas.length} areas; only linear COW space can be zeroed`);
      const pv = vg.pvs.find((p) => p.id === a.pv);
      if (!pv) throw failed('cannot prepare snapshot', lv.name, `COW on unknown PV '${a.pv}'`);
      const n = Math.min(left, seg.extent_count * es);
      out.push({ pv: pv.id, offset: (pv.pe_start + a.pe * es) * SECTOR, length: n * SECTOR });
      left -= n;
    }
    if (left > 0) throw failed('cannot prepare snapshot', lv.name, 'its COW space is smaller than one chunk');
  }
  return out;
}
