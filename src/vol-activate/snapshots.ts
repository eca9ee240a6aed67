// A snapshot origin and its snapshots as device-mapper devices, laid out as
// LVM2 lays them out (lib/activate/dev_manager.c, _add_new_lv_to_dtree):
//
//   <vg>-<origin>-real   uuid <origin>-real   the origin's own table (linear, striped, raid1…)
//   <vg>-<origin>        uuid <origin>        snapshot-origin <real>
//   <vg>-<snap>-cow      uuid <snap>-cow      the snapshot LV's own table: its COW space
//   <vg>-<snap>          uuid <snap>          snapshot <real> <cow> P <chunk>
//
// While a snapshot merges, the origin's top device is `snapshot-merge <real>
// <cow> P <chunk>` over that snapshot's -cow, and the merging snapshot has no
// device of its own (LVM keeps one mapped to `error`; nothing can use it).
// Other snapshots of the origin stay mapped: snapshot-merge acts as their origin.
import { failed } from '../lib/errors.js';
import { DM_REF_PREFIX, formatSnapshot, formatSnapshotOrigin, tableLine, type TableLine } from '../lib/dm-table.js';
import type { Lv } from '../lib/vg-types.js';

/** dm uuid suffixes of the hidden layers, as LVM2's "real" and "cow" layers. */
export const REAL = 'real';
export const COW = 'cow';

export interface StackDevice {
  name: string;
  uuid: string;
  table: TableLine[];
  readOnly: boolean;
  /** the LV the device belongs to */
  lv: Lv;
}

export interface StackEffects {
  /** dm name of an LV's top device */
  name: (lv: Lv) => string;
  /** dm uuid of an LV's top device */
  uuid: (lv: Lv) => string;
  /**
   * Map an LV's own segments as device `devName`/`devUuid` (its sub-LVs
   * first) and give the table's size in sectors. The hidden layers are made
   * this way, so they carry exactly the table the LV would have on its own.
   */
  layer: (lv: Lv, devName: string, devUuid: string, readOnly: boolean) => number;
}

/** The top devices of an origin's stack; its -real and -cow layers are mapped through fx.layer first. */
export function snapshotStack(origin: Lv, snaps: Lv[], fx: StackEffects): StackDevice[] {
  const ro = (lv: Lv) => lv.flags.includes('read_only');
  const ref = (name: string) => `${DM_REF_PREFIX}${name}`;
  const real = `${fx.name(origin)}-${REAL}`;
  const size = fx.layer(origin, real, `${fx.uuid(origin)}-${REAL}`, ro(origin));
  const merging = snaps.filter((s) => s.snapshot!.merging);
  if (merging.length > 1) throw failed('LV', origin.name, 'more than one snapshot is merging into it');
  const out: StackDevice[] = [];
  const cows = new Map<Lv, string>();
  for (const s of snaps) {
    if (s.segments.length === 0) throw failed('LV', s.name, 'snapshot without COW space');
    const cow = `${fx.name(s)}-${COW}`;
    // The COW is written by the kernel even for a read-only snapshot (LVM's read_only_lv).
    fx.layer(s, cow, `${fx.uuid(s)}-${COW}`, false);
    cows.set(s, cow);
  }
  for (const s of snaps) {
    if (s.snapshot!.merging) continue;
    const params = formatSnapshot({ origin: ref(real), cow: ref(cows.get(s)!), store: 'P', chunk: s.snapshot!.chunk_size, features: [] });
    out.push({ name: fx.name(s), uuid: fx.uuid(s), table: [tableLine(0, size, 'snapshot', params)], readOnly: ro(s), lv: s });
  }
  const m = merging[0];
  const top = m
    ? tableLine(0, size, 'snapshot-merge', formatSnapshot({ origin: ref(real), cow: ref(cows.get(m)!), store: 'P', chunk: m.snapshot!.chunk_size, features: [] }))
    : tableLine(0, size, 'snapshot-origin', formatSnapshotOrigin({ origin: ref(real) }));
  out.push({ name: fx.name(origin), uuid: fx.uuid(origin), table: [top], readOnly: ro(origin), lv: origin });
  return out;
}
