// A small in-process world for loop tests: a backend whose volumes live in a
// shared object (so several agents in one process form a cluster), and a host
// per node whose devices, filesystems and mounts are records. It does what it
// is told and remembers it; the real parts are covered by the root tier.
import type { Filesystem, Limits, Volume } from '../../src/agent/docs.js';
import { BackendError, type Backend, type ControlPlane, type NodePlane } from '../../src/agent/backend/types.js';
import type { Host, MountEntry, Probe } from '../../src/agent/apply/types.js';
import { randomUUID } from 'node:crypto';

export const FAKE_LIMITS: Limits = { allocation_unit: 1 << 20, min_size: 1 << 20, max_size: 2 ** 40, per_node: null, max_volumes: null, max_bytes: null, can_shrink: true, can_snapshot: false };

export class FakeWorld {
  volumes = new Map<string, Volume>();
  /** Filesystems by volume id (they live on the volume, whichever node sees it). */
  filesystems = new Map<string, { type: Filesystem; uuid: string; size: number }>();
  mkfsCount = new Map<string, number>();
  /** Volumes whose node released its device (until the next attach). */
  released = new Set<string>();
  /** What the backend says of its nodes' liveness (ControlPlane.liveNodes); null: it cannot tell. */
  live: string[] | null = null;
  private next = 1;

  backend(node: string, credentialed: boolean): Backend {
    const w = this;
    const get = (id: string) => {
      const v = w.volumes.get(id);
      if (!v) throw new BackendError('unknown-volume', `no volume '${id}'`, id);
      return v;
    };
    const control: ControlPlane = {
      spec: 'fake',
      limits: async () => FAKE_LIMITS,
      list: async () => [...w.volumes.values()].map((v) => structuredClone(v)),
      create: async (req) => {
        const id = `vol-${w.next++}`;
        const metadata = { ...req.metadata, 'dvm.dataset': req.dataset, 'dvm.cluster': req.cluster };
        const v: Volume = { id, dataset: req.dataset, name: req.name, size: req.size, status: 'available', attached: null, metadata };
        w.volumes.set(id, v);
        return structuredClone(v);
      },
      destroy: async (id) => {
        const v = get(id);
        if (v.attached) throw new BackendError('already-attached', `attached to ${v.attached}`, id, v.attached);
        w.volumes.delete(id);
        w.filesystems.delete(id);
      },
      attach: async (id, n) => {
        const v = get(id);
        if (v.attached) throw new BackendError('already-attached', `attached to ${v.attached}`, id, v.attached);
        v.attached = n;
        v.status = 'in-use';
        w.released.delete(id);
        return structuredClone(v);
      },
      detach: async (id) => {
        const v = get(id);
        if (!v.attached) throw new BackendError('not-attached', 'not attached', id);
        v.attached = null;
        v.status = 'available';
      },
      resize: async (id, size) => {
        const v = get(id);
        v.size = size;
        return structuredClone(v);
      },
      liveNodes: async () => (w.live === null ? null : [...w.live]),
      setMetadata: async (id, md) => {
        const v = get(id);
        v.metadata = { ...v.metadata, ...md };
        v.dataset = v.metadata['dvm.dataset'] ?? null;
      },
    };
    const devOf = (v: Volume) => `/dev/fake/${v.id}`;
    const nodePlane: NodePlane = {
      findDevice: async (v) => {
        const cur = w.volumes.get(v.id);
        return cur && cur.attached === node && !w.released.has(v.id) ? { path: devOf(cur), identity: cur.id, size: cur.size } : null;
      },
      verifyDevice: async (v, p) => {
        const cur = w.volumes.get(v.id);
        if (!cur || cur.attached !== node) return `volume '${v.id}' is not attached here`;
        return p === devOf(cur) ? null : `'${p}' is not the device of '${v.id}'`;
      },
      refresh: async (v) => {
        const cur = w.volumes.get(v.id);
        return cur && cur.attached === node ? { path: devOf(cur), identity: cur.id, size: cur.size } : null;
      },
      release: async (v) => {
        w.released.add(v.id);
      },
    };
    return { control: credentialed ? control : null, node: nodePlane, volumeIdPattern: /^vol-[0-9]+$/, close: async () => {} };
  }

  host(): FakeHost {
    return new FakeHost(this);
  }
}

const volOf = (device: string) => device.slice('/dev/fake/'.length);

export class FakeHost implements Host {
  readonly table: MountEntry[] = [];
  constructor(private readonly w: FakeWorld) {}
  async probe(device: string): Promise<Probe> {
    const fs = this.w.filesystems.get(volOf(device));
    return fs ? { blank: false, signature: { type: fs.type, uuid: fs.uuid, partition: null }, fs_size: fs.size, error: null } : { blank: true, signature: null, fs_size: null, error: null };
  }
  async mounts(): Promise<MountEntry[]> {
    return [...this.table];
  }
  async mountedAt(device: string): Promise<MountEntry | null> {
    return this.table.find((m) => m.source === device) ?? null;
  }
  async held(): Promise<string | null> {
    return null;
  }
  async mkfs(device: string, fs: Filesystem): Promise<string> {
    const id = volOf(device);
    this.w.mkfsCount.set(id, (this.w.mkfsCount.get(id) ?? 0) + 1);
    const uuid = randomUUID();
    this.w.filesystems.set(id, { type: fs, uuid, size: this.w.volumes.get(id)!.size });
    return uuid;
  }
  async fsck(): Promise<{ code: number; detail: string }> {
    return { code: 0, detail: '' };
  }
  async mount(device: string, path: string, fs: Filesystem, readOnly: boolean): Promise<void> {
    this.table.push({ source: device, devno: null, path, read_only: readOnly, fstype: fs });
  }
  async unmount(path: string): Promise<void> {
    const i = this.table.findIndex((m) => m.path === path);
    if (i < 0) throw new Error(`umount: ${path}: not mounted`);
    this.table.splice(i, 1);
  }
  async growFs(device: string): Promise<void> {
    const id = volOf(device);
    const fs = this.w.filesystems.get(id)!;
    fs.size = this.w.volumes.get(id)!.size;
  }
  async shrinkFs(device: string, _fs: Filesystem, size: number): Promise<void> {
    this.w.filesystems.get(volOf(device))!.size = size;
  }
}
