// The memory backend's world: volumes, attachments and fake devices in one
// object that several in-process agents (different node names) share. Every
// call goes through `call`, which applies the knobs (latency, injected
// failures) and records it; list() applies eventual consistency. The fake
// devices hold bytes (sparse 4 KiB blocks) so an executor with injected
// effects can run its blank test and "mkfs" against them.
import { BackendError, type CreateRequest, META_CLUSTER } from '../../backend/types.js';
import { checkMetadata, checkSize, datasetOf } from '../../backend/common.js';
import type { Limits, Volume } from '../../docs.js';
import { defaultKnobs, type FailureRule, type MemoryKnobs, type MemoryOp, type VolumeSelector } from './knobs.js';
import { mulberry32 } from '../../../lib/prng.js';

const BLOCK = 4096;
export const MEMORY_ID = /^mem-[0-9]{6,12}$/;

interface MemVolume {
  id: string;
  name: string;
  size: number;
  metadata: Record<string, string>;
  attached: string | null;
  createdAt: number;
  /** The listing count when it was made (eventual consistency). */
  listingsAt: number;
  badReads: boolean;
  late: boolean;
  moved: boolean;
  blocks: Map<number, Buffer>;
}

/** A volume attached to a node, and the node's view of its device. */
interface Attachment {
  node: string;
  since: number;
  findCalls: number;
  /** The node plane connected it (loop: losetup); cleared by release and reboot. */
  connected: boolean;
  path: string;
  /** What the node sees; follows the volume's size only after refresh(). */
  size: number;
  /** Opens that pin the device (a fake mount); release refuses while > 0. */
  holds: number;
}

interface Gone {
  volume: Volume;
  at: number;
  listingsAt: number;
}

interface Snapshot {
  volumeId: string;
  size: number;
  blocks: Map<number, Buffer>;
}

export interface CallRecord {
  node: string;
  op: MemoryOp;
  volume: string | null;
  /** The error kind it failed with, or null. */
  failed: string | null;
}

/** mulberry32: small, seedable, good enough for test choices. */
function generator(seed: number): () => number {
  return mulberry32(seed);
}

const copyBlocks = (m: Map<number, Buffer>) => new Map([...m].map(([k, b]) => [k, Buffer.from(b)]));

/** vdb, vdc, ... vdz, vdb1, vdc1, ...: a new name every time. */
const letters = (n: number): string => String.fromCharCode(98 + (n % 25)) + (n >= 25 ? String(Math.floor(n / 25)) : '');

export class MemoryState {
  readonly knobs: MemoryKnobs;
  /** Every call made, in order (tests count them: a converged pass makes one listing). */
  readonly calls: CallRecord[] = [];
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly vols = new Map<string, MemVolume>();
  private readonly atts = new Map<string, Attachment>();
  private readonly gone = new Map<string, Gone>();
  private readonly snaps = new Map<string, Snapshot>();
  private readonly failures: FailureRule[];
  private readonly nodes = new Map<string, boolean>();
  private readonly pathCounter = new Map<string, number>();
  private nextId = 1;
  private nextSnap = 1;
  private listings = 0;

  constructor(knobs: Partial<MemoryKnobs> = {}, opts: { now?: () => number } = {}) {
    const d = defaultKnobs();
    this.knobs = { ...d, ...knobs, limits: { ...d.limits, ...knobs.limits } };
    this.failures = this.knobs.failures.map((r) => ({ ...r }));
    this.random = generator(this.knobs.seed);
    this.now = opts.now ?? Date.now;
  }

  // ---- knobs from code, at any time ----

  /** Adds a failure rule (see FailureRule); it applies to calls from now on. */
  injectFailure(rule: FailureRule): void {
    this.failures.push({ ...rule });
  }

  clearFailures(): void {
    this.failures.length = 0;
  }

  /** Sets a device fault on one volume, whatever the selectors said at create. */
  setFault(volumeId: string, fault: 'badReads' | 'late' | 'moved', on: boolean): void {
    const v = this.vols.get(volumeId);
    if (!v) throw new Error(`memory: no volume ${volumeId}`);
    v[fault] = on;
  }

  /** A random number from the state's seeded generator (tests share one seed). */
  rand(): number {
    return this.random();
  }

  // ---- the call wrapper ----

  registerNode(node: string): void {
    if (!this.nodes.has(node)) this.nodes.set(node, true);
  }

