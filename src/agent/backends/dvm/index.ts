// dvm:VG — datasets as LVs of a dvm VG, through the volume manager's own code
// (vg.ts): create/resize/remove are tm updates with the two-phase commit and
// the activation participant; attach records the node in the LV's tags and
// the node plane activates the LV (/dev/mapper/<vg>-<lv>); detach needs it
// released (deactivated) first. The dataset id, cluster id, metadata and the
// attachment live in LV tags (tags.ts). A dvm VG is local to one machine: the
// nodes that may attach are this agent's node, or the `nodes` knob's list
// (agents in several mount namespaces of one host); any other is refused.
//   dvm:vg0                          PVs found by discovery
//   dvm:vg0?devs=/dev/loop1,/dev/loop2&nodes=n1,n2
import { createHash } from 'node:crypto';
import { realpathSync, statSync } from 'node:fs';
import { environmentError, ToolError, usageError } from '../../../lib/errors.js';
import { isValidName, NAME_PATTERN } from '../../../lib/names.js';
import { splitDev, type DmDevice, type DmDoc } from '../../../lib/dm-doc.js';
import type { Lv, Vg } from '../../../lib/vg-types.js';
import type { BackendSpec } from '../../backend/registry.js';
import { checkMetadata, checkSize, checkVolumeId, datasetOf } from '../../backend/common.js';
import { BackendError, META_CLUSTER, META_DATASET, type Backend, type BackendOptions, type ControlPlane, type NodeDevice, type NodePlane } from '../../backend/types.js';
import type { Limits, Volume } from '../../docs.js';
import { fromTags, tagChanges, toTags, type TagState } from './tags.js';
import { DvmVg, findPvs } from './vg.js';
import { mergedNow } from '../../../transaction-manager/merges.js';

/** Volume ids are LV names: the schema's name rule keeps them safe in paths (no '/', not '..'). */
export const DVM_VOLUME_ID = new RegExp(NAME_PATTERN);
const NODE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

export interface DvmOptions {
  /** PV paths; null: discovery. */
  devs?: string[] | null;
  /** Nodes of this machine that may attach; default: this agent's node. */
  nodes?: string[];
  spec?: string;
}

const list = (v: string | undefined) => (v === undefined ? undefined : v.split(',').filter(Boolean));

export async function openFromSpec(spec: BackendSpec, opts: BackendOptions): Promise<Backend> {
  const devs = list(spec.knobs.string('devs')) ?? null;
  const nodes = list(spec.knobs.string('nodes'));
  spec.knobs.done();
  for (const n of nodes ?? []) if (!NODE.test(n)) throw usageError('invalid backend', spec.text, `node '${n}' in nodes= is not hostname-like`);
  if (devs?.some((d) => !d.startsWith('/'))) throw usageError('invalid backend', spec.text, 'devs= wants absolute device paths, comma separated');
  return openDvm(spec.arg!, opts, { devs, nodes, spec: spec.text });
}

/** The LV name a dataset's volume gets: one per (cluster, dataset), so a repeated create finds the first. */
export const volumeName = (cluster: string, dataset: string) => `dvm-${createHash('sha256').update(`${cluster}\0${dataset}`).digest('hex').slice(0, 20)}`;

/** The LV name of volume `id`'s snapshot called `name`: one per name, found again after a timeout. */
export const snapshotName = (id: string, name: string) => `${id}-s${createHash('sha256').update(name).digest('hex').slice(0, 8)}`;

