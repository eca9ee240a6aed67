// The dm control device: every query ioctl goes through DmControl.call, and
// whole programs through DmControl.run (one native call, memory locked).
import { builtin } from '../lib/builtins.js';
import { environmentError, failed } from '../lib/errors.js';
import type { TableLine } from '../lib/dm-table.js';
import { CMD, FLAG, packHeader, readHeader, parseNameList, parseSpecs, type Header, type NameEntry } from './layout.js';
import type { DmNative, NativeOp, NativeRunResult } from './native.js';

export const CONTROL_PATH = '/dev/mapper/control';
const QUERY_BUFFER = 16384;
const MAX_QUERY_BUFFER = 64 * 1024 * 1024;

// Errno names are wanted only when a call fails: node:os (~2 ms to load) waits for one.
const os = builtin<typeof import('node:os')>('os');
let errnoNames: Map<number, string> | undefined;
export const errnoName = (errno: number): string =>
  (errnoNames ??= new Map(Object.entries(os().constants.errno).map(([k, v]) => [v as number, k]))).get(errno) ?? `E${errno}`;

export class DmControl {
  private constructor(
    readonly native: DmNative,
    private fd: number,
    readonly kernelVersion: [number, number, number],
  ) {}

  /** Open /dev/mapper/control and check the interface is version 4. */
  static open(native: DmNative, path = CONTROL_PATH): DmControl {
    const fd = native.openControl(path);
    if (fd < 0) {
      const e = errnoName(-fd);
      if (e === 'EACCES' || e === 'EPERM') throw environmentError('cannot open', path, `${e}: device-mapper needs root (CAP_SYS_ADMIN)`);
      throw environmentError('cannot open', path, `${e}: no device-mapper in this kernel (modprobe dm-mod)`);
    }
    const buf = packHeader({});
    const r = native.ioctl(fd, CMD.VERSION, buf);
    if (r < 0) {
      native.close(fd);
      const e = errnoName(-r);
      if (e === 'EACCES' || e === 'EPERM') throw environmentError('device-mapper refused', path, `${e}: needs root (CAP_SYS_ADMIN)`);
      throw environmentError('device-mapper version check failed', path, e);
    }
    const v = readHeader(buf).version;
    if (v[0] !== 4) {
      native.close(fd);
      throw environmentError('unsupported device-mapper interface', path, `version ${v.join('.')}, need 4.x`);
    }
    return new DmControl(native, fd, v);
  }

  close(): void {
    if (this.fd >= 0) this.native.close(this.fd);
    this.fd = -1;
  }

  get version(): string {
    return this.kernelVersion.join('.');
  }

  /**
   * The one path for query ioctls: returns the output buffer, or the errno.
   * Data-returning commands double their buffer while the kernel says it was full.
   */
  call(nr: number, make: (size: number) => Buffer, size = QUERY_BUFFER): { errno: number; buf: Buffer } {
    for (;;) {
      const buf = make(size);
      const r = this.native.ioctl(this.fd, nr, buf);
      if (r < 0) return { errno: -r, buf };
      if (readHeader(buf).flags & FLAG.BUFFER_FULL) {
        if (size >= MAX_QUERY_BUFFER) throw failed('device-mapper reply too large', nr, `over ${MAX_QUERY_BUFFER} bytes`);
        size *= 2;
        continue;
      }
      return { errno: 0, buf };
    }
  }

  list(): NameEntry[] {
    const { errno, buf } = this.call(CMD.LIST_DEVICES, (size) => packHeader({}, size));
    if (errno) throw failed('cannot list devices', 'device-mapper', errnoName(errno));
    return parseNameList(buf);
  }

  /** DEV_STATUS by name; null when there is no such device. */
  info(name: string): Header | null {
    const { errno, buf } = this.call(CMD.DEV_STATUS, (size) => packHeader({ name }, size), 4096);
    if (errnoName(errno) === 'ENXIO') return null;
    if (errno) throw failed('cannot get info', name, errnoName(errno));
    return readHeader(buf);
  }

  /** Table lines (STATUS_TABLE) or target status lines, live or inactive slot. */
  lines(name: string, opts: { table: boolean; inactive?: boolean }): TableLine[] {
    const flags = (opts.table ? FLAG.STATUS_TABLE : 0) | (opts.inactive ? FLAG.QUERY_INACTIVE_TABLE : 0);
    const { errno, buf } = this.call(CMD.TABLE_STATUS, (size) => packHeader({ name, flags }, size));
    if (errno) throw failed(opts.table ? 'cannot read table' : 'cannot read status', name, errnoName(errno));
    return parseSpecs(buf);
  }

  /** Run a compiled program in one native call. */
  run(ops: NativeOp[], mainCount: number, opts: { lock: 0 | 1 | 2; busyDelayMs: number }): { results: Int32Array; run: NativeRunResult } {
    const results = new Int32Array(Math.max(1, ops.length) * 3);
    const run = this.native.run(this.fd, ops, mainCount, results, opts);
    return { results, run };
  }
}
