// Rows of the report: one object per LV, PV, VG or segment, keyed by the
// field names LVM users know (lv_name, lv_size, ...). Sizes are sectors.
import { lvUuid } from '../lib/dm-doc.js';
import { parseSnapshotStatus, type SnapshotStatus } from '../lib/dm-table.js';
import { isPvArea, type DmDevice, type DmDoc, type Envelope, type Lv, type Segment } from './model.js';

export type Value = string | number | null | string[];
export type Row = Record<string, Value>;

const lvSize = (lv: Lv) => lv.segments.reduce((a, s) => a + s.extent_count, 0);

function pvName(env: Envelope, id: string): string {
  return env.devices[id] ?? '[unknown]';
}

function lvById(env: Envelope): Map<string, Lv> {
  return new Map(env.vg.lvs.map((l) => [l.id, l]));
}

/** `/dev/loop0(0),/dev/loop1(0)` as lvs prints Devices; sub-LVs by name. */
function devices(env: Envelope, seg: Segment, byId: Map<string, Lv>): string[] {
  return seg.areas.map((a) => (isPvArea(a) ? `${pvName(env, a.pv)}(${a.pe})` : `${byId.get(a.lv)?.name ?? a.lv}(${a.le})`));
}

/** PVs an LV touches, following sub-LVs. */
function pvsOf(lv: Lv, byId: Map<string, Lv>, seen = new Set<string>()): Set<string> {
  const out = new Set<string>();
  if (seen.has(lv.id)) return out;
  seen.add(lv.id);
  for (const s of lv.segments) {
    for (const a of [...s.areas, ...(s.meta_areas ?? [])]) {
      if (isPvArea(a)) out.add(a.pv);
      else {
        const sub = byId.get(a.lv);
        if (sub) for (const p of pvsOf(sub, byId, seen)) out.add(p);
      }
    }
  }
  return out;
}

/** Whether the LV touches a missing PV; with none missing (the usual case) no walk at all. */
function isPartial(lv: Lv, byId: Map<string, Lv>, missing: Set<string>): boolean {
  if (missing.size === 0) return false;
  for (const p of pvsOf(lv, byId)) if (missing.has(p)) return true;
  return false;
}

function subRole(lv: Lv): 'image' | 'meta' | null {
  if (!lv.flags.includes('hidden')) return null;
  if (/_rimage_\d+$/.test(lv.name)) return 'image';
  if (/_rmeta_\d+$/.test(lv.name)) return 'meta';
  return null;
}

/** The raid status line `raid1 2 AA 2048/2048 idle 0 0 -` gives the sync ratio. */
function syncPercent(dev: DmDevice | undefined): number | null {
  const st = dev?.status?.find((l) => l.target === 'raid');
  if (!st) return null;
  const m = /^\S+ \d+ \S+ (\d+)\/(\d+)/.exec(st.params);
  if (!m || Number(m[2]) === 0) return null;
  return Math.floor((Number(m[1]) / Number(m[2])) * 10000) / 100;
}

/**
 * A snapshot's kernel status: its own `snapshot` device's, or for a merging
 * one its origin's `snapshot-merge` (lvm2's dev_manager_snapshot_percent).
 */
function snapshotStatus(env: Envelope, lv: Lv, dmByUuid: Map<string, DmDevice>): SnapshotStatus | null {
  if (!lv.snapshot) return null;
  const id = lv.snapshot.merging ? lv.snapshot.origin : lv.id;
  const target = lv.snapshot.merging ? 'snapshot-merge' : 'snapshot';
  const st = dmByUuid.get(lvUuid(env.vg.id, id))?.status?.find((l) => l.target === target);
  return st ? parseSnapshotStatus(st.params) : null;
}

/**
 * Data% of a snapshot as lvs prints it (lvm2 _snap_target_percent, then
 * dm_percent_to_round_float): 0 with only the metadata chunks in use, 100 when
 * full, otherwise rounded to hundredths but never shown as 0.00 or 100.00.
 */
