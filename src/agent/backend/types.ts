// The backend interface, in the two planes of the agent's contract: the
// control plane is called only by the credentialed node, the node plane only
// on the node itself. Every backend (memory, loopback, dvm, openstack) lives in
// its own folder under src/agent/backends/ and passes the one contract suite
// (test/helpers/backend-contract.ts). Specs (`--backend`) are parsed by
// registry.ts; idempotent.ts applies CSI's repeat-is-success rule on top.
//
// Rules every backend keeps (the contract suite checks them):
// - typed errors on repeats (Flocker); the agent maps them to success (idempotent.ts);
// - the dataset and cluster ids live in the volume's metadata under META_DATASET
//   and META_CLUSTER; `Volume.dataset` is metadata[META_DATASET] ?? null;
// - list() shows this cluster's volumes (BackendOptions.cluster) and volumes
//   no cluster claims (dataset null, adoptable), never another cluster's;
// - destroy of an attached volume throws AlreadyAttached naming the node;
// - detach while the node still has the device connected or held throws
//   InUse where the backend can tell (memory, loopback);
// - resize to the current size is success (no "size unchanged" error loop);
//   a shrink where !limits().can_shrink throws Unsupported; sizes past the
//   limits throw LimitExceeded, as does an attach past per_node.
import type { Limits, Volume } from '../docs.js';

/** Metadata key holding the dataset id: a volume is a dataset's only when it carries it. */
export const META_DATASET = 'dvm.dataset';
/** Metadata key holding the cluster id, so clusters can share one backend. */
export const META_CLUSTER = 'dvm.cluster';

/** What a create carries: the dataset id goes into the volume's metadata and decides ownership. */
export interface CreateRequest {
  cluster: string;
  dataset: string;
  /** Human-readable, `dvm-<dataset name>`. */
  name: string;
  /** Bytes, already rounded up to the allocation unit. */
  size: number;
  metadata: Record<string, string>;
}

export interface ControlPlane {
  /** The spec it was made from, e.g. `loopback:/srv/lb`. */
  readonly spec: string;
  limits(): Promise<Limits>;
  /** This cluster's volumes only, paged to the end. Intermediate states are reported as they are. */
  list(): Promise<Volume[]>;
  create(req: CreateRequest): Promise<Volume>;
  /** Throws UnknownVolume when it is not there (the agent maps a repeat to success). */
  destroy(volumeId: string): Promise<void>;
  /** Throws UnknownVolume, AlreadyAttached (here or elsewhere: the error says which node). */
  attach(volumeId: string, node: string): Promise<Volume>;
  /** Throws UnknownVolume, NotAttached. */
  detach(volumeId: string): Promise<void>;
  /** To exactly `size` bytes (rounded); a shrink only where limits().can_shrink. */
  resize(volumeId: string, size: number): Promise<Volume>;
  /**
   * Merges these keys into the volume's metadata (others stay). Adopt sets
   * META_DATASET and META_CLUSTER this way. Throws UnknownVolume.
   */
  setMetadata(volumeId: string, metadata: Record<string, string>): Promise<void>;
  /** Optional: where limits().can_snapshot. Returns the snapshot's id. */
  snapshot?(volumeId: string, name: string): Promise<string>;
  removeSnapshot?(volumeId: string, snapshotId: string): Promise<void>;
  /** Roll the volume back to the snapshot (dvm: lv-merge); the snapshot is consumed. */
  restoreSnapshot?(volumeId: string, snapshotId: string): Promise<void>;
  /** Optional: the nodes the backend knows to be alive; null when it cannot tell. */
  liveNodes?(): Promise<string[] | null>;
  /** Release connections and timers. */
  close?(): Promise<void>;
}

/** The device a node sees for a volume attached to it. */
export interface NodeDevice {
  /** A real block device path (realpath'd: what /proc/mounts shows). */
  path: string;
  /** What ties it to the volume: loop backing file, serial, dm uuid. */
  identity: string;
  size: number;
}

export interface FindOptions {
  /**
   * false: only a device that is already connected; never connect one. Local
   * discovery looks this way at a volume attached here that is wanted
   * elsewhere (being moved or detached): once released it must stay released
   * until the detach, or every pass would connect it again. Default true.
   */
  connect?: boolean;
}

export interface NodePlane {
  /**
   * The local device of a volume attached to this node, connecting it where
   * the backend needs that (loopback: losetup; openstack: wait for the by-id
   * link). Null when it is not (yet) there; never a guess.
   */
  findDevice(volume: Volume, opts?: FindOptions): Promise<NodeDevice | null>;
  /**
   * Re-checks, just before a destructive step, that `path` is this volume's
   * device: returns null when it is, or the reason it is not.
   */
  verifyDevice(volume: Volume, path: string): Promise<string | null>;
  /** After a resize: make the kernel see the new size (loop: losetup -c). */
  refresh(volume: Volume): Promise<NodeDevice | null>;
  /** Before a detach: disconnect the local device (loop: losetup -d). Idempotent. */
  release(volume: Volume): Promise<void>;
}

export interface Backend {
  /** Null on a node started without credentials: a control call is impossible, not merely absent. */
  control: ControlPlane | null;
  node: NodePlane;
  /** Pattern for volume ids of this backend, checked before an id is used in a path or call. */
  readonly volumeIdPattern: RegExp;
  close(): Promise<void>;
}

export type BackendErrorKind =
  | 'unknown-volume'
  | 'already-attached'
  | 'not-attached'
  | 'in-use' // still connected, mounted or held where the call needs it not to be (release first)
  | 'limit-exceeded'
  | 'unsupported'
  | 'unavailable' // 5xx, timeouts, connection lost: try again later
  | 'credentials' // missing or refused credentials
  | 'invalid'; // a request the backend refuses as malformed

/** The one error type backends throw. `node` names the other node for already-attached. */
export class BackendError extends Error {
  constructor(
    readonly kind: BackendErrorKind,
    message: string,
    readonly volumeId?: string,
    readonly node?: string,
  ) {
    super(message);
    this.name = 'BackendError';
  }
}

export const isBackendError = (e: unknown, kind?: BackendErrorKind): e is BackendError =>
  e instanceof BackendError && (kind === undefined || e.kind === kind);

/** Options every backend factory receives. */
export interface BackendOptions {
  /** This node's name. */
  node: string;
  /** Whether this agent may hold credentials and call the control plane. */
  credentialed: boolean;
  /**
   * This cluster's id: list() leaves out volumes another cluster claims.
   * Absent: every volume is listed (tools run without a store).
   */
  cluster?: string;
  /** For logging one line per call (the loop counts calls). */
  log?: (line: string) => void;
}
