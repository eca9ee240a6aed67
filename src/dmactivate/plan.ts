// The planner: (current model, desired devices) → ordered dm steps, in the
// order libdevmapper's deptree uses (see PLANNER.md). Pure: it only reasons
// about a model of the kernel, which it updates as it emits each step.
import { sha256 } from '../lib/sha256.js';
import { failed } from '../lib/errors.js';
import type { DmStep } from '../lib/dm-program.js';
import { appendOnly, cloneModel, refsOf, render, tableEq, tableSize, type MDev, type Model, type NTable, type Want } from './model.js';

export interface PlanOptions {
  /** stop at the commit point: stage new tables and suspend, resume nothing that existed, remove nothing */
  stage: boolean;
}

/** Which part of the deptree order a step belongs to (PLANNER.md "Order"). */
export type Phase = 'unstage' | 'drop' | 'rename' | 'preload' | 'suspend' | 'resume' | 'remove';

/** What the rollback needs to know about a step, taken as it is emitted (see rollback.ts). */
export interface Traced {
  phase: Phase;
  /** the model before the step: kept only for steps in the suspend/resume and unstage windows */
  before: Model | null;
  /** the step's own inverse and failure branch, for steps outside those windows */
  undo: DmStep[];
  onError: DmStep[];
}

/** Computes a step's inverse from the model before it (rollback.ts); null: no tracing. */
export type Tracer = (model: Model, step: DmStep, phase: Phase) => Traced;

export interface Planned {
  steps: DmStep[];
  /** per step, when a tracer was given */
  trace: Traced[];
  /** the model after the last step */
  model: Model;
  /** the first ordering rule the steps break (see orderProblem), or null */
  problem: string | null;
}

const hasLive = (d: MDev) => d.live !== null && d.live.lines.length > 0;

/** Emits steps and keeps the model in step with what each does when it succeeds. */
class Emitter {
  readonly steps: DmStep[] = [];
  readonly trace: Traced[] = [];
  problem: string | null = null;
  phase: Phase = 'unstage';
  private readonly byUuid = new Map<string, MDev>();
  constructor(
    readonly model: Model,
    private readonly tracer: Tracer | null,
  ) {
    for (const d of model) this.byUuid.set(d.uuid, d);
  }
  get(uuid: string): MDev | undefined {
    return this.byUuid.get(uuid);
  }
  private emit(step: DmStep, apply: () => void) {
    this.problem ??= orderProblem(this.model, step, this.steps.length);
    if (this.tracer) this.trace.push(this.tracer(this.model, step, this.phase));
    this.steps.push(step);
    apply();
  }
  create(w: Want) {
    this.emit({ op: 'create', name: w.name, uuid: w.uuid }, () => {
      const d: MDev = { uuid: w.uuid, name: w.name, dev: null, live: null, inactive: null, suspended: false };
      this.model.push(d);
      this.byUuid.set(d.uuid, d);
    });
  }
  load(d: MDev, t: NTable) {
    const step: DmStep = { op: 'load', name: d.name, table: render(t, this.model, this.byUuid) };
    if (t.ro) step.read_only = true;
    this.emit(step, () => (d.inactive = t));
  }
  clear(d: MDev) {
    this.emit({ op: 'clear', name: d.name }, () => (d.inactive = null));
  }
  suspend(d: MDev) {
    this.emit({ op: 'suspend', name: d.name }, () => (d.suspended = true));
  }
  resume(d: MDev) {
    this.emit({ op: 'resume', name: d.name }, () => {
      if (d.inactive) [d.live, d.inactive] = [d.inactive, null];
      d.suspended = false;
    });
  }
  rename(d: MDev, to: string) {
    this.emit({ op: 'rename', name: d.name, new_name: to }, () => (d.name = to));
  }
  remove(d: MDev) {
    this.emit({ op: 'remove', name: d.name }, () => {
      this.model.splice(this.model.indexOf(d), 1);
      this.byUuid.delete(d.uuid);
    });
  }
  result(): Planned {
    return { steps: this.steps, trace: this.trace, model: this.model, problem: this.problem };
  }
}

/**
 * One order for every device (current or desired), children before parents,
 * over the union of the live, inactive and desired dependency edges. Bottom-up
 * is this order; top-down is its reverse.
 */
export function topoOrder(model: Model, want: Want[]): Map<string, number> {
  const deps = new Map<string, Set<string>>();
  const add = (u: string, refs: string[]) => {
    const s = deps.get(u) ?? new Set<string>();
    refs.forEach((r) => s.add(r));
    deps.set(u, s);
  };
  for (const d of model) add(d.uuid, [...refsOf(d.live), ...refsOf(d.inactive)]);
  for (const w of want) add(w.uuid, refsOf(w.table));
  // An origin's top device goes after the snapshots of its -real device
  // (libdm's activation_priority): bottom-up resumes a new snapshot before its
  // origin, and top-down suspends the origin first.
  const tables = [...model.flatMap((d) => [{ uuid: d.uuid, t: d.live }, { uuid: d.uuid, t: d.inactive }]), ...want.map((w) => ({ uuid: w.uuid, t: w.table }))];
  for (const o of tables) {
    const real = originReal(o.t);
    if (real !== null) add(o.uuid, tables.filter((x) => snapshotReal(x.t) === real && x.uuid !== o.uuid).map((x) => x.uuid));
  }
  const rank = new Map<string, number>();
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (u: string) => {
    if (state.get(u) === 'done') return;
    if (state.get(u) === 'visiting') throw failed('cannot plan', u, 'the devices depend on each other in a cycle');
    state.set(u, 'visiting');
    for (const c of deps.get(u) ?? []) visit(c);
    state.set(u, 'done');
    rank.set(u, rank.size);
  };
  for (const u of deps.keys()) visit(u);
  return rank;
}

