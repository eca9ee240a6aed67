// The directory store (`--store DIR`): the agent's shared state on one
// machine, as small files so that no single value grows with the cluster.
//
//   DIR/                    0700, refused when others can write it
//     store.json            the cluster id, made once
//     desired/<id>.json     one desired entry per dataset (dvm.datasets/1 is assembled from them)
//     status/<id>.json      dvm.dataset-status/1 per dataset
//     nodes/<node>.json     that node's dvm.node-state/1 and whether it runs credentialed
//     nodes/<node>.lock     held (flock) by the node's running agent: its liveness
//     fences/<node>.json    dvm.node-fence/1: an operator declared the node gone
//     listing.json          the credentialed node's last dvm.volumes/1
//     election.lock         held by the credentialed agent while it runs
//     desired.lock          operator changes exclusive, reads shared
//     status.lock           status read-modify-writes exclusive
//
// Every write replaces a file atomically (write, fsync, rename, fsync the
// directory). Every document read is validated: the store is input.
import { closeSync, watch as fsWatch, type FSWatcher } from 'node:fs';
import { createHash, randomUUID } from 'node:crypto';
import path from 'node:path';
import { canonicalJson } from '../../../lib/canonical-json.js';
import { causeOf, environmentError, invalidInput } from '../../../lib/errors.js';
import { flock, flockPoll } from '../../../lib/flock.js';
import { validate } from '../../../lib/schema.js';
import type { DatasetsDoc, DatasetStatus, DesiredDataset, NodeFence, NodeStateDoc, VolumesDoc } from '../../docs.js';
import { desiredProblem } from '../../desired-check.js';
import { redact } from '../../redact.js';
import { fenceWords, NodeAlive, NodeFenced, StoreConflict, StoreUnavailable, type Leadership, type NodeEntry, type Revisioned, type Store } from '../types.js';
import { DirLeadership, electionHolder } from './election.js';
import { checkPrivate, ensureDir, fsyncDir, listDocs, openLockFile, readIfExists, removeFile, removeStaleTemporaries, writeAtomic } from './files.js';

const STORE_FORMAT = 'dvm.store-dir/1';
const NODE_FORMAT = 'dvm.store-node/1';
const ID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const NODE_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const SUBDIRS = ['desired', 'status', 'nodes', 'fences'] as const; // fences/ is made on the first open of an older store
/** How long a lock wait may take before the store counts as unavailable. */
const LOCK_TIMEOUT_MS = 30_000;

function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw invalidInput('invalid input', source, `not JSON (${(e as Error).message})`);
  }
}

export interface DirStoreOptions {
  /** Make the directory (0700) when it does not exist; its parent must. */
  create?: boolean;
}

export async function openDirStore(dir: string, opts: DirStoreOptions = {}): Promise<DirStore> {
  const abs = path.resolve(dir);
  if (opts.create) ensureDir(abs);
  checkPrivate(abs, true);
  for (const sub of SUBDIRS) {
    ensureDir(path.join(abs, sub));
    checkPrivate(path.join(abs, sub), false);
  }
  const store = new DirStore(abs);
  await store.init();
  return store;
}

export class DirStore implements Store {
  readonly describe: string;
  private cluster = '';
  private readonly nodeLocks = new Map<string, number>();
  private readonly leaderships: DirLeadership[] = [];
  private readonly watchers = new Set<() => void>();
  private closed = false;

  constructor(readonly dir: string) {
    this.describe = dir;
  }

  private file(...parts: string[]): string {
    return path.join(this.dir, ...parts);
  }

  /** Runs `fn` holding `lockName` in `mode`; the kernel drops it if we die. */
  private async locked<T>(lockName: string, mode: 'ex' | 'sh', fn: () => T | Promise<T>): Promise<T> {
    const fd = openLockFile(this.file(lockName));
    try {
      if (!(await flockPoll(fd, mode, LOCK_TIMEOUT_MS))) throw new StoreUnavailable(`lock '${this.file(lockName)}': still held by another process after ${LOCK_TIMEOUT_MS / 1000} s`);
      return await fn();
    } finally {
      closeSync(fd); // releases the lock
    }
  }

  async init(): Promise<void> {
    const existing = this.readStoreInfo();
    if (existing) {
      this.cluster = existing;
      return;
    }
    await this.locked('desired.lock', 'ex', () => {
      this.cluster = this.readStoreInfo() ?? this.makeStoreInfo();
    });
  }

