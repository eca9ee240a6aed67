// The pure planner: from the desired entries and statuses, the backend
// listing and every node's observed state, the ONE next step of each dataset
// (Flocker's desired x discovered table, extended with markers, read-only
// mounts, resize, the node/credentialed split). Every node computes the same
// next step; it runs it when the step is its own and lists it in
// `waiting_for` otherwise. A crash anywhere only means the next pass derives
// the step again from what is there.
import type { DatasetPlanState, DatasetStatus, DesiredDataset, LocalDevice, PlanDoc, PlanStep, StepAction, Volume } from '../docs.js';
import type { PlanInput, PlanNode } from './types.js';
import type { NodeFence } from '../docs.js';
import { mountPathFor, mountPathProblem, nestedMountProblem } from './paths.js';
import { appStepFor } from '../apps/plan.js';

/** How long a create whose call never returned is waited on before another is tried. */
export const CREATE_GRACE_MS = 5 * 60_000;
/** A filesystem this much smaller than asked for is grown (ext4/xfs keep some slack). */
export const GROW_SLACK = 4 * 1024 * 1024;

const DEADLINE_MS: Record<StepAction, number> = {
  create: 600_000, attach: 300_000, detach: 300_000, resize: 600_000, destroy: 300_000,
  'set-metadata': 60_000, snapshot: 600_000, 'remove-snapshot': 300_000, 'restore-snapshot': 600_000,
  connect: 120_000, mkfs: 1_800_000, fsck: 1_800_000, mount: 1_800_000, refresh: 60_000,
  'grow-fs': 1_800_000, 'grow-partition': 120_000, 'shrink-fs': 3_600_000, unmount: 120_000, release: 120_000,
  'app-stop': 300_000, 'app-start': 300_000, migrate: 3_600_000, record: 30_000,
};

export const CREDENTIALED = 'credentialed';
export const onNode = (n: string) => `node:${n}`;

/** A fence in words (as the store's fenceWords; the planner imports no store). */
const fenced = (f: NodeFence) => `fenced since ${f.at} by ${f.by}${f.reason ? ` (${f.reason})` : ''}`;
const fenceOf = (input: PlanInput, n: string): NodeFence | null => input.nodes[n]?.fenced ?? null;

/** One dataset's outcome: a step (run here or awaited elsewhere), or a phase with its reason. */
type Decision = { step: PlanStep; why: string } | { phase: DatasetPlanState['phase']; reason: string | null };

interface Ctx {
  input: PlanInput;
  byDataset: Map<string, Volume[]>;
  byId: Map<string, Volume>;
  attachedTo: Map<string, number>;
  totalBytes: number;
  /** Per node: mount path -> names of datasets wanting it there. */
  pathsByNode: Map<string, Map<string, string[]>>;
  credentialedAlive: boolean;
  /** Per volume id: the nodes whose observed state shows a device for it. */
  devicesOf: Map<string, string[]>;
}

const MiB = 1024 * 1024;
const fmtSize = (b: number) => (b % (1024 * MiB) === 0 ? `${b / (1024 * MiB)}G` : b % MiB === 0 ? `${b / MiB}M` : `${b}B`);
export const roundUp = (size: number, unit: number) => Math.ceil(size / unit) * unit;

export function plan(input: PlanInput): PlanDoc {
  const ctx = context(input);
  const out: PlanDoc = { format: 'dvm.dataset-plan/1', node: input.node, credentialed: input.credentialed, steps: [], waiting_for: [], datasets: {} };
  for (const id of Object.keys(input.desired.datasets).sort()) {
    const d = input.desired.datasets[id];
    let dec = decide(id, d, input.statuses[id] ?? null, ctx);
    // Applications: stopped before their dataset is taken away, started once it is where they expect it.
    const app = appStepFor(id, d, 'step' in dec ? dec.step : null, 'phase' in dec && dec.phase === 'converged', input, ctx);
    if (app) dec = { step: mk(id, app.action, onNode(app.node), app.volume, app.args, app.expect), why: app.why };
    if ('step' in dec) place(out, dec.step, dec.why, ctx);
    else out.datasets[id] = { phase: dec.phase, reason: dec.phase === 'converged' ? null : dec.reason ?? 'no reason given (a planner bug)' };
  }
  // Volumes of this cluster's with no desired entry, and second volumes of one dataset: reported, never touched.
  for (const v of input.listing?.volumes ?? []) {
    if (v.dataset === null) continue;
    const d = input.desired.datasets[v.dataset];
    if (!d) {
      out.datasets[v.id] = { phase: 'orphaned', reason: `volume '${v.id}' carries dataset id ${v.dataset}, which has no desired entry; left as it is` };
      continue;
    }
    const chosen = chooseVolume(v.dataset, d, input.statuses[v.dataset] ?? null, ctx);
    if (chosen && chosen.id !== v.id) {
      out.datasets[v.id] = { phase: 'orphaned', reason: `volume '${v.id}' is a second volume for dataset '${d.name}' (which uses '${chosen.id}'); left as it is` };
    }
  }
  return out;
}

