// The node plane: the local device of an attached Cinder volume is found by
// its serial under /dev/disk/by-id, in each of the forms hypervisors give it
// (virtio truncates the serial to 20 characters; QEMU's SCSI disk and the WWN
// forms carry more), with rescans and backoff until a deadline. The
// attachment's `device` field is never used: it is known to be wrong.
import { execFile } from 'node:child_process';
import { lstat, readdir, readFile, realpath, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Volume } from '../../docs.js';
import type { NodeDevice, NodePlane } from '../../backend/types.js';
import { BackendError } from '../../backend/types.js';
import { childEnv } from './env.js';
import { VOLUME_ID } from './meta.js';

export interface DeviceOptions {
  /** This node's name: only a volume the listing shows attached here has a device here. */
  node: string;
  /** Where the by-id links are (tests give their own directory). */
  byIdRoot: string;
  /** How long findDevice waits for a late link, ms. */
  waitMs: number;
  /** First backoff, ms (grows 1.5x, at most 2 s). */
  backoffMs: number;
  /** Between tries: ask the kernel and udev to look again. Null: do nothing (tests). */
  rescan: (() => Promise<void>) | null;
  log?: (line: string) => void;
}

/** The by-id names a volume's disk can have, in the order they are tried. */
export function byIdNames(volumeId: string): string[] {
  const short = volumeId.slice(0, 20);
  const hex = volumeId.replace(/-/g, '');
  return [
    `virtio-${short}`,
    `virtio-${volumeId}`,
    `scsi-0QEMU_QEMU_HARDDISK_${short}`,
    `scsi-0QEMU_QEMU_HARDDISK_${volumeId}`,
    `scsi-SQEMU_QEMU_HARDDISK_${volumeId}`,
    `wwn-0x${hex}`,
    `nvme-${volumeId}`,
  ];
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env: childEnv(process.env), timeout: 10_000 }, () => resolve());
  });
}

/** The rescan a real node does: SCSI hosts asked to scan, udev asked to replay block events. */
export async function systemRescan(): Promise<void> {
  const hosts = await readdir('/sys/class/scsi_host').catch(() => [] as string[]);
  for (const h of hosts) await writeFile(`/sys/class/scsi_host/${h}/scan`, '- - -').catch(() => undefined);
  await run('udevadm', ['trigger', '--subsystem-match=block', '--action=add']);
  await run('udevadm', ['settle', '--timeout=5']);
}

async function blockSize(dev: string): Promise<number | null> {
  const name = path.basename(dev);
  const text = await readFile(`/sys/class/block/${name}/size`, 'utf8').catch(() => null);
  return text === null ? null : Number(text.trim()) * 512;
}

export class ByIdNodePlane implements NodePlane {
  /**
   * Volumes released before their detach, with the by-id link's change time
   * then. The guest's disk only goes away when the hypervisor detaches it, so
   * a released volume is reported as having no device here (the detach may
   * go ahead); a new link (a new attach) ends that.
   */
  readonly #released = new Map<string, number>();

  constructor(private readonly o: DeviceOptions) {}

