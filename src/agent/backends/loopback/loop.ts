// Loop devices on this machine, found by their backing file
// (/sys/block/loopN/loop/backing_file) and driven with losetup. Every node of
// a loopback cluster shares this kernel, so the control plane can see here
// whether any node still has a volume's device connected.
import { closeSync, constants, openSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { BackendError } from '../../backend/types.js';
import { boundary } from '../../boundary.js';

export interface LoopDevice {
  /** `/dev/loopN` */
  path: string;
  name: string;
  backingFile: string;
  size: number;
}

const read = (p: string): string | null => {
  try {
    return readFileSync(p, 'utf8').trim();
  } catch {
    return null;
  }
};

/** One walk of /sys/block: every connected loop device, by backing file. */
function scanLoops(): Map<string, LoopDevice[]> {
  const byFile = new Map<string, LoopDevice[]>();
  for (const name of readdirSync('/sys/block')) {
    if (!/^loop\d+$/.test(name)) continue;
    const backing = read(`/sys/block/${name}/loop/backing_file`);
    if (backing === null || backing === '') continue;
    const dev = { path: `/dev/${name}`, name, backingFile: backing, size: Number(read(`/sys/block/${name}/size`) ?? 0) * 512 };
    const list = byFile.get(backing);
    if (list) list.push(dev);
    else byFile.set(backing, [dev]);
  }
  for (const list of byFile.values()) list.sort((a, b) => Number(a.name.slice(4)) - Number(b.name.slice(4)));
  return byFile;
}

// A converged pass asks once per dataset; each walk reads two files per loop
// device on the machine, so without this a pass cost grows with the square
// of the datasets. Connect and disconnect made here drop it.
let table: { at: number; byFile: Map<string, LoopDevice[]> } | null = null;

/** Drops the kept walk: the next look is fresh. */
export function forgetLoops(): void {
  table = null;
}

/**
 * Every loop device whose backing file is `file` (normally zero or one).
 * `maxAgeMs`: a walk made that recently may answer; each device it names is
 * read again, so a device detached meanwhile is never returned, and one
 * whose backing changed sends the look back to a fresh walk. A device
 * connected by someone else meanwhile may be missed until the walk ages
 * out: callers that act on "none" (connect) look fresh, under the lock.
 */
export function loopsBacking(file: string, o: { maxAgeMs?: number } = {}): LoopDevice[] {
  const now = Date.now();
  if (o.maxAgeMs && table && now - table.at <= o.maxAgeMs) {
    const kept = table.byFile.get(file) ?? [];
    const still = kept.every((d) => read(`/sys/block/${d.name}/loop/backing_file`) === file);
    if (still) return kept.map((d) => ({ ...d, size: Number(read(`/sys/block/${d.name}/size`) ?? 0) * 512 }));
  }
  table = { at: now, byFile: scanLoops() };
  return (table.byFile.get(file) ?? []).map((d) => ({ ...d }));
}

/** The loop device at `path` (symlinks followed), or null when it is not a connected loop device. */
export function loopAt(path: string): LoopDevice | null {
  let real: string;
  try {
    const st = statSync(path);
    if (!st.isBlockDevice()) return null;
    real = path.startsWith('/dev/loop') ? path : `/dev/${readlinkSync(`/sys/dev/block/${Math.floor(st.rdev / 256)}:${st.rdev % 256}`).split('/').pop()}`;
  } catch {
    return null;
  }
  const name = real.slice('/dev/'.length);
  if (!/^loop\d+$/.test(name)) return null;
  const backing = read(`/sys/block/${name}/loop/backing_file`);
  if (backing === null) return null;
  return { path: real, name, backingFile: backing, size: Number(read(`/sys/block/${name}/size`) ?? 0) * 512 };
}

async function losetup(args: string[], volumeId: string): Promise<string> {
  const { execa } = await import('execa'); // loaded only when a loop device is touched
  // A crash point of its own (the crash tests kill here too), as every external command of the agent is.
  const label = `losetup ${args.join(' ')}`;
  boundary(`before ${label}`);
  const r = await execa('losetup', args, { reject: false });
  boundary(`after ${label}`);
  if (r.exitCode !== 0) {
    const why = (r.stderr || r.stdout || `exit ${r.exitCode}`).toString().trim().split('\n')[0];
    throw new BackendError('unavailable', `losetup ${args.join(' ')}: ${why}`, volumeId);
  }
  return r.stdout.toString().trim();
}

/** Connects `file` to a free loop device (or returns the one already backing it). */
export async function connect(file: string, volumeId: string): Promise<LoopDevice> {
  // --partscan: a dataset kept in one partition gets /dev/loopNp1.
  const dev = await losetup(['--find', '--show', '--nooverlap', '--partscan', file], volumeId);
  // Some kernels (this project's test host's among them) do not read partition
  // tables themselves: partx adds what the table says. No table: nothing to add.
  const { execa } = await import('execa');
  await execa('partx', ['--add', dev], { reject: false });
  forgetLoops();
  const got = loopAt(dev);
  if (!got || got.backingFile !== file) throw new BackendError('unavailable', `losetup gave '${dev}', which is not backed by '${file}'`, volumeId);
  return got;
}

/** losetup -c: the loop device takes the backing file's new size. */
export async function refreshLoop(dev: LoopDevice, volumeId: string): Promise<void> {
  await losetup(['--set-capacity', dev.path], volumeId);
}

/**
 * Why `dev` may not be disconnected, or null: a holder (device-mapper, md),
 * a mount anywhere (an exclusive open fails with EBUSY, whatever the mount
 * namespace), or any process with it open. `losetup -d` "succeeds" on a
 * mounted device (it only sets autoclear), so this is checked first.
 */
export function heldBy(dev: LoopDevice): string | null {
  // The whole device and each of its partitions (loopNp1...).
  let parts: string[] = [];
  try {
    parts = readdirSync(`/sys/block/${dev.name}`).filter((p) => p.startsWith(`${dev.name}p`) && /^\d+$/.test(p.slice(dev.name.length + 1)));
  } catch {
    /* gone meanwhile: the exclusive open below says so */
  }
  const rdevs = new Set<number>();
  for (const [name, sys] of [[dev.name, `/sys/block/${dev.name}`], ...parts.map((p) => [p, `/sys/block/${dev.name}/${p}`])]) {
    let holders: string[] = [];
    try {
      holders = readdirSync(`${sys}/holders`);
    } catch {
      /* no holders directory: none */
    }
    if (holders.length > 0) return `held by ${holders.join(', ')}${name === dev.name ? '' : ` (partition ${name})`}`;
    try {
      closeSync(openSync(`/dev/${name}`, constants.O_RDONLY | constants.O_EXCL));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const what = name === dev.name ? '' : ` (partition /dev/${name})`;
      return code === 'EBUSY' ? `mounted or claimed exclusively${what}` : `cannot be opened${what} (${code})`;
    }
    rdevs.add(statSync(`/dev/${name}`).rdev);
  }
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // gone, or not ours to read
    }
    for (const fd of fds) {
      try {
        const link = readlinkSync(`/proc/${pid}/fd/${fd}`);
        if (!link.startsWith('/')) continue; // sockets, pipes, anon inodes
        const st = statSync(`/proc/${pid}/fd/${fd}`);
        if (st.isBlockDevice() && rdevs.has(st.rdev)) return `open in process ${pid}`;
      } catch {
        /* closed meanwhile */
      }
    }
  }
  return null;
}

/** losetup -d after the hold check; verifies the device really let go. */
export async function disconnect(dev: LoopDevice, volumeId: string): Promise<void> {
  const held = heldBy(dev);
  if (held) throw new BackendError('in-use', `loop device '${dev.path}' of volume '${volumeId}' is ${held}: not released`, volumeId);
  forgetLoops();
  await losetup(['--detach', dev.path], volumeId);
  forgetLoops();
  const still = read(`/sys/block/${dev.name}/loop/backing_file`);
  if (still === dev.backingFile) throw new BackendError('in-use', `loop device '${dev.path}' of volume '${volumeId}' was opened meanwhile: it detaches only once closed`, volumeId);
}
