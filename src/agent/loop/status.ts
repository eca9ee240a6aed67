// Each pass, the agent writes what it found into the dataset's status: its
// phase, why it is not converged, the last error and since when. Pure: the
// loop passes the plan's verdict, the step's result and what is observed.
//
// One writer per dataset, so two agents never argue about a phase: the
// dataset's desired node while its agent runs; otherwise (attached nowhere,
// being destroyed, or its node's agent not running) the credentialed leader.
import type { DatasetPlanState, DatasetStatus, DesiredDataset, StepResult, VolumesDoc } from '../docs.js';
import type { NodeEntry } from '../store/types.js';
import { redact } from '../redact.js';

export function writesStatus(d: DesiredDataset, me: string, leading: boolean, nodes: Record<string, NodeEntry | { alive: boolean }>): boolean {
  if (!d.deleted && d.node !== null && nodes[d.node]?.alive) return d.node === me;
  return leading;
}

/** Where the dataset's volume is, from the listing and the nodes' states. */
export function observedOf(id: string, d: DesiredDataset, listing: VolumesDoc | null, nodes: Record<string, { state: { devices: Record<string, { mount: { path: string; read_only: boolean } | null }> } | null }>): DatasetStatus['observed'] {
  const mine = (listing?.volumes ?? []).filter((v) => v.dataset === id || (d.volume !== undefined && v.id === d.volume));
  if (mine.length === 0) return null;
  const v = mine.find((x) => x.attached !== null) ?? mine[0];
  const dev = v.attached ? nodes[v.attached]?.state?.devices[v.id] : undefined;
  return { node: v.attached, size: v.size, mounted: dev?.mount?.path ?? null, read_only: dev?.mount?.read_only ?? false };
}

export function nextStatus(
  cur: DatasetStatus | null,
  id: string,
  d: DesiredDataset,
  verdict: DatasetPlanState | undefined,
  result: StepResult | undefined,
  observed: DatasetStatus['observed'],
  me: string,
  now: Date,
): DatasetStatus {
  const failed = result !== undefined && !result.ok;
  const phase = failed ? 'error' : (verdict?.phase ?? 'pending');
  let reason: string | null = verdict?.reason ?? null;
  if (phase !== 'converged' && !reason) reason = failed ? `${result!.action} failed` : 'no verdict from the planner yet';
  if (phase === 'converged') reason = null;
  // The last failure stays until a step succeeds or the dataset converges.
  const error = failed ? redact(result!.message ?? `${result!.action} failed`) : result?.ok || phase === 'converged' ? null : (cur?.error ?? null);
  const since = cur && cur.phase === phase && cur.reason === reason ? cur.since : now.toISOString();
  const base: DatasetStatus = cur ?? { format: 'dvm.dataset-status/1', id, phase, reason, error, since, by: me, observed, markers: {}, formatted: null };
  return { ...base, phase, reason: reason === null ? null : redact(reason), error, since, by: me, observed, desired_changed: d.changed };
}
