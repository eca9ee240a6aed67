// A simulated host for executor and property tests: the generic filesystem
// changes (mkfs, fsck, mount, grow, shrink) acted out on fake byte devices
// (the memory backend's), with a tiny superblock at offset 1 KiB so the blank
// test reads real bytes. It records every mkfs with what the device held
// just before, so tests can assert the invariants afterwards.
import type { Filesystem } from '../../src/agent/docs.js';
import type { Host, MountEntry, Probe } from '../../src/agent/apply/types.js';
import { labelIn } from '../../src/agent/apply/host.js';

const MiB = 1024 * 1024;
const SB_OFFSET = 1024;
const MAGIC = 'SIMFS1:';

/** What the host needs of the fake devices (MemoryState has these). */
export interface DeviceBytes {
  readDevice(path: string, offset: number, length: number): Buffer;
  writeDevice(path: string, offset: number, data: Uint8Array): void;
  hold(path: string): void;
  unhold(path: string): void;
  /** Bytes the node sees at `path`; throws when nothing is connected there. */
  sizeOf(path: string): number;
}

export interface SimSuperblock {
  type: Filesystem;
  uuid: string;
  size: number;
  /** Errors fsck cannot correct (a damaged filesystem). */
  errors: boolean;
}

export interface MkfsRecord {
  node: string;
  path: string;
  /** What a fresh read found just before: blank, or what was there. */
  before: Probe;
}

export class SimHost implements Host {
  readonly mountTable: MountEntry[] = [];
  readonly mkfsCalls: MkfsRecord[] = [];
  /** Devices something else holds open (tests add to it). */
  readonly extraHolds = new Set<string>();
  /** Each call to one of these throws once (a crash or failure at that command); tests arm them. */
  failNext: Partial<Record<'mkfs' | 'mkfs-partial' | 'mount' | 'unmount' | 'fsck' | 'grow' | 'shrink', number>> = {};
  private uuidCounter = 0;

  constructor(readonly node: string, readonly dev: DeviceBytes) {}

  private fail(op: keyof SimHost['failNext']): boolean {
    const n = this.failNext[op] ?? 0;
    if (n <= 0) return false;
    this.failNext[op] = n - 1;
    return true;
  }

  readSuperblock(path: string): SimSuperblock | null {
    const b = this.dev.readDevice(path, SB_OFFSET, 512);
    const text = b.toString('latin1');
    if (!text.startsWith(MAGIC)) return null;
    const end = text.indexOf('\0');
    try {
      return JSON.parse(text.slice(MAGIC.length, end < 0 ? undefined : end)) as SimSuperblock;
    } catch {
      return null;
    }
  }

  writeSuperblock(path: string, sb: SimSuperblock): void {
    const b = Buffer.alloc(512);
    b.write(MAGIC + JSON.stringify(sb), 0, 'latin1');
    this.dev.writeDevice(path, SB_OFFSET, b);
  }