function context(input: PlanInput): Ctx {
  const byDataset = new Map<string, Volume[]>();
  const byId = new Map<string, Volume>();
  const attachedTo = new Map<string, number>();
  let totalBytes = 0;
  for (const v of input.listing?.volumes ?? []) {
    byId.set(v.id, v);
    totalBytes += v.size;
    if (v.attached) attachedTo.set(v.attached, (attachedTo.get(v.attached) ?? 0) + 1);
    if (v.dataset === null) continue;
    const list = byDataset.get(v.dataset);
    if (list) list.push(v);
    else byDataset.set(v.dataset, [v]);
  }
  const pathsByNode = new Map<string, Map<string, string[]>>();
  for (const d of Object.values(input.desired.datasets)) {
    if (d.deleted || d.node === null) continue;
    const root = input.nodes[d.node]?.state?.mount_root;
    if (!root) continue;
    let m = pathsByNode.get(d.node);
    if (!m) pathsByNode.set(d.node, (m = new Map()));
    const p = mountPathFor(d, root);
    const names = m.get(p);
    if (names) names.push(d.name);
    else m.set(p, [d.name]);
  }
  const credentialedAlive = input.credentialed || Object.values(input.nodes).some((n) => n.alive && n.leader === true);
  const devicesOf = new Map<string, string[]>();
  for (const [n, pn] of Object.entries(input.nodes)) {
    for (const vid of Object.keys(pn.state?.devices ?? {})) {
      const l = devicesOf.get(vid);
      if (l) l.push(n);
      else devicesOf.set(vid, [n]);
    }
  }
  return { input, byDataset, byId, attachedTo, totalBytes, pathsByNode, credentialedAlive, devicesOf };
}

function runsHere(step: PlanStep, input: PlanInput): boolean {
  return step.runs_on === CREDENTIALED ? input.credentialed : step.runs_on === onNode(input.node);
}

function place(out: PlanDoc, step: PlanStep, why: string, ctx: Ctx): void {
  const { input } = ctx;
  if (runsHere(step, input)) {
    out.steps.push(step);
    out.datasets[step.dataset] = { phase: 'pending', reason: why };
    return;
  }
  out.waiting_for.push(step);
  if (step.runs_on === CREDENTIALED) {
    out.datasets[step.dataset] = ctx.credentialedAlive
      ? { phase: 'pending', reason: `${why} (the credentialed node runs it)` }
      : { phase: 'waiting', reason: `${why}: no credentialed agent is running to do it` };
    return;
  }
  const n = step.runs_on.slice('node:'.length);
  const f = fenceOf(input, n);
  if (f) {
    out.datasets[step.dataset] = { phase: 'waiting', reason: `${why}: node '${n}' is ${fenced(f)}, and does nothing until 'dataset node unfence ${n}'` };
    return;
  }
  out.datasets[step.dataset] = input.nodes[n]?.alive
    ? { phase: 'pending', reason: `${why} (node '${n}' runs it)` }
    : { phase: 'waiting', reason: `${why}: node '${n}' is not running an agent` };
}

function mk(dataset: string, action: StepAction, runsOn: string, volume: Volume | null, args: Record<string, unknown>, expect: string): PlanStep {
  return { dataset, action, runs_on: runsOn, volume: volume?.id ?? null, args, expect, deadline_ms: DEADLINE_MS[action] };
}

/** The volume a dataset uses: the adopted one, else the recorded one, else the attached one, else the lowest id. */
function chooseVolume(id: string, d: DesiredDataset, st: DatasetStatus | null, ctx: Ctx): Volume | null {
  if (d.volume !== undefined) return ctx.byId.get(d.volume) ?? null;
  const vs = ctx.byDataset.get(id);
  if (!vs || vs.length === 0) return null;
  if (vs.length === 1) return vs[0];
  const rec = st?.formatted?.volume;
  return (
    vs.find((v) => v.id === rec) ??
    vs.find((v) => v.attached !== null) ??
    [...vs].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))[0]
  );
}

/**
 * A device step's device, and the partition holding the filesystem when the
 * device is partitioned (one partition, one filesystem: made with
 * --partition or adopted so): mounts, checks and records act on it.
 */
const devArgs = (dev: LocalDevice) => ({ device: dev.path, ...(dev.signature?.partition ? { partition: dev.signature.partition } : {}) });

/** The small copy of a volume a node step carries (the executor has no listing of its own). */
const volArg = (v: Volume) => ({ id: v.id, dataset: v.dataset, name: v.name, size: v.size, status: v.status, attached: v.attached, metadata: v.metadata });

