// /dev/mapper nodes without udev. Done after the critical section, never in it.
// Nodes are made as LVM's udev rules make them: 0660, owner root, group disk
// (backup agents in group disk, blkid and lsblk rely on that). Where udev
// runs it wins: /dev/mapper/<name> is then its symlink to ../dm-N, which is
// kept as it is when it already leads to the right device (docs/architecture.md).
import { chmodSync, chownSync, lstatSync, mkdirSync, readFileSync, renameSync, statSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import type { DmNative } from './native.js';
import { errnoName } from './control.js';

export const mapperDir = (): string => path.join(process.env.DM_DEV_DIR ?? '/dev', 'mapper');

export const NODE_MODE = 0o660;

/** The gid of group `disk` (6 on Debian), from /etc/group; root's group where there is none. */
export function diskGid(groupFile = '/etc/group'): number {
  try {
    const line = readFileSync(groupFile, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('disk:'));
    const gid = Number(line?.split(':')[2]);
    return Number.isSafeInteger(gid) && gid >= 0 ? gid : 0;
  } catch {
    return 0;
  }
}

interface NodeSeen {
  major: number;
  minor: number;
  /** a block device, reached directly or through a symlink */
  block: boolean;
  symlink: boolean;
  mode: number;
  gid: number;
  uid: number;
}

function seen(p: string): NodeSeen | null {
  try {
    const l = lstatSync(p);
    const s = l.isSymbolicLink() ? statSync(p) : l; // throws for a dangling link: treated as absent below
    const rdev = BigInt(s.rdev);
    const major = Number((rdev >> 8n) & 0xfffn);
    const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
    return { major, minor, block: s.isBlockDevice(), symlink: l.isSymbolicLink(), mode: s.mode & 0o7777, gid: s.gid, uid: s.uid };
  } catch {
    try {
      lstatSync(p);
      return { major: -1, minor: -1, block: false, symlink: true, mode: 0, gid: 0, uid: 0 };
    } catch {
      return null;
    }
  }
}

/**
 * Make /dev/mapper/<name> a block node for major:minor, 0660 root:disk. A node
 * or udev's symlink that already leads to that device is kept (a node of ours
 * with other permissions, e.g. from an older dvm, is corrected).
 */
export function ensureNode(native: DmNative, name: string, major: number, minor: number): string | null {
  const dir = mapperDir();
  const p = path.join(dir, name);
  const gid = diskGid();
  const cur = seen(p);
  if (cur?.block && cur.major === major && cur.minor === minor) {
    if (cur.symlink || (cur.mode === NODE_MODE && cur.uid === 0 && cur.gid === gid)) return null;
    chownSync(p, 0, gid);
    chmodSync(p, NODE_MODE);
    return `set ${p} to 0660 root:${gid}`;
  }
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  if (cur) unlinkSync(p);
  const r = native.mknod(p, major, minor, NODE_MODE);
  if (r < 0 && errnoName(-r) !== 'EEXIST') return `mknod ${p} failed: ${errnoName(-r)}`;
  try {
    chownSync(p, 0, gid);
  } catch (e) {
    return `created ${p} (${major}:${minor}) but could not give it group ${gid}: ${(e as NodeJS.ErrnoException).code ?? e}`;
  }
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