  async #linkTime(volumeId: string): Promise<number | null> {
    for (const name of byIdNames(volumeId)) {
      const st = await lstat(path.join(this.o.byIdRoot, name)).catch(() => null);
      if (st) return st.ctimeMs;
    }
    return null;
  }

  async #isReleased(volumeId: string): Promise<boolean> {
    const at = this.#released.get(volumeId);
    if (at === undefined) return false;
    if ((await this.#linkTime(volumeId)) === at) return true;
    this.#released.delete(volumeId);
    return false;
  }

  /** One look, no waiting: the device a by-id link of this volume points at. */
  async look(volumeId: string): Promise<NodeDevice | null> {
    for (const name of byIdNames(volumeId)) {
      const link = path.join(this.o.byIdRoot, name);
      let target: string;
      try {
        target = await realpath(link);
        if (!(await stat(target)).isBlockDevice()) continue;
      } catch {
        continue;
      }
      const size = await blockSize(target);
      if (size === null) continue;
      return { path: target, identity: `by-id:${name}`, size };
    }
    return null;
  }

  async #waitFor(volume: Volume, ok: (d: NodeDevice) => boolean): Promise<NodeDevice | null> {
    const end = Date.now() + this.o.waitMs;
    let delay = this.o.backoffMs;
    let last: NodeDevice | null;
    for (;;) {
      last = await this.look(volume.id);
      if (last && ok(last)) return last;
      const left = end - Date.now();
      if (left <= 0) return null;
      if (this.o.rescan) await this.o.rescan();
      await sleep(Math.min(delay, left));
      delay = Math.min(2000, Math.round(delay * 1.5));
    }
  }

  #check(volume: Volume): void {
    if (typeof volume?.id !== 'string' || !VOLUME_ID.test(volume.id)) throw new BackendError('invalid', `volume id '${String(volume?.id).slice(0, 80)}' is not a Cinder volume id (a UUID)`);
  }

  async findDevice(volume: Volume, opts: { connect?: boolean } = {}): Promise<NodeDevice | null> {
    this.#check(volume);
    // Attached elsewhere or nowhere (as the listing says): nothing to wait for here.
    if (volume.attached !== this.o.node) return null;
    if (opts.connect === false) {
      // Only a look: a released device stays released, and a late link is not waited for.
      if (await this.#isReleased(volume.id)) return null;
      return this.look(volume.id);
    }
    // Asked to connect: the device is wanted here again (a move abandoned after the release).
    this.#released.delete(volume.id);
    const d = await this.#waitFor(volume, () => true);
    if (!d) this.o.log?.(`openstack: volume '${volume.id}': no device under ${this.o.byIdRoot} after ${Math.round(this.o.waitMs / 1000)}s (looked for ${byIdNames(volume.id).join(', ')})`);
    return d;
  }

  async verifyDevice(volume: Volume, devPath: string): Promise<string | null> {
    this.#check(volume);
    if (volume.attached !== this.o.node) return `volume '${volume.id}' is not attached to '${this.o.node}' (${volume.attached ? `it is attached to '${volume.attached}'` : 'it is attached nowhere'})`;
    const d = await this.look(volume.id);
    if (!d) return `no by-id link of volume '${volume.id}' under ${this.o.byIdRoot}`;
    const given = await realpath(devPath).catch(() => null);
    if (given !== d.path) return `'${devPath}' is not volume '${volume.id}' (its serial names ${d.path})`;
    if (d.size !== volume.size) return `'${d.path}' is ${d.size} bytes, volume '${volume.id}' is ${volume.size}`;
    return null;
  }

  async refresh(volume: Volume): Promise<NodeDevice | null> {
    this.#check(volume);
    const d = await this.look(volume.id);
    if (!d) return null;
    // SCSI disks re-read their capacity on request; virtio-blk sees the resize the hypervisor announces.
    await writeFile(`/sys/class/block/${path.basename(d.path)}/device/rescan`, '1').catch(() => undefined);
    return (await this.#waitFor(volume, (x) => x.size >= volume.size)) ?? (await this.look(volume.id));
  }

  async release(volume: Volume): Promise<void> {
    this.#check(volume);
    const d = await this.look(volume.id);
    if (!d) return;
    const name = path.basename(d.path);
    const holders = await readdir(`/sys/class/block/${name}/holders`).catch(() => [] as string[]);
    const mounts = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
    const [maj, min] = ((await readFile(`/sys/class/block/${name}/dev`, 'utf8').catch(() => '')).trim() || 'x:x').split(':');
    const mounted = mounts.split('\n').some((l) => l.split(' ')[2] === `${maj}:${min}`);
    if (holders.length > 0 || mounted) throw new BackendError('in-use', `release '${volume.id}': ${d.path} is ${mounted ? 'mounted' : `held by ${holders.join(', ')}`}`, volume.id, this.o.node);
    // Flush what the page cache holds for it; the detach itself is the hypervisor's.
    await run('blockdev', ['--flushbufs', d.path]);
    const at = await this.#linkTime(volume.id);
    if (at !== null) this.#released.set(volume.id, at);
  }
}
