// What the pure planner reads. Everything it decides from is in here: no
// clock, no store, no backend; `now` is passed in so a plan can be replayed.
import type { DatasetsDoc, DatasetStatus, NodeFence, NodeStateDoc, VolumesDoc } from '../docs.js';

/** One node as the planner sees it: its last observed state and whether its agent runs. */
export interface PlanNode {
  /** Null: the node never reported (its devices and mounts are unknown). */
  state: NodeStateDoc | null;
  /** The node's agent is running (lease alive / lock held). */
  alive: boolean;
  /** Started with credentials and currently leading the credentialed election. */
  leader?: boolean;
  /**
   * An operator declared it gone (`dataset node fence`): it counts as
   * confirmed gone (its volumes are detached without its unmount, its last
   * state is a stale record) and nothing is planned on it. Absent: not fenced.
   */
  fenced?: NodeFence | null;
}

export interface PlanInput {
  desired: DatasetsDoc;
  /** Per dataset id; a dataset with no status yet is simply absent. */
  statuses: Record<string, DatasetStatus>;
  /** The credentialed node's last listing; null before the first one. */
  listing: VolumesDoc | null;
  /** Every node's observed state and liveness, this node's included. */
  nodes: Record<string, PlanNode>;
  /** The node planning. */
  node: string;
  /** Whether this node runs control steps (`runs_on: credentialed`). */
  credentialed: boolean;
  /** ISO 8601 UTC. Only compared against markers' times (create grace period). */
  now: string;
}