  private readStoreInfo(): string | null {
    const f = this.file('store.json');
    const text = readIfExists(f);
    if (text === null) return null;
    const doc = parseJson(text, f) as { format?: unknown; cluster?: unknown };
    if (doc?.format !== STORE_FORMAT || typeof doc.cluster !== 'string' || !ID_RE.test(doc.cluster)) throw invalidInput('invalid input', f, `expected ${STORE_FORMAT} with a cluster id`);
    return doc.cluster;
  }

  private makeStoreInfo(): string {
    const cluster = randomUUID();
    writeAtomic(this.file('store.json'), canonicalJson({ format: STORE_FORMAT, cluster, created: new Date().toISOString() }));
    return cluster;
  }

  // ---- desired state ----

  private readDesiredUnlocked(): DatasetsDoc {
    const datasets: Record<string, DesiredDataset> = {};
    const dir = this.file('desired');
    for (const name of listDocs(dir)) {
      const id = name.slice(0, -'.json'.length);
      const f = path.join(dir, name);
      if (!ID_RE.test(id)) throw invalidInput('invalid input', f, 'file name is not a dataset id');
      const text = readIfExists(f);
      if (text === null) continue; // removed between listing and reading (a reader without the lock)
      const entry = parseJson(text, f) as DesiredDataset;
      validate('dvm.datasets/1', { format: 'dvm.datasets/1', cluster: this.cluster, datasets: { [id]: entry } }, f);
      datasets[id] = entry;
    }
    const doc: DatasetsDoc = { format: 'dvm.datasets/1', cluster: this.cluster, datasets };
    const problem = desiredProblem(doc);
    if (problem) throw invalidInput('invalid input', dir, problem);
    return doc;
  }

  private static revisionOf(doc: DatasetsDoc): string {
    return createHash('sha256').update(canonicalJson(doc)).digest('hex').slice(0, 24);
  }

  async readDesired(): Promise<Revisioned<DatasetsDoc>> {
    const value = await this.locked('desired.lock', 'sh', () => this.readDesiredUnlocked());
    return { value, revision: DirStore.revisionOf(value) };
  }

  async updateDesired(change: (doc: DatasetsDoc) => DatasetsDoc): Promise<Revisioned<DatasetsDoc>> {
    return this.locked('desired.lock', 'ex', () => {
      const dir = this.file('desired');
      removeStaleTemporaries(dir);
      const before = this.readDesiredUnlocked();
      const next = change(structuredClone(before));
      validate<DatasetsDoc>('dvm.datasets/1', next, 'desired state');
      if (next.cluster !== this.cluster) throw new StoreConflict(`desired state '${this.dir}': the cluster id cannot change`);
      const problem = desiredProblem(next);
      if (problem) throw invalidInput('invalid input', 'desired state', problem);
      // One file per changed entry; each replaced atomically. An operator
      // change touches one dataset, so no change is ever half-applied.
      let touched = false;
      for (const [id, entry] of Object.entries(next.datasets)) {
        const text = canonicalJson(entry);
        const old = before.datasets[id];
        if (old && canonicalJson(old) === text) continue;
        writeAtomic(path.join(dir, `${id}.json`), text, { syncDir: false });
        touched = true;
      }
      for (const id of Object.keys(before.datasets)) {
        if (!(id in next.datasets)) touched = removeFile(path.join(dir, `${id}.json`), { syncDir: false }) || touched;
      }
      if (touched) this.syncDir(dir);
      return { value: next, revision: DirStore.revisionOf(next) };
    });
  }

  private syncDir(dir: string): void {
    try {
      fsyncDir(dir); // makes the renames and unlinks durable
    } catch (e) {
      throw new StoreUnavailable(`sync '${dir}': ${causeOf(e)}`);
    }
  }

  // ---- statuses ----

  private readStatusFile(f: string, id: string): DatasetStatus | null {
    const text = readIfExists(f);
    if (text === null) return null;
    const s = validate<DatasetStatus>('dvm.dataset-status/1', parseJson(text, f), f);
    if (s.id !== id) throw invalidInput('invalid input', f, `holds the status of '${s.id}'`);
    return s;
  }