export function snapshotPercent(s: SnapshotStatus | null): number | null {
  if (s === null || s.state !== 'valid' || s.total === 0) return null;
  if (s.allocated === s.metadata) return 0;
  if (s.allocated >= s.total) return 100;
  const p = Math.round((s.allocated / s.total) * 10000) / 100;
  return p <= 0 ? 0.01 : p >= 100 ? 99.99 : p;
}

/**
 * lv_attr as lvs prints it, the columns we can know: type, permissions,
 * allocation (inherit), fixed minor, state, open, target type, zero, health, skip.
 */
function lvAttr(lv: Lv, partial: boolean, dev: DmDevice | undefined, dmKnown: boolean, origin: 'o' | 'O' | null = null, snap: SnapshotStatus | null = null): string {
  const role = subRole(lv);
  const raid = lv.segments.some((s) => s.type === 'raid1');
  // lvs: s snapshot, S merging snapshot, o origin, O origin of a merging snapshot
  const kind = lv.snapshot ? (lv.snapshot.merging ? 'S' : 's') : origin;
  const type = kind ?? (raid ? 'r' : role === 'image' ? 'i' : role === 'meta' ? 'e' : '-');
  const perm = lv.flags.includes('read_only') ? 'r' : 'w';
  let state = '-';
  let open = '-';
  if (dmKnown && dev) {
    state = dev.suspended ? 's' : dev.table.length ? 'a' : dev.inactive_table ? 'i' : 'd';
    // lvs: I invalid snapshot (overflowed), S invalid and suspended, m merge failed, M and suspended
    if (snap?.state === 'invalid' || snap?.state === 'overflow') state = dev.suspended ? 'S' : 'I';
    if (snap?.state === 'merge_failed') state = dev.suspended ? 'M' : 'm';
    open = (dev.open_count ?? 0) > 0 ? 'o' : '-';
  }
  const target = raid || role ? 'r' : kind ? 's' : '-';
  const health = partial ? 'p' : '-';
  return `${type}${perm}i-${state}${open}${target}-${health}-`;
}

export function lvRows(env: Envelope, dm: DmDoc | null, opts: { all: boolean }): Row[] {
  const byId = lvById(env);
  const missing = new Set(env.missing);
  const dmByUuid = new Map((dm?.devices ?? []).map((d) => [d.uuid, d]));
  const originOf = new Map<string, 'o' | 'O'>();
  for (const l of env.vg.lvs) if (l.snapshot) originOf.set(l.snapshot.origin, l.snapshot.merging || originOf.get(l.snapshot.origin) === 'O' ? 'O' : 'o');
  return env.vg.lvs
    .filter((lv) => opts.all || !lv.flags.includes('hidden'))
    .map((lv) => {
      const dev = dm === null ? undefined : dmByUuid.get(lvUuid(env.vg.id, lv.id));
      const partial = isPartial(lv, byId, missing);
      const hidden = lv.flags.includes('hidden');
      const snap = dm === null ? null : snapshotStatus(env, lv, dmByUuid);
      return {
        lv_name: hidden ? `[${lv.name}]` : lv.name,
        vg_name: env.vg.name,
        lv_attr: lvAttr(lv, partial, dev, dm !== null, originOf.get(lv.id) ?? null, snap),
        origin: lv.snapshot ? (byId.get(lv.snapshot.origin)?.name ?? '') : '',
        lv_size: lvSize(lv) * env.vg.extent_size,
        seg_count: lv.segments.length,
        devices: lv.segments.flatMap((s) => devices(env, s, byId)),
        lv_uuid: lv.id,
        lv_active: dm === null ? null : dev && dev.table.length ? 'active' : '',
        lv_dm_path: dm === null ? null : dev ? `/dev/mapper/${dev.name}` : '',
        data_percent: dm === null ? null : snapshotPercent(snap),
        copy_percent: dm === null ? null : syncPercent(dev),
        lv_health_status: partial ? 'partial' : '',
        lv_tags: lv.tags ?? [],
      };
    });
}

