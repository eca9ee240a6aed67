// /proc/self/mountinfo, for the two questions applications ask: what is
// mounted at a path, and from which directory of which filesystem (a bind
// mount of a dataset's subdirectory shows as root `/<subdir>`).
import { readFileSync } from 'node:fs';

export interface MountEntry {
  /** major:minor of the filesystem. */
  dev: string;
  /** The directory of that filesystem mounted here (`/` for a whole filesystem). */
  root: string;
  mountPoint: string;
  options: string[];
  fstype: string;
  source: string;
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const [left, right] = line.split(' - ');
    if (!right) continue;
    const f = left.split(' ');
    const [fstype, source] = right.split(' ');
    out.push({ dev: f[2], root: unescape(f[3]), mountPoint: unescape(f[4]), options: f[5].split(','), fstype, source: unescape(source) });
  }
  return out;
}

export function readMounts(): MountEntry[] {
  return parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'));
}

/** The topmost mount at `mountPoint` (later lines stack over earlier ones), or null. */
export function mountAt(mounts: MountEntry[], mountPoint: string): MountEntry | null {
  for (let i = mounts.length - 1; i >= 0; i--) if (mounts[i].mountPoint === mountPoint) return mounts[i];
  return null;
}