  async call<T>(node: string, op: MemoryOp, volumeId: string | null, fn: () => T, log?: (line: string) => void): Promise<T> {
    const rec: CallRecord = { node, op, volume: volumeId, failed: null };
    this.calls.push(rec);
    log?.(`memory ${op}${volumeId ? ` ${volumeId}` : ''} (node ${node})`);
    const wait = this.knobs.latencyMs + (this.knobs.jitterMs > 0 ? Math.floor(this.random() * this.knobs.jitterMs) : 0);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const fire = (after: boolean) => {
      const rule = this.matchFailure(op, volumeId, after);
      if (rule) {
        rec.failed = rule.kind;
        throw new BackendError(rule.kind, `injected failure: ${op}${volumeId ? ` '${volumeId}'` : ''}${after ? ' (after it took effect)' : ''}`, volumeId ?? undefined);
      }
    };
    fire(false);
    let result: T;
    try {
      result = fn();
    } catch (e) {
      if (e instanceof BackendError) rec.failed = e.kind;
      throw e;
    }
    fire(true);
    return structuredClone(result);
  }

  private matchFailure(op: MemoryOp, volumeId: string | null, after: boolean): FailureRule | null {
    for (let i = 0; i < this.failures.length; i++) {
      const r = this.failures[i];
      if (Boolean(r.after) !== after || (r.op !== '*' && r.op !== op)) continue;
      if (r.volume !== undefined && (volumeId === null || (r.volume !== volumeId && this.vols.get(volumeId)?.name !== r.volume))) continue;
      if (r.probability !== undefined && r.probability < 1 && this.random() >= r.probability) continue;
      if (r.times !== undefined && --r.times <= 0) this.failures.splice(i, 1);
      return r;
    }
    return null;
  }

  private selected(sel: VolumeSelector[], id: string, name: string): boolean {
    let hit = false;
    for (const s of sel) {
      if (s === '*' || s === id || s === name) hit = true;
      else if (s.startsWith('~') && this.random() < Number(s.slice(1))) hit = true;
    }
    return hit;
  }

  // ---- control plane ----

  limits(): Limits {
    return { ...this.knobs.limits };
  }

  private volumeDoc(v: MemVolume): Volume {
    return {
      id: v.id,
      dataset: datasetOf(v.metadata),
      name: v.name,
      size: v.size,
      status: v.attached ? 'in-use' : 'available',
      attached: v.attached,
      metadata: { ...v.metadata },
    };
  }

  private get(id: string): MemVolume {
    const v = this.vols.get(id);
    if (!v) throw new BackendError('unknown-volume', `no volume '${id}'`, id);
    return v;
  }