  async probe(path: string): Promise<Probe> {
    let head: Buffer;
    try {
      const size = this.dev.sizeOf(path);
      head = this.dev.readDevice(path, 0, Math.min(MiB, size));
      this.dev.readDevice(path, Math.max(0, size - MiB), Math.min(MiB, size));
    } catch (e) {
      return { blank: null, signature: null, fs_size: null, error: `reading '${path}' failed: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
    }
    const sb = this.readSuperblock(path);
    if (sb) return { blank: false, signature: { type: sb.type, uuid: sb.uuid, partition: null }, fs_size: sb.size, error: null };
    const label = labelIn(head);
    if (label) return { blank: false, signature: null, fs_size: null, error: label };
    // Leftovers of an interrupted mkfs: not a filesystem, not blank either.
    if (head.subarray(64 * 1024, 64 * 1024 + 8).toString('latin1') === 'SIMPART!') return { blank: false, signature: null, fs_size: null, error: 'unrecognised data' };
    return { blank: true, signature: null, fs_size: null, error: null };
  }

  async mounts(): Promise<MountEntry[]> {
    return this.mountTable.map((m) => ({ ...m }));
  }

  async mountedAt(device: string): Promise<MountEntry | null> {
    return this.mountTable.find((m) => m.source === device) ?? null;
  }

  async held(device: string): Promise<string | null> {
    return this.extraHolds.has(device) ? 'open by a test process' : null;
  }

  async inUse(device: string): Promise<string | null> {
    if (this.extraHolds.has(device)) return 'open by a test process';
    return this.mountTable.some((m) => m.source === device) ? 'mounted' : null;
  }

  async mkfs(device: string, fs: Filesystem, _label?: string): Promise<string> {
    const before = await this.probe(device);
    this.mkfsCalls.push({ node: this.node, path: device, before });
    if (this.fail('mkfs-partial')) {
      // Killed half way: some of mkfs's writes landed, no superblock yet.
      const junk = Buffer.alloc(4096);
      junk.write('SIMPART!', 0, 'latin1');
      this.dev.writeDevice(device, 64 * 1024, junk);
      throw new Error('mkfs killed half way (simulated)');
    }
    if (this.fail('mkfs')) throw new Error('mkfs failed (simulated)');
    const uuid = `sim-${this.node}-${++this.uuidCounter}-${Math.random().toString(16).slice(2, 10)}`;
    this.dev.writeDevice(device, 64 * 1024, Buffer.alloc(4096)); // mkfs overwrites its own leftovers
    this.writeSuperblock(device, { type: fs, uuid, size: this.dev.sizeOf(device), errors: false });
    return uuid;
  }

  async fsck(device: string): Promise<{ code: number; detail: string }> {
    if (this.fail('fsck')) return { code: 8, detail: 'fsck failed (simulated)' };
    const sb = this.readSuperblock(device);
    if (!sb) return { code: 8, detail: 'bad magic number in superblock' };
    return sb.errors ? { code: 4, detail: 'errors left uncorrected' } : { code: 0, detail: 'clean' };
  }

  async mount(device: string, path: string, fs: Filesystem, readOnly: boolean): Promise<void> {
    if (this.fail('mount')) throw new Error(`mount '${device}' failed (simulated)`);
    const sb = this.readSuperblock(device);
    if (!sb || sb.type !== fs) throw new Error(`mount '${device}': wrong fs type, bad superblock`);
    if (this.mountTable.some((m) => m.path === path)) throw new Error(`mount: '${path}' is busy`);
    this.dev.hold(device);
    this.mountTable.push({ source: device, devno: null, path, read_only: readOnly, fstype: fs });
  }

  async unmount(path: string): Promise<void> {
    if (this.fail('unmount')) throw new Error(`umount '${path}': target is busy (simulated)`);
    const i = this.mountTable.findIndex((m) => m.path === path);
    if (i < 0) throw new Error(`umount '${path}': not mounted`);
    const [m] = this.mountTable.splice(i, 1);
    this.dev.unhold(m.source);
  }

  async growFs(device: string): Promise<void> {
    if (this.fail('grow')) throw new Error('resize2fs failed (simulated)');
    const sb = this.readSuperblock(device);
    if (!sb) throw new Error('resize2fs: bad superblock');
    this.writeSuperblock(device, { ...sb, size: this.dev.sizeOf(device) });
  }

  async shrinkFs(device: string, fs: Filesystem, size: number): Promise<void> {
    if (fs !== 'ext4') throw new Error(`a ${fs} filesystem cannot shrink`);
    if (this.mountTable.some((m) => m.source === device)) throw new Error('resize2fs: on-line shrinking not supported');
    if (this.fail('shrink')) throw new Error('resize2fs failed (simulated)');
    const sb = this.readSuperblock(device);
    if (!sb) throw new Error('resize2fs: bad superblock');
    this.writeSuperblock(device, { ...sb, size });
  }

  /** Forget mounts (a node reboot); the backend's reboot drops the holds. */
  reboot(): void {
    this.mountTable.length = 0;
  }
}
