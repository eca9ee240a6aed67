import { failed, usageError } from '../lib/errors.js';
import { isPowerOfTwo, parseAbsoluteSize } from '../lib/units.js';
import { userLv, type MutatorResult } from './common.js';
import { lvCreate } from './lv-create.js';
import { findLv, lvExtents, own, shallowCopy, type Lv, type Vg } from './model.js';

/** LVM's default snapshot chunk: 4 KiB (lvm.conf snapshot chunk_size default). */
export const DEFAULT_CHUNK = 8;

/** The snapshots of an LV (by id). */
export const snapshotsOf = (vg: Vg, lv: Lv): Lv[] => vg.lvs.filter((l) => l.snapshot?.origin === lv.id);

/**
 * lv-snapshot ORIGIN NAME SIZE: a new LV holding the copy-on-write space of a
 * snapshot of ORIGIN, as `lvcreate -s -L SIZE -n NAME vg/ORIGIN`. SIZE is any
 * lv-create size, or N%ORIGIN (of the origin's size, rounded up to extents).
 * A snapshot of a snapshot is refused, as LVM refuses it for classic snapshots.
 */
export function lvSnapshot(input: Vg, o: { origin: string; name: string; size: string; chunkSize?: string; pvs?: string[] }): MutatorResult {
  const WHAT = 'cannot create snapshot';
  const origin = userLv(input, o.origin, WHAT);
  if (origin.snapshot) throw failed(WHAT, o.name, `'${o.origin}' is itself a snapshot: snapshots of snapshots are not supported`);
  if (snapshotsOf(input, origin).some((s) => s.snapshot!.merging)) throw failed(WHAT, o.name, `a snapshot is merging into '${o.origin}': wait for the merge to finish`);
  const chunk = o.chunkSize === undefined ? DEFAULT_CHUNK : parseAbsoluteSize(o.chunkSize, 'k');
  if (!isPowerOfTwo(chunk) || chunk < 8 || chunk > 1024) throw usageError(WHAT, o.name, '--chunksize must be a power of two from 4k to 512k');
  const m = /^(\d+(?:\.\d+)?)%ORIGIN$/i.exec(o.size);
  const size = m ? `${Math.max(1, Math.ceil((lvExtents(origin) * Number(m[1])) / 100))}e` : o.size;
  if (m && Number(m[1]) <= 0) throw usageError('invalid size', o.size, 'must be greater than zero');
  const made = lvCreate(input, { name: o.name, size, pvs: o.pvs });
  const vg = shallowCopy(made.vg);
  const snap = own(vg, findLv(vg, o.name)!);
  snap.snapshot = { origin: origin.id, chunk_size: chunk };
  return { vg, notes: made.notes };
}

/**
 * lv-merge SNAPSHOT: roll the origin back to the snapshot, as `lvconvert
 * --merge`. The metadata says the merge was asked for; the kernel does it
 * (snapshot-merge) when the origin is next activated, and the snapshot goes
 * from the metadata once the kernel reports the merge done.
 */
export function lvMerge(input: Vg, o: { name: string }): MutatorResult {
  const WHAT = 'cannot merge snapshot';
  const vg = shallowCopy(input);
  const lv = userLv(vg, o.name, WHAT);
  if (!lv.snapshot) throw failed(WHAT, o.name, 'is not a snapshot');
  if (lv.snapshot.merging) return { vg, notes: [`Snapshot ${o.name} is already merging`] };
  const origin = vg.lvs.find((l) => l.id === lv.snapshot!.origin)!;
  if (snapshotsOf(vg, origin).some((s) => s.snapshot!.merging)) throw failed(WHAT, o.name, `another snapshot is already merging into '${origin.name}'`);
  const mine = own(vg, lv);
  mine.snapshot = { ...lv.snapshot, merging: true };
  return { vg, notes: [] };
}

/**
 * The snapshots whose merge the kernel finished leave the metadata (as lvm2's
 * lvpoll does when the merge completes): tm update --sync runs this before the
 * mutator, given finishedMerges() of the kernel it is about to change. The
 * origin then maps plain again, over the merged data.
 */
export function dropFinishedMerges(input: Vg, finished: Set<string>): Vg {
  if (!input.lvs.some((l) => finished.has(l.id) && l.snapshot?.merging)) return input;
  const vg = shallowCopy(input);
  vg.lvs = vg.lvs.filter((l) => !(finished.has(l.id) && l.snapshot?.merging));
  return vg;
}
