// What the executor needs from the world, passed in (pure core + effects).
import type { Filesystem } from '../docs.js';
import type { Backend } from '../backend/types.js';
import type { Leadership, Store } from '../store/types.js';
import type { AppSet } from '../apps/definition.js';

/** The result of one external command. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The one way the agent runs external commands (mkfs, fsck, mount, umount,
 * losetup, resize2fs, blkid ...). The real one (runner.ts) strips the
 * environment (credentials never reach a child), and marks a crash-test
 * boundary before and after each command.
 */
export type Runner = (cmd: string, args: readonly string[], opts?: { input?: string; timeoutMs?: number }) => Promise<RunResult>;

/** What a read of a device's contents says (the blank test and the filesystem probe). */
export interface Probe {
  /** True only when the first and last MiB were read, blkid found nothing and no dvm/LVM label is there. */
  blank: boolean | null;
  signature: { type: string; uuid: string | null; partition: string | null } | null;
  /** Filesystem size from its superblock; null: unknown or none. */
  fs_size: number | null;
  /** Why reads or probes failed. */
  error: string | null;
}

export interface MountEntry {
  /** Device path as the kernel has it (the block device), and its major:minor. */
  source: string;
  devno: string | null;
  path: string;
  read_only: boolean;
  fstype: string;
  /** The directory of the filesystem mounted here: '/' for a whole filesystem, '/data' for a bind of a subdirectory. */
  root?: string;
  /** mountinfo's mount id: a new one for every mount, so a remount is told apart. */
  id?: string;
}

/**
 * The host's filesystem side: everything the generic changes do to a local
 * device. The real one (apply/host.ts) runs commands through a Runner; tests
 * pass a simulated one.
 */
export interface Host {
  /**
   * `maxAgeMs`, in probe, mounts and mountedAt as in held: a mount table read
   * that recently may answer (discovery asks for every device of a pass, and
   * every change made through this host drops it); without it, a fresh one.
   */
  probe(device: string, o?: { maxAgeMs?: number }): Promise<Probe>;
  mounts(o?: { maxAgeMs?: number }): Promise<MountEntry[]>;
  /** The mount of this device (by device number, else path), if any. */
  mountedAt(device: string, o?: { maxAgeMs?: number }): Promise<MountEntry | null>;
  /** Whether an exclusive open fails (mounted, or claimed by dm/md/another exclusive opener); null when free. */
  inUse?(device: string): Promise<string | null>;
  /** Open by something other than a mount: holders (dm, md), other processes' descriptors, an exclusive opener. */
  /**
   * maxAgeMs: a scan of other processes' descriptors up to this old may
   * answer (discovery asks for every device of a pass); without it, a fresh
   * one (the gate, just before a destructive step).
   */
  held(device: string, o?: { maxAgeMs?: number }): Promise<string | null>;
  /** Returns the new filesystem's UUID. */
  mkfs(device: string, fs: Filesystem, label: string): Promise<string>;
  /**
   * Writes a new partition table on `device` holding one partition over the
   * whole device (after 1 MiB) and returns the partition's device path.
   * Absent: this host does not make partitions.
   */
  partition?(device: string): Promise<string>;
  /** The partitions the kernel shows on `device`, in order (paths); absent: none are known. */
  partitions?(device: string): Promise<string[]>;
  /** Where `partition` lies on its device, in bytes; null when the kernel does not say. */
  partitionSpan?(partition: string): Promise<{ start: number; size: number } | null>;
  /** Moves the end of `partition` (of `device`) to the device's end, the start unchanged; the kernel is told in place (mounted or not). */
  growPartition?(device: string, partition: string): Promise<void>;
  /**
   * Checks (and, for ext4, preens) the filesystem: fsck's exit status; >= 4
   * means errors left. `force`: a full check even of a filesystem marked clean.
   */
  fsck(device: string, fs: Filesystem, o?: { force?: boolean }): Promise<{ code: number; detail: string }>;
  mount(device: string, path: string, fs: Filesystem, readOnly: boolean): Promise<void>;
  /** Never lazy. */
  unmount(path: string): Promise<void>;
  /** Online grow to fill the device. */
  growFs(device: string, mountPath: string | null, fs: Filesystem): Promise<void>;
  /** Offline shrink (ext4 only) to `size` bytes. */
  shrinkFs(device: string, fs: Filesystem, size: number): Promise<void>;
}

export interface ApplyEffects {
  /** This node's name. */
  node: string;
  backend: Backend;
  /** For markers and records; steps that need it fail when it is null. */
  store: Store | null;
  /** Held while a credentialed agent runs; every control call goes through `fenced`. Null: not credentialed. */
  leadership: Leadership | null;
  host: Host;
  /** This node's mount root; every mount path is checked to be under it. */
  mountRoot: string;
  now: () => Date;
  /** One line per step and per backend call. */
  log?: (line: string) => void;
  /** This node's applications (APPS_DIR) and where it records the ones it started; absent: none defined. */
  apps?: { set: AppSet; runtimeDir: string; run: Runner; log?: (line: string) => void };
}