function decide(id: string, d: DesiredDataset, st: DatasetStatus | null, ctx: Ctx): Decision {
  const { input } = ctx;
  const listing = input.listing;
  if (!listing) return { phase: 'waiting', reason: 'no backend listing yet (the credentialed node lists the backend once per pass)' };
  const limits = listing.limits;
  const v = chooseVolume(id, d, st, ctx);

  if (d.deleted) return decideDeleted(id, d, st, v, ctx);

  const size = roundUp(Math.max(d.size, 1), limits.allocation_unit);
  if (size < limits.min_size) return { phase: 'blocked', reason: `size ${fmtSize(d.size)} is below the backend's minimum ${fmtSize(limits.min_size)}` };
  if (size > limits.max_size) return { phase: 'blocked', reason: `size ${fmtSize(size)} is above the backend's maximum ${fmtSize(limits.max_size)}` };

  // Where it should be mounted: checked before anything is made for it.
  let mountPath: string | null = null;
  if (d.node !== null) {
    const target = input.nodes[d.node];
    if (target?.state) {
      mountPath = mountPathFor(d, target.state.mount_root);
      const bad =
        mountPathProblem(mountPath, target.state.mount_root) ??
        nestedMountProblem(mountPath, d.name, ctx.pathsByNode.get(d.node) ?? new Map());
      if (bad) return { phase: 'blocked', reason: bad };
      if (d.app !== undefined && !target.state.apps.includes(d.app)) {
        return { phase: 'blocked', reason: `application '${d.app}' is not defined on node '${d.node}'` };
      }
    }
  }

  if (!v) return decideMissing(id, d, st, size, ctx);

  // Adopt: a volume becomes this dataset's only by carrying its id.
  if (v.dataset !== id) {
    if (v.dataset !== null) return { phase: 'blocked', reason: `volume '${v.id}' belongs to another dataset (${v.dataset}); it is not adopted` };
    return {
      step: mk(id, 'set-metadata', CREDENTIALED, v, { metadata: { ...v.metadata, ...(d.meta ?? {}) }, dataset: id, cluster: input.desired.cluster, volume: volArg(v) },
        `volume '${v.id}' carries dataset id ${id}`),
      why: `adopting volume '${v.id}': writing the dataset id into its metadata`,
    };
  }

  const transient = transientWait(v);
  if (transient) return transient;

  // A device of this volume on a node it is not attached to (a stale loop device after a move): cleaned first.
  const stale = staleOn(id, v, ctx);
  if (stale) return stale;

  const target = d.node;
  if (v.attached === null) {
    if (target === null) {
      // Attached nowhere: the volume still grows (its filesystem follows once it is mounted somewhere).
      if (size > v.size) {
        if (limits.max_bytes !== null && ctx.totalBytes - v.size + size > limits.max_bytes) {
          return { phase: 'blocked', reason: `growing to ${fmtSize(size)} would pass the backend's quota of ${fmtSize(limits.max_bytes)}` };
        }
        return { step: mk(id, 'resize', CREDENTIALED, v, { size, volume: volArg(v) }, `volume '${v.id}' is ${fmtSize(size)}`), why: `growing volume '${v.id}' from ${fmtSize(v.size)} to ${fmtSize(size)}` };
      }
      return { phase: 'converged', reason: null };
    }
    return attachTo(id, d, v, target, ctx);
  }
  if (v.attached !== target) {
    // Moving (or detaching): only start when it can finish.
    if (target !== null) {
      const why = cannotAttach(d, v, target, ctx);
      if (why) return { phase: why.phase, reason: `move to node '${target}' cannot finish (${why.reason}); the dataset stays on node '${v.attached}'` };
    }
    return detachFrom(id, v, v.attached, target === null ? 'to leave it attached nowhere' : `to move it to node '${target}'`, ctx);
  }
  const tf = fenceOf(input, target);
  if (tf) {
    // Nothing is done on a fenced node; the operator moves the dataset away or lifts the fence.
    return {
      phase: 'waiting',
      reason: `node '${target}' is ${fenced(tf)}; volume '${v.id}' stays attached there and nothing is done for it until it is moved elsewhere ('dataset move ${d.name} --to NODE') or the fence is lifted ('dataset node unfence ${target}')`,
    };
  }
  const here = onTarget(id, d, st, v, target, mountPath, size, ctx);
  const pn = input.nodes[target];
  if ('phase' in here && here.phase === 'converged' && pn?.state && !pn.alive) {
    // Its last state is all anyone knows: not reported as converged (a step for it stays in waiting_for).
    const dev = pn.state.devices[v.id];
    const last = dev?.mount ? `mounted at '${dev.mount.path}'` : 'with its device';
    return {
      phase: 'waiting',
      reason: `node '${target}' is not running an agent (its lease expired or its agent stopped); it was last seen (${pn.state.observed_at}) ${last}; volume '${v.id}' stays attached there until its agent is back or the backend confirms the node is gone, or it is fenced and the dataset moved ('dataset node fence ${target} --yes')`,
    };
  }
  return here;
}

function transientWait(v: Volume): Decision | null {
  switch (v.status) {
    case 'creating':
    case 'attaching':
    case 'detaching':
    case 'extending':
    case 'deleting':
      return { phase: 'waiting', reason: `volume '${v.id}' is ${v.status} (the backend is still working on it)` };
    case 'error':
    case 'error_extending':
    case 'error_deleting':
    case 'unknown':
      return { phase: 'blocked', reason: `the backend reports volume '${v.id}' as ${v.status}; an operator must look at it` };
    default:
      return null;
  }
}

/**
 * Whether a create that started at `at` and answered nothing can no longer
 * show a volume: its grace has passed, or, on a backend whose listings are
 * consistent (grace 0), this listing was taken after it started.
 */
