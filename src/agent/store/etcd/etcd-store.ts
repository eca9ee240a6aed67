// The etcd store (`--store etcd://HOST:PORT[,...]/PREFIX`, `etcds://` for
// TLS): the agents' shared state for several machines. Under PREFIX/:
//
//   meta/cluster       the cluster id, made once (create-if-absent)
//   meta/desired       a version stamp rewritten by every desired change: the
//                      compare-and-swap point, so two operators never lose a change
//   desired/<id>       one desired entry per dataset (dvm.datasets/1 is assembled from them)
//   status/<id>        dvm.dataset-status/1 per dataset, changed by compare-and-swap
//   nodes/<node>       that node's state and whether it runs credentialed, bound
//                      to its agent's lease: gone when the agent dies (alive)
//   seen/<node>        the same, not leased: a dead node's last state stays readable
//   fences/<node>      dvm.node-fence/1: an operator declared the node gone
//   listing            the credentialed node's last dvm.volumes/1
//   election/<lease>   the credentialed election (election.ts), bound to the lease
//
// Every document read is validated: the store is input. Writes of one
// logical change are one transaction.
import { randomUUID } from 'node:crypto';
import { Etcd3, type ICompare, type IKeyValue, type Watcher } from 'etcd3';
import { canonicalJson } from '../../../lib/canonical-json.js';
import { invalidInput } from '../../../lib/errors.js';
import { validate } from '../../../lib/schema.js';
import type { DatasetsDoc, DatasetStatus, DesiredDataset, NodeFence, NodeStateDoc, VolumesDoc } from '../../docs.js';
import { desiredProblem } from '../../desired-check.js';
import { redact } from '../../redact.js';
import { fenceWords, NodeAlive, NodeFenced, StoreConflict, type Leadership, type NodeEntry, type Revisioned, type Store } from '../types.js';
import { leaseTtl, tlsMaterials, type EtcdConnectOptions } from './connect.js';
import { EtcdLeadership, NotLeading } from './election.js';
import { storeError } from './errors.js';
import { createIs, del, get, getPrefix, keyOf, modIs, put, textOf, txn } from './kv.js';
import { Session } from './session.js';
import { parseEtcdSpec, type EtcdSpec } from './spec.js';

const STORE_FORMAT = 'dvm.store-etcd/1';
const NODE_FORMAT = 'dvm.store-node/1';
const ID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const NODE_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
/** Compare-and-swap attempts before giving up (each conflict means another writer landed). */
const MAX_ATTEMPTS = 200;

type WatchKind = 'desired' | 'status' | 'nodes' | 'listing';

function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw invalidInput('invalid input', source, `not JSON (${(e as Error).message})`);
  }
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A short random wait between compare-and-swap attempts, so contenders spread out. */
const jitter = (attempt: number) => pause(Math.random() * Math.min(50, 2 + attempt * 2));

export async function openEtcdStore(spec: string, opts: EtcdConnectOptions = {}): Promise<EtcdStore> {
  const s = parseEtcdSpec(spec);
  const credentials = tlsMaterials(s, opts);
  const ttl = leaseTtl(opts);
  const timeout = opts.callTimeoutMs ?? 5000;
  const client = new Etcd3({
    hosts: s.endpoints.map((ep) => `${s.tls ? 'https' : 'http'}://${ep}`),
    ...(credentials ? { credentials } : {}),
    dialTimeout: timeout,
    // Unary calls get a deadline (an unreachable store is reported, not waited
    // on forever); watch and keep-alive streams do not.
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeout }),
  });
  return new EtcdStore(s, client, ttl);
}

export class EtcdStore implements Store {
  readonly describe: string;
  private readonly p: string;
  private readonly session: Session;
  private cluster: string | null = null;
  /** The node this client writes; set by its first successful writeNodeState. */
  private node: string | null = null;
  /** What was last written for our node key (without observed_at), and under which lease. */
  private lastNodeDoc: { text: string; generation: number } | null = null;
  private readonly leaderships: EtcdLeadership[] = [];
  private readonly watchers = new Set<() => void>();
  private closed = false;

