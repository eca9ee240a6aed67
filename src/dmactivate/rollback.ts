// What a dmexec rollback runs for each step of a plan (PLANNER.md "Recovery").
// dmexec runs, when step k fails, k's on_error and then the undo lists of
// steps k-1 … 0. So every step carries only its own inverse: the program and
// the time to plan it stay linear in the number of devices.
//
// Invariant: after the undo lists of steps ≥ i ran, the scope has the devices,
// names and live tables it had before step i, nothing suspended and nothing
// staged that a later undo does not clear. on_error(k) brings the state a
// failed step k may have left back to that of "before step k".
//
// Two stretches of a plan cannot be undone step by step: the unstage at its
// start and the suspend/resume window (swapping a live table back needs a
// load, and no load may run while a device is suspended; a parent's old table
// only fits once its children are back). For a failure inside one, on_error
// is planned as a whole, by the planner itself, from the worst state that
// failure can leave back to the window's start; the window's last step carries
// the same for a failure after it; the other steps in it carry nothing. This
// is quadratic only in the number of devices whose live table is swapped,
// never in those created or removed.
import type { DmStep } from '../lib/dm-program.js';
import { cloneModel, render, type MDev, type Model, type Want } from './model.js';
import { planSteps, topoOrder, type Phase, type Traced, type Tracer } from './plan.js';

const hasLive = (d: MDev) => d.live !== null && d.live.lines.length > 0;
const inWindow = (p: Phase) => p === 'unstage' || p === 'suspend' || p === 'resume';

/**
 * The inverse of each step as it is emitted. `existed`: uuids of devices there
 * before the program (true: with a live table); `removed`: uuids the program removes, which a rollback
 * re-creates (so references to them are written by name).
 */
export function tracer(existed: Map<string, boolean>, removed: Set<string>): Tracer {
  return (m: Model, s: DmStep, phase: Phase): Traced => {
    if (inWindow(phase)) return { phase, before: cloneModel(m), undo: [], onError: [] };
    const d = m.find((x) => x.name === s.name);
    const none = { phase, before: null, undo: [] as DmStep[], onError: [] as DmStep[] };
    switch (s.op) {
      case 'create':
        return { ...none, undo: [{ op: 'remove', name: s.name }] };
      case 'load':
        // a failed load may have staged its table
        return { ...none, undo: [{ op: 'clear', name: s.name }], onError: [{ op: 'clear', name: s.name }] };
      case 'rename':
        return { ...none, undo: [{ op: 'rename', name: s.new_name!, new_name: s.name }] };
      case 'remove': {
        if (!d) return none;
        // A snapshot removed while its origin runs (phase drop) cannot be
        // re-created exact: origin writes made in between never reached its
        // COW. It is only removed so when it leaves the mapping (removed from
        // the metadata, or merging), so a rollback leaves it gone rather than
        // bring back a stale copy.
        if (phase === 'drop') return none;
        const back: DmStep[] = [{ op: 'create', name: d.name, uuid: d.uuid }];
        if (hasLive(d)) {
          back.push(loadStep(d, d.live!, m, removed), { op: 'resume', name: d.name });
        }
        return { ...none, undo: back };
      }
      case 'resume': {
        if (!d) return none;
        if (!hasLive(d)) {
          // A device with no table went live. One this program created is
          // removed by the create's undo; an empty leftover is made empty again
          // (a failed resume may have swapped the table in, so on_error too).
          const again: DmStep[] = existed.has(d.uuid) ? [{ op: 'remove', name: d.name }, { op: 'create', name: d.name, uuid: d.uuid }] : [];
          return { ...none, undo: again, onError: again };
        }
        // A grown device made live early (preload): its old table back. A
        // failed resume may have swapped and stayed suspended: planned whole.
        return {
          ...none,
          undo: [loadStep(d, d.live!, m, removed), { op: 'suspend', name: d.name }, { op: 'resume', name: d.name }],
          onError: recover(failedState(m, s), relaxed(m), removed, existed),
        };
      }
      default:
        return none; // clear: a staged table is never put back (PLANNER.md)
    }
  };
}