  async readStatuses(): Promise<Record<string, DatasetStatus>> {
    const out: Record<string, DatasetStatus> = {};
    const dir = this.file('status');
    for (const name of listDocs(dir)) {
      const id = name.slice(0, -'.json'.length);
      const f = path.join(dir, name);
      if (!ID_RE.test(id)) throw invalidInput('invalid input', f, 'file name is not a dataset id');
      const s = this.readStatusFile(f, id);
      if (s) out[id] = s;
    }
    return out;
  }

  async updateStatus(id: string, change: (s: DatasetStatus | null) => DatasetStatus | null): Promise<DatasetStatus | null> {
    if (!ID_RE.test(id)) throw invalidInput('invalid dataset id', id, 'expected a UUID');
    return this.locked('status.lock', 'ex', () => {
      const f = this.file('status', `${id}.json`);
      const before = this.readStatusFile(f, id);
      const next = change(before === null ? null : structuredClone(before));
      if (next === null) {
        removeFile(f);
        return null;
      }
      // Secrets never reach the store, whoever wrote the message.
      if (next.error !== null) next.error = redact(next.error);
      if (next.reason !== null) next.reason = redact(next.reason);
      validate('dvm.dataset-status/1', next, `status of ${id}`);
      if (next.id !== id) throw invalidInput('invalid input', `status of ${id}`, `carries id '${next.id}'`);
      if (before && canonicalJson(before) === canonicalJson(next)) return next;
      writeAtomic(f, canonicalJson(next));
      return next;
    });
  }

  // ---- nodes ----

  /** The node's liveness lock, taken on its first write and held until close. */
  private async holdNodeLock(node: string): Promise<void> {
    if (this.nodeLocks.has(node)) return;
    const fd = openLockFile(this.file('nodes', `${node}.lock`));
    // Readers probe the lock for a moment (readNodes); wait them out.
    if (!(await flockPoll(fd, 'ex', 3000))) {
      closeSync(fd);
      throw new StoreConflict(`node '${node}': another agent is running as this node on store '${this.dir}'`);
    }
    this.nodeLocks.set(node, fd);
  }

  async writeNodeState(state: NodeStateDoc, info: { credentialed: boolean }): Promise<void> {
    validate('dvm.node-state/1', state, `node state of ${state.node}`);
    await this.holdNodeLock(state.node);
    // Checked holding the node's lock, which fenceNode takes too: a fence and
    // this write never both land. A fenced node's agent lets the lock go, so
    // it does not look alive (and can be fenced again).
    const fence = this.readFence(state.node);
    if (fence) {
      closeSync(this.nodeLocks.get(state.node)!);
      this.nodeLocks.delete(state.node);
      throw new NodeFenced(fence, `node '${state.node}': ${fenceWords(fence)}; its agent mounts and uses nothing until 'dataset node unfence ${state.node}'`);
    }
    writeAtomic(this.file('nodes', `${state.node}.json`), canonicalJson({ format: NODE_FORMAT, credentialed: info.credentialed, state }));
  }

  private nodeAlive(node: string): boolean {
    if (this.nodeLocks.has(node)) return true;
    let fd: number;
    try {
      fd = openLockFile(this.file('nodes', `${node}.lock`));
    } catch {
      return false;
    }
    try {
      if (!flock(fd, 'sh', false)) return true;
      flock(fd, 'un', false);
      return false;
    } finally {
      closeSync(fd);
    }
  }

  async readNodes(): Promise<Record<string, NodeEntry>> {
    const out: Record<string, NodeEntry> = {};
    const dir = this.file('nodes');
    const leader = electionHolder(this.dir);
    for (const name of listDocs(dir)) {
      const node = name.slice(0, -'.json'.length);
      const f = path.join(dir, name);
      if (!NODE_RE.test(node)) throw invalidInput('invalid input', f, 'file name is not a node name');
      const text = readIfExists(f);
      if (text === null) continue;
      const doc = parseJson(text, f) as { format?: unknown; credentialed?: unknown; state?: unknown };
      if (!doc || doc.format !== NODE_FORMAT || typeof doc.credentialed !== 'boolean' || Object.keys(doc).length !== 3)
        throw invalidInput('invalid input', f, `expected ${NODE_FORMAT} with 'credentialed' and 'state'`);
      const state = validate<NodeStateDoc>('dvm.node-state/1', doc.state, f);
      if (state.node !== node) throw invalidInput('invalid input', f, `holds the state of node '${state.node}'`);
      const alive = this.nodeAlive(node);
      out[node] = { state, alive, credentialed: doc.credentialed, leader: alive && doc.credentialed && leader === node };
    }
    return out;
  }

