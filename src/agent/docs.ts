// The dataset agent's JSON documents (sizes in bytes, integers). One type per
// contract; each has a schema in schemas/ and is validated on the way in.
// The agent's docs (docs/agent.md) describe them in prose.

/** `dvm.datasets/1`: the desired state, what `dataset list --json` prints and `dataset-plan` reads. */
export interface DatasetsDoc {
  format: 'dvm.datasets/1';
  /** The cluster's id; goes into every volume's metadata so clusters can share a backend. */
  cluster: string;
  /** Keyed by dataset id (immutable, made at create). */
  datasets: Record<string, DesiredDataset>;
}

export type Filesystem = 'ext4' | 'xfs';

export interface DesiredDataset {
  /** Unique, a path component: [A-Za-z0-9+_.-], not '.' or '..'. */
  name: string;
  /** Bytes. Adopt takes the volume's size. */
  size: number;
  filesystem: Filesystem;
  /** Where it is mounted; null: it exists, attached nowhere. */
  node: string | null;
  /** Absolute mount point under the node's mount root; null: `<mount root>/<name>`. */
  mount: string | null;
  /** Destroy requested: the volume goes once nothing uses it. */
  deleted: boolean;
  /** Adopt: an existing backend volume id (never formatted if it holds anything). */
  volume?: string;
  /** The name of an application defined on each node (APPS_DIR/NAME.json), never its commands. */
  app?: string;
  /** Give the volume one partition and put the filesystem there. */
  partition?: boolean;
  /** Operator's key/value labels, copied into the volume's metadata. */
  meta?: Record<string, string>;
  /**
   * Set only by `dataset shrink` (the only way a dataset ever shrinks): the
   * size asked for. A size below the volume's without this equal to `size`
   * is never a shrink; `dataset grow` clears it.
   */
  shrink_to?: number;
  /** When the entry last changed (ISO 8601, UTC); informational. */
  changed: string;
}

/** `dvm.volumes/1`: the credentialed node's backend listing, shared with every node. */
export interface VolumesDoc {
  format: 'dvm.volumes/1';
  /** Backend spec as given (`memory`, `loopback:/srv/lb`, `dvm:vg0`, `openstack`). */
  backend: string;
  /** When the listing was made (ISO 8601). */
  listed_at: string;
  /** Node that made it (the credentialed one). */
  listed_by: string;
  volumes: Volume[];
  /** The backend's limits, for plan-time checks. */
  limits: Limits;
  /**
   * The nodes the backend knows to be alive (ControlPlane.liveNodes), listed
   * with the volumes; null or absent: it cannot tell. Only a node missing from
   * this list may have its volumes detached without seeing its unmount.
   */
  live_nodes?: string[] | null;
}

export type VolumeStatus =
  | 'creating'
  | 'available'
  | 'attaching'
  | 'in-use'
  | 'detaching'
  | 'extending'
  | 'deleting'
  | 'error'
  | 'error_extending'
  | 'error_deleting'
  | 'unknown';

export interface Volume {
  /** Backend volume id (a backend-specific pattern, checked by the backend). */
  id: string;
  /** Dataset id from the volume's metadata; null: not ours (never used unless adopted). */
  dataset: string | null;
  /** Human-readable name, `dvm-<dataset name>` where the backend has names. */
  name: string;
  size: number;
  status: VolumeStatus;
  /** Node it is attached to, or null. */
  attached: string | null;
  metadata: Record<string, string>;
}

export interface Limits {
  /** Every size is rounded up to this (bytes); 1 GiB on Cinder. */
  allocation_unit: number;
  min_size: number;
  max_size: number;
  /** Volumes attached to one node at once; null: no limit. */
  per_node: number | null;
  /** Project quotas; null: none known. */
  max_volumes: number | null;
  max_bytes: number | null;
  /** Whether the backend can shrink a volume and snapshot one. */
  can_shrink: boolean;
  can_snapshot: boolean;
  /**
   * How long a create that answered nothing may still show a volume in a
   * later listing (eventual consistency). 0: the backend's listing is
   * consistent (a create is visible to every listing taken after it, or never
   * happened), so a listing taken after the create started settles it.
   * Absent: the planner's default, CREATE_GRACE_MS.
   */
  create_grace_ms?: number;
}

