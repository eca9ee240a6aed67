// A whole dvm.dmexec/1 program: the plan, and for every step what a rollback
// runs for it (rollback.ts): its own inverse as `undo`, and as `on_error`
// what its own failure may have left.
import type { DmDoc } from '../lib/dm-doc.js';
import type { DmProgram, DmStep } from '../lib/dm-program.js';
import { cloneModel, lineEq, modelOf, refsOf, wantOf, type Model, type Want } from './model.js';
import { failed, invalidInput } from '../lib/errors.js';
import { mergeDone, parseSnapshotStatus } from '../lib/dm-table.js';
import { planSteps, type PlanOptions } from './plan.js';
import { applied, cleanup, failedState, recover, relaxed, tracer, windows } from './rollback.js';

export { failedState } from './rollback.js';

/**
 * An origin mapped through snapshot-merge keeps that table until the kernel
 * says the merge is done: mapped plain (or over another COW) earlier, it would
 * show half-merged data. Deactivating it is fine (the merge resumes from the
 * COW at the next activation); vol-activate keeps the table while the metadata
 * says merging, and tm drops the snapshot once finishedMerges() sees it done.
 */
function refuseUnfinishedMerge(current: DmDoc, start: Model, want: Want[]): void {
  for (const d of start) {
    const l = d.live?.lines[0];
    if (l?.target !== 'snapshot-merge') continue;
    const w = want.find((x) => x.uuid === d.uuid);
    if (!w) continue;
    const next = w.table.lines[0];
    if (next?.target === 'snapshot-merge' && lineEq(next, l)) continue;
    const st = current.devices.find((x) => x.uuid === d.uuid)?.status?.find((x) => x.target === 'snapshot-merge');
    const s = st ? parseSnapshotStatus(st.params) : null;
    if (s && mergeDone(s)) continue;
    const left = s?.state === 'valid' ? `${s.allocated - s.metadata} sectors still to merge` : `merge status ${st ? `'${st.params}'` : 'unknown'}`;
    throw failed('cannot plan', d.name, `the snapshot merge into it is not finished (${left}); wait for it, or deactivate the origin`);
  }
}

/**
 * The first resume of a device with no live table (a new snapshot or -real
 * device, held for the window) may fail three ways: nothing happened, the
 * device is left suspended with no table, or with the new table live but
 * suspended. One recovery fits all three: empty it again before anything
 * else (no load may run while it might be suspended). Users that only stage
 * a table over it lose that table (clear), users with no live table of their
 * own are emptied first (a table, even inactive, holds what it names); then
 * the device is removed and created empty. Returns those steps and the model
 * after them, or null for any other step.
 */
function uncertainFirstResume(before: Model, step: DmStep): { steps: DmStep[]; model: Model } | null {
  const hasLive = (x: Model[number]) => x.live !== null && x.live.lines.length > 0;
  const d = before.find((x) => x.name === step.name);
  if (step.op !== 'resume' || !d || hasLive(d)) return null;
  const m = cloneModel(before);
  const steps: DmStep[] = [];
  const empty = (x: Model[number]) => {
    steps.push({ op: 'remove', name: x.name }, { op: 'create', name: x.name, uuid: x.uuid });
    Object.assign(x, { live: null, inactive: null, suspended: false, dev: null });
  };
  for (const u of m) {
    if (u.uuid === d.uuid || !refsOf(u.inactive).includes(d.uuid)) continue;
    if (hasLive(u)) {
      steps.push({ op: 'clear', name: u.name });
      u.inactive = null;
    } else empty(u);
  }
  empty(m.find((x) => x.uuid === d.uuid)!);
  return { steps, model: m };
}

export function planProgram(current: DmDoc, desired: DmDoc, opts: PlanOptions): DmProgram {
  const scope = desired.scope;
  if (scope.length < 4) throw invalidInput('invalid input', 'stdin', `desired state needs a scope (dm uuid prefix such as DVM-<vg id>), got '${scope}'`);
  if (!scope.startsWith(current.scope)) throw invalidInput('invalid input', 'current state', `it covers scope '${current.scope}', not '${scope}'`);
  const start = modelOf(current, scope);
  const want = wantOf(desired, start);
  refuseUnfinishedMerge(current, start, want);
  const wanted = new Set(want.map((w) => w.uuid));
  const removed = new Set(opts.stage ? [] : start.filter((d) => !wanted.has(d.uuid)).map((d) => d.uuid));
  const existed = new Map(start.map((d) => [d.uuid, d.live !== null && d.live.lines.length > 0]));
  const main = planSteps(start, want, opts, tracer(existed, removed));
  const undo = main.trace.map((t) => t.undo);
  const onError = main.trace.map((t) => t.onError);
  for (const [a, b] of windows(main.trace)) {
    const target = relaxed(main.trace[a].before!);
    for (let k = a; k <= b; k++) {
      const first = uncertainFirstResume(main.trace[k].before!, main.steps[k]);
      onError[k] = first ? [...first.steps, ...recover(first.model, target, removed, existed)] : recover(failedState(main.trace[k].before!, main.steps[k]), target, removed, existed);
      undo[k] = [];
    }
    const after = applied(main.trace[b].before!, main.steps[b]).map((d) => ({ ...d, suspended: false, inactive: null }));
    undo[b] = recover(after, target, removed, existed);
  }
  if (main.steps.length) {
    // The rollback always ends with step 0's undo (or on_error, when step 0 failed).
    // (a snapshot removed in the drop phase stays gone: nothing of it to clear or resume)
    const dropped = new Set(main.steps.filter((s, i) => main.trace[i].phase === 'drop').map((s) => s.name));
    const last = cleanup(start).filter((s) => !dropped.has(s.name));
    undo[0] = [...undo[0], ...last];
    onError[0] = [...onError[0], ...last];
  }
  const steps = main.steps.map((s, i): DmStep => {
    const out: DmStep = { ...s };
    if (onError[i].length) out.on_error = onError[i];
    if (undo[i].length) out.undo = undo[i];
    return out;
  });
  return { format: 'dvm.dmexec/1', scope, steps };
}