  // ---- fences ----

  private readFence(node: string): NodeFence | null {
    const f = this.file('fences', `${node}.json`);
    const text = readIfExists(f);
    if (text === null) return null;
    const fence = validate<NodeFence>('dvm.node-fence/1', parseJson(text, f), f);
    if (fence.node !== node) throw invalidInput('invalid input', f, `holds the fence of node '${fence.node}'`);
    return fence;
  }

  async fenceNode(fence: NodeFence): Promise<void> {
    validate('dvm.node-fence/1', fence, `fence of ${fence.node}`);
    const node = fence.node;
    if (this.nodeLocks.has(node)) throw new NodeAlive(`node '${node}': its agent is running (in this process); a live node is not fenced: its agent unmounts what moves away ('dataset status' shows it alive)`);
    const fd = openLockFile(this.file('nodes', `${node}.lock`));
    try {
      // Readers probe the lock for a moment; a running agent holds it for good.
      if (!(await flockPoll(fd, 'ex', 1000))) throw new NodeAlive(`node '${node}': its agent is running (it holds '${this.file('nodes', `${node}.lock`)}'); a live node is not fenced: its agent unmounts what moves away ('dataset status' shows it alive)`);
      writeAtomic(this.file('fences', `${node}.json`), canonicalJson(fence));
    } finally {
      closeSync(fd);
    }
  }

  async unfenceNode(node: string): Promise<boolean> {
    if (!NODE_RE.test(node)) throw invalidInput('invalid node name', node, 'expected [A-Za-z0-9][A-Za-z0-9_.-]*');
    return removeFile(this.file('fences', `${node}.json`));
  }

  async readFences(): Promise<Record<string, NodeFence>> {
    const out: Record<string, NodeFence> = {};
    const dir = this.file('fences');
    for (const name of listDocs(dir)) {
      const node = name.slice(0, -'.json'.length);
      if (!NODE_RE.test(node)) throw invalidInput('invalid input', path.join(dir, name), 'file name is not a node name');
      const fence = this.readFence(node);
      if (fence) out[node] = fence;
    }
    return out;
  }

  // ---- the listing ----

  async writeListing(doc: VolumesDoc): Promise<void> {
    validate('dvm.volumes/1', doc, 'listing');
    writeAtomic(this.file('listing.json'), canonicalJson(doc));
  }

  async readListing(): Promise<VolumesDoc | null> {
    const f = this.file('listing.json');
    const text = readIfExists(f);
    return text === null ? null : validate<VolumesDoc>('dvm.volumes/1', parseJson(text, f), f);
  }

  // ---- the election ----

  async campaign(node: string): Promise<Leadership> {
    if (!NODE_RE.test(node)) throw invalidInput('invalid node name', node, 'expected [A-Za-z0-9][A-Za-z0-9_.-]*');
    const l = new DirLeadership(this.dir, node);
    this.leaderships.push(l);
    return l;
  }

  // ---- watching ----

  watch(onChange: (what: 'desired' | 'status' | 'nodes' | 'listing') => void): () => void {
    const watchers: FSWatcher[] = [];
    const on = (dir: string, what: (name: string) => 'desired' | 'status' | 'nodes' | 'listing' | null) => {
      try {
        const w = fsWatch(dir, { persistent: false }, (_event, name) => {
          const n = name?.toString() ?? '';
          if (n.startsWith('.') || n.endsWith('.lock')) return; // temporaries and locks
          const kind = what(n);
          if (kind) onChange(kind);
        });
        w.on('error', () => {}); // a removed directory: readers will say so
        watchers.push(w);
      } catch (e) {
        throw environmentError('watch', dir, causeOf(e));
      }
    };
    on(this.file('desired'), () => 'desired');
    on(this.file('status'), () => 'status');
    on(this.file('nodes'), () => 'nodes');
    on(this.file('fences'), () => 'nodes');
    on(this.dir, (n) => (n === 'listing.json' ? 'listing' : null));
    const stop = () => {
      for (const w of watchers) w.close();
      this.watchers.delete(stop);
    };
    this.watchers.add(stop);
    return stop;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const stop of [...this.watchers]) stop();
    for (const l of this.leaderships) await l.resign();
    for (const fd of this.nodeLocks.values()) closeSync(fd);
    this.nodeLocks.clear();
  }
}
