// One pass of the dataset agent: list (credentialed and leading), discover
// this node, read the store, plan, apply this node's steps one by one, write
// each dataset's status. Everything a pass decides is re-derived from the
// store, the backend and the devices, so a pass killed anywhere is simply
// followed by the next one.
import type { DatasetsDoc, Limits, NodeStateDoc, PlanDoc, StepResult, VolumesDoc } from '../docs.js';
import type { Backend } from '../backend/types.js';
import type { Leadership, NodeEntry, Store } from '../store/types.js';
import { StoreConflict } from '../store/types.js';
import { plan, type PlanNode } from '../plan/index.js';
import { applyStep, type Host } from '../apply/index.js';
import { discoverLocal } from '../local/index.js';
import { commandRunner } from '../apply/runner.js';
import { loadApps } from '../apps/definition.js';
import { runtimeDirFor } from '../apps/observe.js';
import { canonicalJson } from '../../lib/canonical-json.js';
import { ToolError } from '../../lib/errors.js';
import { EXIT } from '../../lib/exit-codes.js';
import { nextStatus, observedOf, writesStatus } from './status.js';
import type { Outcome } from './timing.js';

/** Unchanged documents are rewritten this often anyway, so readers can tell they are fresh. */
const REFRESH_MS = 5 * 60_000;
/** Backend limits change rarely: asked once, then this often. */
const LIMITS_MS = 10 * 60_000;

export interface AgentContext {
  node: string;
  credentialed: boolean;
  /** The backend spec, for the listing's `backend`. */
  spec: string;
  store: Store;
  backend: Backend;
  leadership: Leadership | null;
  host: Host;
  mountRoot: string;
  appsDir: string | null;
  now: () => Date;
  /** One line per step and per pass. */
  log: (line: string) => void;
  /** True once SIGTERM came: finish the current step, start no other. */
  stopping: () => boolean;
  /** Carried between passes. */
  memo: { listingText?: string; listingAt?: number; nodeText?: string; nodeAt?: number; limits?: Limits; limitsAt?: number };
}

/** Thrown for what no retry fixes (another agent runs as this node): the agent exits. */
export class Fatal extends ToolError {
  constructor(message: string) {
    super(EXIT.FAILED, message);
  }
}

export interface PassReport {
  outcome: Outcome;
  plan: PlanDoc;
  results: StepResult[];
  leading: boolean;
}

const STEADY = new Set(['converged', 'orphaned', 'blocked', 'degraded']);


const withoutTime = (doc: object, key: string) => canonicalJson({ ...doc, [key]: '' });

async function listBackend(ctx: AgentContext, leadership: Leadership): Promise<VolumesDoc> {
  const control = ctx.backend.control!;
  const nowMs = ctx.now().getTime();
  const m = ctx.memo;
  if (!m.limits || nowMs - (m.limitsAt ?? 0) >= LIMITS_MS) {
    m.limits = await leadership.fenced(() => control.limits());
    m.limitsAt = nowMs;
  }
  const volumes = await leadership.fenced(() => control.list());
  const doc: VolumesDoc = { format: 'dvm.volumes/1', backend: ctx.spec, listed_at: ctx.now().toISOString(), listed_by: ctx.node, volumes, limits: m.limits };
  // A volume attached to a node whose agent the store shows dead: ask the backend whether that node is
  // gone (only a node it confirms gone has its volumes detached without its unmount). Asked only then,
  // so a healthy cluster's pass still makes the one listing call.
  // The same for a dead node whose last state still shows a device (a stale record once it is gone).
  if (control.liveNodes) {
    const holders = new Set(volumes.map((v) => v.attached).filter((n): n is string => n !== null && n !== ctx.node));
    const nodes = await ctx.store.readNodes();
    const fences = await ctx.store.readFences();
    // A fenced node is gone by the operator's word: no need to ask the backend about it.
    const dead = (n: string) => n !== ctx.node && !nodes[n]?.alive && !fences[n];
    const ask = [...holders].some(dead) || Object.entries(nodes).some(([n, e]) => dead(n) && Object.keys(e.state.devices).length > 0);
    if (ask) doc.live_nodes = await leadership.fenced(() => control.liveNodes!());
  }
  // Written only when it says something new (or is getting old): every write
  // wakes every agent watching the store.
  const text = withoutTime(doc, 'listed_at');
  if (text !== m.listingText || nowMs - (m.listingAt ?? 0) >= REFRESH_MS) {
    await ctx.store.writeListing(doc);
    m.listingText = text;
    m.listingAt = nowMs;
  }
  return doc;
}