function createSettled(at: string, input: PlanInput): boolean {
  const grace = input.listing?.limits.create_grace_ms ?? CREATE_GRACE_MS;
  const started = Date.parse(at);
  if (grace === 0) return input.listing !== null && Date.parse(input.listing.listed_at) > started;
  return Date.parse(input.now) - started >= grace;
}

const fmtMs = (ms: number) => (ms % 60_000 === 0 ? `${ms / 60_000} minute${ms === 60_000 ? '' : 's'}` : `${ms / 1000} s`);

function decideMissing(id: string, d: DesiredDataset, st: DatasetStatus | null, size: number, ctx: Ctx): Decision {
  const { input } = ctx;
  const limits = input.listing!.limits;
  if (d.volume !== undefined) return { phase: 'blocked', reason: `volume '${d.volume}' to adopt is not in the backend listing` };
  if (st?.formatted) {
    return { phase: 'waiting', reason: `volume '${st.formatted.volume}', formatted for this dataset, is not in the backend listing; no second volume is made` };
  }
  const started = st?.markers.create_started;
  if (started) {
    if (started.volume !== null) {
      return { phase: 'waiting', reason: `volume '${started.volume}' was created at ${started.at} and is not in the listing yet; no second volume is made` };
    }
    if (!createSettled(started.at, input)) {
      const grace = limits.create_grace_ms ?? CREATE_GRACE_MS;
      const after = grace === 0 ? 'once a listing taken after it shows none' : `only ${fmtMs(grace)} after it`;
      return { phase: 'waiting', reason: `a create started at ${started.at} has not shown in the listing yet; another is tried ${after}` };
    }
  }
  if (limits.max_volumes !== null && input.listing!.volumes.length + 1 > limits.max_volumes) {
    return { phase: 'blocked', reason: `the backend's quota of ${limits.max_volumes} volumes is used up` };
  }
  if (limits.max_bytes !== null && ctx.totalBytes + size > limits.max_bytes) {
    return { phase: 'blocked', reason: `a ${fmtSize(size)} volume would pass the backend's quota of ${fmtSize(limits.max_bytes)}` };
  }
  return {
    step: mk(id, 'create', CREDENTIALED, null, { size, name: `dvm-${d.name}`, metadata: d.meta ?? {}, cluster: input.desired.cluster },
      `a ${fmtSize(size)} volume carrying dataset id ${id} exists`),
    why: `creating its ${fmtSize(size)} volume`,
  };
}

function decideDeleted(id: string, d: DesiredDataset, st: DatasetStatus | null, v: Volume | null, ctx: Ctx): Decision {
  if (d.app !== undefined) return { phase: 'blocked', reason: `destroy requested but the dataset is bound to application '${d.app}'; unbind it first` };
  if (!v) {
    const started = st?.markers.create_started;
    if (started && started.volume === null && !createSettled(started.at, ctx.input)) {
      return { phase: 'waiting', reason: `destroy requested; a create started at ${started.at} may still show a volume, which is then destroyed` };
    }
    return { phase: 'converged', reason: null };
  }
  if (v.dataset !== id) {
    // An adopted volume not yet marked as ours: destroying it would destroy someone else's.
    return { phase: 'converged', reason: null };
  }
  if (v.status === 'deleting') return { phase: 'waiting', reason: `volume '${v.id}' is being deleted` };
  const transient = transientWait(v);
  if (transient) return transient;
  const stale = staleOn(id, v, ctx);
  if (stale) return stale;
  if (v.attached !== null) return detachFrom(id, v, v.attached, 'to destroy it', ctx);
  return {
    step: mk(id, 'destroy', CREDENTIALED, v, { volume: volArg(v) }, `volume '${v.id}' is gone`),
    why: `destroying volume '${v.id}' (the dataset is marked deleted)`,
  };
}

/** Whether the volume can be attached to `target` now; null when it can. */
function cannotAttach(d: DesiredDataset, v: Volume, target: string, ctx: Ctx): { phase: 'waiting' | 'blocked'; reason: string } | null {
  const pn = ctx.input.nodes[target];
  const f = fenceOf(ctx.input, target);
  if (f) return { phase: 'waiting', reason: `node '${target}' is ${fenced(f)} ('dataset node unfence ${target}' lifts it)` };
  if (!pn || !pn.alive) return { phase: 'waiting', reason: `node '${target}' is not running an agent` };
  if (!pn.state) return { phase: 'waiting', reason: `node '${target}' has not reported its devices yet` };
  if (d.app !== undefined && !pn.state.apps.includes(d.app)) return { phase: 'blocked', reason: `application '${d.app}' is not defined on node '${target}'` };
  const perNode = ctx.input.listing!.limits.per_node;
  const onTarget = (ctx.attachedTo.get(target) ?? 0) - (v.attached === target ? 1 : 0);
  if (perNode !== null && onTarget + 1 > perNode) return { phase: 'blocked', reason: `node '${target}' already has ${onTarget} volumes attached, the backend's limit per node is ${perNode}` };
  return null;
}

function attachTo(id: string, d: DesiredDataset, v: Volume, target: string, ctx: Ctx): Decision {
  const why = cannotAttach(d, v, target, ctx);
  if (why) return { phase: why.phase, reason: `not attached: ${why.reason}` };
  return {
    step: mk(id, 'attach', CREDENTIALED, v, { node: target, volume: volArg(v) }, `volume '${v.id}' is attached to node '${target}'`),
    why: `attaching volume '${v.id}' to node '${target}'`,
  };
}