  constructor(
    readonly spec: EtcdSpec,
    private readonly client: Etcd3,
    ttl: number,
  ) {
    this.describe = `${spec.tls ? 'etcds' : 'etcd'}://${spec.endpoints.join(',')}${spec.prefix}`;
    this.p = `${spec.prefix}/`;
    this.session = new Session(client, ttl);
    // The node key lives only as long as the lease: when it lapsed (a pause,
    // the store away longer than the TTL), put it back under the new lease
    // ourselves. The loop rewrites an unchanged state only rarely, and a
    // node that is running must not look dead meanwhile.
    this.session.onLost(() => void this.reestablish());
  }

  private lastNode: { state: NodeStateDoc; credentialed: boolean } | null = null;
  private reestablishing = false;

  private async reestablish(): Promise<void> {
    if (this.reestablishing) return;
    this.reestablishing = true;
    try {
      for (let attempt = 0; !this.closed && this.lastNode; attempt++) {
        try {
          await this.writeNodeState(this.lastNode.state, { credentialed: this.lastNode.credentialed });
          return;
        } catch (e) {
          if (e instanceof StoreConflict || e instanceof NodeFenced) return; // another agent runs as this node now, or it was fenced: the loop says so
          await pause(Math.min(200 * 2 ** attempt, 2000));
        }
      }
    } finally {
      this.reestablishing = false;
    }
  }

