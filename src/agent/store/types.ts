// The store interface. A directory on one machine (store/dir) or etcd for
// several (store/etcd); both pass the same store contract suite. Every
// document read from a store is validated as input.
import type { DatasetsDoc, DatasetStatus, NodeFence, NodeStateDoc, VolumesDoc } from '../docs.js';
import { ToolError } from '../../lib/errors.js';
import { EXIT } from '../../lib/exit-codes.js';

export interface Revisioned<T> {
  value: T;
  /** Opaque; changes whenever the value does (etcd mod_revision, a file's generation). */
  revision: string;
}

/**
 * Thrown by `updateDesired` when its function refuses the change (exit 1 with
 * its message). A ToolError, so a tool's runner maps it without help.
 */
export class StoreConflict extends ToolError {
  constructor(message: string) {
    super(EXIT.FAILED, message);
    this.name = 'StoreConflict';
  }
}

/** The store could not be reached or read (etcd down, permissions): agents keep mounts and retry. Exit 4. */
export class StoreUnavailable extends ToolError {
  constructor(message: string) {
    super(EXIT.ENVIRONMENT, message);
    this.name = 'StoreUnavailable';
  }
}

/**
 * `fenceNode` refused: the node's agent runs (its lease or lock is held), so it
 * is not gone. Exit 1: a refusal, like any other the operator gets.
 */
export class NodeAlive extends ToolError {
  constructor(message: string) {
    super(EXIT.FAILED, message);
    this.name = 'NodeAlive';
  }
}

/**
 * `writeNodeState` refused: the node is fenced. Its agent then does nothing
 * (no mount, no step, no control call) until the fence is lifted; not a
 * StoreConflict, which makes an agent exit.
 */
export class NodeFenced extends ToolError {
  constructor(readonly fence: NodeFence, message: string) {
    super(EXIT.FAILED, message);
    this.name = 'NodeFenced';
  }
}

/** A fence in words, for logs, refusals and `dataset status`. */
export function fenceWords(f: NodeFence): string {
  return `fenced since ${f.at} by ${f.by}${f.reason ? ` (${f.reason})` : ''}`;
}

export interface NodeEntry {
  state: NodeStateDoc;
  /** False when the node's lease expired (etcd) or its agent is not running (directory: no lock holder). */
  alive: boolean;
  /** Whether it was started with credentials, and whether it leads now. */
  credentialed: boolean;
  leader: boolean;
}

/** The credentialed election, held while a credentialed agent runs. */
export interface Leadership {
  /** Resolves when this agent leads; a standby waits here. */
  readonly elected: Promise<void>;
  /** True while this agent still leads (lease alive, lock held). */
  isLeader(): boolean;
  /**
   * Runs a control call fenced by the election: it is made only if this agent
   * still leads at that moment (etcd: the election key's revision compared in
   * the same transaction; directory: the lock still held), else throws.
   */
  fenced<T>(call: () => Promise<T>): Promise<T>;
  /** Called when leadership is lost (lease lapsed); the agent becomes a standby. */
  onLost(cb: () => void): void;
  resign(): Promise<void>;
}

export interface Store {
  /** For messages: the directory or the etcd endpoints and prefix. */
  readonly describe: string;

  /** The desired state; an empty DatasetsDoc (with a new cluster id made once) for a new store. */
  readDesired(): Promise<Revisioned<DatasetsDoc>>;
  /**
   * An operator's change: `change` gets the current desired state and returns
   * the new one (or throws StoreConflict to refuse). Applied atomically under
   * a lock (directory) or compare-and-swap on the revision with retries
   * (etcd), so two concurrent changes never lose each other.
   */
  updateDesired(change: (doc: DatasetsDoc) => DatasetsDoc): Promise<Revisioned<DatasetsDoc>>;

  readStatuses(): Promise<Record<string, DatasetStatus>>;
  /** Atomic read-modify-write of one dataset's status (null: none yet). Returning null deletes it. */
  updateStatus(id: string, change: (s: DatasetStatus | null) => DatasetStatus | null): Promise<DatasetStatus | null>;

  /**
   * A node's agent writes only its own node key (bound to its lease where the
   * store has leases). Refused with NodeFenced while the node is fenced.
   */
  writeNodeState(state: NodeStateDoc, info: { credentialed: boolean }): Promise<void>;
  readNodes(): Promise<Record<string, NodeEntry>>;
  /**
   * Optional, for `dataset status`: per node whose key is bound to a lease,
   * that lease's TTL and the seconds left now (etcd). Stores without leases
   * leave it out; liveness is then `readNodes().alive` alone.
   */
  nodeLeases?(): Promise<Record<string, { ttl: number; remaining: number }>>;

  /**
   * An operator declares `fence.node` gone (`dataset node fence`). Refused with
   * NodeAlive while that node's agent runs; the check and the write are one
   * atomic step (etcd: a transaction comparing the node key absent; directory:
   * under the node's lock), and `writeNodeState` of a fenced node is refused
   * (NodeFenced), so a fence and an agent starting never both win. Fencing a
   * fenced node replaces the record.
   */
  fenceNode(fence: NodeFence): Promise<void>;
  /** Lifts a fence; false when the node was not fenced. */
  unfenceNode(node: string): Promise<boolean>;
  /** Every fence, by node. */
  readFences(): Promise<Record<string, NodeFence>>;

  /** The credentialed node's listing, made once per pass and read by every node. */
  writeListing(doc: VolumesDoc): Promise<void>;
  readListing(): Promise<VolumesDoc | null>;

  /** Campaign for the credentialed election as `node`. */
  campaign(node: string): Promise<Leadership>;

  /** Calls `onChange` when the desired state, statuses, node states or the listing change. */
  watch(onChange: (what: 'desired' | 'status' | 'nodes' | 'listing') => void): () => void; // fences count as 'nodes'

  close(): Promise<void>;
}