/** The -real device (uuid) a `snapshot` table reads, or null for any other table. */
function snapshotReal(t: NTable | null): string | null {
  const l = t?.lines[0];
  const r = l?.target === 'snapshot' ? l.params[0] : undefined;
  return r !== undefined && typeof r !== 'string' ? r.ref : null;
}

/** The -cow device (uuid) of a `snapshot` or `snapshot-merge` table, or null. */
function cowOf(t: NTable | null): string | null {
  const l = t?.lines[0];
  const r = l?.target === 'snapshot' || l?.target === 'snapshot-merge' ? l.params[1] : undefined;
  return r !== undefined && typeof r !== 'string' ? r.ref : null;
}

/** The -real device under a `snapshot-origin` or `snapshot-merge` table (the origin's top device), or null. */
function originReal(t: NTable | null): string | null {
  const l = t?.lines[0];
  const r = l?.target === 'snapshot-origin' || l?.target === 'snapshot-merge' ? l.params[0] : undefined;
  return r !== undefined && typeof r !== 'string' ? r.ref : null;
}

/**
 * New devices whose first resume must wait until the origin they belong to is
 * suspended, keyed to that origin: a new snapshot (it becomes exact at the
 * moment the origin, frozen by the suspend, resumes), and a new -real device
 * under an origin that runs now (as libdm's delay_resume_if_new: its table is
 * the origin's current one, and a raid1 set must not run twice at once).
 * Only when the origin's top device is live; a new stack comes up bottom-up.
 */
function heldForOrigin(e: Emitter, want: Want[]): Map<string, MDev> {
  const held = new Map<string, MDev>();
  for (const w of want) {
    const real = originReal(w.table);
    const o = e.get(w.uuid);
    if (real === null || !o || !hasLive(o)) continue;
    const hold = (u: string) => {
      const d = e.get(u);
      if (!d || !hasLive(d)) held.set(u, o);
    };
    hold(real);
    for (const s of want) if (snapshotReal(s.table) === real) hold(s.uuid);
  }
  return held;
}

function tempName(d: MDev, taken: Set<string>): string {
  const h = sha256(d.uuid).toString('hex').slice(0, 12);
  for (let i = 0; ; i++) {
    const n = i === 0 ? `dvm-tmp-${h}` : `dvm-tmp-${h}-${i}`;
    if (!taken.has(n)) return n;
  }
}

/**
 * Give every desired device that exists its desired name. A name held by the
 * wrong device (a stale one, or one that is itself being renamed: a swap) is
 * first moved to a temporary name, so no rename ever hits a taken name.
 */
function renames(e: Emitter, want: Want[]) {
  const wantBy = new Map(want.map((w) => [w.uuid, w]));
  const wanted = new Set(want.map((w) => w.name));
  const blockers = e.model.filter((d) => wanted.has(d.name) && wantBy.get(d.uuid)?.name !== d.name);
  const taken = new Set([...e.model.map((d) => d.name), ...wanted]);
  for (const b of blockers) {
    const t = tempName(b, taken);
    taken.add(t);
    e.rename(b, t);
  }
  for (const w of want) {
    const d = e.get(w.uuid);
    if (d && d.name !== w.name) e.rename(d, w.name);
  }
}

export function planSteps(start: Model, want: Want[], opts: PlanOptions, tracer: Tracer | null = null): Planned {
  const first = planOnce(start, want, opts, false, tracer);
  // Devices left suspended by an earlier run must not be under a load or an
  // out-of-order suspend/resume: if this plan would put them there, resume
  // them first (their staged tables cleared), then plan from that clean state.
  if (first.problem === null) return first;
  return planOnce(start, want, opts, true, tracer);
}

