// With --sync, tm changes the kernel too, so it first asks the kernel which
// merges are over and drops those snapshots from generation N+1 (as lvm2's
// merge polling does), whatever the mutator: the participant then maps their
// origins plain again. No merging snapshot, no query. A kernel that cannot be
// asked drops nothing (the safe side: the merge stays mapped). tm update and
// the dataset agent's dvm backend both commit through this.
import { finishedMerges } from '../lib/snapshot-merge.js';
import { vgScope } from '../lib/dm-doc.js';
import type { Vg } from '../lib/vg-types.js';
import { queryKernel } from '../dmexec/client.js';
import { dropFinishedMerges } from '../metadata-manip/lv-snapshot.js';
import type { Mutator } from './ops.js';

/** The ids of `vg`'s merging snapshots the kernel reports merged (empty: none, or no kernel to ask). */
export function mergedNow(vg: Vg): Set<string> {
  if (!vg.lvs.some((l) => l.snapshot?.merging)) return new Set();
  try {
    return finishedMerges(vg, queryKernel(vgScope(vg.id)));
  } catch {
    return new Set(); // no device-mapper here: nothing can have merged
  }
}

/** `mutate`, run on the VG without the snapshots whose merge is over; `note` hears which went. */
export function finishingMerges(mutate: Mutator, note: (line: string) => void): Mutator {
  return async (vg) => {
    const done = mergedNow(vg);
    for (const l of vg.lvs) if (done.has(l.id)) note(`snapshot '${l.name}' has merged into its origin: dropped from the metadata`);
    return mutate(dropFinishedMerges(vg, done));
  };
}
