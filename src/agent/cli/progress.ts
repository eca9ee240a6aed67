// Where one dataset is on its way, in words an operator follows: the next
// step the agents take for it, derived with the same pure planner every agent
// runs, from the same store documents (so `dataset move --wait` names the
// phase the cluster is in, not a guess). Pure: documents in, words out.
import type { DatasetsDoc, DatasetStatus, NodeFence, NodeStateDoc, PlanStep, VolumesDoc } from '../docs.js';
import { plan, CREDENTIALED, type PlanNode } from '../plan/index.js';

export interface Progress {
  /** The phase in a few words ("unmounting on n1", "attaching to n3", "waiting"). */
  label: string;
  /** Why, in the planner's words; null when there is nothing to add. */
  detail: string | null;
}

export interface ClusterView {
  desired: DatasetsDoc;
  statuses: Record<string, DatasetStatus>;
  listing: VolumesDoc | null;
  nodes: Record<string, { state: NodeStateDoc | null; alive: boolean; leader?: boolean }>;
  /** Nodes an operator fenced (absent: none). */
  fences?: Record<string, NodeFence>;
  now: string;
}

function where(step: PlanStep): string {
  return step.runs_on === CREDENTIALED ? 'the credentialed node' : step.runs_on.slice('node:'.length);
}

/** A step in a few words: what an operator watching a move wants to see. */
export function stepLabel(step: PlanStep): string {
  const n = where(step);
  const target = typeof step.args.node === 'string' ? step.args.node : null;
  switch (step.action) {
    case 'app-stop': return `stopping the application on ${n}`;
    case 'unmount': return `unmounting on ${n}`;
    case 'release': return `releasing the device on ${n}`;
    case 'refresh': return `refreshing the device size on ${n}`;
    case 'detach': return target ? `detaching from ${target}` : 'detaching';
    case 'attach': return target ? `attaching to ${target}` : 'attaching';
    case 'connect': return `connecting the device on ${n}`;
    case 'mount': return `checking and mounting on ${n}`;
    case 'app-start': return `starting the application on ${n}`;
    case 'create': return 'creating the volume';
    case 'set-metadata': return 'adopting the volume';
    case 'migrate': return `serving the application's data on ${n}`;
    case 'mkfs': return `formatting on ${n}`;
    case 'resize': return 'resizing the volume';
    case 'grow-fs': return `growing the filesystem on ${n}`;
    case 'grow-partition': return `growing the partition on ${n}`;
    case 'shrink-fs': return `shrinking the filesystem on ${n}`;
    case 'destroy': return 'destroying the volume';
    default: return `${step.action} on ${n}`;
  }
}

/** The dataset's current phase; null when it has no desired entry any more. */
export function progressOf(view: ClusterView, id: string): Progress | null {
  return progressAll(view, [id])[id] ?? null;
}

/**
 * Several datasets' phases from ONE plan (a map's --wait follows many: a plan
 * per dataset would make each round quadratic). Planned from no node's point
 * of view, so every step shows up in waiting_for; the plan's node is only
 * which agent's eyes it uses, and no dataset's steps depend on it.
 */
export function progressAll(view: ClusterView, ids: string[]): Record<string, Progress> {
  const out: Record<string, Progress> = {};
  const wanted = ids.filter((id) => view.desired.datasets[id]);
  if (wanted.length === 0) return out;
  const nodes: Record<string, PlanNode> = {};
  for (const [n, e] of Object.entries(view.nodes)) nodes[n] = { state: e.state, alive: e.alive, leader: e.leader };
  for (const [n, f] of Object.entries(view.fences ?? {})) (nodes[n] ??= { state: null, alive: false }).fenced = f;
  const first = view.desired.datasets[wanted[0]];
  const p = plan({ desired: view.desired, statuses: view.statuses, listing: view.listing, nodes, node: first.node ?? '-', credentialed: false, now: view.now });
  const steps = new Map<string, PlanStep>();
  for (const s of [...p.steps, ...p.waiting_for]) if (!steps.has(s.dataset)) steps.set(s.dataset, s);
  for (const id of wanted) {
    const d = view.desired.datasets[id];
    const step = steps.get(id);
    const verdict = p.datasets[id];
    if (step) out[id] = { label: stepLabel(step), detail: verdict?.reason ?? null };
    else if (!verdict || verdict.phase === 'converged') out[id] = { label: d.deleted ? 'destroyed' : d.node ? `mounted on ${d.node}` : 'attached nowhere', detail: null };
    else out[id] = { label: verdict.phase, detail: verdict.reason };
  }
  return out;
}

export type Goal = { kind: 'converged'; node?: string } | { kind: 'gone' };

/** Whether the change arrived: an agent reported it converged for the entry as it is now (or the entry is gone). */
export function arrived(desired: DatasetsDoc, statuses: Record<string, DatasetStatus>, id: string, goal: Goal): boolean {
  const d = desired.datasets[id];
  if (goal.kind === 'gone') return d === undefined;
  const s = statuses[id];
  if (!d || !s || s.phase !== 'converged' || s.desired_changed !== d.changed) return false;
  return goal.node === undefined || s.observed?.node === goal.node;
}

/** Why waiting is pointless now (another change took the dataset elsewhere), or null. */
export function overtaken(desired: DatasetsDoc, id: string, goal: Goal): string | null {
  const d = desired.datasets[id];
  if (goal.kind === 'gone') return null;
  if (!d) return 'its desired entry was removed by another change';
  if (d.deleted) return 'another change asked for it to be destroyed';
  if (goal.node !== undefined && d.node !== goal.node) return `another change moved it to ${d.node === null ? 'no node' : `node '${d.node}'`}`;
  return null;
}
