// /dev/mapper nodes without udev. Done after the critical section, never in it.
import { lstatSync, mkdirSync, renameSync, statSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import type { DmNative } from './native.js';
import { errnoName } from './control.js';

export const mapperDir = (): string => path.join(process.env.DM_DEV_DIR ?? '/dev', 'mapper');

function rdevOf(p: string): { major: number; minor: number; block: boolean } | null {
  try {
    const st = lstatSync(p);
    if (!st.isBlockDevice()) return { major: -1, minor: -1, block: false };
    const s = statSync(p);
    return { major: Number((BigInt(s.rdev) >> 8n) & 0xfffn), minor: Number((BigInt(s.rdev) & 0xffn) | ((BigInt(s.rdev) >> 12n) & ~0xffn)), block: true };
  } catch {
    return null;
  }
}

/** Make /dev/mapper/<name> a block node for major:minor; keep it when already right. */
export function ensureNode(native: DmNative, name: string, major: number, minor: number): string | null {
  const dir = mapperDir();
  const p = path.join(dir, name);
  const cur = rdevOf(p);
  if (cur?.block && cur.major === major && cur.minor === minor) return null;
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  if (cur) unlinkSync(p);
  const r = native.mknod(p, major, minor, 0o600);
  if (r < 0 && errnoName(-r) !== 'EEXIST') return `mknod ${p} failed: ${errnoName(-r)}`;
  return `created ${p} (${major}:${minor})`;
}

export function removeNode(name: string): string | null {
  const p = path.join(mapperDir(), name);
  try {
    unlinkSync(p);
    return `removed ${p}`;
  } catch {
    return null; // already gone (another tool, or udev) is fine
  }
}

export function renameNode(oldName: string, newName: string): string | null {
  const dir = mapperDir();
  try {
    renameSync(path.join(dir, oldName), path.join(dir, newName));
    return `renamed ${path.join(dir, oldName)} to ${path.join(dir, newName)}`;
  } catch {
    return null;
  }
}