/** Unmount, then release on the owning node, then detach; a detach waits for the unmount to be seen. */
function detachFrom(id: string, v: Volume, owner: string, purpose: string, ctx: Ctx): Decision {
  const pn = ctx.input.nodes[owner];
  const live = ctx.input.listing!.live_nodes;
  const confirmedGone = Array.isArray(live) && !live.includes(owner);
  const f = fenceOf(ctx.input, owner);
  if (f) {
    // The operator's word that the node is gone: its unmount is never coming, and its last state is history.
    return {
      step: mk(id, 'detach', CREDENTIALED, v, { node: owner, confirmed_gone: true, fenced: true, volume: volArg(v) }, `volume '${v.id}' is attached nowhere`),
      why: `detaching volume '${v.id}' from node '${owner}', which is ${fenced(f)}, ${purpose}`,
    };
  }
  if (!pn || !pn.alive || !pn.state) {
    if (confirmedGone) {
      return {
        step: mk(id, 'detach', CREDENTIALED, v, { node: owner, confirmed_gone: true, volume: volArg(v) }, `volume '${v.id}' is attached nowhere`),
        why: `detaching volume '${v.id}' from node '${owner}', which the backend confirms is gone, ${purpose}`,
      };
    }
    const state = !pn || !pn.alive ? 'whose agent is not running' : 'which has not reported its devices yet';
    return {
      phase: 'waiting',
      reason: `volume '${v.id}' is attached to node '${owner}', ${state}; it is detached only once that node's unmount is seen or the backend confirms the node is gone, or an operator fences it once it is off ('dataset node fence ${owner} --yes') (${purpose})`,
    };
  }
  const lookup = pn.state.unknown?.[v.id];
  if (lookup !== undefined) return { phase: 'waiting', reason: `node '${owner}' could not look up the device of volume '${v.id}' (${lookup}); nothing is detached on a guess (${purpose})` };
  const dev = pn.state.devices[v.id];
  if (dev?.mount) {
    return {
      step: mk(id, 'unmount', onNode(owner), v, { path: dev.mount.path, ...devArgs(dev), volume: volArg(v) }, `'${dev.mount.path}' is unmounted on node '${owner}'`),
      why: `unmounting '${dev.mount.path}' on node '${owner}' ${purpose}`,
    };
  }
  if (dev?.held) return { phase: 'waiting', reason: `device '${dev.path}' on node '${owner}' is held open by something other than a mount; it is not released ${purpose}` };
  if (dev && dev.size !== v.size) {
    // Its identity check compares sizes: a resize not yet seen there is seen first.
    return { step: mk(id, 'refresh', onNode(owner), v, { device: dev.path, volume: volArg(v) }, `device '${dev.path}' is ${fmtSize(v.size)}`), why: `refreshing device '${dev.path}' on node '${owner}' to the volume's size before releasing it ${purpose}` };
  }
  if (dev) {
    return {
      step: mk(id, 'release', onNode(owner), v, { device: dev.path, volume: volArg(v) }, `node '${owner}' has no device for volume '${v.id}'`),
      why: `releasing device '${dev.path}' on node '${owner}' ${purpose}`,
    };
  }
  return {
    step: mk(id, 'detach', CREDENTIALED, v, { node: owner, volume: volArg(v) }, `volume '${v.id}' is attached nowhere`),
    why: `detaching volume '${v.id}' from node '${owner}' ${purpose}`,
  };
}

function staleOn(id: string, v: Volume, ctx: Ctx): Decision | null {
  const live = ctx.input.listing!.live_nodes;
  for (const n of ctx.devicesOf.get(v.id) ?? []) {
    if (n === v.attached) continue;
    const pn = ctx.input.nodes[n];
    // A dead node the backend confirms gone, or one an operator fenced: its last state is a stale record, not a device.
    if (pn.fenced || (!pn.alive && Array.isArray(live) && !live.includes(n))) continue;
    return staleDevice(id, v, n, pn, pn.state!.devices[v.id]);
  }
  return null;
}

/** A device of the volume on a node it is not attached to: unmount and release it there (never left for two nodes to write). */
function staleDevice(id: string, v: Volume, n: string, pn: PlanNode, dev: LocalDevice): Decision {
  if (!pn.alive) {
    return { phase: 'waiting', reason: `node '${n}', whose agent is not running, last showed a device of volume '${v.id}'${dev.mount ? ` mounted at '${dev.mount.path}'` : ''}; waiting for it to release it` };
  }
  if (dev.mount) {
    return {
      step: mk(id, 'unmount', onNode(n), v, { path: dev.mount.path, ...devArgs(dev), volume: volArg(v) }, `'${dev.mount.path}' is unmounted on node '${n}'`),
      why: `unmounting '${dev.mount.path}' on node '${n}', where volume '${v.id}' is no longer attached`,
    };
  }
  if (dev.held) return { phase: 'waiting', reason: `device '${dev.path}' on node '${n}' (volume '${v.id}' is not attached there) is held open; it is not released` };
  if (dev.size !== v.size) {
    return { step: mk(id, 'refresh', onNode(n), v, { device: dev.path, volume: volArg(v) }, `device '${dev.path}' is ${fmtSize(v.size)}`), why: `refreshing device '${dev.path}' on node '${n}' before releasing it` };
  }
  return {
    step: mk(id, 'release', onNode(n), v, { device: dev.path, volume: volArg(v) }, `node '${n}' has no device for volume '${v.id}'`),
    why: `releasing device '${dev.path}' on node '${n}', where volume '${v.id}' is no longer attached`,
  };
}

