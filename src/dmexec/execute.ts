// Run a program: check, compile, one locked native call, then decode the
// results and fix up /dev/mapper nodes outside the critical section.
import { FORMATS } from '../lib/schema.js';
import { environmentError } from '../lib/errors.js';
import { checkProgram, namesOf, type Lookup } from './program.js';
import type { DmProgram, DmStep } from '../lib/dm-program.js';
import { compileProgram } from './compile.js';
import { decodeDev, readHeader, parseMessageReply } from './layout.js';
import { errnoName, type DmControl } from './control.js';
import { ensureNode, removeNode, renameNode } from './nodes.js';
import { LOCK_CODES, type LockMode } from './native.js';

export interface StepResult {
  index: number;
  op: string;
  name: string;
  ok: boolean | null;
  errno: number | null;
  error: string | null;
  message: string | null;
  recovery: boolean;
  /** recovery steps: from the failed step's on_error, or from a completed step's undo */
  branch?: 'on_error' | 'undo';
  major: number | null;
  minor: number | null;
}

export interface ExecResult {
  format: typeof FORMATS.dmexecResult;
  ok: boolean;
  dry_run: boolean;
  kernel: string | null;
  steps: StepResult[];
  recovery: { ran: boolean; ok: boolean | null; step: number | null };
  locked_bytes: number;
  lock: string;
  nodes: string[];
}

/** Ask the kernel about every name the program mentions (read-only queries). */
export function kernelLookup(ctl: DmControl, p: DmProgram): Lookup {
  const seen = new Map<string, ReturnType<Lookup>>();
  const visit = (s: DmStep) => {
    for (const n of namesOf(s)) {
      if (seen.has(n)) continue;
      const info = ctl.info(n);
      seen.set(n, info ? { uuid: info.uuid, ...decodeDev(info.dev) } : null);
    }
    s.on_error?.forEach(visit);
    s.undo?.forEach(visit);
  };
  p.steps.forEach(visit);
  return (name) => seen.get(name) ?? null;
}

const blank = (index: number, s: DmStep, recovery: boolean): StepResult => ({
  index, op: s.op, name: s.name, ok: null, errno: null, error: null, message: null, recovery, major: null, minor: null,
});

/** --dry-run: everything short of the ioctls that change state. */
export function dryRun(p: DmProgram, ctl: DmControl | null): ExecResult {
  const lookup = ctl ? kernelLookup(ctl, p) : null;
  checkProgram(p, lookup);
  compileProgram(p, lookup); // proves every buffer can be built
  return {
    format: FORMATS.dmexecResult, ok: true, dry_run: true, kernel: ctl?.version ?? null,
    steps: p.steps.map((s, i) => blank(i, s, false)),
    recovery: { ran: false, ok: null, step: null }, locked_bytes: 0, lock: 'none', nodes: [],
  };
}

export function execute(p: DmProgram, ctl: DmControl, opts: { lock?: LockMode | 'none'; busyDelayMs?: number } = {}): ExecResult {
  const lookup = kernelLookup(ctl, p);
  checkProgram(p, lookup);
  const compiled = compileProgram(p, lookup);
  const lock = opts.lock ?? 'ranges';
  const { results, run } = ctl.run(compiled.ops, compiled.mainCount, { lock: LOCK_CODES[lock], busyDelayMs: opts.busyDelayMs ?? 100 });
  if (run.lockErrno) throw environmentError('cannot lock memory', lock, `${errnoName(run.lockErrno)}: needs CAP_IPC_LOCK or RLIMIT_MEMLOCK=unlimited; nothing was done`);

  const steps: StepResult[] = [];
  const nodes: string[] = [];
  let failedStep: number | null = null;
  let recoveryOk: boolean | null = null;
  for (let k = 0; k < run.count; k++) {
    const [opIndex, ret, isRecovery] = [results[3 * k], results[3 * k + 1], results[3 * k + 2] === 1];
    const m = compiled.meta[opIndex];
    const r = blank(m.index, m.step, isRecovery);
    if (isRecovery && m.branch) r.branch = m.branch;
    const buf = compiled.ops[opIndex].buf;
    r.ok = ret === 0;
    if (ret < 0) {
      r.errno = -ret;
      r.error = errnoName(-ret);
      if (!isRecovery) failedStep = m.index;
      else recoveryOk = false;
    } else {
      if (isRecovery && recoveryOk === null) recoveryOk = true;
      const h = readHeader(buf);
      if (m.step.op === 'create' || m.step.op === 'mknod' || m.step.op === 'rename') {
        const { major, minor } = decodeDev(h.dev);
        r.major = major;
        r.minor = minor;
      }
      if (m.step.op === 'message') r.message = parseMessageReply(buf);
      const change = nodeChange(ctl, m.step, r);
      if (change) nodes.push(change);
    }
    steps.push(r);
  }
  const recoveryRan = steps.some((s) => s.recovery);
  return {
    format: FORMATS.dmexecResult,
    ok: failedStep === null,
    dry_run: false,
    kernel: ctl.version,
    steps,
    recovery: { ran: recoveryRan, ok: recoveryRan ? recoveryOk ?? true : null, step: failedStep },
    locked_bytes: Math.max(0, run.lockedBytes),
    lock,
    nodes,
  };
}

function nodeChange(ctl: DmControl, s: DmStep, r: StepResult): string | null {
  switch (s.op) {
    case 'create':
    case 'mknod':
      return ensureNode(ctl.native, s.name, r.major!, r.minor!);
    case 'remove':
      return removeNode(s.name);
    case 'rename':
      return renameNode(s.name, s.new_name) ?? (r.major ? ensureNode(ctl.native, s.new_name, r.major, r.minor!) : null);
    default:
      return null;
  }
}