/** `dvm.node-state/1`: what one node sees locally (by `dataset-local`). */
export interface NodeStateDoc {
  format: 'dvm.node-state/1';
  node: string;
  observed_at: string;
  mount_root: string;
  /** Per backend volume id that has a local device here. */
  devices: Record<string, LocalDevice>;
  /** Mounts under the mount root that belong to no known device (reported, never touched). */
  stray_mounts: string[];
  /**
   * Volumes attached here whose device lookup failed this time, with why:
   * neither present nor absent, so nothing is planned on a guess (a detach
   * waits until a lookup succeeds).
   */
  unknown?: Record<string, string>;
  /** Application names this node defines (APPS_DIR), for plan-time checks. */
  apps: string[];
}

/**
 * `dvm.node-fence/1`: an operator declared the node gone (`dataset node fence`):
 * powered off or cut from the storage. A fenced node counts as confirmed gone
 * (its volumes are detached without its unmount) and its agent, should it come
 * back, mounts and uses nothing until the fence is lifted.
 */
export interface NodeFence {
  format: 'dvm.node-fence/1';
  node: string;
  /** The operator's words; null when none were given. */
  reason: string | null;
  /** When it was fenced (ISO 8601, UTC). */
  at: string;
  /** Who fenced it (user@host of the operator's command), for the record. */
  by: string;
}

export interface LocalDevice {
  path: string;
  /** What ties the device to the volume: loop backing file, serial, dm uuid. */
  identity: string;
  size: number;
  /** Null when reads failed: unknown is never blank. */
  blank: boolean | null;
  /** `blkid -p` TYPE/UUID when found; the partition holding it when partitioned. */
  signature: { type: string; uuid: string | null; partition: string | null } | null;
  /** Where it (or its partition) is mounted and how; null: not mounted. */
  mount: { path: string; read_only: boolean } | null;
  /** Open by something other than a mount (holders, open file descriptors). */
  held: boolean;
  /** Last fsck this agent ran on it: exit code and when. */
  fsck: { code: number; at: string } | null;
  /** Filesystem size as the superblock says (for grow/shrink), null: unknown. */
  fs_size: number | null;
  /** Why reads or probes failed, if they did. */
  error: string | null;
  /** Where the one partition holding the filesystem lies (bytes); absent when not partitioned, null: unknown. */
  partition_span?: { start: number; size: number } | null;
  /**
   * The application served from this device (its data directory bind-mounted
   * from the dataset) or started on it by this agent; absent or null: none.
   */
  app?: { name: string; served: boolean; started: boolean } | null;
}

export type StepAction =
  // control plane, credentialed node only
  | 'create'
  | 'attach'
  | 'detach'
  | 'resize'
  | 'destroy'
  | 'set-metadata'
  | 'snapshot'
  | 'remove-snapshot'
  | 'restore-snapshot'
  // node plane and generic changes, the dataset's node only
  | 'connect'
  | 'mkfs'
  | 'fsck'
  | 'mount'
  | 'refresh'
  | 'grow-fs'
  | 'grow-partition'
  | 'shrink-fs'
  | 'unmount'
  | 'release'
  | 'app-stop'
  | 'app-start'
  | 'migrate'
  // store only (markers and records)
  | 'record';

export interface PlanStep {
  dataset: string;
  action: StepAction;
  /** `credentialed` or `node:<N>`. */
  runs_on: string;
  volume: string | null;
  /** Action-specific arguments (size, node, device path, filesystem, mount point, ...). */
  args: Record<string, unknown>;
  /** What should hold afterwards, in words (shown while waiting). */
  expect: string;
  /** How long the step may take, milliseconds. */
  deadline_ms: number;
}

