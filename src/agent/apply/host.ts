// The real host: the generic filesystem changes every backend shares, run
// through one Runner (so every command is a crash-test boundary and gets a
// bare environment). Block device sizes and holders come from sysfs, mounts
// from /proc/self/mountinfo.
import { closeSync, mkdirSync, constants, openSync, readdirSync, readFileSync, readlinkSync, readSync, realpathSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import type { Filesystem } from '../docs.js';
import type { Host, MountEntry, Probe, Runner } from './types.js';
import { firstLine } from './runner.js';

const MiB = 1024 * 1024;
const SECTOR = 512;

const unescapeMount = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/** /proc/self/mountinfo, parsed. */
export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const [pre, post] = line.split(' - ');
    if (!post) continue;
    const f = pre.split(' ');
    const g = post.split(' ');
    const opts = (f[5] ?? '').split(',');
    out.push({ id: f[0], devno: f[2] ?? null, root: unescapeMount(f[3] ?? '/'), path: unescapeMount(f[4] ?? ''), read_only: opts.includes('ro'), fstype: g[0] ?? '', source: unescapeMount(g[1] ?? '') });
  }
  return out;
}

/** major:minor of a block device, as mountinfo writes it; null when it is not one. */
export function devno(path: string): string | null {
  try {
    const st = statSync(path);
    if (!st.isBlockDevice()) return null;
    const r = st.rdev;
    const major = ((r >> 8) & 0xfff) | (Math.floor(r / 2 ** 32) & ~0xfff);
    const minor = (r & 0xff) | ((r >> 12) & 0xfff00);
    return `${major}:${minor}`;
  } catch {
    return null;
  }
}

/** Whether a mount entry is of `device` (by device number, else by path). */
export function mountIsOf(m: MountEntry, device: string, dn: string | null): boolean {
  if (dn !== null && m.devno === dn) return true;
  if (m.source === device) return true;
  try {
    return m.source.startsWith('/') && realpathSync(m.source) === realpathSync(device);
  } catch {
    return false;
  }
}

function sysName(device: string): string | null {
  // By device number, not by path: a node made by mknod (/dev/mapper/<vg>-<lv>
  // where no udev links it to dm-N) has a name sysfs does not know.
  const num = devno(device);
  if (num !== null) {
    try {
      return basename(realpathSync(`/sys/dev/block/${num}`));
    } catch {
      /* no sysfs entry: fall back to the path's own name */
    }
  }
  try {
    return basename(realpathSync(device));
  } catch {
    return null;
  }
}

/** The partitions the kernel shows on a block device (sysfs children with a `partition` file), by number. */
export function partitionsOf(device: string): string[] {
  const name = sysName(device);
  if (!name) return [];
  let entries: string[];
  try {
    entries = readdirSync(`/sys/class/block/${name}`);
  } catch {
    return [];
  }
  const parts: [number, string][] = [];
  for (const e of entries) {
    if (!e.startsWith(name)) continue;
    try {
      parts.push([Number(readFileSync(`/sys/class/block/${name}/${e}/partition`, 'utf8').trim()), `/dev/${e}`]);
    } catch {
      /* not a partition */
    }
  }
  return parts.sort((a, b) => a[0] - b[0]).map(([, p]) => p);
}

const sleepMs = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Device size in bytes: sysfs for block devices, the file size otherwise (tests). */
export function deviceSize(device: string): number {
  const st = statSync(device);
  if (!st.isBlockDevice()) return st.size;
  const name = sysName(device);
  return Number(readFileSync(`/sys/class/block/${name}/size`, 'utf8').trim()) * SECTOR;
}

// One buffer for every probe's reads: a pass probes each device, and a fresh
// 1 MiB allocation each time is most of what a converged pass costs.
let scratch = Buffer.alloc(0);

/** Reads `len` bytes at `pos` into a buffer that is only valid until the next read. */
function readAt(fd: number, pos: number, len: number): Buffer {
  if (scratch.length < len) scratch = Buffer.alloc(len);
  const b = scratch.subarray(0, len);
  let got = 0;
  while (got < len) {
    const n = readSync(fd, b, got, len - got, pos + got);
    if (n === 0) break;
    got += n;
  }
  if (got < len) throw Object.assign(new Error(`short read at ${pos + got}`), { code: 'EIO' });
  return b;
}

