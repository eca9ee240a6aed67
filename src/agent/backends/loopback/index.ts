// loopback:DIR — sparse files and attachment records in a shared directory
// (files.ts); the node an attachment names connects a loop device to the
// file (loop.ts). Several agents on one machine with different --node names
// and one loopback:DIR form a test cluster. Every control call runs under
// DIR's lock. From code:
//   const b = await openLoopback('/srv/lb', { node: 'n1', credentialed: true, cluster });
// or openBackend('loopback:/srv/lb?per_node=8', ...) through the registry.
import { closeSync, existsSync, ftruncateSync, fsyncSync, mkdirSync, openSync, readFileSync, realpathSync, renameSync, statSync, truncateSync, unlinkSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { environmentError, usageError } from '../../../lib/errors.js';
import type { BackendSpec } from '../../backend/registry.js';
import type { Knobs } from '../../backend/knobs.js';
import { checkMetadata, checkSize, checkVolumeId, datasetOf } from '../../backend/common.js';
import { BackendError, META_CLUSTER, META_DATASET, type Backend, type BackendOptions, type ControlPlane, type NodeDevice, type NodePlane } from '../../backend/types.js';
import type { Limits, Volume } from '../../docs.js';
import { fsyncDir, LoopbackFiles, LOOPBACK_ID, SNAPSHOT_ID, writeAtomic, type VolumeRecord } from './files.js';
import { withLock } from './lock.js';
import { connect, disconnect, loopAt, loopsBacking, refreshLoop, type LoopDevice } from './loop.js';

export { LOOPBACK_ID } from './files.js';

const NODE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

export const LOOPBACK_LIMITS: Limits = {
  allocation_unit: 1 << 20,
  min_size: 1 << 20,
  max_size: 2 ** 40,
  per_node: 64,
  max_volumes: null,
  max_bytes: null,
  can_shrink: true,
  can_snapshot: true,
  // Consistent listings: every call runs under DIR's lock and a volume is a
  // record renamed into place, so a listing taken after a create started
  // either shows its volume or the create never made one (what a killed
  // create left is swept): the planner need not wait to create again.
  create_grace_ms: 0,
};

/** unit, min, max, max_bytes (sizes) · per_node, max_volumes (N or none) · shrink, snapshot (yes/no). */
export function limitsFromKnobs(k: Knobs): Limits {
  const d = LOOPBACK_LIMITS;
  const lim: Limits = {
    allocation_unit: k.size('unit', d.allocation_unit),
    min_size: k.size('min', d.min_size),
    max_size: k.size('max', d.max_size),
    per_node: k.intOrNone('per_node', d.per_node, 1),
    max_volumes: k.intOrNone('max_volumes', d.max_volumes),
    max_bytes: k.sizeOrNone('max_bytes', d.max_bytes),
    can_shrink: k.bool('shrink', d.can_shrink),
    can_snapshot: k.bool('snapshot', d.can_snapshot),
    create_grace_ms: d.create_grace_ms,
  };
  k.done();
  if (lim.allocation_unit % 512 !== 0) throw usageError('invalid backend', k.spec, 'unit must be a whole number of 512-byte sectors');
  return lim;
}

export async function openFromSpec(spec: BackendSpec, opts: BackendOptions): Promise<Backend> {
  const limits = limitsFromKnobs(spec.knobs);
  return openLoopback(spec.arg!, opts, { limits, spec: spec.text });
}

/** The directory must exist (exit 4 otherwise); volumes/ and snapshots/ are made inside it. */
export async function openLoopback(dir: string, opts: BackendOptions, o: { limits?: Partial<Limits>; spec?: string } = {}): Promise<Backend> {
  const spec = o.spec ?? `loopback:${dir}`;
  let real: string;
  try {
    real = realpathSync(dir);
    if (!statSync(real).isDirectory()) throw environmentError('backend', spec, `'${dir}' is not a directory`);
  } catch (e) {
    if (e instanceof Error && e.name === 'ToolError') throw e;
    throw environmentError('backend', spec, `directory '${dir}' does not exist`);
  }
  const files = new LoopbackFiles(real);
  mkdirSync(files.volumes, { recursive: true, mode: 0o700 });
  mkdirSync(files.snapshots, { recursive: true, mode: 0o700 });
  const limits = { ...LOOPBACK_LIMITS, ...o.limits };
  const node = opts.node;
  const log = (line: string) => opts.log?.(`loopback ${line} (node ${node})`);
  const locked = <T>(fn: () => Promise<T> | T) => withLock(files.lockFile, fn);

  const need = (id: string): VolumeRecord => {
    checkVolumeId(id, LOOPBACK_ID);
    const r = files.read(id);
    if (!r) throw new BackendError('unknown-volume', `no volume '${id}' in ${real}`, id);
    return r;
  };

  const toVolume = (r: VolumeRecord): Volume => {
    const size = files.size(r.id);
    return {
      id: r.id,
      dataset: datasetOf(r.metadata),
      name: r.name,
      size: size ?? 0,
      status: size === null ? 'error' : r.attached ? 'in-use' : 'available',
      attached: r.attached,
      metadata: { ...r.metadata },
    };
  };

  const all = () => files.ids().flatMap((id) => {
    const r = files.read(id);
    return r ? [r] : [];
  });

  const control: ControlPlane = {
    spec,
    async limits() {
      return { ...limits };
    },

    async list() {
      log('list');
      return all()
        .map(toVolume)
        .filter((v) => opts.cluster === undefined || v.metadata[META_CLUSTER] === undefined || v.metadata[META_CLUSTER] === opts.cluster);
    },

    async create(req) {
      log(`create ${req.name}`);
      const size = checkSize(req.size, limits);
      const metadata = { ...req.metadata, [META_DATASET]: req.dataset, [META_CLUSTER]: req.cluster };
      checkMetadata(metadata);
      if (typeof req.name !== 'string' || req.name.length > 255 || /[\n\r\0]/.test(req.name)) throw new BackendError('invalid', 'a volume name is one line of at most 255 characters');
      return locked(() => {
        for (const f of files.sweep((img) => loopsBacking(img).length > 0)) log(`swept ${f}`);
        const vols = all();
        if (limits.max_volumes !== null && vols.length >= limits.max_volumes) throw new BackendError('limit-exceeded', `volume quota of ${limits.max_volumes} reached`);
        const used = vols.reduce((a, r) => a + (files.size(r.id) ?? 0), 0);
        if (limits.max_bytes !== null && used + size > limits.max_bytes) throw new BackendError('limit-exceeded', `byte quota of ${limits.max_bytes} would be exceeded (${used} used)`);
        const id = `lb-${randomBytes(8).toString('hex')}`;
        // The image first: a crash before the record leaves only an unlisted file.
        const fd = openSync(files.image(id), 'wx', 0o600);
        try {
          ftruncateSync(fd, size);
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
        const rec: VolumeRecord = { format: 'dvm.loopback-volume/1', id, name: req.name, metadata, attached: null, created_at: new Date().toISOString() };
        writeAtomic(files.record(id), rec);
        return toVolume(rec);
      });
    },

    async destroy(id) {
      log(`destroy ${id}`);
      checkVolumeId(id, LOOPBACK_ID);
      return locked(() => {
        const r = need(id);
        if (r.attached) throw new BackendError('already-attached', `volume '${id}' is attached to node '${r.attached}': detach it first`, id, r.attached);
        if (loopsBacking(files.image(id)).length > 0) throw new BackendError('in-use', `volume '${id}' still has a loop device: release it first`, id);
        unlinkSync(files.record(id)); // the volume is gone from here on
        fsyncDir(files.volumes);
        unlinkSync(files.image(id));
        for (const sid of files.snapIds()) {
          if (files.readSnap(sid)?.volume !== id) continue;
          unlinkSync(files.snapRecord(sid));
          if (existsSync(files.snapImage(sid))) unlinkSync(files.snapImage(sid));
        }
      });
    },

    async attach(id, to) {
      log(`attach ${id} ${to}`);
      checkVolumeId(id, LOOPBACK_ID);
      if (!NODE.test(to)) throw new BackendError('invalid', `node name '${String(to).slice(0, 64)}' is not hostname-like`, id);
      return locked(() => {
        const r = need(id);
        if (r.attached) throw new BackendError('already-attached', `volume '${id}' is already attached to node '${r.attached}'`, id, r.attached);
        if (limits.per_node !== null && all().filter((x) => x.attached === to).length >= limits.per_node)
          throw new BackendError('limit-exceeded', `node '${to}' already has ${limits.per_node} volumes attached`, id, to);
        const next = { ...r, attached: to };
        writeAtomic(files.record(id), next);
        return toVolume(next);
      });
    },

    async detach(id) {
      log(`detach ${id}`);
      checkVolumeId(id, LOOPBACK_ID);
      return locked(() => {
        const r = need(id);
        if (!r.attached) throw new BackendError('not-attached', `volume '${id}' is not attached`, id);
        const loops = loopsBacking(files.image(id));
        if (loops.length > 0)
          throw new BackendError('in-use', `volume '${id}' is still connected (${loops.map((l) => l.path).join(', ')}) on node '${r.attached}': release it there first`, id, r.attached);
        writeAtomic(files.record(id), { ...r, attached: null });
      });
    },

    async resize(id, size) {
      log(`resize ${id} ${size}`);
      checkVolumeId(id, LOOPBACK_ID);
      return locked(() => {
        const r = need(id);
        const to = checkSize(size, limits, id);
        const from = files.size(id) ?? 0;
        if (to < from && !limits.can_shrink) throw new BackendError('unsupported', `volume '${id}' cannot shrink on this backend`, id);
        if (limits.max_bytes !== null) {
          const used = all().reduce((a, x) => a + (files.size(x.id) ?? 0), 0);
          if (used - from + to > limits.max_bytes) throw new BackendError('limit-exceeded', `byte quota of ${limits.max_bytes} would be exceeded`, id);
        }
        if (to !== from) truncateSync(files.image(id), to);
        return toVolume(r);
      });
    },

    async setMetadata(id, metadata) {
      log(`set-metadata ${id}`);
      checkVolumeId(id, LOOPBACK_ID);
      return locked(() => {
        const r = need(id);
        checkMetadata(metadata, id, r.metadata);
        writeAtomic(files.record(id), { ...r, metadata: { ...r.metadata, ...metadata } });
      });
    },

    async snapshot(id, name) {
      log(`snapshot ${id}`);
      checkVolumeId(id, LOOPBACK_ID);
      if (!limits.can_snapshot) throw new BackendError('unsupported', 'snapshots are off on this backend', id);
      return locked(async () => {
        need(id);
        const sid = `lbs-${randomBytes(8).toString('hex')}`;
        const { execa } = await import('execa');
        // A reflink where the filesystem has them, else a sparse copy.
        const r = await execa('cp', ['--reflink=auto', '--sparse=always', files.image(id), files.snapImage(sid)], { reject: false });
        if (r.exitCode !== 0) throw new BackendError('unavailable', `snapshot of '${id}': ${String(r.stderr).trim().split('\n')[0]}`, id);
        writeAtomic(files.snapRecord(sid), { format: 'dvm.loopback-snapshot/1', id: sid, volume: id, name: String(name).slice(0, 255), size: files.size(id) ?? 0, created_at: new Date().toISOString() });
        return sid;
      });
    },

    async removeSnapshot(id, sid) {
      log(`remove-snapshot ${id} ${sid}`);
      checkVolumeId(id, LOOPBACK_ID);
      return locked(() => {
        need(id);
        if (!SNAPSHOT_ID.test(sid) || files.readSnap(sid)?.volume !== id) throw new BackendError('unknown-volume', `volume '${id}' has no snapshot '${sid}'`, id);
        unlinkSync(files.snapRecord(sid));
        unlinkSync(files.snapImage(sid));
      });
    },

    async restoreSnapshot(id, sid) {
      log(`restore-snapshot ${id} ${sid}`);
      checkVolumeId(id, LOOPBACK_ID);
      return locked(() => {
        const r = need(id);
        if (!SNAPSHOT_ID.test(sid) || files.readSnap(sid)?.volume !== id) throw new BackendError('unknown-volume', `volume '${id}' has no snapshot '${sid}'`, id);
        if (r.attached) throw new BackendError('in-use', `volume '${id}' is attached to node '${r.attached}': detach it before a restore`, id, r.attached);
        renameSync(files.snapImage(sid), files.image(id)); // atomic: the old content or the snapshot's
        fsyncDir(files.volumes);
        unlinkSync(files.snapRecord(sid));
      });
    },
  };

  /** The loop device of a volume attached here, or null; `connectIt` makes one when there is none (after a reboot too). */
  async function local(v: Volume, connectIt: boolean): Promise<NodeDevice | null> {
    checkVolumeId(v.id, LOOPBACK_ID);
    const r = files.read(v.id);
    if (!r || r.attached !== node) return null;
    const file = files.image(v.id);
    // A walk of this pass may answer; connecting looks afresh under the lock.
    const found = loopsBacking(file, { maxAgeMs: 1000 });
    if (found.length > 1) throw new BackendError('invalid', `volume '${v.id}' has several loop devices (${found.map((l) => l.path).join(', ')}): resolve by hand`, v.id);
    let dev: LoopDevice | undefined = found[0];
    if (!dev) {
      if (!connectIt) return null;
      dev = await locked(async () => {
        const again = files.read(v.id);
        if (!again || again.attached !== node) return undefined;
        return loopsBacking(file)[0] ?? (log(`connect ${v.id}`), await connect(file, v.id));
      });
      if (!dev) return null;
    }
    return { path: dev.path, identity: dev.backingFile, size: dev.size };
  }

  const nodePlane: NodePlane = {
    findDevice: (v, o) => local(v, o?.connect ?? true),

    async verifyDevice(v, devPath) {
      checkVolumeId(v.id, LOOPBACK_ID);
      const r = files.read(v.id);
      if (!r) return `volume '${v.id}' does not exist`;
      if (r.attached !== node) return `volume '${v.id}' is not attached to node '${node}'${r.attached ? ` (it is attached to '${r.attached}')` : ''}`;
      const dev = loopAt(devPath);
      if (!dev) return `'${devPath}' is not a connected loop device`;
      const file = files.image(v.id);
      if (dev.backingFile !== file) return `'${devPath}' is backed by '${dev.backingFile}', not volume '${v.id}''s '${file}'`;
      const offset = readFileSync(`/sys/block/${dev.name}/loop/offset`, 'utf8').trim();
      if (offset !== '0') return `'${devPath}' maps '${file}' from offset ${offset}, not the whole volume`;
      const size = files.size(v.id);
      if (dev.size !== size) return `device '${devPath}' is ${dev.size} bytes but volume '${v.id}' is ${size}: refresh it first`;
      return null;
    },

    async refresh(v) {
      const d = await local(v, true);
      if (!d) return null;
      const dev = loopAt(d.path)!;
      log(`refresh ${v.id} ${d.path}`);
      await refreshLoop(dev, v.id);
      return local(v, false);
    },

    async release(v) {
      checkVolumeId(v.id, LOOPBACK_ID);
      const r = files.read(v.id);
      // Only the node the volume is attached to releases its devices; a record
      // that is gone leaves nothing of ours to release here.
      if (r && r.attached !== null && r.attached !== node) return;
      for (const dev of loopsBacking(files.image(v.id))) {
        log(`release ${v.id} ${dev.path}`);
        await disconnect(dev, v.id);
      }
    },
  };

  return {
    control: opts.credentialed ? control : null,
    node: nodePlane,
    volumeIdPattern: LOOPBACK_ID,
    close: async () => {},
  };
}
