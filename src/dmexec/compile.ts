// Turn a checked program into native ops: every ioctl buffer, recovery
// branches included, is built here, before anything is locked or suspended.
import { CMD, FLAG, HEADER_SIZE, packHeader, packLoad, packMessage, packRename } from './layout.js';
import { DM_REF_PREFIX } from '../lib/dm-table.js';
import type { NativeOp } from './native.js';
import type { Lookup, Program, Step } from './program.js';

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
  index: number; // program step index (for recovery steps: the failed step's)
  recovery: boolean;
  step: Step;
}

export interface Compiled {
  ops: NativeOp[];
  meta: OpMeta[];
  mainCount: number;
}

export function compileProgram(p: Program, lookup: Lookup | null): Compiled {
  const ops: NativeOp[] = [];
  const meta: OpMeta[] = [];
  const mainCount = p.steps.length;
  // Which op creates each name, as the main sequence runs; branches see the state before their step.
  const before: Map<string, number>[] = [];
  const creators = new Map<string, number>();
  p.steps.forEach((s, i) => {
    before.push(new Map(creators));
    ops.push(buildOp(s, creators, lookup));
    meta.push({ index: i, recovery: false, step: s });
    track(s, i, creators);
  });
  p.steps.forEach((s, i) => {
    if (!s.on_error?.length) return;
    const local = before[i];
    ops[i].branchStart = ops.length;
    ops[i].branchCount = s.on_error.length;
    for (const r of s.on_error) {
      const at = ops.length;
      ops.push(buildOp(r, local, lookup));
      meta.push({ index: i, recovery: true, step: r });
      track(r, at, local);
    }
  });
  return { ops, meta, mainCount };
}

function track(s: Step, at: number, creators: Map<string, number>): void {
  if (s.op === 'create') creators.set(s.name, at);
  else if (s.op === 'remove') creators.delete(s.name);
  else if (s.op === 'rename' && creators.has(s.name)) {
    creators.set(s.new_name, creators.get(s.name)!);
    creators.delete(s.name);
  }
}

function op(nr: number, buf: Buffer, retries = 0, patches: number[] = []): NativeOp {
  return { nr, buf, retries, branchStart: 0, branchCount: 0, patches };
}

function buildOp(s: Step, creators: Map<string, number>, lookup: Lookup | null): NativeOp {
  switch (s.op) {
    case 'create':
      return op(CMD.DEV_CREATE, packHeader({ name: s.name, uuid: s.uuid }, CONTROL_BUFFER));
    case 'load':
      return buildLoad(s, creators, lookup);
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
function buildLoad(s: Extract<Step, { op: 'load' }>, creators: Map<string, number>, lookup: Lookup | null): NativeOp {
  const late: { line: number; byte: number; source: number }[] = [];
  const lines = s.table.map((l, li) => {
    let byte = 0;
    const words = l.params.split(' ').map((w) => {
      let out = w;
      if (w.startsWith(DM_REF_PREFIX)) {
        const name = w.slice(DM_REF_PREFIX.length);
        const source = creators.get(name);
        const cur = source === undefined ? lookup?.(name) : null;
        if (source !== undefined) {
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
  return op(CMD.TABLE_LOAD, packed.buf, 0, patches);
}