/** Attached where it should be: the node's work, in order. */
function onTarget(id: string, d: DesiredDataset, st: DatasetStatus | null, v: Volume, node: string, mountPath: string | null, size: number, ctx: Ctx): Decision {
  const pn = ctx.input.nodes[node];
  const here = onNode(node);
  if (!pn || !pn.state) return { phase: 'waiting', reason: `volume '${v.id}' is attached to node '${node}', which has not reported its devices yet` };
  const lookup = pn.state.unknown?.[v.id];
  if (lookup !== undefined) return { phase: 'waiting', reason: `node '${node}' could not look up the device of volume '${v.id}': ${lookup}` };
  const dev = pn.state.devices[v.id];
  const va = volArg(v);
  if (!dev) {
    return {
      step: mk(id, 'connect', here, v, { volume: va }, `node '${node}' has a device for volume '${v.id}'`),
      why: `volume '${v.id}' is attached to node '${node}'; waiting for its device there`,
    };
  }
  const limits = ctx.input.listing!.limits;
  const fsType = st?.formatted?.filesystem ?? (dev.signature?.type as DesiredDataset['filesystem']) ?? d.filesystem;

  // An explicit shrink in progress or asked for: offline, ext4 only.
  const shrink = st?.markers.shrink_started?.volume === v.id ? st.markers.shrink_started : undefined;
  const shrinkLive = d.shrink_to !== undefined && d.shrink_to === d.size;
  const shrinkAsked = shrinkLive && v.size > size;
  if (shrink && !(shrinkLive && shrink.to === size)) {
    // The request was withdrawn (or changed): the started shrink is abandoned, never finished without one.
    // A filesystem already made smaller is grown back by the usual path.
    if (shrink.snapshot !== null) {
      return { step: mk(id, 'remove-snapshot', CREDENTIALED, v, { snapshot: shrink.snapshot, volume: va }, `the abandoned shrink's snapshot is removed and the marker cleared`), why: 'the shrink request was withdrawn; abandoning the shrink' };
    }
    return { step: mk(id, 'record', here, v, { device: dev.path, volume: va, clear: 'shrink_started' }, 'the shrink marker is cleared'), why: 'the shrink request was withdrawn; abandoning the shrink' };
  }
  if ((shrink || shrinkAsked) && dev.signature?.partition) {
    return { phase: 'blocked', reason: `shrink to ${fmtSize(size)} asked for, but the filesystem is in partition '${dev.signature.partition}', which this agent does not shrink` };
  }
  if (shrink || shrinkAsked) {
    const r = shrinkStep(id, d, st, v, dev, node, shrink, size, fsType, ctx);
    if (r) return r;
  }

  if (dev.error && dev.blank === null && dev.signature === null) {
    return { phase: 'degraded', reason: `device '${dev.path}' on node '${node}' cannot be read: ${dev.error}` };
  }

  // Formatting: only a blank device, or our own interrupted mkfs; never a dataset with a formatted record.
  const rec = st?.formatted ?? null;
  const marker = st?.markers.mkfs_started?.volume === v.id ? st.markers.mkfs_started : undefined;
  if (!dev.signature) {
    if (rec) {
      return { phase: 'blocked', reason: `device '${dev.path}' shows no filesystem, but the dataset was formatted (${rec.filesystem} ${rec.uuid}, ${rec.at}); it is never formatted again: repair it or restore it${dev.error ? ` (${dev.error})` : ''}` };
    }
    if (dev.blank === true || (marker && dev.blank !== null)) {
      return {
        step: mk(id, 'mkfs', here, v, { device: dev.path, filesystem: d.filesystem, label: d.name.slice(0, 12), volume: va, resume: !dev.blank, ...(d.partition === true ? { partition: true } : {}) },
          `device '${dev.path}' holds a ${d.filesystem} filesystem recorded as formatted`),
        why: marker && !dev.blank ? `making the ${d.filesystem} filesystem again (an mkfs on node '${marker.node}' was interrupted at ${marker.at})` : `making a ${d.filesystem} filesystem on the blank device '${dev.path}'`,
      };
    }
    if (dev.blank === null) return { phase: 'degraded', reason: `device '${dev.path}' on node '${node}' could not be read, so it is not known to be blank: ${dev.error ?? 'reads failed'}` };
    return { phase: 'blocked', reason: `device '${dev.path}' holds data (${dev.error ?? 'a label or a partition table'}) and is not blank; it is never formatted` };
  }
  if (!rec) {
    const ours = marker && dev.signature.type === d.filesystem;
    if (ours || d.volume !== undefined) {
      return {
        step: mk(id, 'record', here, v, { ...devArgs(dev), filesystem: dev.signature.type, uuid: dev.signature.uuid, volume: va },
          `the ${dev.signature.type} filesystem ${dev.signature.uuid ?? ''} is recorded as this dataset's`),
        why: ours ? `recording the filesystem an interrupted mkfs made` : `recording the adopted ${dev.signature.type} filesystem`,
      };
    }
    return { phase: 'blocked', reason: `device '${dev.path}' holds a ${dev.signature.type} filesystem this agent did not make; it is neither formatted nor mounted` };
  }
  if (rec.uuid && dev.signature.uuid && rec.uuid !== dev.signature.uuid) {
    return { phase: 'blocked', reason: `device '${dev.path}' holds filesystem ${dev.signature.uuid}, not the recorded ${rec.uuid}; it is not mounted` };
  }
  if (marker || (st?.markers.create_started)) {
    // A stale marker with a record in place: cleared before anything else uses the dataset.
    return { step: mk(id, 'record', here, v, { ...devArgs(dev), filesystem: rec.filesystem, uuid: rec.uuid, volume: va }, 'markers cleared'), why: 'clearing a finished operation\'s marker' };
  }

  if (dev.size < v.size) {
    return { step: mk(id, 'refresh', here, v, { device: dev.path, volume: va }, `device '${dev.path}' is ${fmtSize(v.size)}`), why: `the volume grew to ${fmtSize(v.size)}; refreshing the device's size on node '${node}'` };
  }
  // Smaller than asked for grows, even under a shrink request (to a size above the volume's).
  if (size > v.size) {
    if (limits.max_bytes !== null && ctx.totalBytes - v.size + size > limits.max_bytes) {
      return { phase: 'blocked', reason: `growing to ${fmtSize(size)} would pass the backend's quota of ${fmtSize(limits.max_bytes)}` };
    }
    return { step: mk(id, 'resize', CREDENTIALED, v, { size, volume: va }, `volume '${v.id}' is ${fmtSize(size)}`), why: `growing volume '${v.id}' from ${fmtSize(v.size)} to ${fmtSize(size)}` };
  }

  if (!mountPath) return { phase: 'waiting', reason: `node '${node}' has not reported its mount root yet` };
  if (!dev.mount) {
    const occupied = pn.state.stray_mounts.includes(mountPath);
    if (occupied) return { phase: 'blocked', reason: `something else is mounted at '${mountPath}' on node '${node}'` };
    return {
      step: mk(id, 'mount', here, v, { ...devArgs(dev), path: mountPath, filesystem: rec.filesystem, uuid: rec.uuid, volume: va },
        `'${mountPath}' is mounted on node '${node}' (nosuid,nodev)`),
      why: `checking and mounting it at '${mountPath}' on node '${node}'`,
    };
  }
  if (dev.mount.path !== mountPath) {
    return {
      step: mk(id, 'unmount', here, v, { path: dev.mount.path, ...devArgs(dev), volume: va }, `'${dev.mount.path}' is unmounted on node '${node}'`),
      why: `unmounting it from '${dev.mount.path}' to mount it at '${mountPath}'`,
    };
  }
  if (dev.mount.read_only) {
    const f = st?.fsck && st.fsck.volume === v.id ? ` (fsck exit ${st.fsck.code} at ${st.fsck.at})` : '';
    return { phase: 'degraded', reason: `mounted read-only at '${mountPath}' on node '${node}': the filesystem has errors fsck did not correct${f}; repair it offline` };
  }
  const part = dev.signature.partition;
  const span = part ? dev.partition_span : undefined;
  if (part && span) {
    // A partitioned dataset grows as the volume did: the partition's end to the device's, then its filesystem.
    if (span.start + span.size + GROW_SLACK < Math.min(size, dev.size)) {
      return {
        step: mk(id, 'grow-partition', here, v, { device: dev.path, partition: part, size: dev.size, volume: va }, `partition '${part}' ends at the end of the ${fmtSize(dev.size)} device`),
        why: `growing partition '${part}' from ${fmtSize(span.size)} to fill the ${fmtSize(dev.size)} device`,
      };
    }
    if (dev.fs_size !== null && dev.fs_size + GROW_SLACK < Math.min(size - span.start, span.size)) {
      return {
        step: mk(id, 'grow-fs', here, v, { device: dev.path, partition: part, path: mountPath, filesystem: rec.filesystem, size: span.size, volume: va },
          `the filesystem at '${mountPath}' fills the ${fmtSize(span.size)} partition`),
        why: `growing the filesystem online from ${fmtSize(dev.fs_size)} to fill partition '${part}' (${fmtSize(span.size)})`,
      };
    }
  }
  if (dev.fs_size !== null && !part && dev.fs_size + GROW_SLACK < Math.min(size, dev.size)) {
    return {
      step: mk(id, 'grow-fs', here, v, { device: dev.path, path: mountPath, filesystem: rec.filesystem, size: Math.min(size, dev.size), volume: va },
        `the filesystem at '${mountPath}' fills the ${fmtSize(dev.size)} device`),
      why: `growing the filesystem online from ${fmtSize(dev.fs_size)} to fill ${fmtSize(dev.size)}`,
    };
  }
  return { phase: 'converged', reason: null };
}

