// When a merge is over. The metadata says a snapshot is merging (lv-merge);
// only the kernel knows when it is done: the origin's top device is
// snapshot-merge over that snapshot's COW and its status shows only the
// metadata chunks left (lvm2 _snap_target_percent). Pure: the kernel state is
// given (dmexec --query), so the rule is tested without a kernel.
import { lvUuid, type DmDoc } from './dm-doc.js';
import { mergeDone, parseSnapshotStatus, parseSnapshot } from './dm-table.js';
import type { Vg } from './vg-types.js';

/** Ids of the merging snapshots whose merge the kernel reports finished. */
export function finishedMerges(vg: Vg, kernel: DmDoc): Set<string> {
  const out = new Set<string>();
  const byUuid = new Map(kernel.devices.map((d) => [d.uuid, d]));
  const byDev = new Map(kernel.devices.filter((d) => d.major !== undefined).map((d) => [`${d.major}:${d.minor}`, d]));
  for (const s of vg.lvs) {
    if (!s.snapshot?.merging) continue;
    const top = byUuid.get(lvUuid(vg.id, s.snapshot.origin));
    const line = top?.table.length === 1 ? top.table[0] : undefined;
    if (line?.target !== 'snapshot-merge') continue;
    let cow: string;
    try {
      cow = parseSnapshot(line.params).cow;
    } catch {
      continue;
    }
    // the merge is this snapshot's: the COW device is its -cow
    if (byDev.get(cow)?.uuid !== `${lvUuid(vg.id, s.id)}-cow`) continue;
    const st = top!.status?.find((l) => l.target === 'snapshot-merge');
    if (st && mergeDone(parseSnapshotStatus(st.params))) out.add(s.id);
  }
  return out;
}
