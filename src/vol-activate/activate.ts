// vol-activate's core: an envelope and a selection of LVs → the desired dm state
// of the whole VG (dvm.dm/1). Everything of the VG's scope that is not in the
// result is meant to be gone, so the selection always starts from a complete
// set: every LV (--all), none (--none) or the LVs active now (--active, the default).
import { failed } from '../lib/errors.js';
import { dmName } from '../lib/names.js';
import { tableLine, tableSize, type TableLine } from '../lib/dm-table.js';
import { snapshotStack } from './snapshots.js';
import { inScope, lvUuid, vgScope, type DmDevice, type DmDoc } from '../lib/dm-doc.js';
import { lvTable, type TableContext } from './tables.js';
import { isPvArea, type Envelope, type Lv } from '../lib/vg-types.js';

export interface ActivateOptions {
  /** start from every visible LV instead of the LVs active now */
  all: boolean;
  /** start from no LV (vgchange -an): only --lv stays or becomes active */
  none?: boolean;
  /** LVs to activate in addition */
  lvs: string[];
  /** LVs to leave inactive */
  deactivate: string[];
  /** map areas on missing PVs to the error target */
  partial: boolean;
}

export interface ActivateEffects {
  /** major:minor of a PV's block device (stat st_rdev); throws a ToolError if it is not one */
  devOf: (path: string) => { major: number; minor: number };
  /** the VG's dm devices now (dmexec --query --scope); called only without --all */
  current: (scope: string) => DmDoc;
}

const DM_NAME_MAX = 127;
const DM_UUID_MAX = 128;

/** Sub-LVs an LV's segments reference, directly. */
function children(lv: Lv, byId: Map<string, Lv>): Lv[] {
  const out: Lv[] = [];
  for (const s of lv.segments)
    for (const a of [...s.areas, ...(s.meta_areas ?? [])]) {
      if (isPvArea(a)) continue;
      const c = byId.get(a.lv);
      if (c && !out.includes(c)) out.push(c);
    }
  return out;
}

export function desiredState(env: Envelope, opts: ActivateOptions, fx: ActivateEffects): DmDoc {
  const vg = env.vg;
  const scope = vgScope(vg.id);
  const byId = new Map(vg.lvs.map((l) => [l.id, l]));
  const byName = new Map(vg.lvs.map((l) => [l.name, l]));
  const visible = vg.lvs.filter((l) => !l.flags.includes('hidden'));
  const named = (n: string): Lv => {
    const lv = byName.get(n);
    if (!lv) throw failed('LV', n, `not in VG '${vg.name}'`);
    if (lv.flags.includes('hidden')) throw failed('LV', n, 'is a hidden sub-LV; (de)activate the LV that uses it');
    return lv;
  };
  const add = opts.lvs.map(named);
  const drop = new Set(opts.deactivate.map(named));

  let base: Lv[];
  if (opts.none) base = [];
  else if (opts.all) base = visible;
  else {
    const now = new Set(fx.current(scope).devices.map((d) => d.uuid).filter((u) => inScope(u, scope)));
    // An LV is active if any device of its stack exists: a half-built stack
    // was being activated, so converging finishes it rather than tearing it down.
    const active = (lv: Lv, seen = new Set<Lv>()): boolean => {
      if (seen.has(lv)) return false;
      seen.add(lv);
      const u = lvUuid(vg.id, lv.id);
      if (now.has(u) || [...now].some((x) => x.startsWith(u + '-'))) return true;
      return children(lv, byId).some((c) => active(c, seen));
    };
    base = visible.filter((lv) => active(lv));
  }
  // An origin and its snapshots are one stack: activating or deactivating any
  // of them does it to all (as lvchange does), since a snapshot reads through
  // its origin's -real device and an origin mapped without its snapshots would
  // leave them stale.
  const group = (lv: Lv): Lv[] => {
    const origin = lv.snapshot ? byId.get(lv.snapshot.origin) : lv;
    return origin ? [origin, ...vg.lvs.filter((l) => l.snapshot?.origin === origin.id)] : [lv];
  };
  const dropped = new Set([...drop].flatMap(group));
  const selected = visible.filter((lv) => group(lv).some((m) => base.includes(m) || add.includes(m)) && !dropped.has(lv));

  const missing = new Set(env.missing);
  for (const pv of vg.pvs) if (pv.flags.includes('missing')) missing.add(pv.id);
  const devCache = new Map<string, string>();
  const pvDev = (id: string): string | null => {
    if (missing.has(id) || env.devices[id] === undefined) return null;
    let d = devCache.get(id);
    if (d === undefined) {
      const { major, minor } = fx.devOf(env.devices[id]);
      d = `${major}:${minor}`;
      devCache.set(id, d);
    }
    return d;
  };
  const lvDmName = (lv: Lv) => dmName(vg.name, lv.name);
  const ctx: TableContext = { vg, pvDev, lvDmName, lvById: (id) => byId.get(id), partial: opts.partial };

  const devices: DmDevice[] = [];
  const done = new Set<Lv>();
  /** The LV's own table, its sub-LVs and filler devices first, as device `name`/`uuid`. */
  const plain = (lv: Lv, owner: Lv, path: Lv[], name: string, uuid: string, readOnly: boolean): TableLine[] => {
    if (path.includes(lv)) throw failed('LV', lv.name, 'sub-LVs reference each other in a cycle');
    const t = lvTable(lv, ctx);
    for (const sub of t.subLvs) visit(sub, owner, [...path, lv]);
    for (const f of t.fillers) devices.push(device(`${lvDmName(lv)}-${f.suffix}`, `${lvUuid(vg.id, lv.id)}-${f.suffix}`, [tableLine(0, f.length, 'error')], false, owner));
    devices.push(device(name, uuid, t.lines, readOnly, owner));
    return t.lines;
  };
  const visit = (lv: Lv, owner: Lv, path: Lv[]) => {
    if (done.has(lv)) return;
    if (lv.snapshot) {
      // a snapshot is mapped as part of its origin's stack
      const origin = byId.get(lv.snapshot.origin);
      if (!origin) throw failed('LV', lv.name, `snapshot of unknown LV '${lv.snapshot.origin}'`);
      return visit(origin, origin, path);
    }
    const snaps = vg.lvs.filter((l) => l.snapshot?.origin === lv.id);
    if (snaps.length === 0) plain(lv, owner, path, lvDmName(lv), lvUuid(vg.id, lv.id), lv.flags.includes('read_only'));
    else {
      const layer = (l: Lv, devName: string, devUuid: string, ro: boolean) => tableSize(plain(l, l, path, devName, devUuid, ro));
      for (const d of snapshotStack(lv, snaps, { name: lvDmName, uuid: (l) => lvUuid(vg.id, l.id), layer })) devices.push(device(d.name, d.uuid, d.table, d.readOnly, d.lv));
    }
    done.add(lv);
    snaps.forEach((s) => done.add(s));
  };
  for (const lv of selected) visit(lv, lv, []);
  return { format: 'dvm.dm/1', scope, devices };
}

function device(name: string, uuid: string, table: DmDevice['table'], readOnly: boolean, owner: Lv): DmDevice {
  if (Buffer.byteLength(name) > DM_NAME_MAX) throw failed('dm name', name, `longer than ${DM_NAME_MAX} bytes`);
  if (Buffer.byteLength(uuid) > DM_UUID_MAX) throw failed('dm uuid', uuid, `longer than ${DM_UUID_MAX} bytes`);
  return { name, uuid, table, read_only: readOnly, lv: owner.name };
}