function planOnce(start: Model, want: Want[], opts: PlanOptions, unstage: boolean, tracer: Tracer | null): Planned {
  const e = new Emitter(cloneModel(start), tracer);
  const rank = topoOrder(start, want);
  const up = (ds: MDev[]) => [...ds].sort((a, b) => rank.get(a.uuid)! - rank.get(b.uuid)!);
  const down = (ds: MDev[]) => up(ds).reverse();
  const wantBy = new Map(want.map((w) => [w.uuid, w]));

  if (unstage)
    for (const d of up(e.model.filter((d) => d.suspended && hasLive(d)))) {
      if (d.inactive) e.clear(d);
      e.resume(d);
    }

  // A snapshot that goes while its origin stays is removed before anything
  // else changes: while the origin still maps through snapshot-origin it stays
  // exact, and if it is in use the removal fails (EBUSY) before the origin was
  // touched. The kernel unregisters it from the origin and waits for its
  // pending copies (snapshot_dtr); the origin need not be suspended.
  // A prepare (--stage) removes nothing: the snapshot stays for the commit.
  // When the origin goes too, the normal top-down removal takes the origin
  // first: then nothing writes between, and a rollback re-creates both exact.
  const staying = new Set(
    [...want.map((w) => originReal(w.table)), ...e.model.filter((d) => wantBy.has(d.uuid)).map((d) => originReal(d.live))].filter((r): r is string => r !== null),
  );
  const going = e.model.filter((d) => !wantBy.has(d.uuid) && [snapshotReal(d.live), snapshotReal(d.inactive)].some((r) => r !== null && staying.has(r)));
  e.phase = 'drop';
  if (!opts.stage) for (const d of down(going)) e.remove(d);
  // The COW of a snapshot still there (in a prepare) is not loaded under a new
  // table yet: the kernel would pair the two for an exception handover, and
  // the removal at commit would cancel it and leave the new one invalid
  // (snapshot_dtr). A merge is loaded at the commit, once the snapshot is gone.
  const busyCow = new Set(opts.stage ? going.flatMap((d) => [cowOf(d.live), cowOf(d.inactive)]).filter((c): c is string => c !== null) : []);

  e.phase = 'rename';
  renames(e, want);

  // Preload, bottom-up: create and load everything before anything is suspended.
  const parents = new Set(want.flatMap((w) => refsOf(w.table)));
  const toSwap: MDev[] = [];
  const held = heldForOrigin(e, want);
  e.phase = 'preload';
  for (const w of [...want].sort((a, b) => rank.get(a.uuid)! - rank.get(b.uuid)!)) {
    const cow = cowOf(w.table);
    if (cow !== null && busyCow.has(cow)) continue;
    let d = e.get(w.uuid);
    if (!d) {
      e.create(w);
      d = e.get(w.uuid)!;
    }
    if (!hasLive(d)) {
      // A device without a live table serves nobody yet: make it live now, as
      // libdm's preload does for new devices, so its users' tables can load.
      if (!tableEq(d.inactive, w.table)) e.load(d, w.table);
      const origin = held.get(d.uuid);
      if (origin === undefined) e.resume(d);
      else if (!toSwap.includes(origin)) toSwap.push(origin);
      continue;
    }
    if (tableEq(d.live, w.table)) {
      if (d.inactive) e.clear(d);
      continue;
    }
    if (!tableEq(d.inactive, w.table)) e.load(d, w.table);
    // A grown device used by others goes live before they load (libdm resumes
    // children whose size grew in preload). Staged runs only do so when the
    // growth leaves every old sector mapped as before.
    const grows = tableSize(w.table) > tableSize(d.live);
    if (parents.has(d.uuid) && grows && (!opts.stage || appendOnly(d.live!, w.table))) {
      e.resume(d);
      continue;
    }
    toSwap.push(d);
  }

  // Suspend top-down.
  e.phase = 'suspend';
  for (const d of down(toSwap)) if (!d.suspended) e.suspend(d);
  if (opts.stage) return e.result();

  // Resume bottom-up: every desired device that is suspended with something to run.
  e.phase = 'resume';
  for (const d of up(e.model.filter((d) => wantBy.has(d.uuid) && (d.suspended ? hasLive(d) || d.inactive : !hasLive(d) && d.inactive)))) e.resume(d);

  // Remove top-down what is not desired.
  e.phase = 'remove';
  for (const d of down(e.model.filter((d) => !wantBy.has(d.uuid)))) e.remove(d);
  return e.result();
}

/**
 * The ordering rules a plan must keep (libdm's guards), checked on the model
 * before a step: no load while a device with a live table is suspended; no
 * suspend of a device whose live table uses a suspended device; no resume onto
 * a table that uses one. Returns the problem, or null.
 */
export function orderProblem(m: Model, s: DmStep, i: number): string | null {
  const d = m.find((x) => x.name === s.name);
  const suspended = (refs: string[]) => m.find((x) => refs.includes(x.uuid) && x.suspended && hasLive(x));
  if (s.op === 'load') {
    const busy = m.find((x) => x.suspended && hasLive(x));
    if (busy) return `step ${i}: load of '${s.name}' while '${busy.name}' is suspended`;
  } else if (s.op === 'suspend' && d) {
    const under = suspended(refsOf(d.live));
    if (under) return `step ${i}: suspend of '${s.name}' while '${under.name}' under it is suspended`;
  } else if (s.op === 'resume' && d) {
    const under = suspended(refsOf(d.inactive ?? d.live));
    if (under) return `step ${i}: resume of '${s.name}' while '${under.name}' under it is suspended`;
  } else if (s.op === 'remove' && d && d.suspended && hasLive(d)) {
    // Not a kernel rule: a rollback re-creates removed devices (a load), which
    // must not happen while a device of the scope stays suspended.
    return `step ${i}: remove of '${s.name}' while it is suspended`;
  }
  return null;
}
