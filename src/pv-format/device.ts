// The disk I/O seam. tm's cores talk to `Dev`s only, so tests can record
// every write of an update and replay prefixes of it (crash tests), or run
// on memory images; the CLI passes file- or block-device-backed ones.
import { openSync, closeSync, readSync, writeSync, fsyncSync, fstatSync, readFileSync, statSync, constants } from 'node:fs';
import { failed } from '../lib/errors.js';
import { Damage } from './layout.js';

export interface Dev {
  readonly path: string;
  readonly size: number; // bytes
  read(offset: number, length: number): Buffer;
  write(offset: number, data: Buffer): void;
  sync(): void;
  close(): void;
}

function checkRange(dev: { path: string; size: number }, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > dev.size)
    throw new Damage(`access [${offset}, +${length}) is outside the device (${dev.size} bytes)`);
}

/** Size of a block device from sysfs (Node has no BLKGETSIZE64); files use st_size. */
function deviceSize(fd: number, path: string): number {
  const st = fstatSync(fd);
  if (st.isFile()) return st.size;
  if (st.isBlockDevice()) {
    const major = Math.floor(st.rdev / 256) & 0xfff | 0;
    const minor = (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00);
    const text = readFileSync(`/sys/dev/block/${major}:${minor}/size`, 'utf8');
    return Number(text.trim()) * 512;
  }
  throw new Damage(`${path} is neither a block device nor a regular file`);
}

const ioCause = (e: unknown) => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

/** The largest device dvm handles: byte offsets must stay exact integers (2^53 bytes, 8 PiB). */
export const MAX_DEVICE_BYTES = 2 ** 53;

export class FileDev implements Dev {
  readonly size: number;
  readonly ino: number;
  readonly devno: number;
  private constructor(
    readonly path: string,
    readonly fd: number,
  ) {
    this.size = deviceSize(fd, path);
    const st = fstatSync(fd);
    // one device, however many nodes name it: a block device is its number
    this.ino = st.isBlockDevice() ? 0 : st.ino;
    this.devno = st.isBlockDevice() ? st.rdev : st.dev;
  }
  static open(path: string, writable: boolean): FileDev {
    // open(2) on a FIFO blocks until a writer comes (and a character device
    // may do anything): only block devices and regular files are opened at all
    const st = statSync(path);
    if (!st.isFile() && !st.isBlockDevice()) throw failed('device', path, 'is neither a block device nor a regular file');
    // libuv opens with O_CLOEXEC: mutators and participants never inherit the locked fds
    const fd = openSync(path, (writable ? constants.O_RDWR : constants.O_RDONLY));
    try {
      return new FileDev(path, fd);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }
  read(offset: number, length: number): Buffer {
    checkRange(this, offset, length);
    const b = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, b, done, length - done, offset + done);
      if (n === 0) throw new Damage(`short read at ${offset + done}`);
      done += n;
    }
    return b;
  }
  write(offset: number, data: Buffer): void {
    checkRange(this, offset, data.length);
    let done = 0;
    try {
      while (done < data.length) done += writeSync(this.fd, data, done, data.length - done, offset + done);
    } catch (e) {
      // ENOSPC on a sparse file, EIO: a failure of this device, not of dvm (exit 1)
      throw failed('write', this.path, `${ioCause(e)} at byte ${offset + done}`);
    }
  }
  sync(): void {
    try {
      fsyncSync(this.fd);
    } catch (e) {
      throw failed('fsync', this.path, ioCause(e));
    }
  }
  close(): void {
    closeSync(this.fd);
  }
}

/** A device image in memory (tests, crash replay). */
export class MemDev implements Dev {
  constructor(
    readonly path: string,
    readonly image: Buffer,
  ) {}
  get size() {
    return this.image.length;
  }
  read(offset: number, length: number): Buffer {
    checkRange(this, offset, length);
    return Buffer.from(this.image.subarray(offset, offset + length));
  }
  write(offset: number, data: Buffer): void {
    checkRange(this, offset, data.length);
    data.copy(this.image, offset);
  }
  sync(): void {}
  close(): void {}
}

export interface WriteRecord {
  dev: number; // index into the recorded device list
  offset: number;
  data: Buffer;
}

/** Wraps devices and logs every write in order (one shared log). */
export function recording(devs: Dev[], log: WriteRecord[]): Dev[] {
  return devs.map((d, i) => ({
    path: d.path,
    get size() {
      return d.size;
    },
    read: (o: number, l: number) => d.read(o, l),
    write(o: number, data: Buffer) {
      log.push({ dev: i, offset: o, data: Buffer.from(data) });
      d.write(o, data);
    },
    sync: () => d.sync(),
    close: () => d.close(),
  }));
}