  private async op<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw storeError(this.describe, e);
    }
  }

  private src(key: string): string {
    return `${this.describe}:${key.slice(this.p.length)}`;
  }

  // ---- the cluster id ----

  private parseCluster(kv: IKeyValue): string {
    const doc = parseJson(textOf(kv), this.src(keyOf(kv))) as { format?: unknown; cluster?: unknown };
    if (doc?.format !== STORE_FORMAT || typeof doc.cluster !== 'string' || !ID_RE.test(doc.cluster))
      throw invalidInput('invalid input', this.src(keyOf(kv)), `expected ${STORE_FORMAT} with a cluster id`);
    return doc.cluster;
  }

  /** The cluster id; made once, by whichever client first needs it. */
  private async clusterId(): Promise<string> {
    if (this.cluster) return this.cluster;
    const key = `${this.p}meta/cluster`;
    // Read first: etcd checks a transaction's permissions on both branches,
    // and a node's role may read the cluster id but not make it.
    const found = (await txn(this.client, [], [get(key)])).ranges[0][0];
    if (found) return (this.cluster = this.parseCluster(found));
    const doc = canonicalJson({ format: STORE_FORMAT, cluster: randomUUID(), created: new Date().toISOString() });
    const r = await txn(this.client, [createIs(key, '0')], [put(key, doc)], [get(key)]);
    this.cluster = r.succeeded ? (JSON.parse(doc) as { cluster: string }).cluster : this.parseCluster(r.ranges[0][0]);
    return this.cluster;
  }

  // ---- desired state ----

  private async snapshotDesired(): Promise<{ doc: DatasetsDoc; version: string }> {
    const cluster = await this.clusterId();
    const r = await txn(this.client, [], [get(`${this.p}meta/desired`), getPrefix(`${this.p}desired/`)]);
    const version = String(r.ranges[0][0]?.mod_revision ?? '0');
    const datasets: Record<string, DesiredDataset> = {};
    for (const kv of r.ranges[1]) {
      const key = keyOf(kv);
      const id = key.slice(`${this.p}desired/`.length);
      if (!ID_RE.test(id)) throw invalidInput('invalid input', this.src(key), 'key is not a dataset id');
      const entry = parseJson(textOf(kv), this.src(key)) as DesiredDataset;
      validate('dvm.datasets/1', { format: 'dvm.datasets/1', cluster, datasets: { [id]: entry } }, this.src(key));
      datasets[id] = entry;
    }
    const doc: DatasetsDoc = { format: 'dvm.datasets/1', cluster, datasets };
    const problem = desiredProblem(doc);
    if (problem) throw invalidInput('invalid input', `${this.describe}:desired/`, problem);
    return { doc, version };
  }

  async readDesired(): Promise<Revisioned<DatasetsDoc>> {
    return this.op(async () => {
      const { doc, version } = await this.snapshotDesired();
      return { value: doc, revision: version };
    });
  }

  async updateDesired(change: (doc: DatasetsDoc) => DatasetsDoc): Promise<Revisioned<DatasetsDoc>> {
    return this.op(async () => {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const { doc: before, version } = await this.snapshotDesired();
        const next = change(structuredClone(before));
        validate<DatasetsDoc>('dvm.datasets/1', next, 'desired state');
        if (next.cluster !== before.cluster) throw new StoreConflict(`desired state '${this.describe}': the cluster id cannot change`);
        const problem = desiredProblem(next);
        if (problem) throw invalidInput('invalid input', 'desired state', problem);
        const ops = [];
        for (const [id, entry] of Object.entries(next.datasets)) {
          const text = canonicalJson(entry);
          const old = before.datasets[id];
          if (!old || canonicalJson(old) !== text) ops.push(put(`${this.p}desired/${id}`, text));
        }
        for (const id of Object.keys(before.datasets)) if (!(id in next.datasets)) ops.push(del(`${this.p}desired/${id}`));
        if (ops.length === 0) return { value: before, revision: version };
        // The version stamp is the compare-and-swap point: if anyone changed
        // the desired state since our read, nothing of ours is written and
        // the change is re-derived from the new state (it may then refuse).
        const stamp = `${this.p}meta/desired`;
        const r = await txn(this.client, [modIs(stamp, version)], [...ops, put(stamp, canonicalJson({ changed: new Date().toISOString() }))]);
        if (r.succeeded) return { value: next, revision: r.revision };
        await jitter(attempt);
      }
      throw new StoreConflict(`desired state '${this.describe}': changed by others ${MAX_ATTEMPTS} times while this change was tried; try again`);
    });
  }

  // ---- statuses ----

  private parseStatus(kv: IKeyValue, id: string): DatasetStatus {
    const src = this.src(keyOf(kv));
    const s = validate<DatasetStatus>('dvm.dataset-status/1', parseJson(textOf(kv), src), src);
    if (s.id !== id) throw invalidInput('invalid input', src, `holds the status of '${s.id}'`);
    return s;
  }

  async readStatuses(): Promise<Record<string, DatasetStatus>> {
    return this.op(async () => {
      const r = await txn(this.client, [], [getPrefix(`${this.p}status/`)]);
      const out: Record<string, DatasetStatus> = {};
      for (const kv of r.ranges[0]) {
        const id = keyOf(kv).slice(`${this.p}status/`.length);
        if (!ID_RE.test(id)) throw invalidInput('invalid input', this.src(keyOf(kv)), 'key is not a dataset id');
        out[id] = this.parseStatus(kv, id);
      }
      return out;
    });
  }

  async updateStatus(id: string, change: (s: DatasetStatus | null) => DatasetStatus | null): Promise<DatasetStatus | null> {
    if (!ID_RE.test(id)) throw invalidInput('invalid dataset id', id, 'expected a UUID');
    const key = `${this.p}status/${id}`;
    return this.op(async () => {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const r = await txn(this.client, [], [get(key)]);
        const kv = r.ranges[0][0];
        const before = kv ? this.parseStatus(kv, id) : null;
        const rev = String(kv?.mod_revision ?? '0');
        const next = change(before === null ? null : structuredClone(before));
        let w;
        if (next === null) {
          if (!kv) return null;
          w = await txn(this.client, [modIs(key, rev)], [del(key)]);
          if (w.succeeded) return null;
        } else {
          // Secrets never reach the store, whoever wrote the message.
          if (next.error !== null) next.error = redact(next.error);
          if (next.reason !== null) next.reason = redact(next.reason);
          validate('dvm.dataset-status/1', next, `status of ${id}`);
          if (next.id !== id) throw invalidInput('invalid input', `status of ${id}`, `carries id '${next.id}'`);
          const text = canonicalJson(next);
          if (kv && textOf(kv) === text) return next;
          w = await txn(this.client, [modIs(key, rev)], [put(key, text)]);
          if (w.succeeded) return next;
        }
        await jitter(attempt);
      }
      throw new StoreConflict(`status '${id}' on '${this.describe}': changed by others ${MAX_ATTEMPTS} times while this change was tried`);
    });
  }

  // ---- nodes ----

  async writeNodeState(state: NodeStateDoc, info: { credentialed: boolean }): Promise<void> {
    validate('dvm.node-state/1', state, `node state of ${state.node}`);
    const node = state.node;
    if (this.node !== null && this.node !== node) throw new StoreConflict(`node '${node}': this agent writes node '${this.node}' only`);
    const key = `${this.p}nodes/${node}`;
    const seen = `${this.p}seen/${node}`;
    const text = canonicalJson({ format: NODE_FORMAT, credentialed: info.credentialed, state });
    // Unchanged but for observed_at under the same lease: liveness is the
    // lease, so skip the write rather than wake every watcher each pass.
    const sameAs = canonicalJson({ credentialed: info.credentialed, state: { ...state, observed_at: '' } });
    await this.op(async () => {
      const g = await this.session.grant();
      if (this.lastNodeDoc && this.lastNodeDoc.generation === g.generation && this.lastNodeDoc.text === sameAs && this.node === node) return;
      // No fence, in the same transaction as the write: fenceNode compares
      // the node key absent, so a fence and an agent's write never both land.
      const fence = `${this.p}fences/${node}`;
      const unfenced = createIs(fence, '0');
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const r = await txn(this.client, [createIs(key, '0'), unfenced], [put(key, text, g.id), put(seen, text)], [get(key), get(fence)]);
        if (r.succeeded) break;
        const kv = r.ranges[0][0];
        const f = r.ranges[1][0];
        if (f) {
          const doc = this.parseFence(f, node);
          throw new NodeFenced(doc, `node '${node}': ${fenceWords(doc)}; its agent mounts and uses nothing until 'dataset node unfence ${node}'`);
        }
        if (kv && !this.session.ours.has(String(kv.lease))) throw new StoreConflict(`node '${node}': another agent is running as this node on store '${this.describe}'`);
        const w = await txn(this.client, [modIs(key, String(kv?.mod_revision ?? '0')), unfenced], [put(key, text, g.id), put(seen, text)]);
        if (w.succeeded) break;
        if (attempt === MAX_ATTEMPTS - 1) throw new StoreConflict(`node '${node}': its key keeps changing under this agent on '${this.describe}'`);
      }
      this.node = node;
      this.lastNodeDoc = { text: sameAs, generation: g.generation };
      this.lastNode = { state, credentialed: info.credentialed };
    });
  }

  private parseNode(kv: IKeyValue, node: string): { state: NodeStateDoc; credentialed: boolean } {
    const src = this.src(keyOf(kv));
    const doc = parseJson(textOf(kv), src) as { format?: unknown; credentialed?: unknown; state?: unknown };
    if (!doc || doc.format !== NODE_FORMAT || typeof doc.credentialed !== 'boolean' || Object.keys(doc).length !== 3)
      throw invalidInput('invalid input', src, `expected ${NODE_FORMAT} with 'credentialed' and 'state'`);
    const state = validate<NodeStateDoc>('dvm.node-state/1', doc.state, src);
    if (state.node !== node) throw invalidInput('invalid input', src, `holds the state of node '${state.node}'`);
    return { state, credentialed: doc.credentialed };
  }

  async readNodes(): Promise<Record<string, NodeEntry>> {
    return this.op(async () => {
      const r = await txn(this.client, [], [getPrefix(`${this.p}nodes/`), getPrefix(`${this.p}seen/`), getPrefix(`${this.p}election/`)]);
      const byNode = (kvs: IKeyValue[], dir: string) => {
        const out = new Map<string, { state: NodeStateDoc; credentialed: boolean }>();
        for (const kv of kvs) {
          const node = keyOf(kv).slice(`${this.p}${dir}/`.length);
          if (!NODE_RE.test(node)) throw invalidInput('invalid input', this.src(keyOf(kv)), 'key is not a node name');
          out.set(node, this.parseNode(kv, node));
        }
        return out;
      };
      const live = byNode(r.ranges[0], 'nodes');
      const seen = byNode(r.ranges[1], 'seen');
      let leader: string | null = null;
      let lowest: bigint | null = null;
      for (const kv of r.ranges[2]) {
        const rev = BigInt(kv.create_revision);
        if (lowest === null || rev < lowest) {
          lowest = rev;
          leader = textOf(kv);
        }
      }
      const out: Record<string, NodeEntry> = {};
      for (const node of [...new Set([...seen.keys(), ...live.keys()])].sort()) {
        const e = live.get(node) ?? seen.get(node)!;
        const alive = live.has(node);
        out[node] = { state: e.state, alive, credentialed: e.credentialed, leader: alive && e.credentialed && leader === node };
      }
      return out;
    });
  }

  async nodeLeases(): Promise<Record<string, { ttl: number; remaining: number }>> {
    return this.op(async () => {
      const r = await txn(this.client, [], [getPrefix(`${this.p}nodes/`)]);
      const out: Record<string, { ttl: number; remaining: number }> = {};
      for (const kv of r.ranges[0]) {
        const node = keyOf(kv).slice(`${this.p}nodes/`.length);
        if (!NODE_RE.test(node) || !kv.lease || kv.lease === '0') continue;
        const t = await this.client.leaseClient.leaseTimeToLive({ ID: kv.lease });
        const remaining = Number(t.TTL);
        // -1: it expired between the two reads (the key is going too).
        if (remaining >= 0) out[node] = { ttl: Number(t.grantedTTL), remaining };
      }
      return out;
    });
  }

  // ---- fences ----

  private parseFence(kv: IKeyValue, node: string): NodeFence {
    const src = this.src(keyOf(kv));
    const f = validate<NodeFence>('dvm.node-fence/1', parseJson(textOf(kv), src), src);
    if (f.node !== node) throw invalidInput('invalid input', src, `holds the fence of node '${f.node}'`);
    return f;
  }

  async fenceNode(fence: NodeFence): Promise<void> {
    validate('dvm.node-fence/1', fence, `fence of ${fence.node}`);
    const node = fence.node;
    await this.op(async () => {
      // Only while the node key is gone (its lease expired): the compare and
      // the put are one transaction, so a live agent is never fenced.
      const r = await txn(this.client, [createIs(`${this.p}nodes/${node}`, '0')], [put(`${this.p}fences/${node}`, canonicalJson(fence))]);
      if (!r.succeeded) throw new NodeAlive(`node '${node}': its agent is running (its lease is alive on '${this.describe}'); a live node is not fenced: its agent unmounts what moves away ('dataset status' shows it alive)`);
    });
  }

  async unfenceNode(node: string): Promise<boolean> {
    if (!NODE_RE.test(node)) throw invalidInput('invalid node name', node, 'expected [A-Za-z0-9][A-Za-z0-9_.-]*');
    return this.op(async () => {
      const r = await this.client.kv.deleteRange({ key: Buffer.from(`${this.p}fences/${node}`) });
      return Number(r.deleted) > 0;
    });
  }

  async readFences(): Promise<Record<string, NodeFence>> {
    return this.op(async () => {
      const r = await txn(this.client, [], [getPrefix(`${this.p}fences/`)]);
      const out: Record<string, NodeFence> = {};
      for (const kv of r.ranges[0]) {
        const node = keyOf(kv).slice(`${this.p}fences/`.length);
        if (!NODE_RE.test(node)) throw invalidInput('invalid input', this.src(keyOf(kv)), 'key is not a node name');
        out[node] = this.parseFence(kv, node);
      }
      return out;
    });
  }

  // ---- the listing ----

  async writeListing(doc: VolumesDoc): Promise<void> {
    validate('dvm.volumes/1', doc, 'listing');
    // A client that campaigned writes the listing only while it leads, in
    // the same transaction as the check that its election key still stands.
    const compare: ICompare[] = [];
    if (this.leaderships.length > 0) {
      const c = this.leaderships.map((l) => l.fenceCompare()).find((x) => x !== null);
      if (!c) throw new NotLeading(doc.listed_by, 'only the leading credentialed agent writes the listing');
      compare.push(c);
    }
    await this.op(async () => {
      const r = await txn(this.client, compare, [put(`${this.p}listing`, canonicalJson(doc))]);
      if (!r.succeeded) throw new NotLeading(doc.listed_by, 'its election key is gone (lease expired): listing not written');
    });
  }

  async readListing(): Promise<VolumesDoc | null> {
    return this.op(async () => {
      const r = await txn(this.client, [], [get(`${this.p}listing`)]);
      const kv = r.ranges[0][0];
      if (!kv) return null;
      const src = this.src(keyOf(kv));
      return validate<VolumesDoc>('dvm.volumes/1', parseJson(textOf(kv), src), src);
    });
  }

  // ---- the election ----

  async campaign(node: string): Promise<Leadership> {
    if (!NODE_RE.test(node)) throw invalidInput('invalid node name', node, 'expected [A-Za-z0-9][A-Za-z0-9_.-]*');
    const l = new EtcdLeadership(this.client, this.session, this.p, node, (e) => storeError(this.describe, e));
    await this.op(() => l.start());
    this.leaderships.push(l);
    return l;
  }

  // ---- watching ----

  private kindOf(key: string): WatchKind | null {
    const k = key.slice(this.p.length);
    if (k.startsWith('desired/') || k === 'meta/desired') return 'desired';
    if (k.startsWith('status/')) return 'status';
    if (k.startsWith('nodes/') || k.startsWith('seen/') || k.startsWith('election/') || k.startsWith('fences/')) return 'nodes';
    if (k === 'listing') return 'listing';
    return null;
  }

  watch(onChange: (what: WatchKind) => void): () => void {
    let stopped = false;
    let watcher: Watcher | null = null;
    const emit = (kv: IKeyValue) => {
      if (stopped) return;
      const kind = this.kindOf(keyOf(kv));
      if (kind) onChange(kind);
    };
    void this.client
      .watch()
      .prefix(this.p)
      .create()
      .then(
        (w) => {
          if (stopped) return void w.cancel().catch(() => {});
          watcher = w;
          w.on('put', emit);
          w.on('delete', emit);
          w.on('error', () => {}); // reconnects by itself; readers report unreachable
          // Losing or regaining the store is worth a pass: the agent then
          // reports it unreachable, or converges as soon as it is back.
          w.on('disconnected', () => !stopped && onChange('nodes'));
          w.on('connected', () => !stopped && onChange('nodes'));
        },
        () => {},
      );
    const stop = () => {
      stopped = true;
      void watcher?.cancel().catch(() => {});
      this.watchers.delete(stop);
    };
    this.watchers.add(stop);
    return stop;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const stop of [...this.watchers]) stop();
    for (const l of this.leaderships) await l.resign().catch(() => {});
    await this.session.close().catch(() => {});
    this.client.close();
  }
}
