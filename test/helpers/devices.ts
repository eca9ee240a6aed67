// Real devices for integration tests, in the style of lvm2's test/lib/aux:
// every object carries a unique prefix, everything is torn down in `finally`,
// and dmsetup is used only as an independent witness.
import { execa } from 'execa';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Unique per test process: dm names and uuids start with it, so cleanup touches only ours. */
export const PREFIX = `dvmt${process.pid}`;

export interface Loop {
  file: string;
  dev: string;
  major: number;
  minor: number;
  /** "major:minor" as dm tables print it */
  mm: string;
}

export async function sh(cmd: string, args: string[] = [], input?: string): Promise<string> {
  const r = await execa(cmd, args, { input, stripFinalNewline: false });
  return String(r.stdout);
}

export function majMin(dev: string): { major: number; minor: number; mm: string } {
  const rdev = BigInt(statSync(dev).rdev);
  const major = Number((rdev >> 8n) & 0xfffn);
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
  return { major, minor, mm: `${major}:${minor}` };
}

/** dm devices whose name starts with our prefix, as dmsetup sees them. */
export async function ourDmDevices(): Promise<string[]> {
  const out = await sh('dmsetup', ['ls']);
  if (/No devices found/.test(out)) return [];
  return out
    .split('\n')
    .map((l) => l.split(/\s+/)[0])
    .filter((n) => n && n.startsWith(PREFIX));
}

/** Remove every prefixed dm device, upper layers first (retry until none is left). */
export async function removeOurDmDevices(): Promise<void> {
  for (let round = 0; round < 10; round++) {
    const names = await ourDmDevices();
    if (!names.length) return;
    for (const n of names) {
      await execa('dmsetup', ['--noudevsync', '--noudevrules', 'resume', n], { reject: false });
      await execa('dmsetup', ['--noudevsync', '--noudevrules', 'remove', n], { reject: false });
    }
  }
}

/** N sparse files of `mib` MiB on loop devices, for the duration of fn. */
export async function withLoops<T>(n: number, mib: number, fn: (loops: Loop[]) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `${PREFIX}-`));
  const loops: Loop[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const file = path.join(dir, `pv${i}.img`);
      await sh('truncate', ['-s', `${mib}M`, file]);
      const dev = (await sh('losetup', ['-f', '--show', file])).trim();
      loops.push({ file, dev, ...majMin(dev) });
    }
    return await fn(loops);
  } finally {
    await removeOurDmDevices();
    for (const l of loops) await execa('losetup', ['-d', l.dev], { reject: false });
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Read `len` bytes at byte offset `off` of a device or file. */
export async function readAt(dev: string, off: number, len: number): Promise<Buffer> {
  const r = await execa('dd', [`if=${dev}`, 'bs=512', `skip=${off / 512}`, `count=${len / 512}`, 'iflag=direct', 'status=none'], { encoding: 'buffer' });
  return Buffer.from(r.stdout as Uint8Array);
}

/** Write `data` at byte offset `off` (O_DIRECT, so it reaches the device now). */
export async function writeAt(dev: string, off: number, data: Buffer): Promise<void> {
  await execa('dd', [`of=${dev}`, 'bs=512', `seek=${off / 512}`, 'oflag=direct', 'conv=notrunc', 'status=none'], { input: data });
}

/** A recognisable 512-byte-multiple pattern. */
export function pattern(tag: string, len: number): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i += 32) b.write(`${tag}@${i}`.padEnd(32, '.').slice(0, 32), i);
  return b;
}