export async function openDvm(vgName: string, opts: BackendOptions, o: DvmOptions = {}): Promise<Backend> {
  const spec = o.spec ?? `dvm:${vgName}`;
  if (!isValidName(vgName)) throw usageError('invalid backend', spec, `'${vgName}' is not a volume group name`);
  const node = opts.node;
  const nodes = o.nodes?.length ? o.nodes : [node];
  const log = (line: string) => opts.log?.(`dvm ${line} (node ${node})`);
  let pvCache: string[] | null = o.devs ?? null;
  const vg = new DvmVg(vgName, () => (pvCache ??= findPvs(vgName, null)), log);
  let first: Vg;
  try {
    first = (await vg.read()).vg;
  } catch (e) {
    throw environmentError('backend', spec, `volume group '${vgName}' cannot be read: ${(e as Error).message}`);
  }
  const unit = first.extent_size * 512;

  /** Errors of the volume manager as the backend's typed errors. */
  async function call<T>(id: string | undefined, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof BackendError) throw e;
      const msg = (e as Error).message;
      if (/insufficient (suitable allocatable )?(free space|extents)/.test(msg)) throw new BackendError('limit-exceeded', msg, id);
      if (e instanceof ToolError && (e.exitCode === 2 || e.exitCode === 3)) throw new BackendError('invalid', msg, id);
      throw new BackendError('unavailable', msg, id);
    }
  }

  const lvSize = (v: Vg, lv: Lv) => lv.segments.reduce((n, s) => n + s.extent_count, 0) * v.extent_size * 512;
  /** A volume is a user LV that is not a snapshot (snapshots are the volumes' own, found by origin). */
  const isVolume = (l: Lv) => !l.flags.includes('hidden') && !l.snapshot;
  const visible = (v: Vg) => v.lvs.filter(isVolume);
  const snapshotsOf = (v: Vg, lv: Lv) => v.lvs.filter((l) => l.snapshot?.origin === lv.id);

  const toVolume = (v: Vg, lv: Lv): Volume => {
    const st = fromTags(lv.tags);
    return {
      id: lv.name,
      dataset: datasetOf(st.metadata),
      name: st.name ?? lv.name,
      size: lvSize(v, lv),
      status: st.node ? 'in-use' : 'available',
      attached: st.node,
      metadata: { ...st.metadata },
    };
  };

  async function need(id: string): Promise<{ v: Vg; lv: Lv; st: TagState }> {
    checkVolumeId(id, DVM_VOLUME_ID);
    const v = (await vg.read()).vg;
    const lv = v.lvs.find((l) => l.name === id && isVolume(l));
    if (!lv) throw new BackendError('unknown-volume', `no volume '${id}' in volume group '${vgName}'`, id);
    return { v, lv, st: fromTags(lv.tags) };
  }

  const active = (dev: DmDevice | undefined) => dev !== undefined && dev.table.length > 0;
  const kernelDev = (v: Vg, lv: Lv, k?: DmDoc) => vg.device(v, lv, k ?? vg.kernel(v.id));

  /** Rewrites our tags of `id` to `next` in one generation (lv-change). */
  async function retag(id: string, lv: Lv, next: TagState): Promise<void> {
    const args = tagChanges(lv.tags, toTags(next, id));
    if (args.length) await call(id, () => vg.update('lv-change', [id, ...args]));
  }

  const limitsNow = async (): Promise<Limits> => {
    const v = (await vg.read()).vg;
    const total = v.pvs.reduce((n, p) => n + p.pe_count, 0) * unit;
    return { allocation_unit: unit, min_size: unit, max_size: total, per_node: null, max_volumes: null, max_bytes: total, can_shrink: true, can_snapshot: true };
  };

  const control: ControlPlane = {
    spec,
    limits: limitsNow,

    async list() {
      log('list');
      const v = (await vg.read()).vg;
      return visible(v)
        .map((lv) => toVolume(v, lv))
        .filter((x) => opts.cluster === undefined || x.metadata[META_CLUSTER] === undefined || x.metadata[META_CLUSTER] === opts.cluster);
    },

    async create(req) {
      log(`create ${req.name}`);
      const size = checkSize(req.size, await limitsNow());
      const metadata = { ...req.metadata, [META_DATASET]: req.dataset, [META_CLUSTER]: req.cluster };
      checkMetadata(metadata);
      if (typeof req.name !== 'string' || req.name.length > 255 || /[\n\r\0]/.test(req.name)) throw new BackendError('invalid', 'a volume name is one line of at most 255 characters');
      const id = volumeName(req.cluster, req.dataset);
      const tags = toTags({ name: req.name, node: null, metadata }, id);
      const v = (await vg.read()).vg;
      const there = v.lvs.find((l) => l.name === id);
      if (there) {
        // The same dataset's volume from an earlier create (a timeout, a crash after the commit): the same answer.
        const st = fromTags(there.tags);
        if (st.metadata[META_DATASET] === req.dataset && st.metadata[META_CLUSTER] === req.cluster) return toVolume(v, there);
        throw new BackendError('invalid', `LV '${id}' exists in '${vgName}' and is not dataset ${req.dataset}'s`, id);
      }
      const env = await call(id, () => vg.update('lv-create', [id, `${size / unit}e`, ...tags.flatMap((t) => ['--addtag', t])]));
      return toVolume(env.vg, env.vg.lvs.find((l) => l.name === id)!);
    },

    async destroy(id) {
      log(`destroy ${id}`);
      const { v, lv, st } = await need(id);
      if (st.node) throw new BackendError('already-attached', `volume '${id}' is attached to node '${st.node}': detach it first`, id, st.node);
      if (active(kernelDev(v, lv))) throw new BackendError('in-use', `volume '${id}' is still active: release it first`, id);
      // Its snapshots go with it (lv-remove refuses an origin without them): the dataset's data is gone.
      await call(id, () => vg.update('lv-remove', [id, ...snapshotsOf(v, lv).map((s) => s.name)]));
    },

    async attach(id, to) {
      log(`attach ${id} ${to}`);
      checkVolumeId(id, DVM_VOLUME_ID);
      if (!NODE.test(to)) throw new BackendError('invalid', `node name '${String(to).slice(0, 64)}' is not hostname-like`, id);
      const { v, lv, st } = await need(id);
      if (st.node) throw new BackendError('already-attached', `volume '${id}' is already attached to node '${st.node}'`, id, st.node);
      if (!nodes.includes(to))
        throw new BackendError('unsupported', `volume group '${vgName}' is local to this machine (nodes ${nodes.join(', ')}): it cannot be attached to node '${to}'`, id, to);
      const next = { ...st, node: to };
      await retag(id, lv, next);
      return { ...toVolume(v, lv), attached: to, status: 'in-use' };
    },

    async detach(id) {
      log(`detach ${id}`);
      const { v, lv, st } = await need(id);
      if (!st.node) throw new BackendError('not-attached', `volume '${id}' is not attached`, id);
      const dev = kernelDev(v, lv);
      if (active(dev)) throw new BackendError('in-use', `volume '${id}' is still active (${vg.mapperPath(id)}) on node '${st.node}': release it there first`, id, st.node);
      await retag(id, lv, { ...st, node: null });
    },

    async resize(id, size) {
      log(`resize ${id} ${size}`);
      const { v, lv } = await need(id);
      const lim = await limitsNow();
      const to = checkSize(size, lim, id);
      const from = lvSize(v, lv);
      if (to === from) return toVolume(v, lv);
      if (to < from && !lim.can_shrink) throw new BackendError('unsupported', `volume '${id}' cannot shrink on this backend`, id);
      // The participant reloads an active LV's table inside the commit: the device follows the metadata.
      const env = await call(id, () => vg.update(to > from ? 'lv-extend' : 'lv-reduce', [id, `${to / unit}e`]));
      return toVolume(env.vg, env.vg.lvs.find((l) => l.name === id)!);
    },

    async setMetadata(id, metadata) {
      log(`set-metadata ${id}`);
      const { lv, st } = await need(id);
      checkMetadata(metadata, id, st.metadata);
      await retag(id, lv, { ...st, metadata: { ...st.metadata, ...metadata } });
    },

    async snapshot(id, name) {
      log(`snapshot ${id}`);
      const { v, lv } = await need(id);
      // One snapshot per (volume, name): a repeat after a timeout or a crash finds the first.
      const sid = snapshotName(id, String(name));
      const there = v.lvs.find((l) => l.name === sid);
      if (there) {
        if (there.snapshot?.origin !== lv.id) throw new BackendError('invalid', `LV '${sid}' exists in '${vgName}' and is not a snapshot of '${id}'`, id);
        if (there.snapshot.merging) throw new BackendError('in-use', `snapshot '${sid}' is merging into '${id}'`, id);
        return sid;
      }
      // COW room for every chunk of the origin and the exception store's own
      // chunks (a 4 KiB chunk indexes 256), so it can never overflow: a
      // snapshot that fills up is invalid and restores nothing.
      const bytes = lvSize(v, lv);
      const chunk = 4096;
      const cow = bytes + (Math.ceil(bytes / chunk / 256) + 2) * chunk;
      await call(id, () => vg.update('lv-snapshot', [id, sid, `${Math.ceil(cow / unit)}e`]));
      return sid;
    },

    async removeSnapshot(id, sid) {
      log(`remove-snapshot ${id} ${sid}`);
      const { v, lv } = await need(id);
      const s = snapshotsOf(v, lv).find((l) => l.name === sid);
      if (!s) throw new BackendError('unknown-volume', `volume '${id}' has no snapshot '${String(sid).slice(0, 64)}'`, id);
      if (s.snapshot!.merging) throw new BackendError('in-use', `snapshot '${sid}' is merging into '${id}': it goes when the merge is over`, id);
      // --sync: an active origin is reloaded plain around the removal, suspended in order.
      await call(id, () => vg.update('lv-remove', [sid]));
    },

    async restoreSnapshot(id, sid) {
      log(`restore-snapshot ${id} ${sid}`);
      const { v, lv } = await need(id);
      const s = snapshotsOf(v, lv).find((l) => l.name === sid);
      if (!s) throw new BackendError('unknown-volume', `volume '${id}' has no snapshot '${String(sid).slice(0, 64)}'`, id);
      const st = fromTags(lv.tags);
      if (active(kernelDev(v, lv))) throw new BackendError('in-use', `volume '${id}' is active${st.node ? ` on node '${st.node}'` : ''}: release it before a restore`, id, st.node ?? undefined);
      // lv-merge marks the merge; the kernel does it once the origin is mapped
      // (snapshot-merge), and the snapshot leaves the metadata when it reports
      // the merge done. Each part is found again after a crash: a merging
      // snapshot is not merged twice, an active origin is released again.
      const merging = s.snapshot!.merging ? v : (await call(id, () => vg.update('lv-merge', [sid]))).vg;
      await call(id, () => vg.activation({ lvs: [id] }));
      // Only the kernel is asked while the merge runs; the metadata is written once, when it is over.
      const until = Date.now() + 540_000;
      while (!mergedNow(merging).has(s.id)) {
        if (Date.now() > until) throw new BackendError('unavailable', `the merge of snapshot '${sid}' into '${id}' is not over after 9 minutes: it goes on in the kernel`, id);
        await new Promise((r) => setTimeout(r, 100));
      }
      await call(id, () => vg.settleMerges());
      await call(id, () => vg.activation({ deactivate: [id] }));
    },
  };

  /** The active device of a volume attached here; `connect` activates it when it is not. */
  async function local(v: Volume, connect: boolean): Promise<NodeDevice | null> {
    checkVolumeId(v.id, DVM_VOLUME_ID);
    const cur = (await vg.read()).vg;
    const lv = cur.lvs.find((l) => l.name === v.id && isVolume(l));
    if (!lv || fromTags(lv.tags).node !== node) return null;
    let dev = kernelDev(cur, lv);
    if (!active(dev)) {
      if (!connect) return null;
      log(`activate ${v.id}`);
      await call(v.id, () => vg.activation({ lvs: [v.id] }));
      dev = kernelDev(cur, lv);
      if (!active(dev)) return null;
    }
    const size = dev!.table.reduce((n, l) => n + l.length, 0) * 512;
    return { path: realpathSync(vg.mapperPath(v.id)), identity: dev!.uuid, size };
  }

  const nodePlane: NodePlane = {
    findDevice: (v, o) => local(v, o?.connect ?? true),

    async verifyDevice(v, devPath) {
      checkVolumeId(v.id, DVM_VOLUME_ID);
      const cur = (await vg.read()).vg;
      const lv = cur.lvs.find((l) => l.name === v.id && isVolume(l));
      if (!lv) return `volume '${v.id}' does not exist`;
      const st = fromTags(lv.tags);
      if (st.node !== node) return `volume '${v.id}' is not attached to node '${node}'${st.node ? ` (it is attached to '${st.node}')` : ''}`;
      const dev = kernelDev(cur, lv);
      if (!active(dev)) return `volume '${v.id}' is not active on this node`;
      let rdev;
      try {
        const s = statSync(devPath);
        if (!s.isBlockDevice()) return `'${devPath}' is not a block device`;
        rdev = splitDev(s.rdev);
      } catch {
        return `'${devPath}' does not exist`;
      }
      if (rdev.major !== dev!.major || rdev.minor !== dev!.minor) return `'${devPath}' is ${rdev.major}:${rdev.minor}, not volume '${v.id}''s dm device ${dev!.major}:${dev!.minor} (${dev!.uuid})`;
      const size = dev!.table.reduce((n, l) => n + l.length, 0) * 512;
      if (size !== lvSize(cur, lv)) return `device '${devPath}' is ${size} bytes but volume '${v.id}' is ${lvSize(cur, lv)}`;
      return null;
    },

    async refresh(v) {
      // The commit of the resize already reloaded the table of an active LV: this is a fresh look.
      return local(v, true);
    },

    async release(v) {
      checkVolumeId(v.id, DVM_VOLUME_ID);
      const cur = (await vg.read()).vg;
      const lv = cur.lvs.find((l) => l.name === v.id && isVolume(l));
      if (!lv) return;
      const st = fromTags(lv.tags);
      if (st.node !== null && st.node !== node) return;
      const dev = kernelDev(cur, lv);
      if (!dev) return;
      if ((dev.open_count ?? 0) > 0) throw new BackendError('in-use', `volume '${v.id}' is open (${vg.mapperPath(v.id)}, open count ${dev.open_count}): unmount or close it first`, v.id, node);
      log(`deactivate ${v.id}`);
      await call(v.id, () => vg.activation({ deactivate: [v.id] }));
    },
  };

  return {
    control: opts.credentialed ? control : null,
    node: nodePlane,
    volumeIdPattern: DVM_VOLUME_ID,
    close: async () => {},
  };
}
