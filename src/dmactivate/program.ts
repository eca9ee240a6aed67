// A whole dvm.dmexec/1 program: the plan, and for every step the recovery
// branch that returns the scope to where it was before the program began.
import { invalidInput } from '../lib/errors.js';
import type { DmDoc, DmProgram, DmStep } from '../lib/dm-types.js';
import { cloneModel, modelOf, wantOf, type Model, type Want } from './model.js';
import { planSteps, type PlanOptions } from './plan.js';

export function planProgram(current: DmDoc, desired: DmDoc, opts: PlanOptions): DmProgram {
  const scope = desired.scope;
  if (scope.length < 4) throw invalidInput('invalid input', 'stdin', `desired state needs a scope (dm uuid prefix such as DVM-<vg id>), got '${scope}'`);
  if (!scope.startsWith(current.scope)) throw invalidInput('invalid input', 'current state', `it covers scope '${current.scope}', not '${scope}'`);
  const start = modelOf(current, scope);
  const want = wantOf(desired, start);
  const main = planSteps(start, want, opts, true);
  const restore: Want[] = start.filter((d) => d.live !== null).map((d) => ({ uuid: d.uuid, name: d.name, table: d.live! }));
  const steps = main.steps.map((s, i): DmStep => {
    const recovery = planSteps(failedState(main.before[i], s), restore, { stage: false }).steps;
    return recovery.length ? { ...s, on_error: recovery } : s;
  });
  return { format: 'dvm.dmexec/1', scope, steps };
}

/**
 * The state after `step` failed, assuming the worst that failure can leave:
 * a failed load may have left its table staged; a failed suspend may have
 * suspended; a failed resume may have swapped the table in and stayed
 * suspended (preresume failure), or not swapped at all, so both slots are
 * taken to hold the new table. Creates, removes, renames and clears that
 * fail change nothing.
 */
export function failedState(before: Model, step: DmStep): Model {
  const m = cloneModel(before);
  const d = m.find((x) => x.name === step.name);
  if (!d) return m;
  if (step.op === 'load') d.inactive = { ro: step.read_only ?? false, lines: [] };
  if (step.op === 'suspend') d.suspended = true;
  // A device with no live table yet has no users to restore: its failed
  // resume leaves it as it was, and recovery removes it.
  if (step.op === 'resume' && d.live !== null) {
    if (d.inactive) d.live = structuredClone(d.inactive);
    d.suspended = true;
  }
  return m;
}