/** A dvm label (sector 1) or an LVM label (LABELONE in one of the first four sectors). */
export function labelIn(head: Buffer): string | null {
  if (head.length >= 1024 && head.toString('latin1', 512, 520) === 'DVMLABEL') return 'a dvm label';
  for (let s = 0; s < 4; s++) if (head.length >= (s + 1) * SECTOR && head.toString('latin1', s * SECTOR, s * SECTOR + 8) === 'LABELONE') return 'an LVM label';
  return null;
}

function parseExport(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/**
 * How long a mounted filesystem's probe is reused. While a filesystem stays
 * mounted (the same mount id on the same device of the same size) its type
 * and UUID cannot change and its size changes only by a resize, which goes
 * through this host and drops the memo; the limit catches one made by hand.
 * It saves a converged pass two processes (blkid, dumpe2fs/xfs_info) per dataset.
 */
const PROBE_MEMO_MS = 600_000;

/** What every other process has open: target path -> the first pid holding it. One walk of /proc. */
function scanOpenFiles(): Map<string, string> {
  const open = new Map<string, string>();
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const l = readlinkSync(`/proc/${pid}/fd/${fd}`);
        if (!open.has(l)) open.set(l, pid);
      } catch {
        /* raced with a close */
      }
    }
  }
  return open;
}