  /** Eventually consistent: see MemoryKnobs.lagListings / lagMs. `cluster` leaves out other clusters' volumes. */
  list(cluster?: string): Volume[] {
    this.listings++;
    const now = this.now();
    const settled = (listingsAt: number, at: number) => this.listings - listingsAt > this.knobs.lagListings && now - at >= this.knobs.lagMs;
    const out: Volume[] = [];
    for (const v of this.vols.values()) if (settled(v.listingsAt, v.createdAt)) out.push(this.volumeDoc(v));
    for (const [id, g] of this.gone) {
      if (settled(g.listingsAt, g.at)) this.gone.delete(id);
      else out.push({ ...g.volume, status: 'deleting' });
    }
    return out
      .filter((v) => cluster === undefined || v.metadata[META_CLUSTER] === undefined || v.metadata[META_CLUSTER] === cluster)
      .sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  /** A volume no cluster claims (made outside dvm), for adopt tests. Returns its id. */
  addForeignVolume(name: string, size: number, metadata: Record<string, string> = {}): string {
    return this.make(name, size, metadata).id;
  }

  private make(name: string, size: number, metadata: Record<string, string>): MemVolume {
    const id = `mem-${String(this.nextId++).padStart(6, '0')}`;
    const k = this.knobs;
    const v: MemVolume = {
      id,
      name,
      size,
      metadata: { ...metadata },
      attached: null,
      createdAt: this.now(),
      listingsAt: this.listings,
      badReads: this.selected(k.badReads, id, name),
      late: this.selected(k.late, id, name),
      moved: this.selected(k.moved, id, name),
      blocks: new Map(),
    };
    this.vols.set(id, v);
    return v;
  }

  create(req: CreateRequest): Volume {
    const lim = this.knobs.limits;
    const size = checkSize(req.size, lim);
    const metadata = { ...req.metadata, 'dvm.dataset': req.dataset, [META_CLUSTER]: req.cluster };
    checkMetadata(metadata);
    if (lim.max_volumes !== null && this.vols.size >= lim.max_volumes) throw new BackendError('limit-exceeded', `volume quota of ${lim.max_volumes} reached`);
    const used = [...this.vols.values()].reduce((a, v) => a + v.size, 0);
    if (lim.max_bytes !== null && used + size > lim.max_bytes) throw new BackendError('limit-exceeded', `byte quota of ${lim.max_bytes} would be exceeded (${used} used)`);
    return this.volumeDoc(this.make(req.name, size, metadata));
  }

  destroy(id: string): void {
    const v = this.get(id);
    if (v.attached) throw new BackendError('already-attached', `volume '${id}' is attached to node '${v.attached}': detach it first`, id, v.attached);
    this.vols.delete(id);
    for (const [sid, s] of this.snaps) if (s.volumeId === id) this.snaps.delete(sid);
    this.gone.set(id, { volume: this.volumeDoc(v), at: this.now(), listingsAt: this.listings });
  }

  attach(id: string, node: string): Volume {
    const v = this.get(id);
    if (v.attached) throw new BackendError('already-attached', `volume '${id}' is already attached to node '${v.attached}'`, id, v.attached);
    const per = this.knobs.limits.per_node;
    if (per !== null && [...this.vols.values()].filter((x) => x.attached === node).length >= per)
      throw new BackendError('limit-exceeded', `node '${node}' already has ${per} volumes attached`, id, node);
    v.attached = node;
    this.atts.set(id, { node, since: this.now(), findCalls: 0, connected: false, path: this.pathFor(v, node), size: v.size, holds: 0 });
    return this.volumeDoc(v);
  }

  private pathFor(v: MemVolume, node: string): string {
    if (!v.moved) return `/dev/memory/${node}/${v.id}`;
    const n = this.pathCounter.get(node) ?? 0;
    this.pathCounter.set(node, n + 1);
    return `/dev/memory/${node}/vd${letters(n)}`;
  }

  detach(id: string): void {
    const v = this.get(id);
    if (!v.attached) throw new BackendError('not-attached', `volume '${id}' is not attached`, id);
    const a = this.atts.get(id);
    if (a?.connected) throw new BackendError('in-use', `volume '${id}' is still connected on node '${a.node}'${a.holds ? ' and held' : ''}: release it there first`, id, a.node);
    v.attached = null;
    this.atts.delete(id);
  }

  resize(id: string, size: number): Volume {
    const v = this.get(id);
    const lim = this.knobs.limits;
    const to = checkSize(size, lim, id);
    if (to < v.size && !lim.can_shrink) throw new BackendError('unsupported', `volume '${id}' cannot shrink on this backend`, id);
    const used = [...this.vols.values()].reduce((a, x) => a + x.size, 0);
    if (lim.max_bytes !== null && used - v.size + to > lim.max_bytes) throw new BackendError('limit-exceeded', `byte quota of ${lim.max_bytes} would be exceeded`, id);
    if (to < v.size) for (const k of v.blocks.keys()) if (k * BLOCK >= to) v.blocks.delete(k);
    v.size = to;
    return this.volumeDoc(v);
  }

  setMetadata(id: string, metadata: Record<string, string>): void {
    const v = this.get(id);
    checkMetadata(metadata, id, v.metadata);
    Object.assign(v.metadata, metadata);
  }

  snapshot(id: string): string {
    const v = this.get(id);
    if (!this.knobs.limits.can_snapshot) throw new BackendError('unsupported', 'snapshots are off on this backend', id);
    const sid = `mem-snap-${String(this.nextSnap++).padStart(6, '0')}`;
    this.snaps.set(sid, { volumeId: id, size: v.size, blocks: copyBlocks(v.blocks) });
    return sid;
  }

  private snap(id: string, sid: string): Snapshot {
    const s = this.snaps.get(sid);
    if (!s || s.volumeId !== id) throw new BackendError('unknown-volume', `volume '${id}' has no snapshot '${sid}'`, id);
    return s;
  }

  removeSnapshot(id: string, sid: string): void {
    this.get(id);
    this.snap(id, sid);
    this.snaps.delete(sid);
  }

  /** Rolls back size and content; the volume must not be attached (dvm merges an inactive LV). */
  restoreSnapshot(id: string, sid: string): void {
    const v = this.get(id);
    const s = this.snap(id, sid);
    if (v.attached) throw new BackendError('in-use', `volume '${id}' is attached to node '${v.attached}': detach it before a restore`, id, v.attached);
    v.size = s.size;
    v.blocks = s.blocks;
    this.snaps.delete(sid);
  }

  liveNodes(): string[] {
    return [...this.nodes].filter(([, up]) => up).map(([n]) => n).sort();
  }

  // ---- node plane (per node) ----

  private attachmentHere(id: string, node: string): { v: MemVolume; a: Attachment } | null {
    const v = this.vols.get(id);
    const a = this.atts.get(id);
    return v && a && a.node === node ? { v, a } : null;
  }

  findDevice(id: string, node: string, connect = true): { path: string; identity: string; size: number } | null {
    const h = this.attachmentHere(id, node);
    if (!h) return null;
    const { v, a } = h;
    if (!a.connected) {
      if (!connect) return null;
      if (v.late && (a.findCalls < this.knobs.lateCalls || this.now() - a.since < this.knobs.lateMs)) {
        a.findCalls++;
        return null;
      }
      a.connected = true;
      a.size = v.size;
    }
    return { path: a.path, identity: `memory:${v.id}`, size: a.size };
  }

  verifyDevice(id: string, node: string, path: string): string | null {
    const v = this.vols.get(id);
    if (!v) return `volume '${id}' does not exist`;
    const h = this.attachmentHere(id, node);
    if (!h) return `volume '${id}' is not attached to node '${node}'${v.attached ? ` (it is attached to '${v.attached}')` : ''}`;
    if (!h.a.connected) return `volume '${id}' has no device connected on node '${node}'`;
    if (h.a.path !== path) return `'${path}' is not volume '${id}''s device (that is '${h.a.path}')`;
    if (h.a.size !== v.size) return `device '${path}' is ${h.a.size} bytes but volume '${id}' is ${v.size}: refresh it first`;
    return null;
  }

  refresh(id: string, node: string): { path: string; identity: string; size: number } | null {
    const h = this.attachmentHere(id, node);
    if (h?.a.connected) h.a.size = h.v.size;
    return this.findDevice(id, node);
  }

  release(id: string, node: string): void {
    const h = this.attachmentHere(id, node);
    if (!h || !h.a.connected) return;
    if (h.a.holds > 0) throw new BackendError('in-use', `device '${h.a.path}' of volume '${id}' is held (mounted or open ${h.a.holds} times)`, id, node);
    h.a.connected = false;
  }

  // ---- the fake devices, for executors with injected effects ----

  private byPath(path: string): { v: MemVolume; a: Attachment } {
    for (const [id, a] of this.atts) {
      if (a.connected && a.path === path) return { v: this.vols.get(id)!, a };
    }
    throw Object.assign(new Error(`${path}: no such device`), { code: 'ENXIO' });
  }

  /** The volume id behind a connected device path, or null. */
  volumeAt(path: string): string | null {
    for (const [id, a] of this.atts) if (a.connected && a.path === path) return id;
    return null;
  }

  /** Reads bytes as the node sees them (zeros where nothing was written); throws EIO for bad-read volumes. */
  readDevice(path: string, offset: number, length: number): Buffer {
    const { v, a } = this.byPath(path);
    if (v.badReads) throw Object.assign(new Error(`${path}: Input/output error`), { code: 'EIO' });
    if (offset < 0 || offset + length > a.size) throw Object.assign(new Error(`${path}: read past the end`), { code: 'EINVAL' });
    const out = Buffer.alloc(length);
    for (let p = offset; p < offset + length; ) {
      const blk = Math.floor(p / BLOCK);
      const within = p - blk * BLOCK;
      const n = Math.min(BLOCK - within, offset + length - p);
      v.blocks.get(blk)?.copy(out, p - offset, within, within + n);
      p += n;
    }
    return out;
  }

  writeDevice(path: string, offset: number, data: Uint8Array): void {
    const { v, a } = this.byPath(path);
    if (offset < 0 || offset + data.length > a.size) throw Object.assign(new Error(`${path}: write past the end`), { code: 'ENOSPC' });
    for (let p = offset; p < offset + data.length; ) {
      const blk = Math.floor(p / BLOCK);
      const within = p - blk * BLOCK;
      const n = Math.min(BLOCK - within, offset + data.length - p);
      let b = v.blocks.get(blk);
      if (!b) v.blocks.set(blk, (b = Buffer.alloc(BLOCK)));
      b.set(data.subarray(p - offset, p - offset + n), within);
      p += n;
    }
  }

  /** A fake mount or open: release() refuses while the device is held. */
  hold(path: string): void {
    this.byPath(path).a.holds++;
  }

  unhold(path: string): void {
    const { a } = this.byPath(path);
    if (a.holds === 0) throw new Error(`${path}: not held`);
    a.holds--;
  }

  /** The node restarts: its devices are disconnected and unheld (moved ones come back at a new path). */
  reboot(node: string): void {
    for (const [id, a] of this.atts) {
      if (a.node !== node) continue;
      a.connected = false;
      a.holds = 0;
      a.findCalls = 0;
      a.since = this.now();
      a.path = this.pathFor(this.vols.get(id)!, node);
    }
  }

  setNodeAlive(node: string, alive: boolean): void {
    this.nodes.set(node, alive);
  }

  /** Every volume as it is now, without the listing's lag or cluster filter (test oracle). */
  snapshotOfVolumes(): Volume[] {
    return [...this.vols.values()].map((v) => this.volumeDoc(v));
  }

  /** The node's view of a volume's device, for assertions: connected, held, path, size. */
  deviceState(id: string): { node: string; connected: boolean; holds: number; path: string; size: number } | null {
    const a = this.atts.get(id);
    return a ? { node: a.node, connected: a.connected, holds: a.holds, path: a.path, size: a.size } : null;
  }
}
