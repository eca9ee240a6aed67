// The types of the native core's dm half (native/dmexec.cc), loaded from
// dvm's one addon (src/lib/addon.ts).
import { loadAddon } from '../lib/addon.js';

export interface NativeOp {
  nr: number;
  buf: Buffer;
  retries: number;
  branchStart: number;
  branchCount: number;
  /** this main step's undo list (ops[undoStart, undoStart+undoCount)), run newest first when a later step fails */
  undoStart: number;
  undoCount: number;
  /** triples: byte offset in buf, width, index of the CREATE op whose device it names */
  patches: number[];
}

/** How memory is locked around a program: see src/dmexec/LOCKING.md. */
export type LockMode = 'ranges' | 'mlockall';
export const LOCK_CODES: Record<LockMode | 'none', 0 | 1 | 2> = { none: 0, ranges: 1, mlockall: 2 };

export interface NativeRunResult {
  count: number;
  lockErrno: number;
  lockedBytes: number;
}

export interface DmNative {
  openControl(path: string): number;
  close(fd: number): number;
  ioctl(fd: number, nr: number, buf: Buffer): number;
  mknod(path: string, major: number, minor: number, mode: number): number;
  run(fd: number, ops: NativeOp[], mainCount: number, results: Int32Array, opts: { lock: 0 | 1 | 2; busyDelayMs: number }): NativeRunResult;
}

export function loadNative(): DmNative {
  return loadAddon<DmNative>();
}