export type Phase =
  | 'converged'
  | 'pending' // a step is planned and will run (here or elsewhere)
  | 'waiting' // waiting for something outside the agents: a transient backend state, a node, an operator
  | 'blocked' // cannot proceed without an operator (limits, unknown app, foreign data on adopt, ...)
  | 'degraded' // mounted read-only with filesystem errors, device reads failing
  | 'error' // the last step failed; it is retried with backoff
  | 'orphaned'; // a volume of this cluster's with no desired entry: reported, left alone

export interface DatasetPlanState {
  phase: Phase;
  /** Why it is not converged, in words; null when converged. Never empty otherwise. */
  reason: string | null;
}

/** `dvm.dataset-plan/1`: one pass of the pure planner from one node's point of view. */
export interface PlanDoc {
  format: 'dvm.dataset-plan/1';
  node: string;
  credentialed: boolean;
  /** Steps this node runs now (at most one per dataset). */
  steps: PlanStep[];
  /** Steps some other node (or the credentialed one) must run; never dropped silently. */
  waiting_for: PlanStep[];
  /** Per dataset id (and orphaned volume id), its phase and reason. */
  datasets: Record<string, DatasetPlanState>;
}

/** `dvm.dataset-result/1`: what `dataset-apply` did with a plan's steps. */
export interface ResultDoc {
  format: 'dvm.dataset-result/1';
  node: string;
  results: StepResult[];
}

export interface StepResult {
  dataset: string;
  action: StepAction;
  volume: string | null;
  ok: boolean;
  /** One line; secrets redacted. */
  message: string | null;
  /** A typed backend error's kind, when that was the cause. */
  error_kind: string | null;
  started_at: string;
  elapsed_ms: number;
}

/** A dataset's status in the store (`dvm.dataset-status/1`); written by agents, read by `dataset status`. */
export interface DatasetStatus {
  format: 'dvm.dataset-status/1';
  id: string;
  phase: Phase;
  reason: string | null;
  /** The last failure, one line, secrets redacted; cleared when a step succeeds. */
  error: string | null;
  /** When the phase (and reason) last changed. */
  since: string;
  /** Which agent wrote this last. */
  by: string;
  /** Observed from devices and the listing: where it is and how big. */
  observed: { node: string | null; size: number | null; mounted: string | null; read_only: boolean } | null;
  /** Interrupted-operation markers, written before the operation, removed after. */
  markers: Markers;
  /**
   * The desired entry's `changed` this phase was computed from. `dataset
   * status --wait` counts a dataset converged only when it equals the entry's
   * current `changed` (a status written before a move is not an answer).
   */
  desired_changed?: string;
  /** The last fsck an agent ran before mounting it (code: fsck's exit status; -1: could not run). */
  fsck?: { volume: string; node: string; code: number; at: string; read_only?: boolean } | null;
  /** Permanent: once set, this dataset's volume is never formatted again. */
  formatted: { volume: string; filesystem: Filesystem; uuid: string; at: string; by: string } | null;
}

export interface Markers {
  /**
   * Written by the credentialed node before a create call, and given the
   * volume id when the call returns: while it is set and the listing shows no
   * volume, the planner waits instead of creating a second one (eventually
   * consistent listings, timeouts). Cleared once the listing shows the volume.
   */
  create_started?: { at: string; volume: string | null };
  /** Written by the node running mkfs before it starts. */
  mkfs_started?: { volume: string; node: string; at: string };
  /** A shrink in progress: the size it goes to and the snapshot taken first, if any. */
  /**
   * `checked`: the fsck of the mount that followed the shrink (its exit
   * status and when); the snapshot is removed only once it passed.
   */
  shrink_started?: { volume: string; from: number; to: number; snapshot: string | null; at: string; checked?: { code: number; at: string } };
  /** A migration of an application's data onto the dataset in progress. */
  migrate_started?: { volume: string; node: string; from: string; at: string };
}
