// A small cluster in one process for executor and property tests: a
// credentialed controller `c` (no data) and nodes n1, n2 on one memory
// backend state, an in-memory store, a simulated host per node, and a
// simulated clock. `pass()` is one agent pass on every live node: the
// credentialed listing, each node's local discovery, then plan and apply.
// Every destructive call is checked against the invariants as it is made.
import { memoryBackend, MemoryState, type MemoryKnobs } from '../../src/agent/backends/memory/index.js';
import type { Backend } from '../../src/agent/backend/types.js';
import type { DesiredDataset, Filesystem, PlanDoc, StepResult, Volume } from '../../src/agent/docs.js';
import { apply } from '../../src/agent/apply/index.js';
import { discoverLocal } from '../../src/agent/local/index.js';
import { plan } from '../../src/agent/plan/index.js';
import type { PlanNode } from '../../src/agent/plan/types.js';
import { MemStore, leadershipFor } from './mem-store.js';
import { SimHost, type DeviceBytes } from './sim-host.js';

export const CLUSTER = '11111111-1111-4111-8111-111111111111';
export const NODES = ['c', 'n1', 'n2'] as const;
export const MOUNT_ROOT = '/mnt/dvm';

export class World {
  clock = Date.parse('2026-12-02T03:00:00Z');
  readonly state: MemoryState;
  readonly store = new MemStore(CLUSTER);
  readonly backends: Record<string, Backend> = {};
  readonly hosts: Record<string, SimHost> = {};
  readonly alive: Record<string, boolean> = { c: true, n1: true, n2: true };
  readonly violations: string[] = [];
  readonly results: StepResult[] = [];
  /** Volumes that held someone else's data from the start: never formatted. */
  readonly foreign = new Set<string>();
  lastPlans: Record<string, PlanDoc> = {};

  constructor(knobs: Partial<MemoryKnobs> = {}) {
    this.state = new MemoryState(knobs, { now: () => this.clock });
    this.store.leader = 'c';
    const st = this.state;
    const bytes: DeviceBytes = {
      readDevice: (p, o, l) => st.readDevice(p, o, l),
      writeDevice: (p, o, d) => st.writeDevice(p, o, d),
      hold: (p) => st.hold(p),
      unhold: (p) => st.unhold(p),
      sizeOf: (p) => {
        const id = st.volumeAt(p);
        if (!id) throw Object.assign(new Error(`${p}: no such device`), { code: 'ENXIO' });
        return st.deviceState(id)!.size;
      },
    };
    for (const n of NODES) {
      this.backends[n] = this.guard(memoryBackend(st, { node: n, credentialed: n === 'c', cluster: CLUSTER }));
      this.hosts[n] = this.guardHost(new SimHost(n, bytes), n);
    }
  }

  now = () => new Date(this.clock);

  private desiredOf(volumeId: string): { id: string; d: DesiredDataset } | null {
    const v = this.state.snapshotOfVolumes().find((x) => x.id === volumeId);
    if (!v || !v.dataset) return null;
    const d = this.store.desired.datasets[v.dataset];
    return d ? { id: v.dataset, d } : null;
  }

  /** The backend with the invariants checked at each destructive call. */
  private guard(b: Backend): Backend {
    const c = b.control;
    if (!c) return b;
    const w = this;
    const control = {
      ...c,
      async detach(id: string) {
        const dev = w.state.deviceState(id);
        if (dev?.connected || (dev?.holds ?? 0) > 0) w.violations.push(`detach of ${id} while its device is connected or held on ${dev!.node}`);
        for (const h of Object.values(w.hosts)) if (dev && h.mountTable.some((m) => m.source === dev.path)) w.violations.push(`detach of ${id} while mounted on ${h.node}`);
        return c.detach(id);
      },
      async destroy(id: string) {
        const exists = w.state.snapshotOfVolumes().some((x) => x.id === id);
        const e = w.desiredOf(id);
        // A repeat of a destroy that went through (and reported a failure) finds nothing to destroy.
        if (exists && (!e || !e.d.deleted)) w.violations.push(`destroy of ${id}, whose dataset is not marked deleted`);
        if (e?.d.app) w.violations.push(`destroy of ${id}, bound to an application`);
        return c.destroy(id);
      },
      async resize(id: string, size: number) {
        const v = w.state.snapshotOfVolumes().find((x) => x.id === id);
        const e = w.desiredOf(id);
        if (v && size < v.size && !(e && e.d.shrink_to !== undefined && e.d.shrink_to <= v.size)) w.violations.push(`shrink of ${id} to ${size} without a shrink request`);
        return c.resize(id, size);
      },
      async create(req: Parameters<typeof c.create>[0]) {
        const r = await c.create(req);
        const n = w.state.snapshotOfVolumes().filter((x) => x.dataset === req.dataset).length;
        if (n > 1) w.violations.push(`a second volume for dataset ${req.dataset}`);
        return r;
      },
    };
    return { ...b, control };
  }