export function realHost(run: Runner, now: () => number = Date.now): Host {
  const memo = new Map<string, { key: string; at: number; probe: Probe }>();
  let fdScan: { at: number; open: Map<string, string> } | null = null;
  let table: { at: number; entries: MountEntry[] } | null = null;
  /** The mount table; one read `maxAgeMs` old may answer (discovery asks once per device of a pass). */
  const mountinfo = (maxAgeMs = 0): MountEntry[] => {
    if (!table || maxAgeMs <= 0 || now() - table.at > maxAgeMs) table = { at: now(), entries: parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')) };
    return table.entries;
  };
  /** Every change of a filesystem or its mounts made here: probe and read the mounts anew. */
  const changed = () => {
    memo.clear();
    table = null;
  };
  /** The memo key of a device mounted whole, or null (not mounted: look every time). */
  const mountedKey = (device: string, size: number, maxAgeMs?: number): string | null => {
    const dn = devno(device);
    if (dn === null) return null;
    const m = mountinfo(maxAgeMs).find((e) => e.devno === dn && (e.root ?? '/') === '/');
    return m?.id ? `${dn} ${m.id} ${size}` : null;
  };

  async function fsSize(device: string, type: string): Promise<number | null> {
    if (type === 'ext4' || type === 'ext3' || type === 'ext2') {
      const r = await run('dumpe2fs', ['-h', device]);
      if (r.code !== 0) return null;
      const count = /^Block count:\s+(\d+)/m.exec(r.stdout);
      const bs = /^Block size:\s+(\d+)/m.exec(r.stdout);
      return count && bs ? Number(count[1]) * Number(bs[1]) : null;
    }
    if (type === 'xfs') {
      // Mounted, the superblock on disk may lag behind the kernel's (after xfs_growfs): ask the kernel.
      const m = mountinfo().find((e) => mountIsOf(e, device, devno(device)));
      if (m) {
        const i = await run('xfs_info', [m.path]);
        const d = /^data\s+=\s+bsize=(\d+)\s+blocks=(\d+)/m.exec(i.stdout);
        if (i.code === 0 && d) return Number(d[1]) * Number(d[2]);
      }
      const r = await run('xfs_db', ['-r', '-c', 'sb 0', '-c', 'p dblocks', '-c', 'p blocksize', device]);
      if (r.code !== 0) return null;
      const blocks = /dblocks = (\d+)/.exec(r.stdout);
      const bs = /blocksize = (\d+)/.exec(r.stdout);
      return blocks && bs ? Number(blocks[1]) * Number(bs[1]) : null;
    }
    return null;
  }

  return {
    async probe(device, o): Promise<Probe> {
      let head: Buffer;
      let key: string | null = null;
      let hit: { key: string; at: number; probe: Probe } | undefined;
      try {
        const size = deviceSize(device);
        key = mountedKey(device, size, o?.maxAgeMs);
        hit = key ? memo.get(device) : undefined;
        if (hit && (hit.key !== key || now() - hit.at >= PROBE_MEMO_MS)) hit = undefined;
        // Discovery of a filesystem that stays mounted needs only to see the
        // device still answers at both ends; anything else reads 1 MiB at each.
        const span = Math.min(hit && o?.maxAgeMs ? 4 * SECTOR : MiB, size);
        const fd = openSync(device, constants.O_RDONLY);
        try {
          head = Buffer.from(readAt(fd, 0, Math.min(4 * SECTOR, size)));
          if (span > head.length) readAt(fd, 0, span);
          readAt(fd, Math.max(0, size - span), span);
        } finally {
          closeSync(fd);
        }
      } catch (e) {
        return { blank: null, signature: null, fs_size: null, error: `reading '${device}' failed: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
      }
      // The reads above are made every time (a failing device shows); what blkid and the size say is reused while mounted.
      if (hit) return hit.probe;
      const r = await run('blkid', ['-p', '-o', 'export', device]);
      // Exit 2 is "nothing found" only because both reads above succeeded: an I/O error gives 2 as well.
      if (r.code !== 0 && r.code !== 2) return { blank: null, signature: null, fs_size: null, error: `blkid -p '${device}' failed (exit ${r.code}): ${firstLine(r.stderr)}` };
      const tags = r.code === 0 ? parseExport(r.stdout) : {};
      const label = labelIn(head);
      if (tags.TYPE) {
        const signature = { type: tags.TYPE, uuid: tags.UUID ?? null, partition: null };
        const probe: Probe = { blank: false, signature, fs_size: await fsSize(device, tags.TYPE), error: null };
        if (key && probe.fs_size !== null) memo.set(device, { key, at: now(), probe });
        return probe;
      }
      if (tags.PTTYPE) {
        // One partition holding one filesystem is a dataset's (made with --partition, or adopted so);
        // anything else is reported as what it is, never formatted.
        const parts = partitionsOf(device);
        if (parts.length !== 1) {
          const n = parts.length === 0 ? 'no partition the kernel shows' : `${parts.length} partitions (only one partition holding one filesystem is used)`;
          return { blank: false, signature: null, fs_size: null, error: `a ${tags.PTTYPE} partition table with ${n}` };
        }
        const pr = await run('blkid', ['-p', '-o', 'export', parts[0]]);
        const pt = pr.code === 0 ? parseExport(pr.stdout) : {};
        if (pr.code !== 0 && pr.code !== 2) return { blank: false, signature: null, fs_size: null, error: `blkid -p '${parts[0]}' failed (exit ${pr.code}): ${firstLine(pr.stderr)}` };
        if (!pt.TYPE) return { blank: false, signature: null, fs_size: null, error: `a ${tags.PTTYPE} partition table whose one partition '${parts[0]}' holds no filesystem` };
        return { blank: false, signature: { type: pt.TYPE, uuid: pt.UUID ?? null, partition: parts[0] }, fs_size: await fsSize(parts[0], pt.TYPE), error: null };
      }
      if (label) return { blank: false, signature: null, fs_size: null, error: label };
      if (r.code === 0 && Object.keys(tags).length > 0) return { blank: false, signature: null, fs_size: null, error: `blkid found ${Object.keys(tags).join(',')}` };
      return { blank: true, signature: null, fs_size: null, error: null };
    },

    async mounts(o) {
      return mountinfo(o?.maxAgeMs);
    },

    async mountedAt(device, o) {
      const dn = devno(device);
      // A whole-filesystem mount wins over a bind of one of its directories (an application's data directory).
      const of = mountinfo(o?.maxAgeMs).filter((m) => mountIsOf(m, device, dn));
      return of.find((m) => (m.root ?? '/') === '/') ?? of[0] ?? null;
    },

    async inUse(device) {
      if (!statSync(device).isBlockDevice()) return null;
      try {
        closeSync(openSync(device, constants.O_RDONLY | constants.O_EXCL));
        return null;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        return code === 'EBUSY' ? 'an exclusive open failed (EBUSY)' : `an exclusive open failed (${code})`;
      }
    },

    async held(device, o) {
      const name = sysName(device);
      if (name) {
        try {
          const holders = readdirSync(`/sys/class/block/${name}/holders`);
          if (holders.length) return `held by ${holders.join(', ')}`;
        } catch {
          /* not a block device (tests) or gone */
        }
      }
      const real = (() => {
        try {
          return realpathSync(device);
        } catch {
          return device;
        }
      })();
      const age = o?.maxAgeMs ?? 0;
      if (!fdScan || age <= 0 || now() - fdScan.at > age) fdScan = { at: now(), open: scanOpenFiles() };
      const pid = fdScan.open.get(real) ?? fdScan.open.get(device);
      if (pid !== undefined) return `open by process ${pid}`;
      return null;
    },

    async mkfs(device, fs, label) {
      changed();
      const r =
        fs === 'ext4'
          ? await run('mkfs.ext4', ['-q', '-F', '-E', 'nodiscard', '-L', label, device])
          : await run('mkfs.xfs', ['-q', '-f', '-K', '-L', label, device]);
      if (r.code !== 0) throw new Error(`mkfs.${fs} '${device}' failed (exit ${r.code}): ${firstLine(r.stderr)}`);
      const b = await run('blkid', ['-p', '-o', 'export', device]);
      const tags = parseExport(b.stdout);
      if (b.code !== 0 || tags.TYPE !== fs || !tags.UUID) throw new Error(`after mkfs.${fs}, blkid -p '${device}' does not show a ${fs} filesystem`);
      return tags.UUID;
    },

    async partition(device) {
      // dos label, one Linux partition from 1 MiB to the end; old signatures on the device and in the
      // new partition wiped (the caller has checked the device is blank or holds our interrupted mkfs).
      const r = await run('sfdisk', ['--quiet', '--wipe', 'always', '--wipe-partitions', 'always', device], { input: 'label: dos\nstart=2048, type=83\n' });
      if (r.code !== 0) throw new Error(`sfdisk '${device}' failed (exit ${r.code}): ${firstLine(r.stderr || r.stdout)}`);
      // Some kernels do not re-read the table of a loop device themselves: partx tells them.
      for (let i = 0; i < 50 && partitionsOf(device).length !== 1; i++) {
        await run('partx', [i === 0 ? '--update' : '--add', device]);
        if (partitionsOf(device).length !== 1) await sleepMs(100);
      }
      const parts = partitionsOf(device);
      if (parts.length !== 1) throw new Error(`after sfdisk '${device}' the kernel shows ${parts.length} partitions, not 1`);
      for (let i = 0; i < 50; i++) {
        try {
          if (statSync(parts[0]).isBlockDevice()) return parts[0];
        } catch {
          /* the node appears with devtmpfs or udev */
        }
        await sleepMs(100);
      }
      throw new Error(`partition '${parts[0]}' has no device node`);
    },

    async partitions(device) {
      return partitionsOf(device);
    },

    async partitionSpan(partition) {
      const name = sysName(partition);
      if (!name) return null;
      try {
        const get = (f: string) => Number(readFileSync(`/sys/class/block/${name}/${f}`, 'utf8').trim()) * SECTOR;
        return { start: get('start'), size: get('size') };
      } catch {
        return null;
      }
    },

    async growPartition(device, partition) {
      changed();
      const name = sysName(partition);
      const nr = name ? readFileSync(`/sys/class/block/${name}/partition`, 'utf8').trim() : '';
      if (!/^\d+$/.test(nr)) throw new Error(`'${partition}' is not a partition the kernel shows`);
      // ', +': same start, as far as the device goes. The table is written, then the kernel told
      // of the new end in place (partx --update: BLKPG, which a mounted partition allows).
      const r = await run('sfdisk', ['--quiet', '--no-reread', '--no-tell-kernel', '-N', nr, device], { input: ', +\n' });
      if (r.code !== 0) throw new Error(`sfdisk -N ${nr} '${device}' failed (exit ${r.code}): ${firstLine(r.stderr || r.stdout)}`);
      const u = await run('partx', ['--update', '--nr', nr, device]);
      if (u.code !== 0) throw new Error(`partx --update --nr ${nr} '${device}' failed (exit ${u.code}): ${firstLine(u.stderr)}`);
    },

    async fsck(device, fs, o) {
      if (fs === 'ext4') {
        const r = await run('e2fsck', [...(o?.force ? ['-f'] : []), '-p', device]);
        return { code: r.code, detail: firstLine(r.stderr) || firstLine(r.stdout) };
      }
      // xfs_repair -n: 0 clean, 1 corruption found, 2 a dirty log (mount replays it).
      const r = await run('xfs_repair', ['-n', device]);
      const code = r.code === 0 || r.code === 2 ? 0 : r.code === 1 ? 4 : 8;
      return { code, detail: firstLine(r.stderr) || firstLine(r.stdout) };
    },

    async mount(device, path, fs, readOnly) {
      changed();
      mkdirSync(path, { recursive: true, mode: 0o755 });
      const opts = ['nosuid', 'nodev', ...(readOnly ? ['ro'] : [])].join(',');
      const r = await run('mount', ['-t', fs, '-o', opts, device, path]);
      if (r.code !== 0) throw new Error(`mount '${device}' on '${path}' failed (exit ${r.code}): ${firstLine(r.stderr)}`);
    },

    async unmount(path) {
      changed();
      const r = await run('umount', [path]);
      if (r.code !== 0) throw new Error(`umount '${path}' failed (exit ${r.code}): ${firstLine(r.stderr)}`);
    },

    async growFs(device, mountPath, fs) {
      changed();
      if (fs === 'xfs') {
        const r = await run('xfs_growfs', [mountPath ?? device]);
        if (r.code !== 0) throw new Error(`xfs_growfs '${mountPath ?? device}' failed (exit ${r.code}): ${firstLine(r.stderr)}`);
        return;
      }
      const r = await run('resize2fs', [device]);
      if (r.code === 0) return;
      // The online resize ioctl needs CAP_SYS_RESOURCE; without it (some containers) grow offline:
      // unmount, check, resize, mount again as it was. A crash in between leaves it unmounted, and
      // the next pass checks and mounts it.
      if (!(mountPath && /Permission denied|Operation not permitted/.test(r.stderr))) throw new Error(`resize2fs '${device}' failed (exit ${r.code}): ${firstLine(r.stderr)}`);
      const u = await run('umount', [mountPath]);
      if (u.code !== 0) throw new Error(`online grow is not permitted here and umount '${mountPath}' for an offline one failed: ${firstLine(u.stderr)}`);
      const f = await run('e2fsck', ['-f', '-p', device]);
      if (f.code >= 4) throw new Error(`e2fsck -f '${device}' before an offline grow left errors (exit ${f.code}): ${firstLine(f.stderr)}`);
      const g = await run('resize2fs', [device]);
      if (g.code !== 0) throw new Error(`resize2fs '${device}' (offline) failed (exit ${g.code}): ${firstLine(g.stderr)}`);
      const m = await run('mount', ['-t', 'ext4', '-o', 'nosuid,nodev', device, mountPath]);
      if (m.code !== 0) throw new Error(`mount '${device}' on '${mountPath}' after an offline grow failed: ${firstLine(m.stderr)}`);
    },

    async shrinkFs(device, fs, size) {
      changed();
      if (fs !== 'ext4') throw new Error(`a ${fs} filesystem cannot shrink`);
      const f = await run('e2fsck', ['-f', '-p', device]);
      if (f.code >= 4) throw new Error(`e2fsck -f '${device}' before the shrink left errors (exit ${f.code}): ${firstLine(f.stderr)}`);
      const r = await run('resize2fs', [device, `${Math.floor(size / 1024)}K`]);
      if (r.code !== 0) throw new Error(`resize2fs '${device}' to ${size} bytes failed (exit ${r.code}): ${firstLine(r.stderr)}`);
    },
  };
}
