// Turn a checked program into native ops: every ioctl buffer, recovery
// branches and undo lists included, is built here, before anything is locked
// or suspended. Linear in the program's size: no per-step copies of any map.
import { CMD, FLAG, HEADER_SIZE, packHeader, packLoad, packMessage, packRename } from './layout.js';
import { DM_REF_PREFIX } from '../lib/dm-table.js';
import type { NativeOp } from './native.js';
import type { Lookup } from './program.js';
import type { DmProgram, DmStep } from '../lib/dm-program.js';

/** Width reserved for a late-resolved "major:minor" (4095:1048575 is 12 bytes). */
const DEV_WIDTH = 12;
// Create, suspend, resume, clear, remove and status return nothing beyond the
// header, so that is all their buffers need: recovery branches hold one op per
// device undone, and at 4 KiB each a 200-LV activation pre-sized (and locked)
// ~240 MB of buffers (bench/README.md).
const CONTROL_BUFFER = HEADER_SIZE;
const SUSPEND_RETRIES = 3; // EINTR: the kernel undid the suspend; trying again is safe
const REMOVE_RETRIES = 5; // EBUSY from transient openers (blkid, udev workers)

export interface OpMeta {
  index: number; // program step index (on_error: the failed step's; undo: the undone step's)
  recovery: boolean;
  branch?: 'on_error' | 'undo';
  step: DmStep;
}

export interface Compiled {
  ops: NativeOp[];
  meta: OpMeta[];
  mainCount: number;
}

/** A `dm:<name>` in an undo step whose device a rollback may have re-created: resolved once all undo lists are built. */
interface Pending {
  op: number;
  name: string;
  offset: number;
  width: number;
  main: number | undefined; // the main-program create of that name, if any
}

/** Names → the op that creates them: a base map plus a small overlay for one branch (no copies of the base). */
class Creators {
  constructor(
    private readonly base: Map<string, number>,
    private readonly local = new Map<string, number | null>(),
  ) {}
  get(name: string): number | undefined {
    return this.local.has(name) ? (this.local.get(name) ?? undefined) : this.base.get(name);
  }
  track(s: DmStep, at: number): void {
    if (s.op === 'create') this.local.set(s.name, at);
    else if (s.op === 'remove') this.local.set(s.name, null);
    else if (s.op === 'rename' && this.get(s.name) !== undefined) {
      this.local.set(s.new_name, this.get(s.name)!);
      this.local.set(s.name, null);
    }
  }
}

export function compileProgram(p: DmProgram, lookup: Lookup | null): Compiled {
  const mainCount = p.steps.length;
  const ops: NativeOp[] = [];
  const meta: OpMeta[] = [];
  const extra: NativeOp[] = [];
  const extraMeta: OpMeta[] = [];
  const pending: Pending[] = [];
  const creators = new Map<string, number>();
  // Recovery steps run after renames of the main program: to ask the kernel
  // about a name there, ask for the name that device had before the program
  // (null: the name was freed, or belongs to a device this program created).
  const origOf = new Map<string, string | null>();
  const orig = (name: string) => (origOf.has(name) ? origOf.get(name)! : name);
  const branch = (list: DmStep[], index: number, kind: 'on_error' | 'undo') => {
    const start = mainCount + extra.length;
    const local = new Creators(creators);
    for (const r of list) {
      const at = mainCount + extra.length;
      extra.push(buildOp(r, { creators: local, lookup, orig, pending: kind === 'undo' ? { list: pending, op: at } : null }));
      extraMeta.push({ index, recovery: true, branch: kind, step: r });
      local.track(r, at);
    }
    return start;
  };
  p.steps.forEach((s, i) => {
    const o = buildOp(s, { creators: new Creators(creators), lookup, orig: (n) => n, pending: null });
    if (s.on_error?.length) {
      o.branchStart = branch(s.on_error, i, 'on_error');
      o.branchCount = s.on_error.length;
    }
    ops.push(o);
    meta.push({ index: i, recovery: false, step: s });
    if (s.op === 'create') {
      creators.set(s.name, i);
      origOf.set(s.name, null);
    } else if (s.op === 'remove') {
      creators.delete(s.name);
      origOf.set(s.name, null);
    } else if (s.op === 'rename') {
      if (creators.has(s.name)) creators.set(s.new_name, creators.get(s.name)!);
      else creators.delete(s.new_name);
      creators.delete(s.name);
      origOf.set(s.new_name, orig(s.name));
      origOf.set(s.name, null);
    }
    if (s.undo?.length) {
      o.undoStart = branch(s.undo, i, 'undo');
      o.undoCount = s.undo.length;
    }
  });
  for (const e of extra) {
    // patch sources and branch starts are op indices: main ops come first, so nothing shifts
    ops.push(e);
  }
  meta.push(...extraMeta);
  resolvePending(ops, meta, pending);
  return { ops, meta, mainCount };
}

/**
 * A rollback runs undo lists newest first, so a reference in undo(j) names
 * the device made by the nearest create before it in that order: earlier in
 * undo(j), or in undo(j+1), undo(j+2), … If that create did not run (the
 * failure came before the step it undoes), the device was never removed and
 * the text written in advance (its number now) stands; the native side only
 * patches when the source create succeeded.
 */