async function writeLocal(ctx: AgentContext, state: NodeStateDoc): Promise<void> {
  const nowMs = ctx.now().getTime();
  const text = withoutTime(state, 'observed_at');
  if (text === ctx.memo.nodeText && nowMs - (ctx.memo.nodeAt ?? 0) < REFRESH_MS) return;
  try {
    await ctx.store.writeNodeState(state, { credentialed: ctx.credentialed });
  } catch (e) {
    if (e instanceof StoreConflict) throw new Fatal(e.message);
    throw e;
  }
  ctx.memo.nodeText = text;
  ctx.memo.nodeAt = nowMs;
}

export async function runPass(ctx: AgentContext): Promise<PassReport> {
  const leadership = ctx.leadership;
  const leading = leadership !== null && ctx.backend.control !== null && leadership.isLeader();
  const listing = leading ? await listBackend(ctx, leadership!) : await ctx.store.readListing();

  // Applications are read from this node's APPS_DIR every pass: an administrator's edit takes effect without a restart.
  // Hook output goes to the agent's log (the loop logs the step's own line).
  const apps = ctx.appsDir ? { set: loadApps(ctx.appsDir), runtimeDir: runtimeDirFor(ctx.node), run: commandRunner(), log: ctx.log } : undefined;
  // Read first: discovery connects only the devices of datasets wanted here.
  const desired: DatasetsDoc = (await ctx.store.readDesired()).value;
  const local = await discoverLocal({
    desired,
    node: ctx.node,
    mountRoot: ctx.mountRoot,
    volumes: listing?.volumes ?? [],
    nodePlane: ctx.backend.node,
    host: ctx.host,
    apps: apps ? [...apps.set.apps.keys()] : [],
    appSet: apps?.set,
    appsRuntime: apps?.runtimeDir,
    now: ctx.now,
  });
  await writeLocal(ctx, local);

  const statuses = await ctx.store.readStatuses();
  const entries: Record<string, NodeEntry> = await ctx.store.readNodes();
  const fences = await ctx.store.readFences();
  const nodes: Record<string, PlanNode> = {};
  for (const [n, e] of Object.entries(entries)) nodes[n] = { state: e.state, alive: e.alive, leader: e.leader };
  nodes[ctx.node] = { state: local, alive: true, leader: leading };
  // A node an operator fenced counts as gone, even one that never reported.
  for (const [n, f] of Object.entries(fences)) if (n !== ctx.node) (nodes[n] ??= { state: null, alive: false }).fenced = f;

  const p = plan({ desired, statuses, listing, nodes, node: ctx.node, credentialed: leading, now: ctx.now().toISOString() });

  const fx = { node: ctx.node, backend: ctx.backend, store: ctx.store, leadership: leading ? leadership : null, host: ctx.host, mountRoot: ctx.mountRoot, now: ctx.now, apps };  // the loop logs each step itself, with the dataset name and time
  const results: StepResult[] = [];
  for (const step of p.steps) {
    if (ctx.stopping()) break;
    const r = await applyStep(step, fx);
    results.push(r);
    const name = desired.datasets[step.dataset]?.name ?? step.dataset;
    ctx.log(`${name} ${step.action}${step.volume ? ` ${step.volume}` : ''} ${r.ok ? 'ok' : 'failed'} (${r.elapsed_ms} ms)${r.message ? `: ${r.message}` : ''}`);
  }

  // Statuses: what this pass found, for the datasets this agent speaks for.
  const now = ctx.now();
  for (const [id, d] of Object.entries(desired.datasets)) {
    if (!writesStatus(d, ctx.node, leading, nodes)) continue;
    const result = [...results].reverse().find((r) => r.dataset === id);
    const observed = observedOf(id, d, listing, nodes);
    await ctx.store.updateStatus(id, (cur) => nextStatus(cur, id, d, p.datasets[id], result, observed, ctx.node, now));
  }

  // A destroyed dataset is forgotten by the leader once its fresh listing shows no volume of it.
  if (leading && listing) {
    for (const [id, d] of Object.entries(desired.datasets)) {
      if (!d.deleted || p.datasets[id]?.phase !== 'converged') continue;
      if (listing.volumes.some((v) => v.dataset === id)) continue;
      let forgot = false;
      await ctx.store.updateDesired((doc) => {
        const cur = doc.datasets[id];
        if (!cur || !cur.deleted || cur.changed !== d.changed) return doc;
        delete doc.datasets[id];
        forgot = true;
        return doc;
      });
      if (forgot) {
        await ctx.store.updateStatus(id, () => null);
        ctx.log(`${d.name} forget ok: destroyed, its desired entry and status removed`);
      }
    }
  }

  const verdicts = Object.values(p.datasets);
  const outcome: Outcome = {
    converged: p.steps.length === 0 && p.waiting_for.length === 0 && verdicts.every((v) => STEADY.has(v.phase)),
    progressed: results.some((r) => r.ok),
    failed: results.some((r) => !r.ok),
  };
  return { outcome, plan: p, results, leading };
}