export function segRows(env: Envelope, opts: { all: boolean }): Row[] {
  const byId = lvById(env);
  const missing = new Set(env.missing);
  return env.vg.lvs
    .filter((lv) => opts.all || !lv.flags.includes('hidden'))
    .flatMap((lv) => {
      const partial = isPartial(lv, byId, missing);
      return lv.segments.map((s) => ({
        lv_name: lv.flags.includes('hidden') ? `[${lv.name}]` : lv.name,
        vg_name: env.vg.name,
        lv_attr: lvAttr(lv, partial, undefined, false),
        seg_start: s.start_extent * env.vg.extent_size,
        seg_size: s.extent_count * env.vg.extent_size,
        segtype: s.type,
        stripes: s.areas.length,
        stripe_size: s.type === 'striped' ? (s.stripe_size ?? 0) : 0,
        region_size: s.type === 'raid1' ? (s.region_size ?? 0) : 0,
        devices: devices(env, s, byId),
        seg_pe_ranges: s.areas.filter(isPvArea).map((a) => {
          const per = s.type === 'striped' ? s.extent_count / s.areas.length : s.extent_count;
          return `${pvName(env, a.pv)}:${a.pe}-${a.pe + per - 1}`;
        }),
      }));
    });
}

function usedExtents(env: Envelope): Map<string, number> {
  const used = new Map<string, number>();
  for (const lv of env.vg.lvs) {
    for (const s of lv.segments) {
      const per = s.type === 'striped' ? s.extent_count / s.areas.length : s.extent_count;
      for (const a of s.areas) if (isPvArea(a)) used.set(a.pv, (used.get(a.pv) ?? 0) + per);
    }
  }
  return used;
}

export function pvRows(env: Envelope): Row[] {
  const used = usedExtents(env);
  const missing = new Set(env.missing);
  const es = env.vg.extent_size;
  return env.vg.pvs.map((pv) => {
    const isMissing = missing.has(pv.id) || pv.flags.includes('missing');
    return {
      pv_name: pvName(env, pv.id),
      vg_name: env.vg.name,
      pv_fmt: 'dvm1',
      pv_attr: `${pv.flags.includes('allocatable') ? 'a' : '-'}-${isMissing ? 'm' : '-'}`,
      pv_size: pv.pe_count * es,
      pv_free: (pv.pe_count - (used.get(pv.id) ?? 0)) * es,
      dev_size: pv.size,
      pe_start: pv.pe_start,
      pv_pe_count: pv.pe_count,
      pv_pe_alloc_count: used.get(pv.id) ?? 0,
      pv_uuid: pv.id,
      pv_missing: isMissing ? 'missing' : '',
    };
  });
}

export function vgRows(env: Envelope): Row[] {
  const used = usedExtents(env);
  const es = env.vg.extent_size;
  const total = env.vg.pvs.reduce((a, p) => a + p.pe_count, 0);
  const alloc = [...used.values()].reduce((a, b) => a + b, 0);
  const partial = env.missing.length > 0;
  return [
    {
      vg_name: env.vg.name,
      pv_count: env.vg.pvs.length,
      lv_count: env.vg.lvs.filter((l) => !l.flags.includes('hidden')).length,
      snap_count: 0,
      vg_attr: `wz--n${partial ? 'p' : '-'}`,
      vg_size: total * es,
      vg_free: (total - alloc) * es,
      vg_uuid: env.vg.id,
      vg_extent_size: es,
      vg_extent_count: total,
      vg_free_count: total - alloc,
      vg_seqno: env.vg.seqno,
      vg_missing_pv_count: env.missing.length,
    },
  ];
}
