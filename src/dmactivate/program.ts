// A whole dvm.dmexec/1 program: the plan, and for every step what a rollback
// runs for it (rollback.ts): its own inverse as `undo`, and as `on_error`
// what its own failure may have left.
import { invalidInput } from '../lib/errors.js';
import type { DmDoc } from '../lib/dm-doc.js';
import type { DmProgram, DmStep } from '../lib/dm-program.js';
import { modelOf, wantOf } from './model.js';
import { planSteps, type PlanOptions } from './plan.js';
import { applied, cleanup, failedState, recover, relaxed, tracer, windows } from './rollback.js';

export { failedState } from './rollback.js';

export function planProgram(current: DmDoc, desired: DmDoc, opts: PlanOptions): DmProgram {
  const scope = desired.scope;
  if (scope.length < 4) throw invalidInput('invalid input', 'stdin', `desired state needs a scope (dm uuid prefix such as DVM-<vg id>), got '${scope}'`);
  if (!scope.startsWith(current.scope)) throw invalidInput('invalid input', 'current state', `it covers scope '${current.scope}', not '${scope}'`);
  const start = modelOf(current, scope);
  const want = wantOf(desired, start);
  const wanted = new Set(want.map((w) => w.uuid));
  const removed = new Set(opts.stage ? [] : start.filter((d) => !wanted.has(d.uuid)).map((d) => d.uuid));
  const existed = new Set(start.map((d) => d.uuid));
  const main = planSteps(start, want, opts, tracer(existed, removed));
  const undo = main.trace.map((t) => t.undo);
  const onError = main.trace.map((t) => t.onError);
  for (const [a, b] of windows(main.trace)) {
    const target = relaxed(main.trace[a].before!);
    for (let k = a; k <= b; k++) {
      onError[k] = recover(failedState(main.trace[k].before!, main.steps[k]), target, removed, existed);
      undo[k] = [];
    }
    const after = applied(main.trace[b].before!, main.steps[b]).map((d) => ({ ...d, suspended: false, inactive: null }));
    undo[b] = recover(after, target, removed, existed);
  }
  if (main.steps.length) {
    // The rollback always ends with step 0's undo (or on_error, when step 0 failed).
    const last = cleanup(start);
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