function loadStep(d: MDev, t: NonNullable<MDev['live']>, m: Model, removed: Set<string>): DmStep {
  const step: DmStep = { op: 'load', name: d.name, table: render(t, m, undefined, removed) };
  if (t.ro) step.read_only = true;
  return step;
}

/** Every device with a live table, as it is: the state a rollback returns to. */
export const relaxed = (m: Model): Want[] => m.filter(hasLive).map((d) => ({ uuid: d.uuid, name: d.name, table: d.live! }));

/** The model after `step` succeeded. */
export function applied(before: Model, step: DmStep): Model {
  const m = cloneModel(before);
  const d = m.find((x) => x.name === step.name);
  if (!d) return m;
  if (step.op === 'suspend') d.suspended = true;
  if (step.op === 'clear') d.inactive = null;
  if (step.op === 'resume') {
    if (d.inactive) [d.live, d.inactive] = [d.inactive, null];
    d.suspended = false;
  }
  return m;
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
    if (d.inactive) d.live = d.inactive;
    d.suspended = true;
  }
  return m;
}

/**
 * The planner's own plan from `from` to `to`, in full mode. Devices with no
 * live table are kept: their fate is the undo of whatever made them. Those
 * that had none before the program (`existed`) and are live now are made
 * empty again. Devices the program
 * removes are referred to by name.
 */
export function recover(from: Model, to: Want[], removed: Set<string>, existed?: Map<string, boolean>): DmStep[] {
  const m = from.map((d) => (removed.has(d.uuid) ? { ...d, dev: null } : d));
  const wanted = (d: MDev) => to.some((w) => w.uuid === d.uuid);
  // A device that had no live table before the program (created by it, or an
  // empty leftover) and holds a table now (a new snapshot or -real device
  // loaded in preload, made live in the window) is made empty again: removed
  // in the planner's top-down order (users first: a table, even inactive,
  // holds the devices it names), then re-created empty, so its create's undo
  // and the final clears still find it.
  const reempty = new Map(m.filter((d) => existed !== undefined && existed.get(d.uuid) !== true && (hasLive(d) || d.inactive !== null) && !wanted(d)).map((d) => [d.name, d.uuid]));
  // Left to the undo of whatever made them: the other devices with no live table.
  const empty = new Set(m.filter((d) => !hasLive(d) && !wanted(d) && !reempty.has(d.name)).map((d) => d.name));
  return planSteps(m, to, { stage: false })
    .steps.filter((s) => !(s.op === 'remove' && empty.has(s.name)))
    .flatMap((s): DmStep[] => (s.op === 'remove' && reempty.has(s.name) ? [s, { op: 'create', name: s.name, uuid: reempty.get(s.name)! }] : [s]));
}

/** Whatever the program found staged or suspended is not restored: cleared and resumed, bottom-up, last. */
export function cleanup(start: Model): DmStep[] {
  const rank = topoOrder(start, []);
  const up = [...start].sort((a, b) => rank.get(a.uuid)! - rank.get(b.uuid)!);
  return [
    ...up.filter((d) => d.inactive).map((d): DmStep => ({ op: 'clear', name: d.name })),
    ...up.filter((d) => d.suspended && hasLive(d)).map((d): DmStep => ({ op: 'resume', name: d.name })),
  ];
}

/** Windows: maximal runs of steps in the unstage or suspend/resume phases. */
export function windows(trace: Traced[]): [number, number][] {
  const out: [number, number][] = [];
  trace.forEach((t, i) => {
    if (!inWindow(t.phase)) return;
    const last = out[out.length - 1];
    const sameKind = (p: Phase) => (p === 'unstage') === (t.phase === 'unstage');
    if (last && last[1] === i - 1 && sameKind(trace[last[1]].phase)) last[1] = i;
    else out.push([i, i]);
  });
  return out;
}