type ShrinkMarker = NonNullable<DatasetStatus['markers']['shrink_started']>;

const keptForRestore = (m: ShrinkMarker): Decision => ({
  phase: 'degraded',
  reason: `the filesystem shrunk to ${fmtSize(m.to)} has errors fsck did not correct (exit ${m.checked!.code} at ${m.checked!.at}); snapshot '${m.snapshot}', taken before the shrink, is kept to restore it from`,
});

/**
 * An explicit shrink: snapshot first where the backend can, unmount, shrink
 * the filesystem offline, check it and remove the snapshot (kept, and the
 * dataset degraded, when the check finds errors), shrink the volume, refresh
 * the device, then clear the marker. Null when there is nothing left of it to do.
 */
function shrinkStep(
  id: string, d: DesiredDataset, st: DatasetStatus | null, v: Volume, dev: LocalDevice, node: string,
  marker: NonNullable<DatasetStatus['markers']['shrink_started']> | undefined, size: number, fsType: string, ctx: Ctx,
): Decision | null {
  const limits = ctx.input.listing!.limits;
  const here = onNode(node);
  const va = volArg(v);
  const to = marker?.to ?? size;
  if (!marker) {
    if (fsType !== 'ext4') return { phase: 'blocked', reason: `shrink to ${fmtSize(size)} asked for, but a ${fsType} filesystem cannot shrink (ext4 only)` };
    if (!limits.can_shrink) return { phase: 'blocked', reason: `shrink to ${fmtSize(size)} asked for, but the backend cannot shrink volumes` };
    if (!st?.formatted) return null; // nothing on it yet: the shrink is a create-time size
    if (limits.can_snapshot) {
      return { step: mk(id, 'snapshot', CREDENTIALED, v, { from: v.size, to: size, volume: va }, `a snapshot of volume '${v.id}' is taken and the shrink marked as started`), why: `snapshotting volume '${v.id}' before shrinking it to ${fmtSize(size)}` };
    }
  }
  if (v.size > to) {
    if (dev.mount) {
      return { step: mk(id, 'unmount', here, v, { path: dev.mount.path, ...devArgs(dev), volume: va }, `'${dev.mount.path}' is unmounted on node '${node}'`), why: `unmounting it to shrink it offline to ${fmtSize(to)}` };
    }
    if (dev.held) return { phase: 'waiting', reason: `device '${dev.path}' is held open; it is not shrunk while held` };
    if (dev.fs_size === null || dev.fs_size > to) {
      return {
        step: mk(id, 'shrink-fs', here, v, { device: dev.path, filesystem: fsType, from: v.size, to, volume: va }, `the filesystem on '${dev.path}' is at most ${fmtSize(to)}`),
        why: `shrinking the filesystem offline to ${fmtSize(to)}`,
      };
    }
    if (marker?.snapshot) {
      // The snapshot is the way back until the shrunk filesystem is checked;
      // it goes before the volume shrinks, as an origin with a snapshot cannot
      // (LVM refuses it; the snapshot would lose the tail it rolls back to).
      if (!marker.checked) {
        return { step: mk(id, 'fsck', here, v, { device: dev.path, filesystem: fsType, to, volume: va }, `the filesystem shrunk to ${fmtSize(to)} on '${dev.path}' is checked`), why: `checking the shrunk filesystem before its snapshot goes` };
      }
      if (marker.checked.code >= 4 || marker.checked.code < 0) return keptForRestore(marker);
      return {
        step: mk(id, 'remove-snapshot', CREDENTIALED, v, { snapshot: marker.snapshot, volume: va, keep_marker: true }, `snapshot '${marker.snapshot}' is removed; the shrink goes on`),
        why: `the shrunk filesystem is checked (fsck exit ${marker.checked.code}); removing its snapshot before the volume shrinks`,
      };
    }
    return { step: mk(id, 'resize', CREDENTIALED, v, { size: to, shrink: true, volume: va }, `volume '${v.id}' is ${fmtSize(to)}`), why: `shrinking volume '${v.id}' to ${fmtSize(to)} (its filesystem already is)` };
  }
  if (dev.size > v.size) {
    return { step: mk(id, 'refresh', here, v, { device: dev.path, volume: va }, `device '${dev.path}' is ${fmtSize(v.size)}`), why: `the volume shrank to ${fmtSize(v.size)}; refreshing the device's size` };
  }
  if (marker) {
    if (marker.snapshot !== null) {
      // Kept until the shrunk filesystem has passed the fsck of its next mount (the usual mount step).
      if (!marker.checked) return null;
      if (marker.checked.code >= 4 || marker.checked.code < 0) return keptForRestore(marker);
      return { step: mk(id, 'remove-snapshot', CREDENTIALED, v, { snapshot: marker.snapshot, volume: va }, `the shrink's snapshot is removed and the marker cleared`), why: `shrink done and checked (fsck exit ${marker.checked.code}); removing its snapshot` };
    }
    return { step: mk(id, 'record', here, v, { device: dev.path, volume: va, clear: 'shrink_started' }, 'the shrink marker is cleared'), why: 'shrink done; clearing its marker' };
  }
  return null;
}
