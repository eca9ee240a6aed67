// An in-memory Store for unit tests of the planner and executor (the real
// ones, directory and etcd, have their own contract suite). Values are
// deep-copied in and out so a test cannot mutate the store by accident, and
// every document written is validated against its schema.
import type { DatasetsDoc, DatasetStatus, NodeFence, NodeStateDoc, VolumesDoc } from '../../src/agent/docs.js';
import { NodeAlive, NodeFenced, type Leadership, type NodeEntry, type Revisioned, type Store } from '../../src/agent/store/types.js';
import { validate } from '../../src/lib/schema.js';

const copy = <T>(x: T): T => structuredClone(x);

export class MemStore implements Store {
  readonly describe = 'memory store';
  desired: DatasetsDoc;
  statuses: Record<string, DatasetStatus> = {};
  nodes: Record<string, NodeEntry> = {};
  listing: VolumesDoc | null = null;
  fences: Record<string, NodeFence> = {};
  private rev = 0;
  /** Who leads the credentialed election; tests move it to check fencing. */
  leader: string | null = null;

  constructor(cluster: string) {
    this.desired = { format: 'dvm.datasets/1', cluster, datasets: {} };
  }

  async readDesired(): Promise<Revisioned<DatasetsDoc>> {
    return { value: copy(this.desired), revision: String(this.rev) };
  }
  async updateDesired(change: (doc: DatasetsDoc) => DatasetsDoc): Promise<Revisioned<DatasetsDoc>> {
    this.desired = validate<DatasetsDoc>('dvm.datasets/1', copy(change(copy(this.desired))));
    this.rev++;
    return this.readDesired();
  }
  async readStatuses(): Promise<Record<string, DatasetStatus>> {
    return copy(this.statuses);
  }
  async updateStatus(id: string, change: (s: DatasetStatus | null) => DatasetStatus | null): Promise<DatasetStatus | null> {
    const next = change(this.statuses[id] ? copy(this.statuses[id]) : null);
    if (next === null) delete this.statuses[id];
    else this.statuses[id] = validate<DatasetStatus>('dvm.dataset-status/1', copy(next));
    return next;
  }
  async writeNodeState(state: NodeStateDoc, info: { credentialed: boolean }): Promise<void> {
    validate('dvm.node-state/1', state);
    const f = this.fences[state.node];
    if (f) throw new NodeFenced(copy(f), `node '${state.node}' is fenced`);
    this.nodes[state.node] = { state: copy(state), alive: true, credentialed: info.credentialed, leader: this.leader === state.node };
  }
  async readNodes(): Promise<Record<string, NodeEntry>> {
    for (const [n, e] of Object.entries(this.nodes)) e.leader = this.leader === n;
    return copy(this.nodes);
  }
  async fenceNode(fence: NodeFence): Promise<void> {
    validate('dvm.node-fence/1', fence);
    if (this.nodes[fence.node]?.alive) throw new NodeAlive(`node '${fence.node}' is alive`);
    this.fences[fence.node] = copy(fence);
  }
  async unfenceNode(node: string): Promise<boolean> {
    const had = node in this.fences;
    delete this.fences[node];
    return had;
  }
  async readFences(): Promise<Record<string, NodeFence>> {
    return copy(this.fences);
  }
  async writeListing(doc: VolumesDoc): Promise<void> {
    this.listing = validate<VolumesDoc>('dvm.volumes/1', copy(doc));
  }
  async readListing(): Promise<VolumesDoc | null> {
    return copy(this.listing);
  }
  async campaign(node: string): Promise<Leadership> {
    this.leader ??= node;
    return leadershipFor(this, node);
  }
  watch(): () => void {
    return () => {};
  }
  async close(): Promise<void> {}
}

/** A Leadership that leads while `store.leader` names `node`; a fenced call when it does not throws. */
export function leadershipFor(store: { leader: string | null }, node: string): Leadership {
  return {
    elected: Promise.resolve(),
    isLeader: () => store.leader === node,
    async fenced<T>(call: () => Promise<T>): Promise<T> {
      if (store.leader !== node) throw new Error(`fenced: '${node}' no longer holds the credentialed election`);
      return call();
    },
    onLost() {},
    async resign() {
      if (store.leader === node) store.leader = null;
    },
  };
}