  private guardHost(h: SimHost, node: string): SimHost {
    const w = this;
    const mkfs = h.mkfs.bind(h);
    h.mkfs = async (device: string, fs: Filesystem, label?: string) => {
      const id = w.state.volumeAt(device);
      const before = await h.probe(device);
      if (id && w.foreign.has(id)) w.violations.push(`mkfs of ${id}, which held foreign data`);
      if (before.signature) w.violations.push(`mkfs on ${node} of ${device}, which holds a ${before.signature.type} filesystem`);
      if (before.blank === null) w.violations.push(`mkfs on ${node} of unreadable ${device}`);
      const ds = id ? w.desiredOf(id) : null;
      const st = ds ? w.store.statuses[ds.id] : undefined;
      if (st?.formatted) w.violations.push(`mkfs of dataset ${ds!.id}, which has a formatted record`);
      if (before.blank === false && st?.markers.mkfs_started?.volume !== id) w.violations.push(`mkfs of non-blank ${device} without our marker`);
      return mkfs(device, fs, label ?? "dvm");
    };
    const shrink = h.shrinkFs.bind(h);
    h.shrinkFs = async (device, fs, size) => {
      const id = w.state.volumeAt(device);
      const ds = id ? w.desiredOf(id) : null;
      if (!ds || ds.d.shrink_to === undefined) w.violations.push(`filesystem shrink of ${device} without a shrink request`);
      return shrink(device, fs, size);
    };
    return h;
  }

  async create(name: string, over: Partial<DesiredDataset> = {}): Promise<string> {
    const id = `${'2'.repeat(8)}-0000-4000-8000-${String(Object.keys(this.store.desired.datasets).length + 1).padStart(12, '0')}`;
    await this.store.updateDesired((doc) => {
      doc.datasets[id] = { name, size: 16 * 1024 * 1024, filesystem: 'ext4', node: 'n1', mount: null, deleted: false, changed: this.now().toISOString(), ...over };
      return doc;
    });
    return id;
  }

  async change(id: string, over: Partial<DesiredDataset>): Promise<void> {
    await this.store.updateDesired((doc) => {
      doc.datasets[id] = { ...doc.datasets[id], ...over, changed: this.now().toISOString() };
      for (const [k, v] of Object.entries(over)) if (v === undefined) delete (doc.datasets[id] as unknown as Record<string, unknown>)[k];
      return doc;
    });
  }

  /** One pass on every live node, in the given order (default: c, n1, n2). */
  async pass(order: string[] = [...NODES]): Promise<StepResult[]> {
    this.clock += 10_000;
    const out: StepResult[] = [];
    if (this.alive.c && this.store.leader === 'c') {
      const c = this.backends.c.control!;
      try {
        const volumes: Volume[] = await c.list();
        const limits = await c.limits();
        const live = (await c.liveNodes?.()) ?? null;
        await this.store.writeListing({ format: 'dvm.volumes/1', backend: 'memory', listed_at: this.now().toISOString(), listed_by: 'c', volumes, limits, live_nodes: live });
      } catch {
        /* an injected listing failure: the last listing stands */
      }
    }
    const listing = await this.store.readListing();
    const desired = (await this.store.readDesired()).value;
    for (const n of order) {
      if (!this.alive[n]) continue;
      const st = await discoverLocal({ desired, node: n, mountRoot: MOUNT_ROOT, volumes: listing?.volumes ?? [], nodePlane: this.backends[n].node, host: this.hosts[n], apps: [], now: this.now });
      await this.store.writeNodeState(st, { credentialed: n === 'c' });
    }
    for (const n of order) {
      if (!this.alive[n]) continue;
      const p = await this.planFor(n);
      this.lastPlans[n] = p;
      const r = await apply(p, {
        node: n,
        backend: this.backends[n],
        store: this.store,
        leadership: n === 'c' ? leadershipFor(this.store, 'c') : null,
        host: this.hosts[n],
        mountRoot: MOUNT_ROOT,
        now: this.now,
      });
      out.push(...r.results);
    }
    this.results.push(...out);
    this.checkVolumes();
    return out;
  }

  async planFor(n: string): Promise<PlanDoc> {
    const entries = await this.store.readNodes();
    const nodes: Record<string, PlanNode> = {};
    for (const m of NODES) nodes[m] = { state: entries[m]?.state ?? null, alive: this.alive[m], leader: this.store.leader === m && this.alive[m] };
    return plan({
      desired: (await this.store.readDesired()).value,
      statuses: await this.store.readStatuses(),
      listing: await this.store.readListing(),
      nodes,
      node: n,
      credentialed: n === 'c',
      now: this.now().toISOString(),
    });
  }

  checkVolumes(): void {
    const per = new Map<string, number>();
    for (const v of this.state.snapshotOfVolumes()) if (v.dataset) per.set(v.dataset, (per.get(v.dataset) ?? 0) + 1);
    for (const [d, n] of per) if (n > 1 && !this.violations.some((x) => x.includes(d))) this.violations.push(`${n} volumes for dataset ${d}`);
    // Never a dataset mounted on two nodes at once.
    const mounted = new Map<string, string>();
    for (const h of Object.values(this.hosts)) {
      for (const m of h.mountTable) {
        const id = this.state.volumeAt(m.source);
        if (!id) {
          this.violations.push(`a mount on ${h.node} of '${m.source}', which is no longer a connected device`);
          continue;
        }
        if (mounted.has(id) && mounted.get(id) !== h.node) this.violations.push(`volume ${id} mounted on ${mounted.get(id)} and ${h.node}`);
        mounted.set(id, h.node);
      }
    }
  }

  /** Passes until the credentialed node's plan shows every dataset converged (or `max` passes). */
  async converge(max = 40): Promise<number> {
    for (let i = 1; i <= max; i++) {
      await this.pass();
      const p = await this.planFor('c');
      if (Object.values(p.datasets).every((s) => s.phase === 'converged')) return i;
    }
    return -1;
  }

  /** A node restarts: its devices disconnect and its mounts are gone. */
  reboot(n: string): void {
    this.state.reboot(n);
    this.hosts[n].reboot();
  }
}