function resolvePending(ops: NativeOp[], meta: OpMeta[], pending: Pending[]): void {
  if (!pending.length) return;
  const byOp = new Map<number, Pending[]>();
  for (const pd of pending) {
    const list = byOp.get(pd.op);
    if (list) list.push(pd);
    else byOp.set(pd.op, [pd]);
  }
  const made = new Map<string, number | null>();
  const undoLists = ops
    .map((o, i) => ({ o, i }))
    .filter(({ o }) => o.undoCount > 0)
    .reverse();
  for (const { o } of undoLists) {
    for (let at = o.undoStart; at < o.undoStart + o.undoCount; at++) {
      for (const pd of byOp.get(at) ?? []) {
        const source = made.has(pd.name) ? made.get(pd.name) : pd.main;
        if (source !== undefined && source !== null) ops[at].patches.push(pd.offset, pd.width, source);
      }
      const u = meta[at].step;
      if (u.op === 'create') made.set(u.name, at);
      else if (u.op === 'remove') made.set(u.name, null);
      else if (u.op === 'rename' && made.has(u.name)) {
        made.set(u.new_name, made.get(u.name)!);
        made.delete(u.name);
      }
    }
  }
}

interface Ctx {
  creators: Creators;
  lookup: Lookup | null;
  orig: (name: string) => string | null;
  /** set for undo steps: where to record references a rollback may re-create */
  pending: { list: Pending[]; op: number } | null;
}

function op(nr: number, buf: Buffer, retries = 0, patches: number[] = []): NativeOp {
  return { nr, buf, retries, branchStart: 0, branchCount: 0, undoStart: 0, undoCount: 0, patches };
}

function buildOp(s: DmStep, ctx: Ctx): NativeOp {
  switch (s.op) {
    case 'create':
      return op(CMD.DEV_CREATE, packHeader({ name: s.name, uuid: s.uuid }, CONTROL_BUFFER));
    case 'load':
      return buildLoad(s, ctx);
    case 'suspend': {
      const flags = FLAG.SUSPEND | (s.noflush ? FLAG.NOFLUSH : 0) | (s.skip_lockfs ? FLAG.SKIP_LOCKFS : 0);
      return op(CMD.DEV_SUSPEND, packHeader({ name: s.name, flags }, CONTROL_BUFFER), SUSPEND_RETRIES);
    }
    case 'resume':
      return op(CMD.DEV_SUSPEND, packHeader({ name: s.name }, CONTROL_BUFFER), SUSPEND_RETRIES);
    case 'clear':
      return op(CMD.TABLE_CLEAR, packHeader({ name: s.name }, CONTROL_BUFFER));
    case 'remove':
      return op(CMD.DEV_REMOVE, packHeader({ name: s.name, flags: s.deferred ? FLAG.DEFERRED_REMOVE : 0 }, CONTROL_BUFFER), s.retries ?? REMOVE_RETRIES);
    case 'rename':
      return op(CMD.DEV_RENAME, packRename(s.name, s.new_name));
    case 'message':
      return op(CMD.TARGET_MSG, packMessage(s.name, s.sector ?? 0, s.message));
    case 'mknod':
      // The node itself is made after the critical section; in it we only check the device exists.
      return op(CMD.DEV_STATUS, packHeader({ name: s.name }, CONTROL_BUFFER));
  }
}

/**
 * `dm:<name>` words become "major:minor": now, for devices that exist, or by
 * the native side right before the load, for devices this program creates.
 */
function buildLoad(s: Extract<DmStep, { op: 'load' }>, ctx: Ctx): NativeOp {
  const late: { line: number; byte: number; source: number }[] = [];
  const deferred: { line: number; byte: number; name: string; width: number; main: number | undefined }[] = [];
  const lines = s.table.map((l, li) => {
    let byte = 0;
    const words = l.params.split(' ').map((w) => {
      let out = w;
      if (w.startsWith(DM_REF_PREFIX)) {
        const name = w.slice(DM_REF_PREFIX.length);
        const source = ctx.creators.get(name);
        const was = source === undefined ? ctx.orig(name) : null;
        const cur = was !== null ? ctx.lookup?.(was) : null;
        if (ctx.pending) {
          // undo step: which create it names is known only once every undo list is built
          const text = cur ? `${cur.major}:${cur.minor}` : w;
          const width = Math.max(DEV_WIDTH, Buffer.byteLength(text));
          deferred.push({ line: li, byte, name, width, main: source });
          out = text.padEnd(width, ' ');
        } else if (source !== undefined) {
          late.push({ line: li, byte, source });
          out = ' '.repeat(DEV_WIDTH);
        } else if (cur) out = `${cur.major}:${cur.minor}`;
        // else: left as is; the kernel rejects it and the step fails with its recovery
      }
      byte += Buffer.byteLength(out) + 1;
      return out;
    });
    return { ...l, params: words.join(' ') };
  });
  const packed = packLoad(s.name, lines, s.read_only ?? false);
  const patches = late.flatMap((p) => [packed.paramsOffsets[p.line] + p.byte, DEV_WIDTH, p.source]);
  if (ctx.pending)
    for (const d of deferred) ctx.pending.list.push({ op: ctx.pending.op, name: d.name, offset: packed.paramsOffsets[d.line] + d.byte, width: d.width, main: d.main });
  return op(CMD.TABLE_LOAD, packed.buf, 0, patches);
}
